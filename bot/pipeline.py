"""The scoring pipeline: micro-batches → scorer thread → policy → SQLite (one txn per batch).

Two stages run as tasks: the *scoring* stage takes batches from the
:class:`~bot.batcher.MicroBatcher` and scores them in a dedicated thread (so the event
loop keeps reading chat); the *writing* stage drops redeliveries, applies the policy and
writes the batch — messages seen, flags, reports, moderators' actions — in one
transaction. A small bounded queue between the stages lets batch N+1 be scored while
batch N is written.

Moderators' actions (timeouts, bans, deletions: :data:`~bot.twitch.events.ChatItem`) travel
in the same queue as the messages, so the policy sees every message and every action in
the order chat saw them: it decides on a message when it arrives, and learns from an
action when it happens, the same in ``run`` and in ``replay``.

Nothing is lost: a failed write (locked or read-only database, full disk) is retried with
backoff until it succeeds or the process is stopped hard; a scorer error falls back to
scoring message by message, and messages that still fail are recorded as seen, logged and
counted (never silently dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from bot.batcher import MicroBatcher
from bot.moderation import to_moderation_event
from bot.norms.store import NormsKeeper
from bot.policy.policy import Decision, Policy
from bot.twitch.events import ChatItem, ChatMessage
from model.cache import CachedScorer
from model.scorer import Score, Scorer, explain_missing
from storage.database import Database
from storage.errors import WRITE_ERRORS
from storage.records import (
    BatchRecord,
    ContextLine,
    FlagRecord,
    ModerationEvent,
    ReportDraft,
    SeenMessage,
)

__all__ = ["CONTEXT_MESSAGES", "Pipeline", "PipelineObserver", "PipelineStats"]

#: Chat messages of the channel kept beside each flag (those just before it).
CONTEXT_MESSAGES = 5

_log = logging.getLogger(__name__)
_P = ParamSpec("_P")
_R = TypeVar("_R")

#: (batch, the scores of its messages, the version and flag threshold of their scorer)
ScoredBatch = tuple[list[ChatItem], list[Score], str, float]

Decided = Sequence[tuple[ChatMessage, Score, Decision]]


class PipelineObserver:
    """What the pipeline tells whoever watches it (metrics, the outbox, a measurement).

    Every method is called on the event loop and does nothing here: a watcher overrides
    what it needs. It must return quickly, since the pipeline waits for it.
    """

    def batch_scored(self, size: int, seconds: float) -> None:
        """A batch of ``size`` messages was scored (and explained) in ``seconds``."""

    def batch_written(self, seconds: float, delays: Sequence[float]) -> None:
        """A batch's write stage took ``seconds`` (the seen-id check, the policy's
        decisions and the transaction, retries of a locked or failing database included);
        ``delays`` are the new messages' seconds from their Twitch timestamp (tmi-sent-ts)
        to their stored decision."""

    def reports_created(self, count: int) -> None:
        """A written batch created ``count`` (at least one) reports in the outbox."""

    def decided(self, decisions: Decided) -> None:
        """(message, score, decision) of every new message of a written batch."""


@dataclass(slots=True)
class PipelineStats:
    received: int = 0
    scored: int = 0
    duplicates: int = 0
    flagged: int = 0
    reports: int = 0
    batches: int = 0
    score_errors: int = 0
    write_retries: int = 0
    #: moderators' actions seen (timeouts, bans, deletions), duplicates included
    actions: int = 0
    write_failing: bool = False
    score_seconds: float = 0.0


def explain_flags(
    scorer: Scorer, policy: Policy, messages: Sequence[ChatMessage], scores: list[Score]
) -> list[Score]:
    """Scores of ``messages`` with evidence added for those ``policy`` may flag, when the
    scorer can explain itself (a network's occlusion words; the rules carry theirs)."""
    return explain_missing(
        scorer,
        [m.text for m in messages],
        scores,
        lambda i, s: policy.flags(
            messages[i], s.probability, labels=s.labels, scorer_threshold=scorer.threshold
        ),
    )


class Pipeline:
    """Owns the batcher and the two stage loops; ``run`` returns once closed and drained."""

    def __init__(
        self,
        scorer: Scorer,
        db: Database,
        policy: Policy,
        executor: Executor,
        *,
        max_batch: int = 128,
        max_wait: float = 0.025,
        queue_size: int = 10_000,
        score_cache: int = 0,
        observers: Sequence[PipelineObserver] = (),
        write_retry_cap: float = 30.0,
        dedup_horizon: float = 2 * 86400.0,
        maintenance_every: float = 3600.0,
        norms_keeper: NormsKeeper | None = None,
    ) -> None:
        self._cache_size = score_cache
        self.scorer = scorer
        self.db = db
        self.policy = policy
        self.batcher: MicroBatcher[ChatItem] = MicroBatcher(max_batch, max_wait, queue_size)
        self._executor = executor
        #: Told about every scored and written batch (a watcher may join later).
        self.observers: list[PipelineObserver] = list(observers)
        self._write_retry_cap = write_retry_cap
        self._dedup_horizon = dedup_horizon
        self._maintenance_every = maintenance_every
        #: saves what the policy's norms learned, between batches and once at the end
        self.norms_keeper = norms_keeper
        self._last_maintenance = time.time()
        # (batch, scores, version of the scorer that made them)
        self._scored: asyncio.Queue[ScoredBatch | None] = asyncio.Queue(maxsize=2)
        self.stats = PipelineStats()
        # each channel's last few messages, stored beside a flag as what came before it
        self._recent: dict[str, deque[ContextLine]] = {}

    @property
    def scorer(self) -> Scorer:
        return self._scorer

    @scorer.setter
    def scorer(self, scorer: Scorer) -> None:
        """Swap the model (between batches); repeated texts hit a cache of its verdicts."""
        if self._cache_size > 0 and not isinstance(scorer, CachedScorer):
            scorer = CachedScorer(scorer, self._cache_size)
        self._scorer = scorer

    async def submit(self, item: ChatItem) -> None:
        """Queue a message for scoring, or a moderator's action to learn from in its place
        among the messages (waits while the queue is full)."""
        if isinstance(item, ChatMessage):
            self.stats.received += 1
        else:
            self.stats.actions += 1
        await self.batcher.put(item)

    async def close(self) -> None:
        """No more messages: queued ones are still scored and written."""
        await self.batcher.close()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._score_loop(), name="pipeline-score")
            tg.create_task(self._write_loop(), name="pipeline-write")

    # -- stage 1: scoring ------------------------------------------------------------

    async def _score_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while (batch := await self.batcher.next_batch()) is not None:
                messages = [m for m in batch if isinstance(m, ChatMessage)]
                scorer = self.scorer  # may be swapped between batches, never during one
                scores: list[Score] = []
                if messages:
                    started = time.perf_counter()
                    scores = await loop.run_in_executor(
                        self._executor, self._score_and_explain, scorer, messages
                    )
                    elapsed = time.perf_counter() - started
                    self.stats.score_seconds += elapsed
                    for observer in self.observers:
                        observer.batch_scored(len(messages), elapsed)
                await self._scored.put((batch, scores, scorer.version, scorer.threshold))
        except asyncio.CancelledError:
            # the write stage is cancelled with us: nobody may read the end marker again, and
            # waiting for room in a full queue would hang the task group's cancellation
            with contextlib.suppress(asyncio.QueueFull):
                self._scored.put_nowait(None)
            raise
        except BaseException:
            await self._scored.put(None)
            raise
        await self._scored.put(None)

    def _score_and_explain(self, scorer: Scorer, batch: list[ChatMessage]) -> list[Score]:
        """Runs in the scorer thread: score the batch, then ask a scorer that can explain
        itself (occlusion, for networks) why it scored the messages the policy will flag."""
        scores = self._score_safely(scorer, [m.text for m in batch])
        try:
            return explain_flags(scorer, self.policy, batch, scores)
        except Exception:
            _log.exception("explaining flagged messages failed; they are judged without")
            return scores

    def _score_safely(self, scorer: Scorer, texts: list[str]) -> list[Score]:
        """Runs in the scorer thread."""
        try:
            scores = scorer.score(texts)
            if len(scores) != len(texts):
                raise RuntimeError(f"scorer returned {len(scores)} scores for {len(texts)} texts")
            return scores
        except Exception:
            _log.exception("scoring a batch of %d failed; scoring one by one", len(texts))
        out: list[Score] = []
        for text in texts:
            try:
                out.append(scorer.score([text])[0])
            except Exception:
                self.stats.score_errors += 1
                _log.exception("scoring one message failed; it is recorded unflagged")
                out.append(Score(0.0, ("score-error",)))
        return out

    # -- stage 2: policy and storage -------------------------------------------------

    async def _write_loop(self) -> None:
        while (item := await self._scored.get()) is not None:
            batch, scores, version, threshold = item
            self.policy.follow(threshold)  # a hot-reloaded model brings its own
            await self._write(batch, scores, version)
            if self.norms_keeper is not None:
                await self.norms_keeper.tick()
            if time.time() - self._last_maintenance >= self._maintenance_every:
                await self._maintain(batch[-1].sent_at)
        if self.norms_keeper is not None:
            await self.norms_keeper.save()

    async def _maintain(self, now: float) -> None:
        """Bound memory and disk: forget dedup ids past the horizon and idle users."""
        self._last_maintenance = time.time()
        pruned = await self._retry(self.db.prune_seen, now - self._dedup_horizon)
        idle = self.policy.forget_idle(now)
        _log.info("maintenance: %d old dedup ids pruned, %d idle users forgotten", pruned, idle)

    async def _write(self, batch: list[ChatItem], scores: list[Score], version: str) -> None:
        started = time.perf_counter()
        actions = {
            id(item): to_moderation_event(item)
            for item in batch
            if not isinstance(item, ChatMessage)
        }
        ids = [
            item.msg_id if isinstance(item, ChatMessage) else actions[id(item)].event_id or ""
            for item in batch
        ]
        unseen = await self._retry(
            self.db.filter_unseen, [i.msg_id for i in batch if isinstance(i, ChatMessage)]
        )
        if actions:
            events = [e.event_id for e in actions.values() if e.event_id is not None]
            unseen |= await self._retry(self.db.filter_unseen_events, events)
        now = time.time()
        messages: list[SeenMessage] = []
        flags: list[FlagRecord] = []
        reports: list[ReportDraft] = []
        moderation: list[ModerationEvent] = []
        decided: list[tuple[ChatMessage, Score, Decision]] = []
        scored = iter(scores)
        for item, key in zip(batch, ids, strict=True):
            score = next(scored) if isinstance(item, ChatMessage) else None
            if key not in unseen:  # a redelivery, a replay of what is stored, a repeat
                self.stats.duplicates += 1
                continue
            unseen.discard(key)
            if score is None:
                assert not isinstance(item, ChatMessage)
                self.policy.moderated(item)  # learned from when it happened
                moderation.append(actions[id(item)])
                continue
            assert isinstance(item, ChatMessage)
            message = item
            score = self.policy.after_scoring(message, score)
            decision = self.policy.decide(message, score.probability, score.evidence, score.labels)
            decided.append((message, score, decision))
            recent = self._recent.setdefault(message.channel, deque(maxlen=CONTEXT_MESSAGES))
            messages.append(_seen(message))
            if decision.flagged:
                flags.append(
                    FlagRecord(
                        msg_id=message.msg_id,
                        channel=message.channel,
                        user_key=message.user_key,
                        login=message.login,
                        text=message.text,
                        score=max(score.probability, decision.score),
                        labels=(*score.labels, *decision.labels),
                        model_version=version,
                        policy_version=self.policy.version(message.channel),
                        sent_at=message.sent_at,
                        flagged_at=now,
                        evidence=(*score.evidence, *decision.evidence),
                        context=tuple(recent),
                        note=decision.note,
                    )
                )
            recent.append(ContextLine(message.login, message.text, message.sent_at))
            if decision.report_reason is not None:
                reports.append(
                    ReportDraft(
                        channel=message.channel,
                        user_key=message.user_key,
                        login=message.login,
                        display_name=message.display_name,
                        reason=decision.report_reason,
                        created_at=now,
                    )
                )
        record = BatchRecord(tuple(messages), tuple(flags), tuple(reports), tuple(moderation))
        if messages or moderation:
            await self._retry(self.db.record_batch, record)
        if self.observers:
            seconds = time.perf_counter() - started
            done = time.time()
            delays = [done - m.sent_at for m in messages]
            for observer in self.observers:
                observer.batch_written(seconds, delays)
        self.stats.batches += 1
        self.stats.scored += len(messages)
        self.stats.flagged += len(flags)
        self.stats.reports += len(reports)
        for observer in self.observers:
            if reports:
                observer.reports_created(len(reports))
            if decided:
                observer.decided(decided)

    async def _retry(
        self, func: Callable[_P, Awaitable[_R]], *args: _P.args, **kwargs: _P.kwargs
    ) -> _R:
        """Run a storage call until it succeeds; a locked, read-only or full database is
        logged and retried with backoff, never dropped."""
        delay = 0.05
        while True:
            try:
                result = await func(*args, **kwargs)
                self.stats.write_failing = False
                return result
            except WRITE_ERRORS as exc:
                self.stats.write_retries += 1
                self.stats.write_failing = True
                _log.error(
                    "database write failed (%s: %s); retrying in %.2f s, nothing is dropped",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(self._write_retry_cap, delay * 2)


def _seen(message: ChatMessage) -> SeenMessage:
    return SeenMessage(
        msg_id=message.msg_id,
        channel=message.channel,
        user_key=message.user_key,
        user_id=message.user_id,
        login=message.login,
        display_name=message.display_name,
        sent_at=message.sent_at,
    )
