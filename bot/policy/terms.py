"""A channel's allowed and blocked terms, applied to a score right after scoring.

* A **blocked** term in a message (whole words, case-insensitive) makes it score 1.0, with
  the term as its evidence: it is flagged (and reported) whatever the model said.
* An **allowed** term clears a score that only it earned: when everything the scorer named
  as evidence is allowed (or, without evidence, the message contains an allowed term), the
  score becomes 0.0.

Set per channel on the dashboard's channel page; pure and synchronous.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from model.scorer import Score

__all__ = ["BLOCKED", "ChannelTerms", "normalize_terms"]

#: The category of a message flagged for a channel's blocked term.
BLOCKED = "blocked"

_MAX_TERMS = 500
_MAX_TERM_LENGTH = 100


def normalize_terms(raw: str | Sequence[str]) -> tuple[str, ...]:
    """Terms from one-per-line (or comma-separated) text: trimmed, lower-cased, unique."""
    items = re.split(r"[\n,]", raw) if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in items:
        term = " ".join(item.split()).lower()[:_MAX_TERM_LENGTH]
        if term and term not in out:
            out.append(term)
    return tuple(out[:_MAX_TERMS])


def _contains(text: str, term: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text) is not None


@dataclass(frozen=True, slots=True)
class ChannelTerms:
    allowed: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()

    def apply(
        self, text: str, score: float, evidence: Sequence[str]
    ) -> tuple[float, tuple[str, ...]]:
        """``(score, evidence)`` after this channel's terms (unchanged without any)."""
        rescored = self.rescore(text, Score(score, (), tuple(evidence)))
        return rescored.probability, rescored.evidence

    def rescore(self, text: str, score: Score) -> Score:
        """``score`` after these terms: a blocked term makes it 1.0 with the category
        ``blocked`` (the channel's own call, reported at once) and the term as evidence;
        an allowed term clears a score that only it earned."""
        if not (self.allowed or self.blocked):
            return score
        lowered = text.lower()
        hits = tuple(t for t in self.blocked if _contains(lowered, t))
        if hits:
            return Score(1.0, (BLOCKED,), hits)
        if self.allowed and score.probability > 0:
            allowed = set(self.allowed)
            if score.evidence:
                if all(e.lower() in allowed for e in score.evidence):
                    return Score(0.0)
            elif any(_contains(lowered, t) for t in self.allowed):
                return Score(0.0)
        return score
