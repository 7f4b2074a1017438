"""What the policy remembers of a user's recent chat, and whom a message addresses.

The scorer judges one message; moderators judge a user in context: the same insult sent
three times at one person, a flood of one line, a reply aimed at someone. The policy keeps,
per user and channel, a short bounded history (:class:`Recent`) and reads each message's
addressee (:func:`addressee`): the user it replies to (``reply-parent-user-login``), an
``@mention``, or the streamer named (the channel's name, or its first five letters:
``hasan`` in ``#hasanabi``). A bare ``you`` names nobody in particular: it counts toward the
user's flags, not toward harassment of one person. Histories are bounded in length and
dropped when idle, so a user with thousands of messages, or a channel with many users,
cannot grow memory without bound.

Two chat filters that rule bots ship (and streamers expect) are per-channel switches, off
by default: *spam* (a user repeating one line, or a long flood of one word) and *links*.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from bot.twitch.events import ChatMessage

__all__ = [
    "LINK",
    "SPAM",
    "Recent",
    "addressee",
    "has_link",
    "is_flood",
]

SPAM = "spam"
LINK = "link"

_MENTION = re.compile(r"@([A-Za-z0-9_]{2,25})")
_LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9-]{2,}\.(?:com|net|org|tv|gg|io|ly|me|xyz|ru|co)"
    r"(?:/\S*)?\b"
)
_WORD = re.compile(r"\w+")

#: How many of a user's messages the policy remembers, at most.
RECENT = 8
#: A line sent this many times within ``REPEAT_WINDOW`` seconds is a flood.
REPEATS = 3
REPEAT_WINDOW = 60.0
#: One message this long made of one word over and over is a flood on its own.
FLOOD_CHARS = 200
FLOOD_SHARE = 0.7


def addressee(message: ChatMessage) -> str | None:
    """Whom ``message`` names: a login, ``#<channel>`` for the streamer, or None."""
    if message.reply_to:
        return message.reply_to
    text = message.text
    mention = _MENTION.search(text)
    if mention is not None:
        login = mention.group(1).lower()
        return f"#{message.channel}" if login == message.channel else login
    if len(message.channel) >= 4 and message.channel[:5] in text.lower():
        return f"#{message.channel}"
    return None


def has_link(text: str) -> bool:
    return _LINK.search(text) is not None


def _line_key(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))[:120]


def is_flood(text: str) -> bool:
    """A long message that is mostly one word repeated (copypasta walls, emote spam)."""
    if len(text) < FLOOD_CHARS:
        return False
    words = _WORD.findall(text.lower())
    if len(words) < 10:
        return False
    top = max(words.count(w) for w in set(words))
    return top / len(words) >= FLOOD_SHARE


@dataclass(slots=True)
class Recent:
    """A user's recent lines (for repetition) and recent flags' addressees."""

    lines: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=RECENT))
    targets: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=RECENT))

    def repeated(self, message: ChatMessage) -> bool:
        """Remember ``message``; whether it repeats a line :data:`REPEATS` times within
        :data:`REPEAT_WINDOW` seconds."""
        key = _line_key(message.text)
        now = message.sent_at
        self.lines.append((now, key))
        if not key:
            return False
        same = sum(1 for at, k in self.lines if k == key and now - at <= REPEAT_WINDOW)
        return same >= REPEATS

    def aimed(self, now: float, target: str | None, window: float) -> int:
        """Remember a flag aimed at ``target``; how many flags within ``window`` were
        aimed at the same one (0 without a target)."""
        if target is None:
            return 0
        self.targets.append((now, target))
        return sum(1 for at, t in self.targets if t == target and now - at < window)
