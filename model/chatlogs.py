"""The chat logs of the data dir: one reader per format, BAN targets, and the catalogue.

This is the one module that knows how the recorded chat of the data dir is written, so
replay (``bot.replay``), the live-chat evaluation and benchmark (``bot.lab``) and training
(tokenizer corpus, chat negatives, the unlabeled pool of semi-supervised training) read the
same messages from the same files. Every reader yields the neutral :class:`ChatLine`; what
a consumer needs beyond it (Twitch message ids, raw IRC) it adds itself, so ``model`` never
imports ``bot``.

Formats:

* **text logs**, recognised line by line by :func:`read_text_log`:

  * Chatty (``twitch_chat_ko_boostcamp``), e.g. ``[2021-12-10 20:57:42] <%단팥팡 (fromn02)>
    text``; the channel is taken from the file name (``#channel.log.gz``), the time zone
    from the ``# Log started`` header, and ``BAN:`` lines mark moderators' timeouts;
  * Korean-locale VOD chat exports (``twitch_chat_en_madcookie/*.txt``), e.g. ``[21. 10.
    13. 오후 10:00:04] <user> text``;
  * irssi (``twitch_chat_en_spannbauer``), e.g. ``16:08 < nick> text`` and ``16:09  * nick
    waves`` (an action), dated by the ``--- Log opened`` and ``--- Day changed`` lines
    (taken as UTC), with the channel from the ``has joined #channel`` line;
  * Chatterino, e.g. ``[10:00:01]  alice: hi``, dated by the ``# Start logging at`` line
    or the file name (``twitchdev-2025-12-06.log``, which also names the channel), taken as
    UTC, a time earlier than the line before it starting the next day;

* CSV exports: :func:`read_parkeunsang_csv` (scraped Korean chat) and
  :func:`read_hasanabi_csv` (texts only: user names and times were removed at the source);
* Twitch GQL comment dumps: :func:`read_bocru_json`.

The raw IRC lines of ``twitch_chat_en_madcookie/chat.log`` are IRC, not a log format: they
are parsed by the bot's IRC parser in ``bot.replay``.

Readers are streaming and deterministic: the same call yields the same lines in the same
order. The logs hold real user names: they are read here, never copied into the repository.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from model.errors import DataNotFoundError

__all__ = [
    "CHAT_SOURCES",
    "SHIPPABLE_CHAT",
    "ChatLine",
    "ChatLogError",
    "ChatSource",
    "ban_logs",
    "ban_target",
    "bench_logs",
    "chat_of",
    "iter_chat",
    "live_chat_logs",
    "read_ban_targets",
    "read_bocru_json",
    "read_chat_lines",
    "read_hasanabi_csv",
    "read_parkeunsang_csv",
    "read_text_log",
]


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One chat message as a log recorded it, whatever the log's format.

    ``line`` says where it is in its file (the line number of a text log, the 1-based
    record number of a CSV or JSON dump), which is what makes a message findable again
    (audits, labelled sets) and gives replay a stable id. Fields a log does not record are
    empty (``""``) or, for the time, ``None``: no reader invents them."""

    line: int
    channel: str  # lower case, without "#"
    login: str  # lower case
    display_name: str
    sent_at: float | None  # epoch seconds
    text: str
    badges: frozenset[str] = field(default=frozenset())
    is_action: bool = False  # "/me" narration (irssi's "* nick waves")


class ChatLogError(DataNotFoundError):
    """A chat log that cannot be read to its end (truncated or corrupt ``.gz``, I/O error,
    not a regular file). ``str()`` is one line naming the file and how far it was read;
    the lines before ``line`` were yielded and are good."""

    def __init__(self, path: Path, line: int, reason: str, message: str | None = None) -> None:
        self.path = path
        self.line = line  # the last line read whole (0: none)
        self.reason = reason
        where = f"after line {line}" if line else "at its start"
        super().__init__(message or f"cannot read chat log {path} {where}: {reason}")


#: What reading a damaged or unreadable file raises: OSError (I/O, gzip.BadGzipFile),
#: EOFError (a .gz cut short), zlib.error (corrupt deflate data).
_READ_ERRORS = (OSError, EOFError, zlib.error)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return f"truncated file ({exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# --- text logs (Chatty, Korean-locale exports, irssi) ------------------------------------

