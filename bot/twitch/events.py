"""Typed Twitch chat events built from parsed IRC lines (pure functions).

Only the tags we recognise are read; others are ignored, as Twitch's docs ask.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from bot.twitch.irc import IrcLine

__all__ = [
    "ChatItem",
    "ChatMessage",
    "ClearChat",
    "ClearMsg",
    "Event",
    "Notice",
    "Ping",
    "Reconnect",
    "UserNotice",
    "Welcome",
    "synthetic_msg_id",
    "to_event",
]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A chat message (PRIVMSG) with the facts moderation needs."""

    msg_id: str
    channel: str
    login: str
    display_name: str
    text: str
    sent_at: float  # epoch seconds (tmi-sent-ts, or arrival time without it)
    user_id: str | None = None
    room_id: str | None = None
    badges: frozenset[str] = frozenset()
    first_msg: bool = False
    is_action: bool = False
    #: the login of the message this one replies to (``reply-parent-user-login``), if any
    reply_to: str | None = None

    @property
    def user_key(self) -> str:
        """Stable key of the author: the Twitch user id, else the login."""
        return self.user_id or f"login:{self.login}"

    @property
    def is_broadcaster(self) -> bool:
        return "broadcaster" in self.badges

    @property
    def is_moderator(self) -> bool:
        return "moderator" in self.badges

    @property
    def is_vip(self) -> bool:
        return "vip" in self.badges

    @property
    def is_subscriber(self) -> bool:
        return "subscriber" in self.badges or "founder" in self.badges


@dataclass(frozen=True, slots=True)
class ClearChat:
    """Chat cleared (no target) or one user's messages removed (timeout or ban)."""

    channel: str
    target_login: str | None
    target_user_id: str | None
    ban_duration: int | None  # seconds; None with a target means a permanent ban
    sent_at: float = 0.0  # epoch seconds (tmi-sent-ts, or arrival time without it)


@dataclass(frozen=True, slots=True)
class ClearMsg:
    """One message deleted by a moderator."""

    channel: str
    login: str | None
    target_msg_id: str | None
    text: str
    sent_at: float = 0.0  # epoch seconds (tmi-sent-ts, or arrival time without it)


@dataclass(frozen=True, slots=True)
class UserNotice:
    """Sub, resub, raid, announcement… (``msg-id`` names the kind)."""

    channel: str
    kind: str
    login: str | None
    user_id: str | None
    system_msg: str
    text: str


@dataclass(frozen=True, slots=True)
class Notice:
    """A server notice, e.g. ``msg_channel_suspended`` or a failed login."""

    channel: str | None
    msg_id: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Ping:
    token: str


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Twitch is about to restart this server: reconnect and rejoin now."""


@dataclass(frozen=True, slots=True)
class Welcome:
    """RPL_WELCOME (001): registration succeeded."""

    nick: str


Event = ChatMessage | ClearChat | ClearMsg | UserNotice | Notice | Ping | Reconnect | Welcome
#: What the bot decides on and learns from, in the order chat saw it: a message, or a
#: moderator's action on chat (a timeout, ban or clear; a deleted message)
ChatItem = ChatMessage | ClearChat | ClearMsg


def _channel(param: str) -> str:
    return param.lstrip("#").lower()


def _badges(raw: str) -> frozenset[str]:
    if not raw:
        return frozenset()
    return frozenset(item.split("/", 1)[0] for item in raw.split(",") if item)


def synthetic_msg_id(*parts: object) -> str:
    """A deterministic id for messages that carry none (raw logs without tags)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=12)
    return "x-" + digest.hexdigest()


def _sent_at(tags: dict[str, str] | object, default: float | None) -> float:
    raw = tags.get("tmi-sent-ts", "") if isinstance(tags, dict) else ""
    if raw.isdigit():
        return int(raw) / 1000.0
    return time.time() if default is None else default


def to_event(line: IrcLine, received_at: float | None = None) -> Event | None:
    """The typed event for ``line``, or None for lines the bot does not act on."""
    cmd = line.command
    tags = dict(line.tags)
    if cmd == "PRIVMSG":
        if len(line.params) < 2:
            return None
        channel = _channel(line.params[0])
        text = line.params[1]
        is_action = text.startswith("\x01ACTION ") and text.endswith("\x01")
        if is_action:
            text = text[8:-1]
        login = (line.nick or tags.get("login", "")).lower()
        sent_at = _sent_at(tags, received_at)
        badges = _badges(tags.get("badges", ""))
        if tags.get("mod") == "1":
            badges |= {"moderator"}
        if tags.get("vip") == "1":
            badges |= {"vip"}
        msg_id = tags.get("id") or synthetic_msg_id(channel, login, sent_at, text)
        return ChatMessage(
            msg_id=msg_id,
            channel=channel,
            login=login,
            display_name=tags.get("display-name") or login,
            text=text,
            sent_at=sent_at,
            user_id=tags.get("user-id") or None,
            room_id=tags.get("room-id") or None,
            badges=badges,
            first_msg=tags.get("first-msg") == "1",
            reply_to=(tags.get("reply-parent-user-login") or "").lower() or None,
            is_action=is_action,
        )
    if cmd == "PING":
        return Ping(line.trailing)
    if cmd == "RECONNECT":
        return Reconnect()
    if cmd == "001":
        return Welcome(line.params[0] if line.params else "")
    if cmd == "CLEARCHAT" and line.params:
        duration = tags.get("ban-duration", "")
        return ClearChat(
            channel=_channel(line.params[0]),
            target_login=line.params[1].lower() if len(line.params) > 1 else None,
            target_user_id=tags.get("target-user-id") or None,
            ban_duration=int(duration) if duration.isdigit() else None,
            sent_at=_sent_at(tags, received_at),
        )
    if cmd == "CLEARMSG" and line.params:
        return ClearMsg(
            channel=_channel(line.params[0]),
            login=tags.get("login") or None,
            target_msg_id=tags.get("target-msg-id") or None,
            text=line.params[1] if len(line.params) > 1 else "",
            sent_at=_sent_at(tags, received_at),
        )
    if cmd == "USERNOTICE" and line.params:
        return UserNotice(
            channel=_channel(line.params[0]),
            kind=tags.get("msg-id", ""),
            login=tags.get("login") or None,
            user_id=tags.get("user-id") or None,
            system_msg=tags.get("system-msg", ""),
            text=line.params[1] if len(line.params) > 1 else "",
        )
    if cmd == "NOTICE":
        target = line.params[0] if line.params else ""
        return Notice(
            channel=_channel(target) if target.startswith("#") else None,
            msg_id=tags.get("msg-id") or None,
            text=line.trailing,
        )
    return None
