"""Learned norms in the database: loaded at start-up, saved as they are learned.

:class:`NormsKeeper` saves the channels that learned something at most every
``every`` seconds (and once more when the bot stops), each channel as one row of
``channel_norms``. A periodic save is spread over the pipeline's next batches, about a
channel each (``budget`` seconds of snapshots at a time): a busy channel's state takes a
few milliseconds to write out, and a hundred of them at once held every decision back for
a quarter of a second. A reset made elsewhere (``chatwarden norms
reset`` while the bot runs) moves the stored epoch on: the bot's next save of that channel
is refused, and the bot forgets what it had learned there, as the reset asked.

Sharded workers (``bot.sharding``): a channel's norms live with the channel. ``holds``
tells the keeper which channels this worker reads; it saves only those. A worker taking
a channel up loads its saved norms (:meth:`NormsKeeper.take_up`), one handing it over
saves them first (:meth:`NormsKeeper.save_channels`) and then forgets them.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from bot.norms.learned import ChannelNorms, LearnedNorms, NormsSummary
from storage.database import Database
from storage.errors import WRITE_ERRORS
from storage.records import NormsSnapshot

__all__ = ["HeldElsewhere", "NormsControl", "NormsKeeper", "load_norms", "snapshot"]

_log = logging.getLogger(__name__)


async def load_norms(db: Database, norms: LearnedNorms) -> int:
    """Take up every channel's saved norms; returns how many channels had some. A row that
    cannot be read is logged and that channel starts afresh (nothing else is lost)."""
    loaded = 0
    for saved in await db.channel_norms():
        try:
            norms.restore(saved.channel, saved.state, saved.generation, saved.epoch, saved.frozen)
        except (ValueError, KeyError, TypeError) as exc:
            _log.error(
                "saved norms of #%s cannot be read (%s); it starts afresh", saved.channel, exc
            )
            norms.reset(saved.channel, saved.epoch)
            continue
        loaded += 1
    return loaded


def snapshot(norms: LearnedNorms, channel: str, now: float) -> NormsSnapshot:
    found = norms.channel(channel)
    return NormsSnapshot(
        channel, found.to_state(), found.generation, found.epoch, found.frozen, now
    )


class NormsKeeper:
    """Saves what ``norms`` learned into ``db`` (see the module's docstring)."""

    def __init__(
        self, db: Database, norms: LearnedNorms, every: float = 30.0, budget: float = 0.002
    ) -> None:
        self.db = db
        self.norms = norms
        self.every = every
        self.budget = budget
        self._last = time.monotonic()
        #: channels still to save in the periodic save under way
        self._due: deque[str] = deque()
        self.saves = 0
        #: which channels this worker reads (None: all, one process on its own)
        self.holds: Callable[[str], bool] | None = None

    async def tick(self) -> None:
        """Between batches: go on with the periodic save under way (the next channels, for
        at most ``budget`` seconds of snapshots), or start one when ``every`` seconds
        passed since the last began."""
        if not self._due:
            if time.monotonic() - self._last < self.every:
                return
            self._last = time.monotonic()
            self._due.extend(n.channel for n in self._held())
        started, now = time.perf_counter(), time.time()
        taken: list[tuple[ChannelNorms, NormsSnapshot]] = []
        while self._due and (not taken or time.perf_counter() - started < self.budget):
            found = self.norms.channels.get(self._due.popleft())
            if found is not None and found.dirty:
                taken.append(self._take(found, now))
        await self._write(taken)

    async def save(self) -> None:
        """Save every channel that learned since its last save, now. A database error is
        logged and the channels stay to be saved next time."""
        self._last = time.monotonic()
        self._due.clear()
        await self._save(self._held())

    def _held(self) -> list[ChannelNorms]:
        dirty = self.norms.dirty()
        if self.holds is not None:
            dirty = [n for n in dirty if self.holds(n.channel)]
        return dirty

    async def save_channels(self, channels: Sequence[str]) -> None:
        """Save these channels' norms now (if they learned anything since)."""
        wanted = set(channels)
        await self._save([n for n in self.norms.dirty() if n.channel in wanted])

    async def take_up(self, channels: Iterable[str]) -> None:
        """Load the saved norms of channels this worker starts reading (a channel never
        saved starts afresh). A database error is logged: the channel then learns anew."""
        for channel in channels:
            try:
                saved = await self.db.channel_norms(channel)
            except WRITE_ERRORS as exc:
                _log.error("norms of #%s not loaded (%s); it learns afresh", channel, exc)
                continue
            self.norms.channels.pop(channel, None)
            for row in saved:
                try:
                    self.norms.restore(
                        row.channel, row.state, row.generation, row.epoch, row.frozen
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    _log.error("saved norms of #%s cannot be read (%s)", channel, exc)
                    self.norms.reset(row.channel, row.epoch)

    def forget(self, channels: Iterable[str]) -> None:
        """Drop what is held of channels another worker reads now (it loaded them)."""
        for channel in channels:
            self.norms.channels.pop(channel, None)

    async def _save(self, dirty: list[ChannelNorms]) -> None:
        if not dirty:
            return
        now = time.time()
        await self._write([self._take(n, now) for n in dirty])

    def _take(self, norms: ChannelNorms, now: float) -> tuple[ChannelNorms, NormsSnapshot]:
        norms.dirty = False  # what it learns from now on is for the next save
        return norms, snapshot(self.norms, norms.channel, now)

    async def _write(self, taken: list[tuple[ChannelNorms, NormsSnapshot]]) -> None:
        if not taken:
            return
        try:
            stale = await self.db.save_norms([saved for _, saved in taken])
        except WRITE_ERRORS as exc:
            _log.error("could not save learned norms (%s); they are saved next time", exc)
            for norms, _ in taken:
                norms.dirty = True
            return
        self.saves += 1
        for channel in stale:
            [saved] = await self.db.channel_norms(channel)
            _log.info("norms of #%s were reset elsewhere; forgetting what was learned", channel)
            self.norms.reset(channel, saved.epoch)
            self.norms.restore(channel, saved.state, saved.generation, saved.epoch, saved.frozen)


class HeldElsewhere(RuntimeError):
    """The channel is read by another worker (sharded workers): only it can freeze it."""


class NormsControl:
    """What the dashboard does with learned norms: show a channel's, reset it, freeze or
    thaw it — on the live learner when the bot runs in this process, else from the
    database (where reset still works: a bot running elsewhere follows at its next save).

    ``holds`` (sharded workers) tells which channels this process reads: another
    worker's channel is shown as last saved, and reset through the database."""

    def __init__(
        self,
        db: Database,
        norms: LearnedNorms | None,
        holds: Callable[[str], bool] | None = None,
    ) -> None:
        self.db = db
        self.norms = norms
        self.holds = holds

    def _live(self, channel: str) -> LearnedNorms | None:
        """The learner that reads ``channel`` here, or None."""
        if self.norms is None or (self.holds is not None and not self.holds(channel)):
            return None
        return self.norms

    @property
    def learning(self) -> bool:
        return self.norms is not None

    async def summary(self, channel: str) -> NormsSummary | None:
        live = self._live(channel)
        if live is not None:
            if channel not in live.channels:
                return None
            return live.channel(channel).summary()
        saved = await self.db.channel_norms(channel)
        if not saved:
            return None
        reader = LearnedNorms()
        row = saved[0]
        reader.restore(channel, row.state, row.generation, row.epoch, row.frozen)
        return reader.channel(channel).summary()

    async def reset(self, channel: str) -> None:
        epoch = await self.db.reset_norms(channel, time.time())
        live = self._live(channel)
        if live is not None:
            live.reset(channel, epoch)

    async def verdict(self, msg_id: str, correct: bool, at: float) -> bool:
        """Teach the running learner a moderator's verdict on flag ``msg_id``; False when
        nothing learns here (norms off, or the flag is unknown)."""
        if self.norms is None:
            return False
        flag = await self.db.flag(msg_id)
        if flag is None:
            return False
        self.norms.verdict(
            flag.channel, flag.login, flag.text, flag.evidence, flag.labels, correct, at
        )
        return True

    async def freeze(self, channel: str, frozen: bool) -> None:
        """Freeze (judge by what is known, learn no more) or thaw; saved at once."""
        if self.norms is None:
            raise RuntimeError("learned norms are off (CHATWARDEN_LEARN_NORMS=false)")
        if self._live(channel) is None:
            raise HeldElsewhere(
                f"#{channel} is read by another worker right now: freeze or thaw it on the "
                "dashboard of that worker (its learner is the one that learns)"
            )
        self.norms.freeze(channel, frozen)
        await self.db.save_norms([snapshot(self.norms, channel, time.time())])
        self.norms.channel(channel).dirty = False
