"""A channel's recent chat, as the norm learner needs it when a message arrives: the keys
of that message (:func:`ChannelContext.keys`), read from what came before it only.

* **words**: its distinct words (lower case, two letters or more), two words in a row
  (``face reveal``), and, in a user's first message seen in the channel, its words again
  marked as such (``first: hyde``) — what newcomers say is its own norm (raids, ads);
* **patterns**, each a key in brackets: ``[repeat]`` (the user's same line three times
  within a minute; ``[repeat 5]`` five), ``[flood]`` (ten messages within two minutes),
  ``[wall]`` (a long line of few words repeated), ``[volume]`` (over 1,000 characters
  within two minutes), ``[copypasta]`` (the same line from ten other users within a
  minute), ``[link]`` (``[link: first message]``), ``[self-promotion]``, ``[begging]``,
  ``[caps]``, ``[streamer named]``, ``[off-language]`` (a line in another language than
  the channel's, by :mod:`bot.norms.language`, at least 50 % sure; ``[off-language 80]``
  and ``[off-language 95]`` more sure).

Identifying a line's language costs about 40 µs, so it runs on one line in
:data:`LANGUAGE_EVERY` (standing for that many in the counts) until the channel's
moderators are seen removing off-language lines, and on every line after that.

Memory is bounded per channel: a user's last :data:`USER_LINES` lines within two minutes,
the lines of the last minute, and the users met (at most :data:`MAX_USERS`, the
longest-idle forgotten first: a forgotten user's next message counts as a first again).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from bot.norms.language import LanguageGuesser
from bot.norms.text import (
    begs,
    caps_share,
    has_link,
    line_key,
    promotes,
    tokens,
)

__all__ = ["Arrival", "ChannelContext", "Said", "word_keys"]

REPEAT_WINDOW = 60.0
RATE_WINDOW = 120.0
USER_LINES = 12
#: Senders of one line in the last minute remembered (copypasta needs ten others)
LINE_COPIES = 64
MAX_USERS = 100_000
#: Confident language guesses the channel needs before a line can be off its language.
LANGUAGE_SAMPLE = 50
#: One line in this many is identified (and stands for that many), until the channel's
#: moderators are seen removing off-language lines; then all are.
LANGUAGE_EVERY = 8
#: The identifier's confidence a guess needs to count toward the channel's language.
LANGUAGE_SURE = 0.9

# pattern keys (interned: many messages share them)
REPEAT = "[repeat]"
REPEAT_5 = "[repeat 5]"
FLOOD = "[flood]"
WALL = "[wall]"
VOLUME = "[volume]"
COPYPASTA = "[copypasta]"
LINK = "[link]"
LINK_FIRST = "[link: first message]"
PROMOTION = "[self-promotion]"
BEGGING = "[begging]"
CAPS = "[caps]"
STREAMER = "[streamer named]"
OFF_LANGUAGE = "[off-language]"
OFF_LANGUAGE_80 = "[off-language 80]"
OFF_LANGUAGE_95 = "[off-language 95]"
#: The off-language keys, by the identifier's confidence (0.5, 0.8, 0.95).
LANGUAGE_KEYS = (OFF_LANGUAGE, OFF_LANGUAGE_80, OFF_LANGUAGE_95)
FIRST = "first: "


#: Words without which a line cannot be self-promotion or begging (the patterns are not
#: searched for in other lines).
_CUES = frozenset(
    [
        "follow",
        "my",
        "check",
        "come",
        "sub",
        "subs",
        "subscribe",
        "live",
        "streaming",
        "promo",
        "promotion",
        "promoting",
        "promote",
        "cheap",
        "buy",
        "get",
        "bit",
        "discord",
        "gift",
        "gifted",
        "give",
        "gimme",
        "gib",
        "vip",
        "mod",
        "pls",
        "plz",
        "please",
        "send",
        "donate",
        "cashapp",
        "venmo",
        "paypal",
        "im",
        "i'm",
    ]
)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A message as it arrives: its line for repetition, its length, whether it is its
    user's first seen in the channel, its pattern keys, how many lines its language keys
    stand for (0: its language was not identified), and its lower-case words."""

    line: str
    length: int
    first: bool
    patterns: list[str]
    language_weight: int
    lowered: list[str]


@dataclass(frozen=True, slots=True)
class Said:
    """One message of a user, as remembered for two minutes."""

    at: float
    msg_id: str
    text: str
    line: str
    length: int
    patterns: tuple[str, ...]
    first: bool
    #: how many lines its language keys stood for (0: its language was not identified)
    language_weight: int = 0


#: A remembered line: :class:`Said`'s fields, in order, as a plain tuple.
_Kept = tuple[float, str, str, str, int, tuple[str, ...], bool, int]
_AT: Final = 0
_LINE: Final = 3
_LENGTH: Final = 4


def word_keys(text: str, first: bool, arrival: Arrival | None = None) -> list[str]:
    """The word keys of ``text`` (as it arrived, when known): its distinct words, its
    pairs of words in a row, and, in a first message, its words marked ``first:``."""
    if arrival is None:
        lowered = [w.lower() for w in tokens(text)]
        line = line_key(lowered).split()
    else:
        lowered = arrival.lowered
        line = arrival.line.split() if lowered else []
    # in the text's order (not a set's): ties between keys go the same way on every run
    words = dict.fromkeys(w for w in lowered if len(w) >= 2)
    keys = [*words, *dict.fromkeys(f"{a} {b}" for a, b in pairwise(line))]
    if first:
        keys += [FIRST + w for w in words]
    return keys


