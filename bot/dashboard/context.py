"""What the dashboard's handlers share: the context they read and act on, the interfaces
of Twitch's moderation API and of the action log, and the application's keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from bot.dashboard.auth import Sessions
from bot.norms.store import NormsControl
from bot.settings import Settings
from storage.database import Database
from storage.records import ChannelSettings

__all__ = [
    "CONTEXT",
    "SESSIONS",
    "ActionOutcome",
    "DashboardContext",
    "Moderator",
]


class ActionOutcome(Protocol):
    """What Twitch answered to an action (``bot.twitch.helix.ActionResult``)."""

    @property
    def ok(self) -> bool: ...
    @property
    def status(self) -> int: ...
    @property
    def message(self) -> str: ...


class Moderator(Protocol):
    """Twitch's moderation API (``bot.twitch.helix.HelixModerator``)."""

    def timeout(
        self, channel: str, login: str, seconds: int, reason: str
    ) -> Awaitable[ActionOutcome]: ...
    def ban(self, channel: str, login: str, reason: str) -> Awaitable[ActionOutcome]: ...
    def delete_message(self, channel: str, msg_id: str) -> Awaitable[ActionOutcome]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardContext:
    """What the pages read and act on."""

    #: where verdicts, channel settings and actions are written
    db: Database
    settings: Settings
    #: applies a channel's saved settings to the live policy
    apply_channel: Callable[[ChannelSettings], None]
    #: Twitch's moderation API, when configured (None: actions are refused, visibly)
    moderator: Moderator | None = None
    #: a read-only connection to the same file for the pages' reads, so that a page never
    #: queues behind (or holds up) the pipeline's writes on ``db``; None: read from ``db``
    reader: Database | None = None
    #: each channel's learned norms: shown, reset, frozen (None: not shown)
    norms: NormsControl | None = None

    @property
    def reads(self) -> Database:
        return self.reader or self.db


CONTEXT = web.AppKey("context", DashboardContext)
SESSIONS = web.AppKey("sessions", Sessions)
