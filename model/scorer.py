"""The scorer interface: texts in, a toxic probability (and category labels) per text out.

``bot`` talks to models only through :class:`Scorer` and :func:`load_scorer`, so the rule
baseline and the neural models are interchangeable. Scorers are called from one dedicated
inference thread; they need not be thread-safe but must not touch the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from model.errors import ModelLoadError

__all__ = ["DEFAULT_MODEL_URI", "Score", "Scorer", "load_scorer"]

#: What ``CHATWARDEN_MODEL_URI`` means when unset. The rule baseline until a bundled
#: neural model ships.
DEFAULT_MODEL_URI = "rules"

#: Category labels a scorer may attach to a score.
LABELS = ("profanity", "insult", "hate", "sexual", "threat")


@dataclass(frozen=True, slots=True)
class Score:
    """The verdict of a scorer on one message."""

    probability: float
    labels: tuple[str, ...] = ()


@runtime_checkable
class Scorer(Protocol):
    """Anything that turns a batch of texts into one :class:`Score` per text, in order."""

    @property
    def name(self) -> str:
        """Short name of the scorer kind, e.g. ``rules`` or ``cnn_bilstm``."""
        ...

    @property
    def version(self) -> str:
        """Which model made a decision; stored with every flag."""
        ...

    @property
    def threshold(self) -> float:
        """Probability at or above which the scorer calls a message toxic."""
        ...

    def score(self, texts: Sequence[str]) -> list[Score]:
        """Score ``texts``; must accept any string (empty, huge, control characters)."""
        ...


def load_scorer(uri: str | None, data_dir: Path | None) -> Scorer:
    """Load the scorer named by ``uri`` (``CHATWARDEN_MODEL_URI``).

    Known URIs: ``rules`` — the word-list baseline, read from ``data_dir/wordlists``.
    """
    uri = (uri or DEFAULT_MODEL_URI).strip()
    if uri == "rules":
        from model.rules import RuleScorer

        if data_dir is None:
            raise ModelLoadError(
                "the rule scorer needs word lists, but no data dir is set: set "
                "CHATWARDEN_DATA_DIR to the folder holding wordlists/ (e.g. ../shared/data)"
            )
        return RuleScorer.from_data_dir(data_dir)
    raise ModelLoadError(f"unknown model URI {uri!r}: expected 'rules' (the word-list baseline)")
