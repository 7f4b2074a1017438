"""Rule-based baseline: English and Korean word lists with evasion-aware matching.

The third-party lists are read from a data dir's ``wordlists/`` and never copied into the
project: :meth:`RuleScorer.licensed` reads those whose licences allow shipping what is built
from them (the default ``rules`` scorer), :meth:`RuleScorer.from_data_dir` adds the
original project's Korean list, which states no licence (for comparison only).
:mod:`model.wordlists` reads them and the project's own lexicons, and makes the version
from their content:

* English: LDNOOBW ``en`` and Surge AI's profanity list (which gives severity, read from
  its description — Mild 0.6, Strong 0.8, Severe 0.95 — and categories: slurs → ``hate``,
  sexual terms → ``sexual``, except generic profanity filed as sexual, ``fuck you``:
  ``profanity``, see ``model/lexicon/en_profanity.txt``). Only racial, religious,
  sexual-orientation and gender slurs keep a severe score, and the category ``slur``
  (flagged with no target: the policy decides severity by category); the list's other
  hate terms (the disability slur) stay ``hate``, flagged when aimed.
* Korean: LDNOOBW ``ko`` and the systematic swear-root variants of ``nerv_filter_ko``
  (plus, from a data dir only, the original project's ``korean_badwords.json``: it states
  no licence, so it is not shipped).
* The project's lexicons (``model/lexicon/*.txt``, history in ``CHANGES.md`` there): slurs,
  allow-lists and whole-token words.

Matching works on normalised text (:func:`model.normalize.normalize`):

* English terms match whole tokens only, in their plain or *skeleton* form (leetspeak and
  inner punctuation undone, repeats squashed: ``f.u.c.k``, ``sh1t``, ``fuuuck``), with an
  optional plural ``s``; runs of single letters are joined (``f u c k``). A number written
  as one token, with a unit or an ordinal (``900k``, ``1990s``, ``2nd``), is not leetspeak.
* Korean words carry particles (``개새끼야``), so a token matches when it *starts with* a
  listed word; strong swear roots (``시발``, ``병신``…) match anywhere inside a token.
* Terms that are harmless in context (``미친`` "crazy/amazing", ``보지`` in ``보지마`` "don't
  look", ``hell``, ``damn``…) are on an allow-list or must match a whole token.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import DataNotFoundError
from model.normalize import is_number, normalize, skeleton
from model.scorer import Score
from model.wordlists import (
    LEXICON_DIR,
    MATCHING_CODE,
    ContentHash,
    Lexicon,
)

__all__ = ["RuleScorer", "WordEntry"]

_HANGUL = re.compile("[\u3131-\u318e\uac00-\ud7a3]")
_EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")
_DIGIT = re.compile(r"\d")
_PARTICLES = ("이", "가", "야", "아", "은", "는", "을", "를", "들", "의", "한테", "이네", "이냐")

# Severity → probability of the baseline's score.
_MILD, _STRONG, _SEVERE = 0.6, 0.8, 0.95


@dataclass(frozen=True, slots=True)
class WordEntry:
    """One listed term: its probability when matched and its category label."""

    probability: float
    label: str


def _merge(table: dict[str, WordEntry], key: str, entry: WordEntry) -> None:
    """Add a term; a term in several lists keeps its highest probability and its most
    specific label (``slur`` over the rest, ``hate`` or ``sexual`` over plain
    ``profanity``)."""
    key = normalize(key)
    if not key:
        return
    old = table.get(key)
    if old is None:
        table[key] = entry
        return
    label = entry.label if old.label == "profanity" or entry.label == "slur" else old.label
    table[key] = WordEntry(max(old.probability, entry.probability), label)


class RuleScorer:
    """Word-list scorer implementing :class:`model.scorer.Scorer`."""

    name = "rules"
    threshold = 0.5

    def __init__(
        self,
        en_words: dict[str, WordEntry],
        ko_words: dict[str, WordEntry],
        ko_roots: dict[str, WordEntry],
        lexicon: Lexicon,
        version: str,
    ) -> None:
        self._lexicon = lexicon
        allow_en, allow_ko = lexicon.en_allow, lexicon.ko_allow
        self._en_words: dict[str, WordEntry] = {}
        self._en_phrases: dict[str, list[tuple[str, WordEntry]]] = {}
        for key, entry in en_words.items():
            if " " in key:
                self._en_phrases.setdefault(key.split(" ", 1)[0], []).append((key, entry))
            elif key not in allow_en and len(key) > 1:
                self._en_words[key] = entry
                # Only the unsquashed skeleton is a key ("a$$" → "ass"); a token's squashed
                # form ("fuuck" → "fuck") then matches words without doubled letters, and
                # "ass" never makes "as" a bad word.
                plain = skeleton(key, squash=False)
                if len(plain) > 1:
                    self._en_words.setdefault(plain, entry)
        self._ko_words = {k: v for k, v in ko_words.items() if k not in allow_ko}
        # the allowed words are harmless inside longer words too (천장에, 위장에)
        self._ko_roots = {k: v for k, v in ko_roots.items() if k not in allow_ko}
        self._ko_max = max((len(k) for k in self._ko_words), default=0)
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    @classmethod
    def licensed(cls, data_dir: Path, lexicon_dir: Path = LEXICON_DIR) -> RuleScorer:
        """The default: the licensed lists of ``data_dir/wordlists`` (LDNOOBW, Surge AI,
        nerv-filter when present) and the project's lexicons; not the unlicensed list."""
        return cls._read(_wordlists(data_dir), lexicon_dir, extras=False)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> RuleScorer:
        """The lists of ``data_dir/wordlists`` (as ``data fetch`` lays them out), with the
        optional extras found there: ``nerv_filter_ko`` and the student project's
        ``korean_badwords.json``, which states no licence and so is not shipped (for
        comparison only; its version differs from the licensed one)."""
        return cls._read(_wordlists(data_dir), LEXICON_DIR, extras=True)

    @classmethod
    def _read(cls, root: Path, lexicon_dir: Path, *, extras: bool) -> RuleScorer:
        """Build from the source lists in ``root`` (each file named relative to it) and the
        lexicon files; the version hashes all of them and the matching code. LDNOOBW and
        Surge AI must be there, ``nerv_filter_ko`` is read when present (``data fetch`` does
        not fetch it), the student list only with ``extras``."""
        content = ContentHash()
        for path in MATCHING_CODE:
            content.read(path.name, path)
        lexicon = Lexicon.read(lexicon_dir, content)

        def read(name: str) -> str:
            return content.read(name, root / name)

        en: dict[str, WordEntry] = {}
        ko: dict[str, WordEntry] = {}
        roots: dict[str, WordEntry] = {}
        for word in _lines(read("ldnoobw/en")):
            _merge(en, word, WordEntry(_STRONG, "profanity"))
        # Surge's generic profanity (`fuck you`) is not sexual: see en_profanity.txt
        not_sexual = lexicon.en_profanity
        profane_roots = {e for e in not_sexual if not e.startswith("!")}
        sexual_words = tuple(e[1:].strip() for e in not_sexual if e.startswith("!"))
        for row in _csv_rows(read("surge_ai_profanity/profanity_en.csv")):
            # the description, not the rating's first digit: "2.8" is described "Severe"
            severity = {"mild": _MILD, "strong": _STRONG, "severe": _SEVERE}.get(
                (row.get("severity_description") or "").strip().lower()
            )
            categories = {row.get(f"category_{i}") or "" for i in (1, 2, 3)}
            label = (
                "hate"
                if categories & lexicon.en_hate_categories
                else "sexual"
                if "sexual anatomy / sexual acts" in categories
                else "profanity"
            )
            forms = {row.get(f"canonical_form_{i}") or "" for i in (1, 2, 3)} - {""}
            if (
                label == "sexual"
                and forms
                and forms <= profane_roots
                and not any(w in row["text"].lower() for w in sexual_words)
            ):
                label = "profanity"
            if severity == _SEVERE and (label != "hate" or "mental disability" in categories):
                # only slurs are severe enough to flag with no target; the list's severe
                # profanity (``motherfucker``) is an exclamation in chat like the rest, and
                # so, in game chat, is the disability slur (``this bracket is retarded``):
                # flagged when aimed at someone, or every such user is reported at once
                # (esports chat: 6.8 users reported per 10k messages instead of 2.9)
                severity = _STRONG
            if severity == _SEVERE:
                label = "slur"  # the one category flagged with no target (bot.policy.abuse)
            _merge(en, row["text"], WordEntry(severity or _STRONG, label))
        for word in _lines(read("ldnoobw/ko")):
            _merge(ko, word, WordEntry(_STRONG, "profanity"))
        nerv_name = "nerv_filter_ko/default_dic.json"
        nerv = _json(read(nerv_name), root / nerv_name) if (root / nerv_name).exists() else {}
        for root_word, spec in nerv.get("basic", {}).items():
            for form in [root_word, *spec.get("variants", [])]:
                _merge(roots if len(form) >= 2 else ko, form, WordEntry(0.9, "profanity"))
        bad_name = "boostcamp_korean_badwords/korean_badwords.json"
        if extras and (root / bad_name).exists():
            for word in _json(read(bad_name), root / bad_name).get("badwords", []):
                if isinstance(word, str) and not word.isdigit():
                    _merge(ko, word, WordEntry(_STRONG, "profanity"))
        for word in lexicon.ko_hate:
            _merge(ko, word, WordEntry(_SEVERE, "slur"))
        for word in lexicon.ko_hate_aimed:
            _merge(ko, word, WordEntry(_STRONG, "hate"))
        for word in lexicon.ko_whole_token:
            roots.pop(normalize(word), None)
        counts = f"en{len(en)}-ko{len(ko) + len(roots)}"
        return cls(en, ko, roots, lexicon, version=f"rules-{content.hexdigest()}-{counts}")

    def score(self, texts: Sequence[str]) -> list[Score]:
        return [self._score_one(text) for text in texts]

    def matches(self, text: str) -> list[tuple[str, WordEntry]]:
        """The listed terms found in ``text`` (for explaining a score)."""
        norm = normalize(text)
        if not norm:
            return []
        raw = norm.split(" ")
        tokens = [_EDGE_PUNCT.sub("", t) for t in raw]
        found: list[tuple[str, WordEntry]] = []
        # raw tokens too: leetspeak at a word's edge (a$$) is not punctuation
        candidates = dict.fromkeys(
            [*_with_joined_letters(tokens), *(t for t in raw if t not in tokens)]
        )
        # numbers as written (with or without edge punctuation); most messages have no digit
        numbers = (
            {w for r, t in zip(raw, tokens, strict=True) if is_number(t) for w in (r, t)}
            if _DIGIT.search(norm)
            else set()
        )
        for token in candidates:
            if not token:
                continue
            if _HANGUL.search(token):
                found.extend(self._match_korean(token))
            else:
                found.extend(self._match_english(token, number=token in numbers))
        padded = f" {norm} "
        for token in set(tokens):
            for phrase, entry in self._en_phrases.get(token, ()):
                if f" {phrase} " in padded:
                    found.append((phrase, entry))
        return found

    def _score_one(self, text: str) -> Score:
        found = self.matches(text)
        if not found:
            return Score(0.0)
        probability = max(entry.probability for _, entry in found)
        labels = tuple(sorted({entry.label for _, entry in found}))
        evidence = tuple(dict.fromkeys(term for term, _ in found))[:5]
        return Score(probability, labels, evidence)

    def _match_english(
        self, token: str, *, number: bool = False
    ) -> Iterable[tuple[str, WordEntry]]:
        allow = self._lexicon.en_allow
        if token in allow:
            return
        forms = (token,) if number else (token, skeleton(token, False), skeleton(token))
        for cand in dict.fromkeys(forms):
            if cand in allow:  # e.g. "feed" squashes to the allowed "fed"
                continue
            entry = self._en_words.get(cand)
            if entry is None and len(cand) > 3 and cand.endswith("s"):
                entry = self._en_words.get(cand[:-1])
            if entry is not None:
                yield cand, entry
                return

    def _match_korean(self, token: str) -> Iterable[tuple[str, WordEntry]]:
        lexicon = self._lexicon
        if token in lexicon.ko_allow:
            return
        for cand in dict.fromkeys((token, skeleton(token))):
            if cand.startswith(lexicon.ko_allow_prefixes):
                continue
            entry = self._ko_words.get(cand)
            if entry is not None:
                yield cand, entry
                return
            for particle in _PARTICLES:
                stem = cand.removesuffix(particle)
                if stem != cand and stem in lexicon.ko_whole_token and stem in self._ko_words:
                    yield stem, self._ko_words[stem]
                    return
            for length in range(min(len(cand) - 1, self._ko_max), 1, -1):
                prefix = cand[:length]
                if prefix in lexicon.ko_whole_token:
                    continue
                entry = self._ko_words.get(prefix)
                if entry is not None:
                    yield prefix, entry
                    return
            for start in range(len(cand) - 1):
                for length in (2, 3, 4):
                    piece = cand[start : start + length]
                    entry = self._ko_roots.get(piece)
                    if entry is not None and len(piece) == length:
                        yield piece, entry
                        return


def _with_joined_letters(tokens: list[str]) -> list[str]:
    """Tokens plus the words spelled by runs of single characters (``f u c k`` → ``fuck``)."""
    out = list(tokens)
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1:
            run.append(token)
            continue
        if len(run) >= 2:
            out.append("".join(run))
        run = []
    return out


def _wordlists(data_dir: Path) -> Path:
    """``data_dir/wordlists``, or an error that says how to get it."""
    root = Path(data_dir) / "wordlists"
    if not root.is_dir():
        raise DataNotFoundError(
            f"word lists not found: expected the folder {root} (set CHATWARDEN_DATA_DIR to "
            "the folder holding wordlists/, or `chatwarden data fetch --to DIR` fetches the "
            "licensed ones; CHATWARDEN_MODEL_URI=bundled needs no word lists)"
        )
    return root


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _json(text: str, path: Path) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DataNotFoundError(f"word list unreadable: {path} ({exc})") from exc
    if not isinstance(data, dict):
        raise DataNotFoundError(f"word list {path} is not a JSON object")
    return data
