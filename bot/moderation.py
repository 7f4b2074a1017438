"""Records what the channel's moderators do, as seen in chat (CLEARCHAT and CLEARMSG).

Timeouts, bans and deleted messages land in ``moderation_events`` and show up in
``chatwarden history``: moderators see a user's record of real actions beside the bot's
flags, and the project gains real moderation signal to measure its precision against.
Events are rare; they are buffered and written about once a second, and the buffer is
written once more at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time

from bot.twitch.events import ClearChat, ClearMsg, Event
from storage.database import Database
from storage.records import ModerationEvent

__all__ = ["ModerationRecorder", "to_moderation_event"]

_log = logging.getLogger(__name__)


def to_moderation_event(event: Event, at: float) -> ModerationEvent | None:
    if isinstance(event, ClearChat):
        if event.target_login is None:
            return ModerationEvent(event.channel, "clear", at)
        kind = "ban" if event.ban_duration is None else "timeout"
        return ModerationEvent(
            event.channel,
            kind,
            at,
            event.target_login,
            event.target_user_id,
            duration=event.ban_duration,
        )
    if isinstance(event, ClearMsg):
        return ModerationEvent(
            event.channel, "delete", at, event.login, None, event.target_msg_id, text=event.text
        )
    return None


class ModerationRecorder:
    def __init__(self, db: Database, flush_every: float = 1.0) -> None:
        self._db = db
        self._flush_every = flush_every
        self._pending: list[ModerationEvent] = []
        self.recorded = 0

    def on_event(self, event: Event) -> None:
        """IRC event callback (sync, on the event loop)."""
        record = to_moderation_event(event, time.time())
        if record is not None:
            self._pending.append(record)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._flush_every)
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            await self._db.record_moderation(batch)
            self.recorded += len(batch)
        except sqlite3.Error as exc:  # keep them for the next flush
            self._pending = batch + self._pending
            _log.error("could not store %d moderation event(s) (%s); retrying", len(batch), exc)
