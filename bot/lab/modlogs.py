"""Real chat with real moderator actions, from the data dir, as one stream of events.

Three logs record what a channel's moderators did next to what its chat said:

* ``twitch_normvio_en`` (DATA.md §6): 40 English channels, the ~2 minutes of chat before
  each of 2,525 bans and timeouts, every moderated message labelled by three annotators with
  the norm it broke (``HIB`` = harassment, intimidation, bullying; ``Discrimination``;
  ``Incivility``; ``Excessive & Repetitive``; ...). No licence: measurement only.
* ``twitch_modbot_botezlive_en``: one English chess stream's Chatty log with ``BAN:`` and
  ``DELETED:`` lines (MIT). Its lines carry no time: each line is taken as one second.
* ``twitch_chat_ko_boostcamp``: 120 Korean Chatty logs with ``BAN:`` lines (timeouts).

Each becomes :class:`ChatEvent` rows in time order per channel. Nothing here is copied
anywhere: the text stays in memory.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from model.chatlogs import ban_logs, ban_target, read_text_log
from model.errors import DataNotFoundError

__all__ = [
    "ACTIONS",
    "MODERATION_SOURCES",
    "ChatEvent",
    "boostcamp_events",
    "botezlive_events",
    "normvio_events",
]

#: What a moderator did to a user (``message`` rows are chat).
ACTIONS = frozenset({"timeout", "ban", "delete"})

_NORMVIO = "twitch_normvio_en"
_BOTEZ = "twitch_modbot_botezlive_en"


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """One chat message, or one moderator action on a user."""

    source: str
    channel: str
    login: str  # lower case
    sent_at: float  # epoch seconds
    action: str  # "message", or one of ACTIONS
    text: str = ""  # the message; empty for actions
    msg_id: str = ""
    #: for actions: the norm the moderated message broke, when the log says (normvio)
    category: str | None = None


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DataNotFoundError(
            f"moderation log missing: {path} (expected the data dir layout of DATA.md §6; "
            "set CHATWARDEN_DATA_DIR)"
        )
    return path


def _category(label: dict[str, object]) -> str | None:
    """The annotators' majority with the whole chat window in view, else with less."""
    for step in ("step_3", "step_2", "step_1"):
        value = label.get(step)
        if isinstance(value, str) and value:
            return value
    return None


def _normvio_labels(path: Path) -> dict[tuple[str, str, str], list[tuple[float, str | None]]]:
    """``(channel, login, action)`` → ``[(moderated message's time, category)]``."""
    labels: dict[tuple[str, str, str], list[tuple[float, str | None]]] = defaultdict(list)
    with gzip.open(_need(path), "rt", encoding="utf-8") as handle:
        for raw in handle:
            row = json.loads(raw)
            at = datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC).timestamp()
            key = (row["channel"], row["user"].lower(), row["mod_action"])
            labels[key].append((at, _category(row["label"])))
    return labels


def _nearest_before(candidates: list[tuple[float, str | None]], at: float) -> str | None:
    before = [c for c in candidates if c[0] <= at + 1]
    return max(before)[1] if before else None


def normvio_events(data_dir: Path) -> Iterator[ChatEvent]:
    """``twitch_normvio_en``: messages and bans/timeouts, each action with its category."""
    root = data_dir / _NORMVIO
    labels = _normvio_labels(root / "labels.jsonl.gz")
    with gzip.open(_need(root / "events.jsonl.gz"), "rt", encoding="utf-8") as handle:
        for raw in handle:
            row = json.loads(raw)
            login = str(row["user"]).lower()
            action = row["action"]
            if action == "message":
                text, msg_id = row["text"] or "", row["msg_id"] or ""
                yield ChatEvent(_NORMVIO, row["channel"], login, row["ts"], action, text, msg_id)
                continue
            category = _nearest_before(labels.get((row["channel"], login, action), []), row["ts"])
            yield ChatEvent(_NORMVIO, row["channel"], login, row["ts"], action, category=category)


_BOTEZ_CHAT = re.compile(r"^<[~&@%$+!*^]*([A-Za-z0-9_]+)> (.*)$")
_BOTEZ_BAN = re.compile(r"^BAN: ([A-Za-z0-9_]+)(?: \((\d+)s\))?")
_BOTEZ_DELETED = re.compile(r"^DELETED: ([A-Za-z0-9_]+) \(")


def botezlive_events(data_dir: Path) -> Iterator[ChatEvent]:
    """The botezlive Chatty log (``tests/data/test_chat.log``): chat, bans, timeouts and
    deletions. The log has no per-line times; line ``n`` is taken as second ``n``."""
    path = _need(data_dir / _BOTEZ / "tests" / "data" / "test_chat.log")
    source = "botezlive_en"
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.rstrip("\r\n")
            at = float(number)
            if chat := _BOTEZ_CHAT.match(line):
                login, text = chat.group(1).lower(), chat.group(2)
                yield ChatEvent(source, "botezlive", login, at, "message", text, f"botez-{number}")
            elif ban := _BOTEZ_BAN.match(line):
                kind = "timeout" if ban.group(2) else "ban"
                yield ChatEvent(source, "botezlive", ban.group(1).lower(), at, kind)
            elif deleted := _BOTEZ_DELETED.match(line):
                yield ChatEvent(source, "botezlive", deleted.group(1).lower(), at, "delete")


def boostcamp_events(data_dir: Path) -> Iterator[ChatEvent]:
    """The Korean Chatty logs: chat and ``BAN:`` (timeout) lines, file by file; a ban is
    dated and placed by the chat line before it."""
    source = "boostcamp_ko"
    for path in ban_logs(data_dir):
        last_at, channel = 0.0, ""
        for number, line, chat in read_text_log(path):
            if chat is not None:
                last_at, channel = chat.sent_at or last_at, chat.channel
                msg_id = f"{path.name}:{number}"
                yield ChatEvent(source, channel, chat.login, last_at, "message", chat.text, msg_id)
            elif (banned := ban_target(line)) is not None and channel:
                yield ChatEvent(source, channel, banned, last_at, "timeout")


#: name → (reader, language, what it is)
MODERATION_SOURCES: dict[str, tuple[Callable[[Path], Iterator[ChatEvent]], str, str]] = {
    "normvio_en": (
        normvio_events,
        "en",
        "twitch_normvio_en: 40 channels, chat before 2,525 bans/timeouts, annotated norms",
    ),
    "botezlive_en": (botezlive_events, "en", "twitch_modbot_botezlive_en: one chess stream"),
    "boostcamp_ko": (boostcamp_events, "ko", "twitch_chat_ko_boostcamp: 120 Korean logs"),
}
