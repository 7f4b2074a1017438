"""What a channel's moderators removed, as evidence per key, against the channel's own chat.

A *key* is something a message has: a word (``hyde``), two words in a row (``face
reveal``), a word in a user's first message, or a pattern (``[repeat]``, ``[link]``,
``[off-language]``…). Per channel, the learner keeps for every key moderators removed at
least once (:class:`KeyStats`):

* ``n`` — labelled uses: each message with the key counts 1 when its label is known (a
  removal, or 2 minutes left alone), decayed by ``gamma`` per use so a finished wave fades;
* ``r`` — removals among them (decayed the same way);
* ``users`` — distinct removed users (the support: one spammer is not a norm).

A key first removed starts with ``n`` seeded from how often the channel's chat used it
before (:class:`ChatCounts`, bounded by lossy counting): an emote everyone posts
starts with a low hit rate ``r / (n + beta)``, a rare word removed twice with a high one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["ChatCounts", "KeyStats"]


class ChatCounts:
    """How often the channel's chat used each key: exact counts, kept to at most ``cap``
    keys by lossy counting — past the cap every count is halved and the keys at zero are
    dropped, so it follows the channel's recent chat in bounded memory. (A count-min
    sketch of 2 × 32,768 cells collided enough on this chat to inflate the seeds and miss
    a tenth of what the exact counts catch.)"""

    def __init__(self, cap: int = 50_000) -> None:
        self.cap = cap
        self.counts: dict[str, int] = {}

    def add(self, keys: Iterable[str], weight: int = 1) -> None:
        counts = self.counts
        for key in keys:
            counts[key] = counts.get(key, 0) + weight
        if len(counts) > self.cap:
            self.counts = {k: v >> 1 for k, v in counts.items() if v > 1}

    def get(self, key: str) -> int:
        return self.counts.get(key, 0)

    def to_state(self) -> dict[str, int]:
        """The counts worth keeping: a key used once seeds as one never used (a quarter
        to half of a channel's keys, and of the time its state takes to save)."""
        return {k: v for k, v in self.counts.items() if v > 1}

    @classmethod
    def from_state(cls, state: dict[str, object], cap: int) -> ChatCounts:
        counts = cls(cap)
        counts.counts = {str(k): int(str(v)) for k, v in state.items()}
        return counts


#: Distinct removed users remembered per key (the support needs a few, not all).
MAX_USERS = 32


@dataclass(slots=True)
class KeyStats:
    """One key's evidence in one channel (see the module's docstring)."""

    n: float
    r: float = 0.0
    users: list[str] = field(default_factory=list)
    #: the first and the latest removal with this key (epoch seconds)
    first: float = 0.0
    last: float = 0.0

    def hit(self, beta: float) -> float:
        """The share of the key's labelled uses that moderators removed, shrunk toward 0
        by ``beta`` uses of no evidence."""
        return self.r / (self.n + beta)

    def learn(self, removed: bool, gamma: float, login: str, at: float) -> None:
        self.n = self.n * gamma + 1.0
        self.r = self.r * gamma + (1.0 if removed else 0.0)
        if removed:
            if login not in self.users and len(self.users) < MAX_USERS:
                self.users.append(login)
            self.first = self.first or at
            self.last = max(self.last, at)

    def left_alone(self, uses: int, gamma: float) -> None:
        """``uses`` labelled uses at once, none removed."""
        self.n = self.n * gamma**uses + uses
        self.r = self.r * gamma**uses

    def to_state(self) -> list[object]:
        return [round(self.n, 4), round(self.r, 4), self.users, self.first, self.last]

    @classmethod
    def from_state(cls, row: list[object]) -> KeyStats:
        n, r, users, first, last = row
        if not isinstance(users, list):
            raise ValueError("saved key evidence has no user list")
        return cls(
            float(str(n)),
            float(str(r)),
            [str(u) for u in users],
            float(str(first)),
            float(str(last)),
        )
