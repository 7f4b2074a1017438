"""Channel-sharded workers: several ``chatwarden run`` processes on one PostgreSQL database
divide the channel list among themselves (the leases of :mod:`storage.leases`).

:class:`ShardKeeper` is one worker's side. Every ``ttl / 3`` seconds it renews its
heartbeat and leases, PARTs channels it lost, takes over channels it asked for once it
has JOINed them, claims free or expired channels up to its fair share (the channels over
the live workers) and, when none are free, asks the workers over their share for some.
A worker that cannot reach the database for ``ttl`` stops reading its channels: by then
their leases have expired and other workers read them. A worker that stops cleanly gives
its channels back at once.

Learned channel norms live with their channel: a worker loads a channel's saved norms
when it takes the channel up, saves them when another worker asks for the channel, and
saves only the channels it holds (:class:`bot.norms.store.NormsKeeper`). ``on_gain`` is
told of every channel taken up, before its chat is judged here (``run`` resumes the
policy's flag windows and report cool-downs of those channels from the stored flags, so
a user reported by the previous worker is not reported again by this one).

:class:`SettingsFollower` applies the channel settings a moderator saved on another
worker's dashboard (every worker serves one, on the same database) within seconds.

:class:`SharedJoinLimiter` keeps Twitch's JOIN limit per account across all workers that
chat as that account (anonymous read-only workers each are an account of their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence

from bot.identity import WORKER_ID
from bot.norms.store import NormsKeeper
from bot.twitch.connection import IrcClient, JoinLimiter
from storage import leases
from storage.database import Database
from storage.errors import WRITE_ERRORS
from storage.records import ChannelSettings

__all__ = ["SettingsFollower", "ShardKeeper", "SharedJoinLimiter"]

_log = logging.getLogger(__name__)


class SharedJoinLimiter(JoinLimiter):
    """This process's own window, and one join slot of the account in the database."""

    def __init__(
        self, db: Database, account: str, limit: int, period: float = 10.0, worker: str = WORKER_ID
    ) -> None:
        super().__init__(limit, period)
        self._db = db
        self._account = account
        self._worker = worker

    async def acquire(self) -> None:
        await super().acquire()
        while True:
            try:
                wait = await leases.take_join_slot(
                    self._db, self._account, self._worker, time.time(), self.limit, self.period
                )
            except WRITE_ERRORS as exc:
                _log.warning("cannot take a join slot (%s); trying again in 1 s", exc)
                wait = 1.0
            if wait <= 0:
                return
            await asyncio.sleep(wait)


