"""Rule-based baseline: English and Korean word lists with evasion-aware matching.

Lists are read from ``<data dir>/wordlists`` (see ``DATA.md`` §4):

* English: LDNOOBW ``en`` and Surge AI's profanity list (which gives severity, read from
  its description — Mild 0.6, Strong 0.8, Severe 0.95 — and categories: slurs → ``hate``,
  sexual terms → ``sexual``). Only racial, religious, sexual-orientation and gender slurs
  keep a severe score (flagged with no target).
* Korean: LDNOOBW ``ko``, the systematic swear-root variants of ``nerv_filter_ko`` and the
  original project's ``korean_badwords.json``.

Matching works on normalised text (:func:`model.normalize.normalize`):

* English terms match whole tokens only, in their plain or *skeleton* form (leetspeak and
  inner punctuation undone, repeats squashed: ``f.u.c.k``, ``sh1t``, ``fuuuck``), with an
  optional plural ``s``; runs of single letters are joined (``f u c k``).
* Korean words carry particles (``개새끼야``), so a token matches when it *starts with* a
  listed word; strong swear roots (``시발``, ``병신``…) match anywhere inside a token.
* Terms that are harmless in context (``미친`` "crazy/amazing", ``보지`` in ``보지마`` "don't
  look", ``hell``, ``damn``…) are on an allow-list or must match a whole token.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import DataNotFoundError
from model.normalize import normalize, skeleton
from model.scorer import Score

__all__ = ["RuleScorer", "WordEntry"]

_HANGUL = re.compile("[\u3131-\u318e\uac00-\ud7a3]")
_EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")
_PARTICLES = ("이", "가", "야", "아", "은", "는", "을", "를", "들", "의", "한테", "이네", "이냐")

#: Bumped whenever matching or the built-in lists change, so that stored flags say which
#: rules made them (the version is ``rules-r<REVISION>-en<terms>-ko<terms>``).
REVISION = 11

# Severity → probability of the baseline's score.
_MILD, _STRONG, _SEVERE = 0.6, 0.8, 0.95

#: English words that lists contain but that are harmless in Twitch chat.
EN_ALLOW = frozenset(
    [
        "hell",
        "damn",
        "god",
        "crap",
        "sucks",
        "suck",
        "bloody",
        "butt",
        "balls",
        "piss",
        "pissed",
        "spook",  # listed as a slur; in chat it means "scare" ("why did that spook me")
        "spooks",
        "fer",  # the skeleton of the listed "f'er"; in chat it is "for" ("we comin fer ya")
        "jiggs",  # Jigglypuff in Smash chat far more often than the listed slur
        "screw",
        "xxx",
        "sex",
        "sexy",
        "hot",
        "gay",
        "lesbian",
        "queer",
        "homo",
        "trans",
        "bi",
        "jew",
        "jewish",
        "muslim",
        "christian",
        "black",
        "white",
        "asian",
        "kill",
        "shoot",
        "shot",
        "die",
        "dead",
        "drug",
        "drugs",
        "weed",
        "beer",
        "wine",
        "booze",
        "bang",
        "banging",
        "nude",
        "naked",
        "kinky",
        "tit",
        "ho",
        "hoe",
        "pussy",
        "cock",
        "cocks",
        "dick",
        "dicks",
        "kitty",
        "pawn",
        "moist",
        "busty",
        "breast",
        "breasts",
        "nipple",
        "nipples",
        "strip",
        "stripper",
        "erotic",
        "porn",
        "camel",
        "toe",
        "thong",
        "panties",
        "bra",
        "dominatrix",
        # harmless in Twitch chat, flagged on real chat (docs/benchmarks.md, Live chat)
        "fed",
        "finger",
        "fingers",
        "nuggets",
        "sack",
        "69",
        "knob",
        "knobs",
        "bugger",
        "dong",
        "kk",  # "ok" (not KKK)
        "bj",  # Korean streamers are "BJ"s (broadcast jockeys)
    ]
)
#: Korean words that must be a whole token (with an optional particle) to count.
KO_WHOLE_TOKEN = frozenset(
    [
        "미친",
        "새끼",
        "보지",
        "고자",
        "망가",
        "노모",
        "유모",
        "야사",
        "호로",
        "애자",
        "에로",
        "씹",
        "자위",
        "변태",
        "거유",
        "근친",
        "몰카",
        "야동",
        "섹스",
        "스와핑",
        "후장",
        "직촬",
        "은꼴",
        "포르노",
        "하드코어",
        "로리타",
        "18",
        "장애",
        "개새",
        "좆",
    ]
)
#: Korean words that lists contain but that are harmless on their own (``미친`` is an
#: intensifier: "crazy/amazing"); compounds such as ``미친놈`` stay listed.
KO_ALLOW = frozenset(
    [
        "미친",
        "미친거",
        "ㅁㅊ",
        "ㅁㅊㄷ",
        "장애",
        "애자",
        "호로",
        # harmless in Twitch chat: puppy, "a lie", a tip, single syllables, "입장에", and
        # "sexy" (as in English, a compliment)
        "강아지",
        "구라",
        "뽀찌",
        "까",
        "씨",
        "꺄",
        "장에",
        "섹시",
        "섹시해",
        "섹시하다",
        # the familiar "you (kid)", and 개 alone, an intensifier ("개 잘하네", "개 크게"; 개새끼
        # and the like are listed whole): not insults (docs/labelling.md)
        "임마",
        "얌마",
        "개",
    ]
)
#: Tokens starting with these contain a listed root but are harmless words.
KO_ALLOW_PREFIXES = (
    "시발점",
    "시발역",
    "수박씨",
    "보지마",
    "보지도",
    "보지는",
    "보지않",
    "보지말",
    "미친듯",
    "미친척",
    "장애물",
    "장애인",
    "애자일",
    "호로록",
    "용병",  # 용병 신 (joined: 용병신) "mercenary god"
    "후레쉬",  # a soju brand
    "싸가지고",  # "packing" (싸다 + 가지고), not 싸가지 "rude"
    "자지마",  # "don't sleep" (자지 마), not 자지
    "자지말",
    "구멍나",  # "a hole opened" (구멍 나다)
    "구멍난",
    "졸라주",  # "tighten" (조르다), not 졸라 "damn"
    "졸라매",
    "sexy",  # as in English, a compliment (sexy하세요)
    "새끼치",  # "to breed" (새끼 치다: 바나나가 새끼친다), not the insult
    "새끼친",
    "새끼쳐",
    "새기치",
    "새기친",
    "새기쳐",
    "틀딱챔",  # an old champion or skin in a game (docs/labelling.md)
    "틀딱스킨",
)
_EN_HATE = {
    "racial / ethnic slurs",
    "sexual orientation / gender",
    "religious offense",
    "mental disability",
}
_KO_HATE = frozenset(
    [
        "짱깨",
        "쪽바리",
        "뙤놈",
        "한남충",
        "김치녀",
        "흑형",
        "깜둥이",
        "똥꼬충",
        "급식충",
        "맘충",
    ]
)


@dataclass(frozen=True, slots=True)
class WordEntry:
    """One listed term: its probability when matched and its category label."""

    probability: float
    label: str


def _merge(table: dict[str, WordEntry], key: str, entry: WordEntry) -> None:
    """Add a term; a term in several lists keeps its highest probability and its most
    specific label (``hate`` or ``sexual`` over plain ``profanity``)."""
    key = normalize(key)
    if not key:
        return
    old = table.get(key)
    if old is None:
        table[key] = entry
        return
    label = old.label if old.label != "profanity" else entry.label
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
        version: str,
    ) -> None:
        self._en_words: dict[str, WordEntry] = {}
        self._en_phrases: dict[str, list[tuple[str, WordEntry]]] = {}
        for key, entry in en_words.items():
            if " " in key:
                self._en_phrases.setdefault(key.split(" ", 1)[0], []).append((key, entry))
            elif key not in EN_ALLOW and len(key) > 1:
                self._en_words[key] = entry
                # Only the unsquashed skeleton is a key ("a$$" → "ass"); a token's squashed
                # form ("fuuck" → "fuck") then matches words without doubled letters, and
                # "ass" never makes "as" a bad word.
                plain = skeleton(key, squash=False)
                if len(plain) > 1:
                    self._en_words.setdefault(plain, entry)
        self._ko_words = {k: v for k, v in ko_words.items() if k not in KO_ALLOW}
        # the allowed words are harmless inside longer words too (천장에, 위장에)
        self._ko_roots = {k: v for k, v in ko_roots.items() if k not in KO_ALLOW}
        self._ko_max = max((len(k) for k in self._ko_words), default=0)
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> RuleScorer:
        """Read the EN and KO word lists from ``data_dir/wordlists``."""
        root = Path(data_dir) / "wordlists"
        if not root.is_dir():
            raise DataNotFoundError(
                f"word lists not found: expected the folder {root} (from the data dir "
                f"{data_dir}; set CHATWARDEN_DATA_DIR to the folder holding wordlists/)"
            )
        en: dict[str, WordEntry] = {}
        ko: dict[str, WordEntry] = {}
        roots: dict[str, WordEntry] = {}
        for word in _lines(root / "ldnoobw" / "en"):
            _merge(en, word, WordEntry(_STRONG, "profanity"))
        for row in _csv_rows(root / "surge_ai_profanity" / "profanity_en.csv"):
            # the description, not the rating's first digit: "2.8" is described "Severe"
            severity = {"mild": _MILD, "strong": _STRONG, "severe": _SEVERE}.get(
                (row.get("severity_description") or "").strip().lower()
            )
            categories = {row.get(f"category_{i}") or "" for i in (1, 2, 3)}
            label = (
                "hate"
                if categories & _EN_HATE
                else "sexual"
                if "sexual anatomy / sexual acts" in categories
                else "profanity"
            )
            if severity == _SEVERE and (label != "hate" or "mental disability" in categories):
                # only slurs are severe enough to flag with no target; the list's severe
                # profanity (``motherfucker``) is an exclamation in chat like the rest, and
                # so, in game chat, is the disability slur (``this bracket is retarded``):
                # flagged when aimed at someone, or every such user is reported at once
                # (esports chat: 6.8 users reported per 10k messages instead of 2.9)
                severity = _STRONG
            _merge(en, row["text"], WordEntry(severity or _STRONG, label))
        for word in _lines(root / "ldnoobw" / "ko"):
            _merge(ko, word, WordEntry(_STRONG, "profanity"))
        # Optional extras (not fetched by `data fetch`): used when present.
        nerv_path = root / "nerv_filter_ko" / "default_dic.json"
        nerv = _json(nerv_path) if nerv_path.exists() else {}
        for root_word, spec in nerv.get("basic", {}).items():
            for form in [root_word, *spec.get("variants", [])]:
                _merge(roots if len(form) >= 2 else ko, form, WordEntry(0.9, "profanity"))
        bad_path = root / "boostcamp_korean_badwords" / "korean_badwords.json"
        badwords = _json(bad_path) if bad_path.exists() else {}
        for word in badwords.get("badwords", []):
            if isinstance(word, str) and not word.isdigit():
                _merge(ko, word, WordEntry(_STRONG, "profanity"))
        for word in _KO_HATE:
            _merge(ko, word, WordEntry(_SEVERE, "hate"))
        # ageist, but in game chat mostly "old" (틀딱챔, 틀딱스킨): hate only when aimed
        _merge(ko, "틀딱", WordEntry(_STRONG, "hate"))
        for word in KO_WHOLE_TOKEN:
            roots.pop(normalize(word), None)
        counts = f"en{len(en)}-ko{len(ko) + len(roots)}"
        return cls(en, ko, roots, version=f"rules-r{REVISION}-{counts}")

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
        for token in candidates:
            if not token:
                continue
            if _HANGUL.search(token):
                found.extend(self._match_korean(token))
            else:
                found.extend(self._match_english(token))
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

    def _match_english(self, token: str) -> Iterable[tuple[str, WordEntry]]:
        if token in EN_ALLOW:
            return
        for cand in dict.fromkeys((token, skeleton(token, squash=False), skeleton(token))):
            if cand in EN_ALLOW:  # e.g. "feed" squashes to the allowed "fed"
                continue
            entry = self._en_words.get(cand)
            if entry is None and len(cand) > 3 and cand.endswith("s"):
                entry = self._en_words.get(cand[:-1])
            if entry is not None:
                yield cand, entry
                return

    def _match_korean(self, token: str) -> Iterable[tuple[str, WordEntry]]:
        if token in KO_ALLOW:
            return
        for cand in dict.fromkeys((token, skeleton(token))):
            if cand.startswith(KO_ALLOW_PREFIXES):
                continue
            entry = self._ko_words.get(cand)
            if entry is not None:
                yield cand, entry
                return
            for particle in _PARTICLES:
                stem = cand.removesuffix(particle)
                if stem != cand and stem in KO_WHOLE_TOKEN and stem in self._ko_words:
                    yield stem, self._ko_words[stem]
                    return
            for length in range(min(len(cand) - 1, self._ko_max), 1, -1):
                prefix = cand[:length]
                if prefix in KO_WHOLE_TOKEN:
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


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataNotFoundError(f"word list missing or unreadable: {path} ({exc})") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as exc:
        raise DataNotFoundError(f"word list missing or unreadable: {path} ({exc})") from exc


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataNotFoundError(f"word list missing or unreadable: {path} ({exc})") from exc
    if not isinstance(data, dict):
        raise DataNotFoundError(f"word list {path} is not a JSON object")
    return data
