"""Recorded chat logs as the bot's ``ChatMessage``s, for shadow-mode ``chatwarden replay``.

The log formats of the data dir (Chatty, Korean-locale VOD exports, irssi) are read by
:mod:`model.chatlogs`; this module wraps each :class:`~model.chatlogs.ChatLine` in a
``ChatMessage`` and adds what only the bot can parse: **raw IRC** lines, optionally after a
logger's timestamp and ``—`` separator, e.g.
``@badges=...;id=... :nick!nick@nick.tmi.twitch.tv PRIVMSG #chan :text`` or
``2021-10-19_23:42:15 — :nick!nick@... PRIVMSG #chan :text``. A raw line without a time of
its own is dated by the message before it. ``.gz`` files are decompressed on the fly.

Messages without a Twitch id get a deterministic one (file name + line number), so
replaying the same file twice never counts a message twice.

:func:`read_chat_items` also yields the moderators' actions a log records, in their place
among the messages, as ``run`` receives them: raw IRC ``CLEARCHAT`` (timeouts and bans) and
``CLEARMSG`` (deletions) lines, and Chatty's ``BAN: login (600s)`` lines (dated by the
message before them, as Chatty writes them right after it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.twitch.events import (
    ChatItem,
    ChatMessage,
    ClearChat,
    ClearMsg,
    Event,
    synthetic_msg_id,
    to_event,
)
from bot.twitch.irc import IrcParseError, parse_line
from model import chatlogs
from model.chatlogs import ChatLine

__all__ = ["ReplayStats", "iter_log", "read_ban_targets", "read_chat_items", "read_chat_log"]

_RAW_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d[_ T]\d\d:\d\d:\d\d)\s+\S+\s+(?=[@:])")
_CHATTY_BAN = re.compile(r"^(?:\[[^\]]*\] )?BAN: ([A-Za-z0-9_]+)(?: \((\d+)s\))?")


@dataclass(slots=True)
class ReplayStats:
    lines: int = 0
    messages: int = 0
    skipped: int = 0  # lines that are neither chat nor known log noise


def read_chat_log(path: Path, stats: ReplayStats | None = None) -> Iterator[ChatMessage]:
    """Yield the chat messages of one log file, in file order."""
    for _, _, message in iter_log(path, stats):
        if message is not None:
            yield message


def read_chat_items(path: Path, stats: ReplayStats | None = None) -> Iterator[ChatItem]:
    """Yield the chat messages and moderators' actions of one log file, in file order."""
    channel, last_time = "", 0.0
    for _, line, message in iter_log(path, stats):
        if message is not None:
            channel, last_time = message.channel, message.sent_at
            yield message
        elif (action := _action(line, channel, last_time)) is not None:
            yield action


def _action(line: str, channel: str, last_time: float) -> ClearChat | ClearMsg | None:
    """The moderator's action on a log line that is not a chat message, if any."""
    ban = _CHATTY_BAN.match(line)
    if ban is not None:
        if not channel:  # a ban before any message: no channel to place it in
            return None
        seconds = ban.group(2)
        duration = int(seconds) if seconds else None
        return ClearChat(channel, ban.group(1).lower(), None, duration, sent_at=last_time)
    event = _raw_event(line, last_time)
    return event if isinstance(event, ClearChat | ClearMsg) else None


def read_ban_targets(path: Path) -> Iterator[ChatMessage]:
    """:func:`model.chatlogs.read_ban_targets` as the messages replay yields for them."""
    for chat in chatlogs.read_ban_targets(path):
        yield _message(path, chat)


def iter_log(
    path: Path, stats: ReplayStats | None = None
) -> Iterator[tuple[int, str, ChatMessage | None]]:
    """Every non-blank line of a log as ``(number, line, the chat message on it or None)``."""
    stats = stats if stats is not None else ReplayStats()
    last_time = 0.0
    for number, line, chat in chatlogs.read_text_log(path):
        stats.lines += 1
        if not line:
            continue
        message = _message(path, chat) if chat is not None else None
        if message is None:
            message = _raw_irc(line, path, number, last_time)
            if message is None and not _is_log_noise(line):
                stats.skipped += 1
        if message is not None:
            last_time = message.sent_at
            stats.messages += 1
        yield number, line, message


def _is_log_noise(line: str) -> bool:
    """Headers, notices and server lines the logs are known to hold besides chat."""
    return line.startswith(("#", "[", ":", "~", "@", "---")) or "—" in line or line[5:10] == " -!- "


def _message(path: Path, chat: ChatLine) -> ChatMessage:
    return ChatMessage(
        synthetic_msg_id(path.name, chat.line),
        chat.channel,
        chat.login,
        chat.display_name,
        chat.text,
        chat.sent_at if chat.sent_at is not None else 0.0,  # text logs always date lines
        badges=chat.badges,
        is_action=chat.is_action,
    )


def _raw_event(line: str, last_time: float) -> Event | None:
    """The event of a raw IRC line (after an optional logger's timestamp), or None."""
    received = last_time
    stamp = _RAW_STAMP.match(line)
    if stamp:
        text = stamp.group(1).replace("_", " ").replace("T", " ")
        received = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        line = line[stamp.end() :]
    if not line.startswith(("@", ":")):
        return None
    try:
        return to_event(parse_line(line), received_at=received)
    except (IrcParseError, ValueError):
        return None


def _raw_irc(line: str, path: Path, number: int, last_time: float) -> ChatMessage | None:
    event = _raw_event(line, last_time)
    if not isinstance(event, ChatMessage):
        return None
    if event.msg_id.startswith("x-"):
        event = ChatMessage(
            synthetic_msg_id(path.name, number),
            event.channel,
            event.login,
            event.display_name,
            event.text,
            event.sent_at,
            event.user_id,
            event.room_id,
            event.badges,
            event.first_msg,
            event.is_action,
        )
    return event