_CHATTY = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] <([~!@%^+$&]*)([^>]+?)>\*? ?(.*)$")
_CHATTY_NAME = re.compile(r"^(.*) \(([A-Za-z0-9_]+)\)$")
_CHATTY_BADGES = {"~": "broadcaster", "@": "moderator", "!": "vip", "%": "subscriber", "^": "bot"}
_BAN = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] BAN: (\S+)")
_LOG_STARTED = re.compile(r"^# Log started: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ([+-]\d{4})")
_KO_LOCALE = re.compile(
    r"^\[(\d\d)\. (\d{1,2})\. (\d{1,2})\. (오전|오후) (\d{1,2}):(\d\d):(\d\d)\] <([^>]+)> (.*)$"
)
_IRSSI_MSG = re.compile(r"^(\d\d):(\d\d) <([ @%+~&]?)([^>]+)> (.*)$")
_IRSSI_ACTION = re.compile(r"^(\d\d):(\d\d)  \* (\S+) (.*)$")
_IRSSI_DATE = re.compile(
    r"^--- (?:Log opened \w{3} (\w{3} \d\d) \d\d:\d\d:\d\d (\d{4})"
    r"|Day changed \w{3} (\w{3} \d\d) (\d{4}))$"
)
_IRSSI_JOIN = re.compile(r"^\d\d:\d\d -!- \S+ \[[^\]]*\] has joined #(\S+)$")
_IRSSI_BADGES = {"~": "broadcaster", "&": "broadcaster", "@": "moderator", "%": "moderator"}
# Chatterino: two spaces before a user's message (one before its own notices)
_CHATTERINO = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\]  (?:\S+ )?([A-Za-z0-9_]{1,25}): (.*)$")
_CHATTERINO_START = re.compile(r"^# Start logging at (\d{4}-\d\d-\d\d) \d\d:\d\d:\d\d")
_NAME_DATE = re.compile(r"-(\d{4}-\d\d-\d\d)$")


@dataclass(slots=True)
class _TextLogState:
    """What the header lines of a text log say about the lines that follow them."""

    channel: str
    tz: tzinfo = UTC  # Chatty: from "# Log started"
    day: datetime = datetime(1970, 1, 1, tzinfo=UTC)  # irssi: from "--- Log opened"
    clock: int = -1  # Chatterino: the last line's second of the day (-1: none yet)


def _chatty(number: int, line: str, state: _TextLogState) -> ChatLine | None:
    match = _CHATTY.match(line)
    if match is None:
        return None
    stamp, symbols, name, text = match.groups()
    sent = datetime.fromisoformat(stamp).replace(tzinfo=state.tz)
    named = _CHATTY_NAME.match(name)
    display, login = (named.group(1), named.group(2)) if named else (name, name)
    badges = frozenset(_CHATTY_BADGES[s] for s in symbols if s in _CHATTY_BADGES)
    return ChatLine(number, state.channel, login.lower(), display, sent.timestamp(), text, badges)


def _ko_locale(number: int, line: str, state: _TextLogState) -> ChatLine | None:
    match = _KO_LOCALE.match(line)
    if match is None:
        return None
    yy, mo, dd, half, hh, mi, ss, name, text = match.groups()
    hour = int(hh) % 12 + (12 if half == "오후" else 0)
    sent = datetime(2000 + int(yy), int(mo), int(dd), hour, int(mi), int(ss), tzinfo=state.tz)
    return ChatLine(number, state.channel, name.lower(), name, sent.timestamp(), text)


def _irssi(number: int, line: str, state: _TextLogState) -> ChatLine | None:
    match = _IRSSI_MSG.match(line)
    if match is not None:
        hh, mi, symbol, name, text = match.groups()
    elif (action := _IRSSI_ACTION.match(line)) is not None:
        hh, mi, name, text = action.groups()
        symbol = ""
    else:
        return None
    sent = state.day + timedelta(hours=int(hh), minutes=int(mi))
    badge = _IRSSI_BADGES.get(symbol.strip())
    return ChatLine(
        number,
        state.channel,
        name.lower(),
        name,
        sent.timestamp(),
        text,
        frozenset({badge} if badge else ()),
        is_action=match is None,
    )


