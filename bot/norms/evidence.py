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
before (:class:`ChatCounts`, a count-min sketch in fixed memory): an emote everyone posts
starts with a low hit rate ``r / (n + beta)``, a rare word removed twice with a high one.
"""

from __future__ import annotations

import base64
import zlib
from array import array
from dataclasses import dataclass, field

__all__ = ["ChatCounts", "KeyStats"]


class ChatCounts:
    """How often the channel's chat used each key: a count-min sketch (2 rows of
    ``width`` counters; estimates never undercount), halved every ``horizon`` messages so
    it follows the channel's recent chat."""

    def __init__(self, width: int = 1 << 14, horizon: int = 200_000) -> None:
        self.width = width
        self.horizon = horizon
        self.rows = (array("I", bytes(4 * width)), array("I", bytes(4 * width)))
        self.added = 0

    def _slots(self, key: str) -> tuple[int, int]:
        h = zlib.crc32(key.encode())
        return h % self.width, ((h >> 15) ^ (h * 0x9E3779B1)) % self.width

    def add(self, keys: list[str]) -> None:
        first, second = self.rows
        for key in keys:
            a, b = self._slots(key)
            first[a] += 1
            second[b] += 1
        self.added += 1
        if self.added >= self.horizon:
            self.halve()

    def get(self, key: str) -> int:
        a, b = self._slots(key)
        return min(self.rows[0][a], self.rows[1][b])

    def halve(self) -> None:
        for row in self.rows:
            for i, value in enumerate(row):
                if value:
                    row[i] = value >> 1
        self.added = 0

    def to_state(self) -> dict[str, object]:
        raw = self.rows[0].tobytes() + self.rows[1].tobytes()
        return {
            "width": self.width,
            "added": self.added,
            "rows": base64.b64encode(zlib.compress(raw, 6)).decode("ascii"),
        }

    @classmethod
    def from_state(cls, state: dict[str, object], horizon: int) -> ChatCounts:
        width = int(str(state["width"]))
        counts = cls(width, horizon)
        raw = zlib.decompress(base64.b64decode(str(state["rows"])))
        if len(raw) != 8 * width:
            raise ValueError("saved chat counts do not match their width")
        first, second = array("I"), array("I")
        first.frombytes(raw[: 4 * width])
        second.frombytes(raw[4 * width :])
        counts.rows = (first, second)
        counts.added = int(str(state.get("added", 0)))
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
