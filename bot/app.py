"""Wires the runtime together: one exit stack of resources, one task group of loops.

``run_bot`` watches Twitch chat; ``run_replay`` pushes recorded logs through the same
batcher, scorer, policy and storage. SIGINT/SIGTERM stop reading, flush the queued
batches, write every flag and leave unsent reports in the outbox; then the process exits 0.
Replay reads each log in isolation: a truncated, corrupt or unreadable one is logged once
and listed in the summary's ``failed``, and the other logs are still replayed and stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.pipeline import Pipeline, PipelineObserver
from bot.policy.policy import Policy, PolicyConfig, with_sensitivity
from bot.policy.terms import ChannelTerms
from bot.replay import ReplayStats, replay_log
from bot.reporting import DiscordSender, LogSender, OutboxWorker, Sender, log_pending
from bot.settings import Settings
from bot.twitch.connection import IrcClient
from model.chatlogs import ChatLogError
from model.loading import load_scorer
from model.scorer import Scorer
from storage.database import Database
from storage.records import ChannelSettings

if TYPE_CHECKING:  # twitchio is imported only when the bot acts through Twitch's API
    from bot.twitch.helix import HelixModerator

__all__ = ["ReplaySummary", "Runtime", "open_runtime", "run_bot", "run_replay"]

_log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The live pieces shared by ``run`` and ``replay``."""

    settings: Settings
    scorer: Scorer
    db: Database
    pipeline: Pipeline
    outbox: OutboxWorker
    stack: AsyncExitStack
    #: Moderation through Twitch's API, when the token and client id are set (``run`` only)
    helix: HelixModerator | None = None


def policy_config(settings: Settings, scorer: Scorer) -> PolicyConfig:
    return PolicyConfig(
        flag_threshold=(
            settings.flag_threshold if settings.flag_threshold is not None else scorer.threshold
        ),
        report_threshold=settings.report_threshold,
        report_after_flags=settings.report_after_flags,
        window=settings.report_window_s,
        exempt_vips=settings.exempt_vips,
        exempt_subscribers=settings.exempt_subscribers,
    )


def apply_channel_settings(
    policy: Policy, base: PolicyConfig, settings: Settings, saved: ChannelSettings
) -> None:
    """Apply a channel's settings saved on the dashboard to the live policy: its preset
    (else the environment's for that channel), exemptions and allowed/blocked terms; the
    channel's chat filters stay the environment's (``CHATWARDEN_FILTERS``)."""
    preset = saved.sensitivity or dict(settings.sensitivity.channels).get(
        saved.channel, settings.sensitivity.default
    )
    filters = settings.filters.for_channel(saved.channel)
    config = replace(
        with_sensitivity(base, preset), spam="spam" in filters, links="links" in filters
    )
    if saved.exempt_vips is not None:
        config = replace(config, exempt_vips=saved.exempt_vips)
    if saved.exempt_subscribers is not None:
        config = replace(config, exempt_subscribers=saved.exempt_subscribers)
    policy.set_channel(
        saved.channel, config, ChannelTerms(saved.allowed_terms, saved.blocked_terms)
    )


def initial_scorer(settings: Settings) -> Scorer:
    """Load the configured scorer. With a registry URI and the tracking server down, fall
    back to the model last fetched from it, else to the bundled model, with a warning."""
    from model.errors import TrackingUnavailableError
    from model.loading import load_last_cached

    try:
        return load_scorer(settings.model_uri, settings.data_dir, settings.model_cache_dir)
    except TrackingUnavailableError as exc:
        fallback = load_last_cached(settings.model_cache_dir)
        source = "the model last fetched from MLflow"
        if fallback is None:
            fallback = load_scorer("bundled", settings.data_dir)
            source = "the bundled model"
        _log.warning(
            "%s; starting with %s (%s) and checking again later", exc, source, fallback.version
        )
        return fallback