def _chatterino(number: int, line: str, state: _TextLogState) -> ChatLine | None:
    match = _CHATTERINO.match(line)
    if match is None:
        return None
    hh, mi, ss, name, text = match.groups()
    clock = int(hh) * 3600 + int(mi) * 60 + int(ss)
    if clock < state.clock:  # past midnight
        state.day += timedelta(days=1)
    state.clock = clock
    sent = state.day + timedelta(seconds=clock)
    return ChatLine(number, state.channel, name.lower(), name, sent.timestamp(), text)


def _header(line: str, state: _TextLogState) -> bool:
    """Update ``state`` from an irssi date or join line or a Chatty ``# Log started``
    line; whether ``line`` was one."""
    dated = _IRSSI_DATE.match(line)
    if dated:
        month_day, year = (
            (dated.group(1), dated.group(2)) if dated.group(1) else (dated.group(3), dated.group(4))
        )
        state.day = datetime.strptime(f"{month_day} {year}", "%b %d %Y").replace(tzinfo=UTC)
        return True
    joined = _IRSSI_JOIN.match(line)
    if joined:
        state.channel = joined.group(1).lower()
        return True
    logging_from = _CHATTERINO_START.match(line)
    if logging_from:
        state.day = datetime.fromisoformat(logging_from.group(1)).replace(tzinfo=UTC)
        state.clock = -1
        return True
    started = _LOG_STARTED.match(line)
    if started:
        offset = started.group(2)
        minutes = int(offset[1:3]) * 60 + int(offset[3:5])
        state.tz = timezone(timedelta(minutes=minutes if offset[0] == "+" else -minutes))
        return True
    return False


#: The line formats of text logs, tried in this order on every line.
_LINE_FORMATS: tuple[Callable[[int, str, _TextLogState], ChatLine | None], ...] = (
    _chatty,
    _ko_locale,
    _irssi,
    _chatterino,
)


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def _channel_from_name(path: Path) -> str:
    """``#yd0821-1.log.gz`` → ``yd0821``: Chatty names a log after its channel, and so
    does Chatterino, with the date (``twitchdev-2025-12-06.log``)."""
    name = _NAME_DATE.sub("", path.name.split(".", 1)[0].lstrip("#"))
    return re.sub(r"-\d+$", "", name).lower()


def _day_from_name(path: Path) -> datetime:
    """The date in a Chatterino log's name (UTC midnight), else 1970-01-01."""
    dated = _NAME_DATE.search(path.name.split(".", 1)[0])
    if dated is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    try:
        return datetime.fromisoformat(dated.group(1)).replace(tzinfo=UTC)
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)


def read_text_log(path: Path) -> Iterator[tuple[int, str, ChatLine | None]]:
    """Every line of a text log as ``(number, line without its line break, its chat message
    or None)``, blank lines included, so callers can count lines and handle what is not
    chat (BAN lines; raw IRC in ``bot.replay``).

    Formats are told apart per line, not per file: their line shapes do not overlap, and
    the header lines that date and place the messages (``# Log started``, ``--- Day
    changed``, ``has joined``) arrive in the same stream, so one pass handles any of them.

    A file that cannot be read to its end (truncated or corrupt ``.gz``, I/O error, not a
    regular file, a line with an impossible date) raises :class:`ChatLogError` after the
    lines read before the damage.
    Only regular files are opened: a FIFO or device could block the reader for good."""
    state = _TextLogState(_channel_from_name(path), day=_day_from_name(path))
    number = 0
    try:
        if not path.is_file():
            reason = "no such file" if not path.exists() else "not a regular file"
            raise ChatLogError(path, 0, reason)
        with _open_text(path) as handle:
            for number, raw in enumerate(handle, 1):
                line = raw.rstrip("\r\n")
                chat = None
                if line:
                    try:
                        for fmt in _LINE_FORMATS:
                            if (chat := fmt(number, line, state)) is not None:
                                break
                        else:
                            _header(line, state)
                    except ValueError as exc:  # an impossible date: damaged data
                        reason = f"line {number} is damaged ({exc})"
                        raise ChatLogError(path, number - 1, reason) from exc
                yield number, line, chat
    except _READ_ERRORS as exc:
        # the error comes while reading the line after ``number``, the last one yielded
        raise ChatLogError(path, number, _reason(exc)) from exc


def read_chat_lines(path: Path) -> Iterator[ChatLine]:
    """The chat messages of one text log, in file order."""
    for _, _, chat in read_text_log(path):
        if chat is not None:
            yield chat


