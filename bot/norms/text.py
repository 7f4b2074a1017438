"""What the norm learner reads in a chat line: its words, its line for repetition, links,
self-promotion, begging, capitals, and whether a word looks like an emote.

The cue patterns (self-promotion, begging) are written by hand from general knowledge of
chat spam, never mined from the measurement data. Everything here is pure and cheap: it
runs on every message.
"""

from __future__ import annotations

import re

__all__ = [
    "begs",
    "caps_share",
    "emote_shaped",
    "has_link",
    "line_key",
    "promotes",
    "tokens",
]

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_INVISIBLE = re.compile("[\U000e0000-\U000e007f\u200b-\u200f\u2060\ufeff\u034f]")
_LINK = re.compile(
    r"(?i)(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|net|org|tv|gg|io|ly|me|co|xyz|link|shop|store"
    r"|live)(?:/\S*)?\b"
)
_PROMO = re.compile(
    r"(?i)\b(?:follow me|my (?:stream|channel|twitch|youtube|yt|tiktok|insta|discord|server)\b"
    r"|check out my|come (?:watch|check)|sub to me|subscribe to me|i'?m live|i'?m streaming"
    r"|promot\w*|cheap (?:viewers|followers)|(?:buy|get) (?:viewers|followers)|bit\.ly"
    r"|discord\.gg)"
)
_BEG = re.compile(
    r"(?i)\b(?:gift(?:ed)? (?:me|sub|a sub)|can (?:i|someone|anyone|u|you) (?:get|have|gift)\b"
    r".*\b(?:sub|vip|mod|prime)|(?:give|gimme|gib) (?:me )?(?:a )?(?:sub|vip|mod|money|subs)"
    r"|(?:sub|vip|mod) me\b|pl[sz] (?:gift|sub|vip|mod)|please (?:gift|sub|vip|mod)"
    r"|(?:send|donate) (?:me )?(?:money|\$)|cashapp|venmo|paypal)"
)


def tokens(text: str) -> list[str]:
    """The words of ``text`` as written (letters and digits; invisible characters
    dropped)."""
    return _TOKEN.findall(_INVISIBLE.sub("", text))


def line_key(lowered: list[str]) -> str:
    """The line, for repetition: its lower-case words with consecutive repeats squashed
    (``LUL LUL LUL`` and ``lul`` are one line)."""
    out: list[str] = []
    for word in lowered:
        if not out or out[-1] != word:
            out.append(word)
    return " ".join(out)


def emote_shaped(word: str) -> bool:
    """camelCase (a channel emote: prefix + Name) or ALL CAPS of three letters or more:
    a word neither lower case, upper case nor title case (``forsenE``, ``PogChamp``), or
    an upper-case one (``KEKW``)."""
    if word.isupper():
        return len(word) >= 3
    return not (word.islower() or word.istitle())


def has_link(text: str) -> bool:
    return _LINK.search(text) is not None


def promotes(text: str) -> bool:
    """Self-promotion: "follow me", "check out my channel", bought followers…"""
    return _PROMO.search(text) is not None


def begs(text: str) -> bool:
    """Begging: for gifted subs, VIP, mod, money."""
    return _BEG.search(text) is not None


_NOT_UPPER = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NOT_LOWER = str.maketrans("", "", "abcdefghijklmnopqrstuvwxyz")


def caps_share(text: str) -> float:
    """The share of the (Latin) letters written in capitals (0 without any)."""
    upper = len(text) - len(text.translate(_NOT_UPPER))
    lower = len(text) - len(text.translate(_NOT_LOWER))
    return upper / (upper + lower) if upper + lower else 0.0
