"""The one owner of how the bot is put together from its settings.

Every command that decides about chat builds its parts here, so that ``run``, ``replay``,
``score``, ``evaluate``, ``bench`` and the dashboard decide alike:

* the **scorer** (:func:`load_configured_scorer`): ``CHATWARDEN_MODEL_URI``, and with a
  registry URI whose tracking server is down, the model fetched last, else the bundled one;
* the **policy** (:func:`build_policy`): the environment's settings, each channel's
  preset, chat filters and exemptions (:func:`channel_setup`), the settings a moderator
  saved for it on the dashboard, what its moderators taught (:mod:`bot.norms`, loaded from
  and saved to the database), and the threshold of the scorer that scores (the policy
  follows a hot-reloaded model's threshold: :meth:`Policy.follow
  <bot.policy.policy.Policy.follow>`);
* the **live runtime** (:func:`open_runtime`): the database, the pipeline and the outbox,
  as one stack of resources closed together.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot.norms import LearnedNorms
from bot.norms.store import NormsKeeper, load_norms
from bot.pipeline import Pipeline, PipelineObserver
from bot.policy.policy import Norms, Policy, PolicyConfig, with_sensitivity
from bot.policy.terms import ChannelTerms
from bot.reporting import DiscordSender, LogSender, OutboxWorker, Sender
from bot.settings import Settings
from model.loading import load_scorer
from model.scorer import Scorer, scorer_label
from storage.database import Database
from storage.records import ChannelSettings

if TYPE_CHECKING:  # twitchio is imported only when the bot acts through Twitch's API
    from bot.twitch.helix import HelixModerator

__all__ = [
    "ChannelSetup",
    "Runtime",
    "apply_saved",
    "base_config",
    "build_policy",
    "channel_setup",
    "load_configured_scorer",
    "open_runtime",
]

_log = logging.getLogger(__name__)

#: The cyclic garbage collector's full passes come after this many passes of its middle
#: generation (Python's default 10; see :func:`open_runtime`).
FULL_GC_EVERY = 100


# -- the scorer ----------------------------------------------------------------------


def load_configured_scorer(settings: Settings) -> Scorer:
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


# -- the policy ----------------------------------------------------------------------


def base_config(settings: Settings) -> PolicyConfig:
    """What the environment says for every channel, before presets and filters."""
    return PolicyConfig(
        flag_threshold=settings.flag_threshold,  # None: the scorer's own
        report_threshold=settings.report_threshold,
        report_after_flags=settings.report_after_flags,
        window=settings.report_window_s,
        exempt_vips=settings.exempt_vips,
        exempt_subscribers=settings.exempt_subscribers,
    )


@dataclass(frozen=True, slots=True)
class ChannelSetup:
    """Everything one channel decides by, besides the scorer and what it learned."""

    config: PolicyConfig
    terms: ChannelTerms
    #: the preset's name (``low``, ``medium``, ``high``)
    sensitivity: str
    #: the chat filters on (``spam``, ``links``)
    filters: frozenset[str]


def channel_setup(
    settings: Settings, channel: str | None, saved: ChannelSettings | None = None
) -> ChannelSetup:
    """The setup of ``channel`` (None: a channel the settings do not name): the settings a
    moderator saved on the dashboard win over the environment's for that channel, which
    win over the environment's default."""
    name = channel or ""
    preset = dict(settings.sensitivity.channels).get(name, settings.sensitivity.default)
    filters = settings.filters.for_channel(name) if channel else settings.filters.default
    config = base_config(settings)
    terms = ChannelTerms()
    if saved is not None:
        preset = saved.sensitivity or preset
        if saved.exempt_vips is not None:
            config = replace(config, exempt_vips=saved.exempt_vips)
        if saved.exempt_subscribers is not None:
            config = replace(config, exempt_subscribers=saved.exempt_subscribers)
        terms = ChannelTerms(saved.allowed_terms, saved.blocked_terms)
    config = replace(
        with_sensitivity(config, preset),
        spam="spam" in filters,
        links="links" in filters,
        every_slur="slurs" in filters,
    )
    return ChannelSetup(config, terms, preset, frozenset(filters))


def build_policy(
    settings: Settings,
    *,
    scorer_threshold: float,
    saved: Iterable[ChannelSettings] = (),
    norms: Norms | None = None,
) -> Policy:
    """The policy of ``settings``: its default for any channel, each channel it names (by
    ``CHATWARDEN_CHANNELS``, a preset or a filter) and each channel with ``saved``
    dashboard settings set up by :func:`channel_setup`; it decides with
    ``scorer_threshold`` until told another (:meth:`Policy.follow`), and with what each
    channel's moderators taught (``norms``; None: nothing is learned)."""
    by_channel = {s.channel: s for s in saved}
    named = {
        *settings.channels,
        *(ch for ch, _ in settings.sensitivity.channels),
        *(ch for ch, _ in settings.filters.channels),
        *by_channel,
    }
    policy = Policy(channel_setup(settings, None).config, scorer_threshold=scorer_threshold)
    for channel in sorted(named):
        setup = channel_setup(settings, channel, by_channel.get(channel))
        policy.set_channel(channel, setup.config, setup.terms)
    policy.norms = norms
    return policy


def apply_saved(policy: Policy, settings: Settings, saved: ChannelSettings) -> None:
    """Apply a channel's settings, as a moderator just saved them, to the live policy."""
    setup = channel_setup(settings, saved.channel, saved)
    policy.set_channel(saved.channel, setup.config, setup.terms)


# -- the live runtime ----------------------------------------------------------------


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
    #: what each channel's moderators taught (None: CHATWARDEN_LEARN_NORMS is off)
    norms: LearnedNorms | None = None

    @property
    def policy(self) -> Policy:
        return self.pipeline.policy

    def apply_saved(self, saved: ChannelSettings) -> None:
        """A channel's dashboard settings, saved just now, apply from the next message."""
        apply_saved(self.policy, self.settings, saved)


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
    scorer = load_configured_scorer(settings)
    _log.info("scorer %s loaded", scorer_label(scorer))
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
        norms: LearnedNorms | None = None
        keeper: NormsKeeper | None = None
        if settings.learn_norms:
            norms = LearnedNorms()
            await asyncio.to_thread(norms.prepare)
            loaded = await load_norms(db, norms)
            keeper = NormsKeeper(db, norms)
            if loaded:
                _log.info("learned norms of %d channel(s) taken up", loaded)
        policy = build_policy(
            settings,
            scorer_threshold=scorer.threshold,
            saved=await db.channel_settings(),  # made on the dashboard, kept across runs
            norms=norms,
        )
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
            norms_keeper=keeper,
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
        # the event loop for ~0.1 s each (docs/benchmarks.md, "Live bot"). What is left
        # grows slowly (learned norms, caches), and a full pass over it every 70,000
        # container allocations (Python's default, every ~3 s at 5,000 messages/s) took
        # 40-70 ms each: a full pass every 10th of that keeps the p99 under 100 ms.
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], FULL_GC_EVERY)
        # torch is loaded for a neural scorer, whose threads compete with the event loop's
        torch = sys.modules.get("torch")
        threads = torch.get_num_threads() if torch is not None else 0
        if torch is not None:
            torch.set_num_threads(settings.torch_threads)
        try:
            yield Runtime(settings, scorer, db, pipeline, outbox, stack, helix, norms)
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            if torch is not None:
                torch.set_num_threads(threads)
