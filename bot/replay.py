"""Readers for recorded chat logs, for shadow-mode ``chatwarden replay``.

Three formats are recognised line by line (``.gz`` files are decompressed on the fly):

* **raw IRC**, optionally after a logger's timestamp and ``—`` separator, e.g.
  ``@badges=...;id=... :nick!nick@nick.tmi.twitch.tv PRIVMSG #chan :text`` or
  ``2021-10-19_23:42:15 — :nick!nick@... PRIVMSG #chan :text``;
* **Chatty** logs (the Korean Twitch logs of the data dir), e.g.
  ``[2021-12-10 20:57:42] <%단팥팡 (fromn02)> text`` with the channel taken from the file
  name (``#channel.log.gz``) and the time zone from the ``# Log started`` header;
* **irssi** logs (the 2017 esports chat of the data dir), e.g. ``16:08 < nick> text`` and
  ``16:09  * nick waves`` (an action), dated by the ``--- Log opened`` and ``--- Day
  changed`` lines (taken as UTC), with the channel from the ``has joined #channel`` line.

Messages without a Twitch id get a deterministic one (file name + line number), so
replaying the same file twice never counts a message twice.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

from bot.twitch.events import ChatMessage, synthetic_msg_id, to_event
from bot.twitch.irc import IrcParseError, parse_line

__all__ = ["ReplayStats", "read_chat_log"]

_CHATTY = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] <([~!@%^+$&]*)([^>]+?)>\*? ?(.*)$")
_CHATTY_NAME = re.compile(r"^(.*) \(([A-Za-z0-9_]+)\)$")
# `[21. 10. 13. 오후 10:00:04] <user> text` (Korean-locale VOD chat exports)
_KO_LOCALE = re.compile(
    r"^\[(\d\d)\. (\d{1,2})\. (\d{1,2})\. (오전|오후) (\d{1,2}):(\d\d):(\d\d)\] <([^>]+)> (.*)$"
)
_BAN = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] BAN: (\S+)")
_LOG_STARTED = re.compile(r"^# Log started: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ([+-]\d{4})")
_RAW_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d[_ T]\d\d:\d\d:\d\d)\s+\S+\s+(?=[@:])")
_IRSSI_MSG = re.compile(r"^(\d\d):(\d\d) <([ @%+~&]?)([^>]+)> (.*)$")
_IRSSI_ACTION = re.compile(r"^(\d\d):(\d\d)  \* (\S+) (.*)$")
_IRSSI_DATE = re.compile(
    r"^--- (?:Log opened \w{3} (\w{3} \d\d) \d\d:\d\d:\d\d (\d{4})"
    r"|Day changed \w{3} (\w{3} \d\d) (\d{4}))$"
)
_IRSSI_JOIN = re.compile(r"^\d\d:\d\d -!- \S+ \[[^\]]*\] has joined #(\S+)$")
_IRSSI_BADGES = {"~": "broadcaster", "&": "broadcaster", "@": "moderator", "%": "moderator"}
_CHATTY_BADGES = {"~": "broadcaster", "@": "moderator", "!": "vip", "%": "subscriber", "^": "bot"}


@dataclass(slots=True)
class ReplayStats:
    lines: int = 0
    messages: int = 0
    skipped: int = 0  # lines that are neither chat nor known log noise


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def _channel_from_name(path: Path) -> str:
    name = path.name.split(".", 1)[0].lstrip("#")
    return re.sub(r"-\d+$", "", name).lower()


def read_chat_log(path: Path, stats: ReplayStats | None = None) -> Iterator[ChatMessage]:
    """Yield the chat messages of one log file, in file order."""
    for _, _, message in iter_log(path, stats):
        if message is not None:
            yield message


def read_ban_targets(path: Path) -> Iterator[ChatMessage]:
    """For a Chatty log: each banned or timed-out user's last message before the ``BAN:``
    line (a weak but real moderation signal: many are word-filter bots' 1-5 s timeouts)."""
    last: dict[str, ChatMessage] = {}
    for _, line, message in iter_log(path):
        if message is not None:
            last[message.login] = message
            continue
        match = _BAN.match(line)
        if match and (target := last.pop(match.group(2).lower(), None)) is not None:
            yield target


def iter_log(
    path: Path, stats: ReplayStats | None = None
) -> Iterator[tuple[int, str, ChatMessage | None]]:
    """Every line of a log as ``(number, line, the chat message on it or None)``."""
    stats = stats if stats is not None else ReplayStats()
    channel = _channel_from_name(path)
    tz = UTC
    last_time = 0.0
    day = datetime(1970, 1, 1, tzinfo=UTC)  # irssi: the date of the lines that follow
    with _open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            stats.lines += 1
            line = line.rstrip("\r\n")
            if not line:
                continue
            match = _CHATTY.match(line)
            if match:
                stamp, symbols, name, text = match.groups()
                sent = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
                last_time = sent.timestamp()
                named = _CHATTY_NAME.match(name)
                display, login = (named.group(1), named.group(2)) if named else (name, name)
                stats.messages += 1
                yield (
                    number,
                    line,
                    ChatMessage(
                        msg_id=synthetic_msg_id(path.name, number),
                        channel=channel,
                        login=login.lower(),
                        display_name=display,
                        text=text,
                        sent_at=last_time,
                        badges=frozenset(_CHATTY_BADGES[s] for s in symbols if s in _CHATTY_BADGES),
                    ),
                )
                continue
            local = _KO_LOCALE.match(line)
            if local:
                yy, mo, dd, half, hh, mi, ss, name, text = local.groups()
                hour = int(hh) % 12 + (12 if half == "오후" else 0)
                sent = datetime(2000 + int(yy), int(mo), int(dd), hour, int(mi), int(ss), tzinfo=tz)
                last_time = sent.timestamp()
                stats.messages += 1
                yield (
                    number,
                    line,
                    ChatMessage(
                        synthetic_msg_id(path.name, number),
                        channel,
                        name.lower(),
                        name,
                        text,
                        last_time,
                    ),
                )
                continue
            irssi = _IRSSI_MSG.match(line) or _IRSSI_ACTION.match(line)
            if irssi:
                hh, mi, *rest = irssi.groups()
                symbol, name, text = rest if len(rest) == 3 else ("", *rest)
                last_time = (day + timedelta(hours=int(hh), minutes=int(mi))).timestamp()
                stats.messages += 1
                badge = _IRSSI_BADGES.get(symbol.strip())
                yield (
                    number,
                    line,
                    ChatMessage(
                        synthetic_msg_id(path.name, number),
                        channel,
                        name.lower(),
                        name,
                        text,
                        last_time,
                        badges=frozenset({badge} if badge else ()),
                        is_action=len(rest) == 2,
                    ),
                )
                continue
            dated = _IRSSI_DATE.match(line)
            if dated:
                month_day, year = (
                    (dated.group(1), dated.group(2))
                    if dated.group(1)
                    else (dated.group(3), dated.group(4))
                )
                day = datetime.strptime(f"{month_day} {year}", "%b %d %Y").replace(tzinfo=UTC)
                yield number, line, None
                continue
            joined = _IRSSI_JOIN.match(line)
            if joined:
                channel = joined.group(1).lower()
                yield number, line, None
                continue
            started = _LOG_STARTED.match(line)
            if started:
                offset = started.group(2)
                minutes = int(offset[1:3]) * 60 + int(offset[3:5])
                tz = timezone(timedelta(minutes=minutes if offset[0] == "+" else -minutes))
                yield number, line, None
                continue
            message = _raw_irc(line, path, number, last_time)
            if message is not None:
                last_time = message.sent_at
                stats.messages += 1
            elif (
                not line.startswith(("#", "[", ":", "~", "@", "---"))
                and "—" not in line
                and line[5:10] != " -!- "
            ):
                stats.skipped += 1
            yield number, line, message


def _raw_irc(line: str, path: Path, number: int, last_time: float) -> ChatMessage | None:
    received = last_time
    stamp = _RAW_STAMP.match(line)
    if stamp:
        text = stamp.group(1).replace("_", " ").replace("T", " ")
        received = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        line = line[stamp.end() :]
    if not line.startswith(("@", ":")):
        return None
    try:
        event = to_event(parse_line(line), received_at=received)
    except (IrcParseError, ValueError):
        return None
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
