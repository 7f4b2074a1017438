"""The neural scorer: a :class:`~model.bundle.Bundle` behind the :class:`Scorer` interface.

Texts become token ids word by word, from a cache of the words seen (see
:meth:`TorchScorer.token_ids`), are sorted by length and scored in length buckets (so short
chat lines are not padded to the longest one) by the network's inference form
(:func:`model.networks.for_inference`), then put back in their original order.

Thresholds are chosen per language on dev data. The probability reported is rescaled,
monotonically, so that each language's threshold maps to 0.5: ``score >= 0.5`` is the
model's decision whatever the language, and scores still rank messages within a language.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from model.bundle import Bundle
from model.errors import ModelLoadError
from model.networks import for_inference
from model.normalize import normalize_word
from model.scorer import Score
from model.tokenizer import PAD

__all__ = ["TorchScorer", "language_of", "rescale"]

_HANGUL = re.compile("[\u1100-\u11ff\u3131-\u318e\uac00-\ud7a3]")
MAX_CHARS = 2000  # Twitch caps messages at 500 characters; anything longer is cut first
OCCLUDE_WORDS = 24
WORD_CACHE = 200_000  # distinct words whose token ids are kept (a few tens of MB)
_JOIN = 512  # new words encoded in one text
CACHED_WORD_CHARS = 64  # longer words are tokenised again each time they come


def language_of(text: str) -> str:
    return "en" if text.isascii() or not _HANGUL.search(text) else "ko"


def rescale(p: float, threshold: float) -> float:
    """Map ``[0, t] → [0, 0.5]`` and ``[t, 1] → [0.5, 1]`` linearly."""
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    return 0.5 * p / t if p < t else 0.5 + 0.5 * (p - t) / (1 - t)


class TorchScorer:
    """Scores with a trained network on the CPU."""

    name = "neural"
    threshold = 0.5

    def __init__(self, bundle: Bundle, bucket: int = 128) -> None:
        self.bundle = bundle
        self.name = bundle.config.arch
        # Length buckets: messages are sorted by length and scored in groups of `bucket`,
        # each padded only to its own longest message (chat is mostly very short).
        self._bucket = bucket
        self._network = for_inference(bundle.network)
        # tuples of ints: the garbage collector stops tracking them (a live bot keeps
        # collecting; hundreds of thousands of lists would slow every full pass)
        self._word_ids: dict[str, tuple[int, ...]] = {}
        self._categories = bundle.config.categories
        self._default_threshold = bundle.thresholds.get(
            "all", sum(bundle.thresholds.values()) / max(1, len(bundle.thresholds))
        )

    @property
    def version(self) -> str:
        return self.bundle.version

    def probabilities(self, texts: Sequence[str]) -> tuple[list[float], list[list[float]]]:
        """Raw toxic probabilities and category probabilities, in input order."""
        toxic, cats = self._forward(texts)
        return toxic.tolist(), cats.tolist()

    def _forward(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw toxic ``(n,)`` and category ``(n, C)`` probabilities, in input order.

        All ids go into one flat tensor in length order; each bucket's padded batch is
        filled from its slice through the padding mask (row by row, as the mask is read),
        and its outputs are put back in place by index: no Python work per message."""
        ids = self.token_ids(texts)
        n = len(ids)
        toxic = torch.zeros(n)
        cats = torch.zeros(n, len(self._categories))
        if not n:
            return toxic, cats
        lengths = torch.tensor([len(x) for x in ids])
        order = torch.argsort(lengths, stable=True)
        sorted_lengths = lengths[order]
        flat = torch.tensor([i for k in order.tolist() for i in ids[k]], dtype=torch.long)
        ends = [0, *torch.cumsum(sorted_lengths, 0).tolist()]
        network = self._network
        with torch.inference_mode():
            for start in range(0, n, self._bucket):
                stop = min(n, start + self._bucket)
                width = max(1, int(sorted_lengths[stop - 1]))
                mask = torch.arange(width) < sorted_lengths[start:stop].unsqueeze(1)
                batch = torch.zeros((stop - start, width), dtype=torch.long)
                batch[mask] = flat[ends[start] : ends[stop]]
                logit, cat_logits = network(batch, mask)
                rows = order[start:stop]
                toxic[rows] = torch.sigmoid(logit)
                cats[rows] = torch.sigmoid(cat_logits)
        # no tokens (empty, whitespace, only unknown symbols): nothing to flag
        toxic[lengths == 0] = 0.0
        return toxic, cats

    def clear_word_cache(self) -> None:
        """Forget the words' token ids (benchmarks measure from cold)."""
        self._word_ids.clear()

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The tokenizer's ids of the normalised texts, cut to the model's length.

        Computed word by word, from a cache of words seen: normalisation never joins or
        splits whitespace-separated words (every step works within a word, and runs of
        whitespace become one space), and a space always splits words for the tokenizer
        (BertPreTokenizer, no post-processor), so a text's ids are its words' ids one
        after the other; chat reuses few words. New words are normalised, then encoded
        together, joined by the special token ``[PAD]`` (id 0; normalised text is lower
        case, so it never holds one) and cut apart at its id: a few long texts encode
        much faster than thousands of one-word texts. Tested equal to normalising and
        encoding each whole text."""
        known = self._word_ids
        if len(known) > WORD_CACHE:
            known.clear()
        words = [t[:MAX_CHARS].split() for t in texts]
        new = list({w: None for split in words for w in split if w not in known})
        chunks = [new[start : start + _JOIN] for start in range(0, len(new), _JOIN)]
        joined = [f" {PAD} ".join(normalize_word(w) for w in chunk) for chunk in chunks]
        for chunk, encoding in zip(
            chunks, self.bundle.tokenizer.encode_batch_fast(joined), strict=True
        ):
            pieces: list[list[int]] = [[]]
            for i in encoding.ids:
                if i == 0:
                    pieces.append([])
                else:
                    pieces[-1].append(i)
            if len(pieces) != len(chunk):  # cannot happen with a chatwarden tokenizer
                raise ModelLoadError(f"the tokenizer of {self.version} splits [PAD]")
            known.update(zip(chunk, map(tuple, pieces), strict=True))
        max_len = self.bundle.max_len
        ids = [[i for w in split for i in known[w]][:max_len] for split in words]
        # only words of plausible length stay: a flood of long random words cannot grow
        # the cache past a few tens of MB
        for word in new:
            if len(word) > CACHED_WORD_CHARS:
                del known[word]
        return ids

    def score(self, texts: Sequence[str]) -> list[Score]:
        toxic, cats = self._forward(texts)
        scaled = self._rescaled(toxic, self._thresholds(texts))
        flagged = (scaled >= 0.5).nonzero().squeeze(1)
        labels: list[tuple[str, ...]] = [()] * len(texts)
        names = self._categories
        for i, row in zip(flagged.tolist(), (cats[flagged] >= 0.5).tolist(), strict=True):
            labels[i] = tuple(name for name, on in zip(names, row, strict=True) if on)
        return [Score(p, found) for p, found in zip(scaled.tolist(), labels, strict=True)]

    def _thresholds(self, texts: Sequence[str]) -> torch.Tensor:
        """Each text's decision threshold: its language's."""
        by_lang = {
            lang: self.bundle.thresholds.get(lang, self._default_threshold) for lang in ("en", "ko")
        }
        return torch.tensor([by_lang[language_of(t)] for t in texts], dtype=torch.float64)

    @staticmethod
    def _rescaled(probs: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
        """:func:`rescale` of each probability by its threshold (the same float64
        arithmetic, so the same numbers)."""
        p = probs.double()
        t = thresholds.clamp(1e-6, 1 - 1e-6)
        return torch.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t))

    def explain(self, texts: Sequence[str], top: int = 3) -> list[tuple[str, ...]]:
        """The words that drove each score, by occlusion: each word (up to the first
        ``OCCLUDE_WORDS``) is dropped in turn and the text rescored; the words whose removal
        lowers the score most (by at least 0.1) come first, then the words that score as
        toxic on their own (so several words that would each do, ``씨발 꺼져 병신아``, are all
        named, and an insult beside an expletive is not hidden by it). The pipeline asks only
        about messages its policy flags, so the cost stays off the clean majority of chat."""
        variants: list[str] = []
        owners: list[int] = []  # which text each variant belongs to (its threshold)
        spans: list[tuple[int, list[str]]] = []
        for i, text in enumerate(texts):
            words = text[:MAX_CHARS].split()[:OCCLUDE_WORDS]
            spans.append((len(variants), words))
            variants.append(text)
            variants += [" ".join(words[:k] + words[k + 1 :]) for k in range(len(words))]
            owners += [i] * (len(words) + 1)
        thresholds = self._thresholds(texts)
        # each distinct variant once (dropping either `lol` of `lol lol gg` gives one text)
        place: dict[str, int] = {}
        where = [place.setdefault(v, len(place)) for v in variants]
        distinct_probs, _ = self._forward(list(place))
        probs = distinct_probs[torch.tensor(where, dtype=torch.long)]
        scaled = self._rescaled(probs, thresholds[torch.tensor(owners, dtype=torch.long)]).tolist()
        rankings: list[list[int]] = []
        for start, words in spans:
            base = scaled[start]
            without = [base - scaled[start + 1 + k] for k in range(len(words))]
            rankings.append(
                sorted(
                    (k for k in range(len(words)) if without[k] >= 0.1), key=lambda k: -without[k]
                )
            )
        # the words that score as toxic on their own come next, and alone when no single
        # word matters: `fucking` may carry `@bob you are a fucking idiot` on occlusion while
        # `idiot` is what insults (each distinct word scored once)
        lone_words = list(dict.fromkeys(w for _, words in spans for w in words))
        alone_at: dict[str, float] = {}
        if lone_words:
            single_probs, _ = self._forward(lone_words)
            single_scaled = self._rescaled(single_probs, self._thresholds(lone_words)).tolist()
            alone_at = dict(zip(lone_words, single_scaled, strict=True))
        out = []
        for (_, words), ranked in zip(spans, rankings, strict=True):
            toxic_alone = sorted(
                (k for k in range(len(words)) if alone_at[words[k]] >= 0.5),
                key=lambda k: -alone_at[words[k]],
            )
            out.append(tuple(dict.fromkeys(words[k] for k in ranked + toxic_alone))[:top])
        return out