class _WakeOutbox(PipelineObserver):
    """New reports wake the outbox at once instead of at its next poll."""

    def __init__(self, outbox: OutboxWorker) -> None:
        self._outbox = outbox

    def reports_created(self, count: int) -> None:
        self._outbox.wake.set()


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    use_discord: bool = True,
    observers: Sequence[PipelineObserver] = (),
    shadow: str | None = None,
    use_helix: bool = False,
) -> AsyncIterator[Runtime]:
    """Load the scorer, open the database and the reporter; close all on exit.

    ``shadow`` names a replay run: its reports are stored as that run's shadow reports,
    and its outbox reads only those, so the live bot never sends them. ``use_helix``
    (``run``) validates the Twitch API token at start-up, when it and the client id are
    set, and turns on the configured auto-deletes.
    """
    scorer = initial_scorer(settings)
    _log.info("scorer %s (version %s) loaded", scorer.name, scorer.version)
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(Database.open(settings.db))
        db.shadow = shadow
        executor = stack.enter_context(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatwarden-scorer")
        )
        sender: Sender
        if use_discord and settings.discord_webhook_url is not None:
            sender = await stack.enter_async_context(DiscordSender(settings.discord_webhook_url))
        else:
            sender = LogSender()
        outbox = OutboxWorker(db, sender, dashboard_url=settings.dashboard_url)
        base = policy_config(settings, scorer)
        policy = Policy.for_sensitivity(base, settings.sensitivity, settings.filters)
        for saved in await db.channel_settings():  # made on the dashboard, kept across runs
            apply_channel_settings(policy, base, settings, saved)
        recent = await db.recent_flags(time.time() - settings.report_window_s)
        policy.restore(recent)
        if recent:
            _log.info("policy resumed from %d flag(s) of the last window", len(recent))
        pipeline = Pipeline(
            scorer,
            db,
            policy,
            executor,
            max_batch=settings.batch_max_size,
            max_wait=settings.batch_max_wait_ms / 1000,
            queue_size=settings.queue_size,
            score_cache=settings.score_cache,
            observers=[_WakeOutbox(outbox), *observers],
        )
        helix: HelixModerator | None = None
        if use_helix and settings.twitch_token is not None and settings.twitch_client_id:
            from bot.twitch.helix import HelixModerator

            helix = await stack.enter_async_context(HelixModerator.open(settings))
            if settings.auto_delete:
                from bot.autoactions import AutoDelete

                auto = AutoDelete(helix, db, dict(settings.auto_delete))
                pipeline.observers.append(await stack.enter_async_context(auto))
        # What is loaded by now (modules, the model, settings) lives as long as the process:
        # frozen out of the cyclic garbage collector, whose full passes over it stalled
        # the event loop for ~0.1 s each (docs/benchmarks.md, "Live bot")
        gc.freeze()
        # torch is loaded for a neural scorer, whose threads compete with the event loop's
        torch = sys.modules.get("torch")
        threads = torch.get_num_threads() if torch is not None else 0
        if torch is not None:
            torch.set_num_threads(settings.torch_threads)
        try:
            yield Runtime(settings, scorer, db, pipeline, outbox, stack, helix)
        finally:
            gc.unfreeze()
            if torch is not None:
                torch.set_num_threads(threads)


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
            from bot.moderation import ModerationRecorder

            moderation = ModerationRecorder(rt.db)
            client = IrcClient(
                settings.irc_url,
                settings.channels,
                rt.pipeline.submit,
                login=settings.twitch_login,
                token=settings.twitch_token,
                on_event=moderation.on_event,
            )
            _log.info(
                "watching %s as %s (%s); database %s; reports to %s",
                ", ".join(f"#{c}" for c in settings.channels),
                client.nick,
                "anonymous, read-only" if settings.anonymous else "bot account",
                settings.db,
                "Discord" if settings.discord_webhook_url else "the log",
            )
            fatal: list[BaseException] = []
            if settings.metrics_port is not None:
                from bot.metrics import BotMetrics, MetricsServer

                metrics = BotMetrics(rt.pipeline, rt.outbox, client)
                rt.pipeline.observers.append(metrics)
                server = MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
                await rt.stack.enter_async_context(server)
                _log.info(
                    "metrics on http://%s:%d/metrics, health on /healthz",
                    settings.metrics_host,
                    settings.metrics_port,
                )

            if settings.dashboard_port is not None:
                await rt.stack.enter_async_context(_dashboard(rt, rt.helix))

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
                tg.create_task(moderation.run(stop), name="moderation-events")
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
async def _dashboard(rt: Runtime, moderator: HelixModerator | None) -> AsyncIterator[None]:
    """The moderators' dashboard on the runtime's database (its pages read through a
    read-only connection of their own) and live policy; its actions go through
    ``moderator`` (none without Twitch credentials) and are recorded in the database."""
    from bot.dashboard import Dashboard, DashboardContext

    base = policy_config(rt.settings, rt.scorer)
    policy = rt.pipeline.policy

    def apply(saved: ChannelSettings) -> None:
        apply_channel_settings(policy, base, rt.settings, saved)

    async with Database.open_readonly(rt.settings.db) as reader:
        context = DashboardContext(rt.db, rt.settings, apply, moderator, rt.db, reader)
        async with Dashboard(context, lambda: rt.pipeline.scorer.version):
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
                            for message in replay_log(path, stats):
                                if stop.is_set() or (limit is not None and sent >= limit):
                                    return
                                await rt.pipeline.submit(message)
                                sent += 1
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
