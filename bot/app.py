"""The bot's loops over the runtime (:mod:`bot.runtime`): one task group of loops.

``run_bot`` watches Twitch chat; ``run_replay`` pushes recorded logs through the same
batcher, scorer, policy and storage. On a PostgreSQL database ``run_bot`` is one of any
number of sharded workers: it reads its share of the channels (:mod:`bot.sharding`).
SIGINT/SIGTERM stop reading, flush the queued batches, write every flag and leave unsent
reports in the outbox; then the process exits 0. Replay reads each log in isolation: a
truncated, corrupt or unreadable one is logged once and listed in the summary's
``failed``, and the other logs are still replayed and stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.replay import ReplayStats, replay_log
from bot.reporting import log_pending
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from bot.twitch.connection import IrcClient, JoinLimiter
from bot.twitch.events import ChatMessage
from model.chatlogs import ChatLogError
from model.scorer import scorer_label
from storage.database import Database
from storage.location import PostgresUrl

if TYPE_CHECKING:  # twitchio is imported only when the bot acts through Twitch's API
    from bot.twitch.helix import HelixModerator

__all__ = ["ReplaySummary", "run_bot", "run_replay"]

_log = logging.getLogger(__name__)


def _install_signal_handlers(stop: asyncio.Event) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    return installed


async def run_bot(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Watch the configured channels until stopped."""
    if not settings.channels:
        raise ValueError("no channels to watch: set CHATWARDEN_CHANNELS or pass --channel NAME")
    stop = stop or asyncio.Event()
    installed = _install_signal_handlers(stop)
    try:
        async with open_runtime(settings, use_helix=True) as rt:
            sharded = isinstance(settings.db, PostgresUrl)
            limiter = JoinLimiter(settings.join_rate)
            if sharded and settings.twitch_login and not settings.anonymous:
                from bot.sharding import SharedJoinLimiter

                # workers chatting as one account share its join limit
                limiter = SharedJoinLimiter(rt.db, settings.twitch_login, settings.join_rate)
            client = IrcClient(
                settings.irc_url,
                () if sharded else settings.channels,  # sharded: the leases decide
                rt.pipeline.submit,  # messages and moderators' actions, in chat's order
                login=settings.twitch_login,
                token=settings.twitch_token,
                join_limiter=limiter,
            )
            shards = None
            if sharded:
                from bot.sharding import ShardKeeper

                async def resume(channels: Sequence[str]) -> None:
                    """A channel another worker read: its flag windows and report
                    cool-downs go on from the stored flags."""
                    recent = await rt.db.recent_flags(time.time() - settings.report_window_s)
                    taken = set(channels)
                    rt.policy.forget_channels(taken)
                    rt.policy.restore([flag for flag in recent if flag[0] in taken])

                shards = ShardKeeper(
                    rt.db,
                    client,
                    settings.channels,
                    ttl=settings.lease_ttl_s,
                    norms=rt.pipeline.norms_keeper,
                    on_gain=resume,
                )
            watched = ", ".join(f"#{c}" for c in settings.channels[:20])
            if len(settings.channels) > 20:
                watched += f" and {len(settings.channels) - 20} more"
            _log.info(
                "watching %s%s as %s (%s); database %s; reports to %s",
                watched,
                " (shared with the other workers on this database)" if sharded else "",
                client.nick,
                "anonymous, read-only" if settings.anonymous else "bot account",
                settings.db,
                "Discord" if settings.discord_webhook_url else "the log",
            )
            fatal: list[BaseException] = []
            if settings.metrics_port is not None:
                from bot.metrics import BotMetrics, MetricsServer

                metrics = BotMetrics(rt.pipeline, rt.outbox, client, shards=shards)
                rt.pipeline.observers.append(metrics)
                server = MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
                await rt.stack.enter_async_context(server)
                _log.info(
                    "metrics on http://%s:%d/metrics, health on /healthz",
                    settings.metrics_host,
                    settings.metrics_port,
                )

            if settings.dashboard_port is not None:
                holds = shards.held.__contains__ if shards is not None else None
                await rt.stack.enter_async_context(_dashboard(rt, rt.helix, holds))

            async def read() -> None:
                try:
                    await client.run(stop)
                except Exception as exc:  # fatal (e.g. login refused): flush, then re-raise
                    fatal.append(exc)
                finally:
                    stop.set()
                    await rt.pipeline.close()

            uri = settings.model_uri or ""
            async with asyncio.TaskGroup() as tg:
                tg.create_task(read(), name="irc-reader")
                tg.create_task(rt.pipeline.run(), name="pipeline")
                tg.create_task(rt.outbox.run(stop), name="outbox")
                if shards is not None:
                    from bot.sharding import SettingsFollower

                    tg.create_task(shards.run(stop), name="channel-leases")
                    follower = SettingsFollower(rt.db, rt.apply_saved)
                    tg.create_task(follower.run(stop), name="channel-settings")
                if uri.startswith("models:/") and "@" in uri and settings.model_refresh_s > 0:
                    from bot.reload import ModelWatcher

                    watcher = ModelWatcher(
                        uri, settings.model_cache_dir, rt.pipeline, settings.model_refresh_s
                    )
                    tg.create_task(watcher.run(stop), name="model-watcher")
            stats = rt.pipeline.stats
            _log.info(
                "stopped: %d messages scored, %d flagged, %d reports; %d reports sent",
                stats.scored,
                stats.flagged,
                stats.reports,
                rt.outbox.sent,
            )
            if fatal:
                raise fatal[0]
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)


