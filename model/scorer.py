"""The scorer interface: texts in, a toxic probability (and category labels) per text out.

``bot`` talks to models through :class:`Scorer` (and :mod:`model.loading`, which builds
one from a URI), so the rule baseline and the neural models are interchangeable. Scorers
are called from one dedicated inference thread; they need not be thread-safe but must not
touch the event loop. This module imports no implementation, so any of them may import it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Explainer", "Score", "Scorer", "explain_missing", "scorer_label"]


@dataclass(frozen=True, slots=True)
class Score:
    """The verdict of a scorer on one message."""

    probability: float
    labels: tuple[str, ...] = ()
    #: What drove the score, for moderators (e.g. the listed terms the rules matched).
    evidence: tuple[str, ...] = ()


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


@runtime_checkable
class Explainer(Protocol):
    """A scorer that can say, after the fact, what drove its scores (a network's occlusion
    words). Optional: the rules put their matched terms in :attr:`Score.evidence` at once,
    and explaining costs a network several passes, so it is asked only for the few scores
    that need it (:func:`explain_missing`)."""

    def explain(self, texts: Sequence[str]) -> Sequence[tuple[str, ...]]:
        """The words that drove the score of each text, in order."""
        ...


def explain_missing(
    scorer: Scorer,
    texts: Sequence[str],
    scores: Sequence[Score],
    wanted: Callable[[int, Score], bool],
) -> list[Score]:
    """``scores`` with evidence filled in, by ``scorer`` when it is an :class:`Explainer`,
    for the scores at index ``i`` that carry none and for which ``wanted(i, score)`` (e.g.
    the ones the policy flags). ``wanted`` is not called when the scorer cannot explain."""
    out = list(scores)
    if not isinstance(scorer, Explainer):
        return out
    todo = [i for i, s in enumerate(out) if not s.evidence and wanted(i, s)]
    if todo:
        for i, why in zip(todo, scorer.explain([texts[i] for i in todo]), strict=True):
            out[i] = Score(out[i].probability, out[i].labels, tuple(why))
    return out


def scorer_label(scorer: Scorer) -> str:
    """Which scorer runs, as ``doctor``, the dashboard and the log name it: its kind and
    its version (``rules-…``, ``cnn_bilstm-…``; the kind once when the version starts
    with it)."""
    version = scorer.version
    return version if version.startswith(f"{scorer.name}-") else f"{scorer.name} {version}"