def ban_target(line: str) -> str | None:
    """The login a Chatty ``BAN:`` line (a ban or timeout) names, lower case, else None."""
    match = _BAN.match(line)
    return match.group(2).lower() if match else None


def read_ban_targets(path: Path) -> Iterator[ChatLine]:
    """For a Chatty log: each banned or timed-out user's last message before the ``BAN:``
    line (a weak but real moderation signal: many are word-filter bots' 1-5 s timeouts)."""
    last: dict[str, ChatLine] = {}
    for _, line, chat in read_text_log(path):
        if chat is not None:
            last[chat.login] = chat
            continue
        banned = ban_target(line)
        if banned is not None and (target := last.pop(banned, None)) is not None:
            yield target


# --- CSV and JSON dumps ---------------------------------------------------------------------

_PARKEUNSANG_ID = re.compile(r"^(.*) \(([A-Za-z0-9_]+)\)$")


def read_parkeunsang_csv(path: Path) -> Iterator[ChatLine]:
    """A scraped Korean chat CSV (``id,contents,viewers,time``): ``id`` is ``display
    (login)`` or the login; the file name is ``<channel>_<MMDD>.csv``. ``time`` is only
    HH:MM and the year is nowhere in the file, so messages are not dated."""
    channel = path.stem.rsplit("_", 1)[0].lower()
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), 1):
            user = (row.get("id") or "").strip()
            named = _PARKEUNSANG_ID.match(user)
            display, login = (named.group(1), named.group(2)) if named else (user, user)
            text = (row.get("contents") or "").strip()
            yield ChatLine(number, channel, login.lower(), display, None, text)


def read_hasanabi_csv(path: Path) -> Iterator[ChatLine]:
    """A HasanAbi chat CSV (``(index),comment``): user names and times were removed at the
    source, so only the text and the channel (the file name's ``(HasanAbi)``) remain."""
    channel = path.name[1 : path.name.find(")")].lower() if path.name.startswith("(") else ""
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), 1):
            yield ChatLine(number, channel, "", "", None, (row.get("comment") or "").strip())


def read_bocru_json(path: Path) -> Iterator[ChatLine]:
    """A VOD's ``verbose_chat.json.gz`` (a JSON array of Twitch GQL comments) under
    ``data/<channel>/<date>_<vod>/``."""
    channel = path.parent.parent.name.lower()
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        comments: list[dict[str, Any]] = json.load(handle)
    for number, comment in enumerate(comments, 1):
        message = comment.get("message") or {}
        body = message.get("body")
        if not isinstance(body, str):  # VOD exports keep only the fragments
            body = "".join(f.get("text") or "" for f in message.get("fragments") or [])
        commenter = comment.get("commenter") or {}
        badges = frozenset(b["_id"] for b in message.get("userBadges") or [] if b.get("_id"))
        yield ChatLine(
            number,
            channel,
            (commenter.get("login") or "").lower(),
            commenter.get("displayName") or "",
            _iso_time(comment.get("createdAt")),
            body,
            badges,
        )


def _iso_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# --- the catalogue of chat sources --------------------------------------------------------

_BOOSTCAMP = "twitch_chat_ko_boostcamp/twitch"
_MADCOOKIE = "twitch_chat_en_madcookie"
_SPANNBAUER = "twitch_chat_en_spannbauer/data"


def _boostcamp(root: Path) -> Iterator[ChatLine]:
    for path in ban_logs(root):
        yield from read_chat_lines(path)


def _parkeunsang(root: Path) -> Iterator[ChatLine]:
    for path in sorted((root / "twitch_chat_ko_parkeunsang" / "sample_files").glob("*.csv")):
        yield from read_parkeunsang_csv(path)


def _bocru(root: Path) -> Iterator[ChatLine]:
    for path in sorted((root / "twitch_chat_en_bocru" / "data").glob("*/*/verbose_chat.json.gz")):
        yield from read_bocru_json(path)


def _madcookie(root: Path) -> Iterator[ChatLine]:
    base = root / _MADCOOKIE
    for path in sorted([*base.glob("*.txt"), *base.glob("dist/*.txt")]):
        yield from read_chat_lines(path)


def _hasanabi(root: Path) -> Iterator[ChatLine]:
    for path in sorted((root / "twitch_chat_en_hasanabi" / "HasanAbiData").glob("*.csv")):
        yield from read_hasanabi_csv(path)


