"""A cache of recent verdicts in front of any scorer.

Twitch chat repeats itself (emote spam, copypastas, ``ㅋㅋㅋ``, ``LUL``): in the real logs
of the data dir about 45 % of messages repeat the exact text of an earlier one. A scorer's
verdict depends on the text alone, so :class:`CachedScorer` remembers the verdicts of the
last ``maxsize`` distinct texts and scores only the others (each once per batch, however
often it repeats). A cached verdict is the very object the scorer gave the first time:
decisions are identical with and without the cache. A new model (hot reload) comes with a
new, empty cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from model.scorer import Explainer, Score, Scorer

__all__ = ["CachedScorer"]


class CachedScorer:
    """Remembers the verdicts of the last ``maxsize`` distinct texts of ``inner``."""

    def __init__(self, inner: Scorer, maxsize: int = 65_536) -> None:
        self.inner = inner
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[str, Score] = OrderedDict()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def version(self) -> str:
        return self.inner.version

    @property
    def threshold(self) -> float:
        return self.inner.threshold

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def explain(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """The inner scorer's explanation of its scores, when it has one."""
        if isinstance(self.inner, Explainer):
            return list(self.inner.explain(texts))
        return [() for _ in texts]

    def score(self, texts: Sequence[str]) -> list[Score]:
        cache = self._cache
        out: list[Score | None] = [cache.get(t) for t in texts]
        wanted: dict[str, list[int]] = {}
        for i, s in enumerate(out):
            if s is None:
                wanted.setdefault(texts[i], []).append(i)
        self.misses += len(wanted)
        self.hits += len(texts) - len(wanted)
        if wanted:
            fresh = self.inner.score(list(wanted))
            for (text, places), s in zip(wanted.items(), fresh, strict=True):
                for i in places:
                    out[i] = s
                cache[text] = s
            # drop the oldest entries (FIFO eviction); O(1) each in an OrderedDict, where a
            # plain dict's next(iter()) would step over every slot deleted before
            for _ in range(len(cache) - self.maxsize):
                cache.popitem(last=False)
        return out  # type: ignore[return-value]
