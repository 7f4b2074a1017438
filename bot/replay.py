"""Recorded chat logs as the bot's ``ChatMessage``s, for shadow-mode ``chatwarden replay``.

The log formats (Chatty, Chatterino, Korean-locale VOD exports, irssi) are read by
:mod:`model.chatlogs`; this module wraps each :class:`~model.chatlogs.ChatLine` in a
``ChatMessage`` and adds what only the bot can parse: **raw IRC** lines, optionally after a
logger's timestamp (UTC, in brackets or not, with or without a separator), e.g.
``@badges=...;id=... :nick!nick@nick.tmi.twitch.tv PRIVMSG #chan :text``,
``[2025-12-06 10:00:00] :nick!nick@... PRIVMSG #chan :text`` or
``2021-10-19_23:42:15 — :nick!nick@... PRIVMSG #chan :text``. A raw line without a time of
its own is dated by the message before it. ``.gz`` files are decompressed on the fly.

A line that is neither chat nor a known non-chat line of these logs (headers, notices,
IRC commands other than chat) is counted in :class:`ReplayStats` by the reason it could
not be read; :func:`replay_log` raises :class:`NoChatError`, naming the file and those
reasons, for a file with no chat in it at all.

Messages without a Twitch id get a deterministic one (file name + line number), so
replaying the same file twice never counts a message twice.

:func:`read_chat_items` (and :func:`replay_log`) also yield the moderators' actions a log
records, in their place among the messages, as ``run`` receives them: raw IRC
``CLEARCHAT`` (timeouts and bans) and ``CLEARMSG`` (deletions) lines, and Chatty's
``BAN: login (600s)`` lines (dated by the message before them, as Chatty writes them right
after it).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
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
from model.chatlogs import ChatLine, ChatLogError

__all__ = [
    "FORMATS",
    "NoChatError",
    "ReplayStats",
    "iter_log",
    "read_ban_targets",
    "read_chat_items",
    "read_chat_log",
    "replay_log",
]

_CHATTY_BAN = re.compile(r"^(?:\[[^\]]*\] )?BAN: ([A-Za-z0-9_]+)(?: \((\d+)s\))?")

#: A logger's UTC timestamp before a raw IRC line: ``2025-12-06 10:00:00``, ``_`` or ``T``
#: between date and time, optional fraction and zone, optional brackets, then optionally
#: one separator word (``—``, ``-``, ``|``) that is not the IRC line's own start.
_RAW_STAMP = re.compile(
    r"^\[?(\d{4}-\d\d-\d\d)[_ T](\d\d:\d\d:\d\d)(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?"
    r"\s+(?:[^\s@:]\S*\s+)?(?=[@:])"
)
#: Timestamped lines of the logs replay reads that are not chat: notices, bans, system lines.
_STAMPED = re.compile(r"^\[[\d\-:., /T]+(?:오전|오후)?[\d:. ]*\] ")
#: What replay reads, for the error about a file with no chat in it.
FORMATS = "raw IRC (optionally after a logger's timestamp), Chatty, Chatterino and irssi logs"


@dataclass(slots=True)
class ReplayStats:
    lines: int = 0
    messages: int = 0
    skipped: int = 0  # lines that are neither chat nor known log noise (sum of ``unread``)
    #: those lines by why they could not be read
    unread: dict[str, int] = field(default_factory=dict)

    def count_unread(self, reason: str) -> None:
        self.skipped += 1
        self.unread[reason] = self.unread.get(reason, 0) + 1

    def add(self, other: ReplayStats) -> None:
        self.lines += other.lines
        self.messages += other.messages
        self.skipped += other.skipped
        for reason, n in other.unread.items():
            self.unread[reason] = self.unread.get(reason, 0) + n

    def unread_text(self) -> str:
        """``2 not a chat line, 1 malformed IRC``: most frequent reason first."""
        return ", ".join(f"{n} {reason}" for reason, n in Counter(self.unread).most_common())


class NoChatError(ChatLogError):
    """A file read to its end without one chat message in it: not a log replay reads."""

    def __init__(self, path: Path, stats: ReplayStats) -> None:
        if stats.skipped == 0:
            why = "it is empty" if stats.lines == 0 else f"{stats.lines} line(s), none of them chat"
        else:
            why = f"{stats.lines} line(s): {stats.unread_text() or 'none of them chat'}"
        json_hint = ""
        if "JSON" in stats.unread:
            json_hint = " (a JSON chat export, which replay does not read)"
        super().__init__(
            path,
            stats.lines,
            "no chat",
            f"no chat in {path}: {why}{json_hint}; replay reads {FORMATS}",
        )


def replay_log(path: Path, stats: ReplayStats) -> Iterator[ChatItem]:
    """:func:`read_chat_items` for ``replay``: counts into ``stats``, and raises
    :class:`NoChatError` after a file that held no chat message at all."""
    own = ReplayStats()
    try:
        yield from read_chat_items(path, own)
    finally:
        stats.add(own)
    if own.messages == 0:
        raise NoChatError(path, own)


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
    event, _ = _raw_event(line, last_time)
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
            message, reason = _raw_irc(line, path, number, last_time)
            if message is None:
                reason = _unread_reason(line) if reason is None else reason
                if reason:
                    stats.count_unread(reason)
        if message is not None:
            last_time = message.sent_at
            stats.messages += 1
        yield number, line, message


def _unread_reason(line: str) -> str | None:
    """Why a line that is not chat could not be read; None for the headers, notices and
    server lines the logs are known to hold besides chat."""
    if "\ufffd" in line:  # the reader replaces bytes that are not UTF-8
        return "not UTF-8 text"
    if (
        line.startswith(("# ", "~", "---"))
        or _STAMPED.match(line)
        or "—" in line
        or line[5:10] == " -!- "
    ):
        return None
    if line.lstrip()[:1] in {"{", "}", "[", "]", '"'}:
        return "JSON"
    return "not a chat line"


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


def _raw_event(line: str, last_time: float) -> tuple[Event | None, str | None]:
    """The event of a raw IRC line (after an optional logger's timestamp); else None and
    why it could not be read: None for a line that is not IRC, ``""`` for IRC the bot does
    not act on."""
    received = last_time
    stamp = _RAW_STAMP.match(line)
    if stamp:
        try:
            when = datetime.fromisoformat(f"{stamp.group(1)} {stamp.group(2)}")
        except ValueError:
            return None, "malformed IRC"
        received = when.replace(tzinfo=UTC).timestamp()
        line = line[stamp.end() :]
    if not line.startswith(("@", ":")):
        return None, None
    try:
        event = to_event(parse_line(line), received_at=received)
    except (IrcParseError, ValueError):
        return None, "malformed IRC"
    return event, None if event is not None else ""


def _raw_irc(
    line: str, path: Path, number: int, last_time: float
) -> tuple[ChatMessage | None, str | None]:
    """The chat message of a raw IRC line; else None and why it could not be read: None
    for a line that is not IRC, ``""`` for IRC that is not chat."""
    event, reason = _raw_event(line, last_time)
    if event is None:
        return None, reason
    if not isinstance(event, ChatMessage):
        return None, ""  # IRC, but not chat (PING, JOIN, CLEARCHAT...): known, not unread
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
    return event, None