class ChannelContext:
    """One channel's recent chat (see the module's docstring)."""

    def __init__(self, channel: str, language: LanguageGuesser) -> None:
        self.channel = channel
        self._language = language
        # Each user's last lines, and each line's senders of the last minute, are kept as
        # plain tuples: a tuple of plain values is one the garbage collector stops scanning
        # (at 5,000 messages/s two minutes are 600,000 lines, and scanning them as objects
        # stalled the bot for half a second), and an empty deque takes 760 bytes.
        self.users: dict[str, tuple[_Kept, ...]] = {}
        self._lines: dict[str, tuple[tuple[float, str], ...]] = {}
        self._order: deque[tuple[float, str]] = deque()
        self._met: dict[str, None] = {}
        #: confident language guesses of the channel's chat, by language
        self.languages: dict[str, int] = {}
        self._counter = 0
        #: identify every line (the channel's moderators remove off-language chat)
        self.every_language = False

    @property
    def language(self) -> str | None:
        """The channel's language, once enough of its chat was identified."""
        if sum(self.languages.values()) < LANGUAGE_SAMPLE:
            return None
        return max(self.languages, key=lambda k: self.languages[k])

    def said(self, login: str) -> list[Said]:
        """``login``'s last lines (at most :data:`USER_LINES`, oldest first)."""
        return [Said(*kept) for kept in self.users.get(login, ())]

    def patterns(self, login: str, text: str, at: float) -> Arrival:
        """What a message arriving now is, read against what came before it; nothing is
        remembered yet (:meth:`remember`)."""
        raw = tokens(text)
        lowered = [w.lower() for w in raw]
        line = line_key(lowered) if lowered else text.strip().lower()
        length = len(text)
        first = login not in self._met
        found: list[str] = []
        mine = self.users.get(login)
        if mine:
            horizon, repeat_horizon = at - RATE_WINDOW, at - REPEAT_WINDOW
            recent = 1
            repeats = 1
            volume = length
            for s in mine:
                if s[_AT] >= horizon:
                    recent += 1
                    volume += s[_LENGTH]
                    if s[_LINE] == line and s[_AT] >= repeat_horizon:
                        repeats += 1
            if repeats >= 3:
                found.append(REPEAT)
                if repeats >= 5:
                    found.append(REPEAT_5)
            if recent >= 10:
                found.append(FLOOD)
            if volume >= 1000:
                found.append(VOLUME)
        if length >= 150:
            words = line.split()
            if words and len(words) >= 4 * len(set(words)):
                found.append(WALL)
        copies = self._lines.get(line)
        others = len({u for _, u in copies if u != login}) if copies else 0
        if others >= 10:
            found.append(COPYPASTA)
        if "." in text and has_link(text):
            found.append(LINK)
            if first:
                found.append(LINK_FIRST)
        if not _CUES.isdisjoint(lowered):  # the cue patterns only where a cue word is
            if promotes(text):
                found.append(PROMOTION)
            if begs(text):
                found.append(BEGGING)
        if length >= 15 and caps_share(text) >= 0.8:
            found.append(CAPS)
        name = self.channel
        if len(name) >= 4 and (name in lowered or f"@{name}" in text.lower()):
            found.append(STREAMER)
        weight = 0
        self._counter += 1
        sampled = self._counter % LANGUAGE_EVERY == 0
        if (sampled or self.every_language) and self._language.readable(raw):
            weight = 1 if self.every_language else LANGUAGE_EVERY
            found += self.off_language(raw, learn=sampled)
        return Arrival(line, length, first, found, weight, lowered)

    def off_language(self, raw: list[str], *, learn: bool = False) -> list[str]:
        """The off-language keys of a line (none when it is in the channel's language, or
        the channel's is not known yet); ``learn``: the guess also teaches the channel's
        language."""
        guess = self._language.guess(raw)
        if guess is None:
            return []
        language, confidence = guess
        if learn and confidence >= LANGUAGE_SURE:
            self.languages[language] = self.languages.get(language, 0) + 1
        own = self.language
        if own is None or language == own or confidence < 0.5:
            return []
        return [OFF_LANGUAGE, OFF_LANGUAGE_80, OFF_LANGUAGE_95][
            : 1 + (confidence >= 0.8) + (confidence >= 0.95)
        ]

    def remember(self, said: Said, login: str) -> None:
        """``said`` joins the channel's recent chat."""
        at = said.at
        mine = self.users.get(login)
        kept: _Kept = (
            at,
            said.msg_id,
            said.text,
            said.line,
            said.length,
            said.patterns,
            said.first,
            said.language_weight,
        )
        if mine is None:
            if len(self.users) >= MAX_USERS:
                del self.users[next(iter(self.users))]
            self.users[login] = (kept,)
        else:
            self.users[login] = (*mine[1 - USER_LINES :], kept)
        if login in self._met:
            del self._met[login]  # re-inserted last: the longest idle are first in line
        elif len(self._met) >= MAX_USERS:
            del self._met[next(iter(self._met))]
        self._met[login] = None
        order, lines = self._order, self._lines
        while order and order[0][0] < at - REPEAT_WINDOW:
            _, old = order.popleft()
            copies = lines.get(old)
            if copies is not None:
                stale = 0
                while stale < len(copies) and copies[stale][0] < at - REPEAT_WINDOW:
                    stale += 1
                if stale == len(copies):
                    del lines[old]
                elif stale:
                    lines[old] = copies[stale:]
        lines[said.line] = (*lines.get(said.line, ())[1 - LINE_COPIES :], (at, login))
        order.append((at, said.line))

    def forget_idle(self, now: float) -> None:
        """Drop the lines of users silent for two minutes (their messages can no longer be
        the ones a moderator's action removes)."""
        idle = [
            u for u, lines in self.users.items() if not lines or lines[-1][_AT] < now - RATE_WINDOW
        ]
        for login in idle:
            del self.users[login]