class ShardKeeper:
    """Keeps this worker's share of ``channels`` joined on ``client`` (see the module)."""

    def __init__(
        self,
        db: Database,
        client: IrcClient,
        channels: Sequence[str],
        *,
        ttl: float = 10.0,
        norms: NormsKeeper | None = None,
        on_gain: Callable[[Sequence[str]], Awaitable[None]] | None = None,
        worker: str = WORKER_ID,
    ) -> None:
        self.db = db
        self.client = client
        self.channels = tuple(channels)
        self.ttl = ttl
        self.norms = norms
        self.on_gain = on_gain
        self.worker = worker
        self.host = socket.gethostname()
        #: the channels whose lease this worker holds
        self.held: set[str] = set()
        #: live workers at the last heartbeat
        self.workers: tuple[str, ...] = ()
        self.ticks = 0
        self._last_renewal = time.monotonic()
        if norms is not None:
            norms.holds = self.held.__contains__

    async def run(self, stop: asyncio.Event) -> None:
        """Heartbeat until ``stop``; then give every channel back."""
        await leases.sync_channels(self.db, self.channels)
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                    self._last_renewal = time.monotonic()
                except WRITE_ERRORS as exc:
                    _log.error("channel leases not renewed (%s); trying again", exc)
                    if time.monotonic() - self._last_renewal > self.ttl and self.held:
                        _log.error(
                            "no lease renewed for %.0f s: leaving %d channel(s) to the others",
                            self.ttl,
                            len(self.held),
                        )
                        await self._lose(set(self.held))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.ttl / 3)
        finally:
            await self._give_back()

    async def tick(self) -> None:
        """One heartbeat (see the module's docstring)."""
        now = time.time()
        renewal = await leases.renew(self.db, self.worker, self.host, now, self.ttl)
        self.ticks += 1
        self.workers = renewal.workers
        lost = self.held - renewal.held
        if lost:
            _log.info("%d channel(s) now read by another worker", len(lost))
            await self._lose(lost)
        self.held.intersection_update(renewal.held)
        # leases held without being read (a failure between a claim and its join): read them
        unread = sorted(renewal.held - self.held)
        if unread:
            await self._gain(unread, join=True)
        if self.norms is not None and renewal.giving:
            await self.norms.save_channels(sorted(renewal.giving))
        share = leases.fair_share(len(self.channels), len(renewal.workers))
        asked = set(renewal.asked_for)
        ready = sorted(asked & self.client.joined)
        if ready:
            taken = await leases.take_over(self.db, self.worker, ready, now, self.ttl)
            await self._gain(taken, join=False)
            asked.difference_update(taken)
        self.client.join(asked)  # taken over at a later heartbeat, once joined
        deficit = share - len(self.held) - len(asked)
        if deficit > 0:
            claimed = await leases.claim_free(
                self.db, self.worker, self.channels, now, self.ttl, deficit
            )
            await self._gain(claimed, join=True)
            deficit -= len(claimed)
            if deficit > 0 and not claimed:
                more = await leases.request_channels(self.db, self.worker, now, deficit, share)
                if more:
                    _log.info("asked other workers for %d channel(s)", len(more))
                    self.client.join(more)

    async def _gain(self, channels: Sequence[str], *, join: bool) -> None:
        if not channels:
            return
        if self.norms is not None:
            await self.norms.take_up(channels)
        if self.on_gain is not None:
            await self.on_gain(channels)
        self.held.update(channels)
        if join:
            self.client.join(channels)
        _log.info("now reading %d channel(s) (+%d)", len(self.held), len(channels))

    async def _lose(self, channels: set[str]) -> None:
        self.client.part(channels)
        self.held.difference_update(channels)
        if self.norms is not None:
            self.norms.forget(channels)

    async def _give_back(self) -> None:
        """Save the held channels' norms and free their leases for the other workers."""
        try:
            if self.norms is not None and self.held:
                await self.norms.save_channels(sorted(self.held))
            released = await leases.release_all(self.db, self.worker)
        except WRITE_ERRORS as exc:
            _log.warning("channels not given back (%s): others take them in %.0f s", exc, self.ttl)
            return
        if released:
            _log.info("gave %d channel(s) back to the other workers", released)


class SettingsFollower:
    """Applies channel settings saved by any worker's dashboard: every ``every`` seconds
    it reads ``channel_settings`` and hands each row changed since (by ``updated_at``) to
    ``apply``. A database error is logged and the next look tries again."""

    def __init__(
        self,
        db: Database,
        apply: Callable[[ChannelSettings], None],
        every: float = 5.0,
    ) -> None:
        self.db = db
        self.apply = apply
        self.every = every
        self.applied = 0
        self._seen: dict[str, float] | None = None

    async def look(self) -> None:
        """One look: apply what changed since the last (the first look only remembers)."""
        rows = await self.db.channel_settings()
        if self._seen is not None:
            for row in rows:
                if self._seen.get(row.channel) != row.updated_at:
                    self.apply(row)
                    self.applied += 1
                    _log.info("settings of #%s saved elsewhere applied", row.channel)
        self._seen = {row.channel: row.updated_at for row in rows}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.look()
            except WRITE_ERRORS as exc:
                _log.warning("channel settings not read (%s); trying again", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