def _spannbauer(root: Path) -> Iterator[ChatLine]:
    for path in sorted((root / _SPANNBAUER).glob("*.log")):
        yield from read_chat_lines(path)


def _texts(lines: Callable[[Path], Iterator[ChatLine]], root: Path) -> Iterator[str]:
    """The texts people typed: actions ("/me" narration) are left out."""
    return (chat.text for chat in lines(root) if not chat.is_action)


class ChatSource(NamedTuple):
    """One chat corpus of the data dir. A named tuple rather than a dataclass because
    callers written against the former ``(lang, texts)`` pairs index it."""

    lang: str
    texts: Callable[[Path], Iterator[str]]
    lines: Callable[[Path], Iterator[ChatLine]]


def _source(lang: str, lines: Callable[[Path], Iterator[ChatLine]]) -> ChatSource:
    return ChatSource(lang, partial(_texts, lines), lines)


#: Chat logs whose licence allows shipping what is derived from them (DATA.md: the
#: madcookie repository is MIT); every other log states no licence.
SHIPPABLE_CHAT = ("madcookie_en",)

#: name → source
CHAT_SOURCES: dict[str, ChatSource] = {
    "boostcamp_ko": _source("ko", _boostcamp),
    "parkeunsang_ko": _source("ko", _parkeunsang),
    "bocru_en": _source("en", _bocru),
    "madcookie_en": _source("en", _madcookie),
    "hasanabi_en": _source("en", _hasanabi),
    "spannbauer_en": _source("en", _spannbauer),
}


def ban_logs(root: Path) -> list[Path]:
    """The Chatty logs: the ones with ``BAN:`` lines (:func:`read_ban_targets`)."""
    return sorted((root / _BOOSTCAMP).glob("*.log.gz"))


def live_chat_logs(root: Path) -> dict[str, list[Path]]:
    """The logs of each chat that ``evaluate --live-chat`` replays: three Korean channels
    (Chatty logs), the English VTuber VOD chat and the English esports chat (irssi logs),
    all with user names. The esports logs have no licence: they are measured on, never
    trained on or copied."""
    ko = [root / _BOOSTCAMP / f"#{name}.log.gz" for name in ("yd0821", "yapyap30", "runner0608")]
    en = [
        root / _MADCOOKIE / "chat.log",
        *sorted((root / _MADCOOKIE).glob("*.txt")),
        *sorted((root / _MADCOOKIE / "dist").glob("*.txt")),
    ]
    esports = [
        root / _SPANNBAUER / name
        for name in ("#mew2king.log", "#mvg_league.log", "beyondthesummit_2017-03-04.log")
    ]
    return {"ko": ko, "en": en, "en-esports": esports}


def chat_of(source: str) -> str:
    """Which chat of :func:`live_chat_logs` a log (its path inside the data dir) belongs to."""
    if source.startswith(_SPANNBAUER):
        return "en-esports"
    return "ko" if source.startswith("twitch_chat_ko") else "en"


def bench_logs(root: Path) -> list[Path]:
    """What ``chatwarden bench`` replays: a Korean Chatty log and an English raw IRC log."""
    return [root / _BOOSTCAMP / "#yd0821.log.gz", root / _MADCOOKIE / "chat.log"]


# --- texts for training ----------------------------------------------------------------------

_MENTION = re.compile(r"@\w+")


def iter_chat(
    data_dir: Path,
    langs: tuple[str, ...] = ("en", "ko"),
    per_source: int | None = None,
    sources: tuple[str, ...] | None = None,
) -> Iterator[tuple[str, str]]:
    """Yield ``(lang, text)`` from the chat logs of the wanted languages (and ``sources``,
    default all), interleaving sources, at most ``per_source`` texts from each. @mentions
    are replaced by ``@user``: usernames never reach a vocabulary."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataNotFoundError(f"data dir not found: {root} (set CHATWARDEN_DATA_DIR)")
    readers = [
        (source.lang, islice(source.texts(root), per_source))
        for name, source in CHAT_SOURCES.items()
        if source.lang in langs and (sources is None or name in sources)
    ]
    active = list(readers)
    while active:
        still = []
        for lang, it in active:
            chunk = list(islice(it, 512))
            for text in chunk:
                if text:
                    yield lang, _MENTION.sub("@user", text)
            if len(chunk) == 512:
                still.append((lang, it))
        active = still