@asynccontextmanager
async def _dashboard(
    rt: Runtime,
    moderator: HelixModerator | None,
    holds: Callable[[str], bool] | None = None,
) -> AsyncIterator[None]:
    """The moderators' dashboard on the runtime's database (its pages read through a
    read-only connection of their own) and live policy; its actions go through
    ``moderator`` (none without Twitch credentials) and are recorded in the database."""
    from bot.dashboard import Dashboard, DashboardContext
    from bot.norms.store import NormsControl

    async with Database.open_readonly(rt.settings.db) as reader:
        context = DashboardContext(
            db=rt.db,
            settings=rt.settings,
            apply_channel=rt.apply_saved,
            moderator=moderator,
            reader=reader,
            norms=NormsControl(rt.db, rt.norms, holds),
        )
        async with Dashboard(context, lambda: scorer_label(rt.pipeline.scorer)):
            yield


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    files: int
    lines: int
    messages: int
    scored: int
    duplicates: int
    flagged: int
    reports: int
    reports_sent: int
    seconds: float
    scorer: str
    #: one line per log that could not be read to its end (what was read of it is stored)
    failed: tuple[str, ...] = ()
    #: lines that were not read, by why (``bot.replay.ReplayStats.unread``)
    unread: tuple[tuple[str, int], ...] = ()
    #: stopped by SIGINT/SIGTERM before the end of its logs
    interrupted: bool = False
    #: reports it could not send (interrupted, or held back by Discord) written to the log
    #: at its end, so that none stays pending: nothing else sends a replay's reports
    reports_logged: int = 0

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


async def run_replay(
    settings: Settings,
    files: Sequence[Path],
    *,
    rate: float | None = None,
    use_discord: bool = False,
    limit: int | None = None,
) -> ReplaySummary:
    """Replay recorded logs through the pipeline (shadow mode).

    Its reports are marked as this run's shadow reports: ``run`` never sends them, and only
    this run sends them, to Discord when ``use_discord``, else to the log.
    """
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"no chat log at {path}")
    stop = asyncio.Event()
    installed = _install_signal_handlers(stop)
    stats = ReplayStats()
    try:
        shadow = f"replay {time.strftime('%Y-%m-%dT%H:%M:%S')} {uuid.uuid4().hex[:12]}"
        async with open_runtime(settings, use_discord=use_discord, shadow=shadow) as rt:
            started = time.perf_counter()

            failed: list[str] = []
            crashed: list[BaseException] = []

            async def feed() -> None:
                # Never raises: a failure here must not cancel the pipeline mid-batch (its
                # stages then waited on each other for good, deaf to SIGTERM); the pipeline
                # is closed, drains what was submitted, and the error is raised after.
                sent = 0
                try:
                    for path in files:
                        try:
                            for item in replay_log(path, stats):
                                if stop.is_set() or (limit is not None and sent >= limit):
                                    return
                                await rt.pipeline.submit(item)  # moderators' actions too
                                sent += isinstance(item, ChatMessage)
                                if rate:
                                    delay = started + sent / rate - time.perf_counter()
                                    if delay > 0:
                                        await asyncio.sleep(delay)
                        except ChatLogError as exc:  # the CLI prints it, once
                            failed.append(str(exc))
                except Exception as exc:
                    crashed.append(exc)
                finally:
                    await rt.pipeline.close()

            outbox_stop = asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(feed(), name="replay-feed")
                outbox_task = tg.create_task(rt.outbox.run(outbox_stop), name="outbox")
                await rt.pipeline.run()
                # Give the reporter one pass over what the replay produced, then stop.
                rt.outbox.wake.set()
                await asyncio.sleep(0)
                await _drain_outbox(rt, stop)
                outbox_stop.set()
                await outbox_task
            if crashed:
                raise crashed[0]
            logged = await log_pending(rt.db, settings.dashboard_url)
            elapsed = time.perf_counter() - started
            s = rt.pipeline.stats
            return ReplaySummary(
                files=len(files),
                lines=stats.lines,
                messages=s.received,
                scored=s.scored,
                duplicates=s.duplicates,
                flagged=s.flagged,
                reports=s.reports,
                reports_sent=rt.outbox.sent,
                seconds=elapsed,
                scorer=rt.scorer.version,
                failed=tuple(failed),
                unread=tuple(stats.unread.items()),
                interrupted=stop.is_set(),
                reports_logged=logged,
            )
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _drain_outbox(rt: Runtime, stop: asyncio.Event, patience: float = 10.0) -> None:
    """Wait (bounded) until nothing is due in the outbox; rate-limited reports stay queued."""
    deadline = time.monotonic() + patience
    while not stop.is_set() and time.monotonic() < deadline:
        due = await rt.db.pending_reports(time.time(), limit=1)
        if not due:
            return
        rt.outbox.wake.set()
        await asyncio.sleep(0.05)
