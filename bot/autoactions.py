"""Optional auto-deletes: the bot deletes, through Helix, a message it is very sure of.

Off unless ``CHATWARDEN_AUTO_DELETE`` lists a channel with its threshold
(``mychannel:0.98``), and paused while the token fails its hourly revalidation. A message
in such a channel is deleted when the policy flagged it (so exempt users, the broadcaster
and moderators never are), its score is at or above the channel's threshold and its
categories include a slur/hate or threat one. Each deletion, done or refused, is logged and
stored with ``source='auto'``.

It watches the pipeline as one of its observers: :meth:`decided` only queues (the
pipeline never waits for Twitch), and a worker task owned by this context manager sends the
deletions one after another. On exit the queued ones are still sent (bounded), then the
worker stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from types import TracebackType

from bot.pipeline import Decided, PipelineObserver
from bot.twitch.events import ChatMessage
from bot.twitch.helix import HelixModerator
from model.scorer import Score
from storage.database import Database

__all__ = ["AUTO_DELETE_CATEGORIES", "AutoDelete"]

_log = logging.getLogger(__name__)

#: The scorers' categories (model.networks.CATEGORIES; the rules label slurs 'slur')
#: whose messages may be deleted without a moderator.
AUTO_DELETE_CATEGORIES = frozenset({"slur", "hate", "threat"})
_QUEUE = 1000
_DRAIN_S = 10.0


class AutoDelete(PipelineObserver):
    """``async with AutoDelete(helix, db, thresholds) as auto: pipeline.observers.append(auto)``."""

    def __init__(
        self, helix: HelixModerator, db: Database, thresholds: Mapping[str, float]
    ) -> None:
        self._helix = helix
        self._db = db
        self._thresholds = dict(thresholds)
        self._queue: asyncio.Queue[tuple[ChatMessage, Score]] = asyncio.Queue(_QUEUE)
        self._task: asyncio.Task[None] | None = None
        self.deleted = 0
        self.failed = 0
        self.dropped = 0

    async def __aenter__(self) -> AutoDelete:
        self._task = asyncio.create_task(self._work(), name="auto-delete")
        for channel, threshold in sorted(self._thresholds.items()):
            _log.info(
                "auto-delete on in #%s: %s messages scoring %.2f or more",
                channel,
                "/".join(sorted(AUTO_DELETE_CATEGORIES)),
                threshold,
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_S):
                await self._queue.join()
        if not self._queue.empty():
            _log.warning("auto-delete: %d deletion(s) not sent at exit", self._queue.qsize())
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def wanted(self, message: ChatMessage, score: Score, flagged: bool) -> bool:
        threshold = self._thresholds.get(message.channel)
        return (
            threshold is not None
            and self._helix.valid
            and flagged
            and not (message.is_broadcaster or message.is_moderator)
            and score.probability >= threshold
            and not AUTO_DELETE_CATEGORIES.isdisjoint(score.labels)
        )

    def decided(self, decisions: Decided) -> None:
        for message, score, decision in decisions:
            if not self.wanted(message, score, decision.flagged and not decision.exempt):
                continue
            try:
                self._queue.put_nowait((message, score))
            except asyncio.QueueFull:
                self.dropped += 1
                _log.warning(
                    "auto-delete: queue full, message %s in #%s not deleted",
                    message.msg_id,
                    message.channel,
                )

    async def _work(self) -> None:
        while True:
            message, score = await self._queue.get()
            try:
                await self._delete(message, score)
            except Exception:  # a database error must not stop later deletions
                _log.exception("auto-delete of %s in #%s", message.msg_id, message.channel)
            finally:
                self._queue.task_done()

    async def _delete(self, message: ChatMessage, score: Score) -> None:
        categories = ",".join(sorted(AUTO_DELETE_CATEGORIES.intersection(score.labels)))
        reason = f"auto-delete: score {score.probability:.3f} ({categories})"
        result = await self._helix.delete_message(message.channel, message.msg_id)
        if result.ok:
            self.deleted += 1
            _log.info(
                "auto-deleted %s's message %s in #%s (%s)",
                message.login,
                message.msg_id,
                message.channel,
                reason,
            )
        else:
            self.failed += 1  # HelixModerator has logged Helix's answer at warning
        await self._db.record_action(
            channel=message.channel,
            target_login=message.login,
            target_user_id=message.user_id,
            kind="delete",
            duration=None,
            reason=reason,
            msg_id=message.msg_id,
            moderator=self._helix.info.login,
            ok=result.ok,
            status=result.status,
            message=result.message,
            source="auto",
        )
