"""Perturbations that chatters use to dodge filters, for training and for an adversarial
test set.

* ``punct`` — punctuation inserted inside a word (the original project's method): ``f.uck``
* ``space`` — spaces inside a word: ``f u c k``
* ``leet`` — leetspeak: ``sh1t``, ``@ss``
* ``homoglyph`` — Latin letters swapped for Cyrillic/Greek look-alikes: ``fuсk`` (Cyrillic с)
* ``jamo`` — Hangul syllables split into compatibility jamo: ``시발`` → ``ㅅㅣ발``
* ``split`` — one space inside a word: ``ni gger``
* ``chunks`` — a word cut into pieces of one to three letters: ``n a gg er s``
* ``double`` — one or two letters doubled: ``niigger``
* ``lookalike`` — a spelling that reads the same: ``nijja``, ``fuk``, ``biatch``

:func:`augment` applies one perturbation to one or two words of a text with probability
``rate``; :func:`adversarial` perturbs every text with a fixed seed, so the adversarial
test set is the same in every run.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from model.normalize import HOMOGLYPHS

__all__ = ["ADVERSARIAL_KINDS", "PERTURBATIONS", "adversarial", "augment", "perturb"]

_PUNCT = ".,*_-'`~!|/"
_LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7", "l": "1", "g": "9"}
_TO_GLYPH: dict[str, str] = {}
for _cyr, _lat in HOMOGLYPHS.items():
    if _lat.isalpha() and _lat not in _TO_GLYPH:
        _TO_GLYPH[_lat] = _cyr

_CHO = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_JUNG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_JONG = ["", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"]


def _split_syllable(ch: str) -> str:
    code = ord(ch) - 0xAC00
    if not 0 <= code < 11172:
        return ch
    return _CHO[code // 588] + _JUNG[(code % 588) // 28] + str(_JONG[code % 28])


def _punct(word: str, rng: random.Random) -> str:
    if len(word) < 2:
        return word
    i = rng.randrange(1, len(word))
    return word[:i] + rng.choice(_PUNCT) + word[i:]


def _space(word: str, rng: random.Random) -> str:
    return " ".join(word) if len(word) >= 2 else word


def _swap(word: str, rng: random.Random, table: dict[str, str], pick: Callable[[str], str]) -> str:
    """Replace one or two characters found in ``table`` with ``pick(char)``."""
    spots = [i for i, ch in enumerate(word) if ch.lower() in table]
    if not spots:
        return word
    out = list(word)
    for i in rng.sample(spots, k=min(len(spots), rng.randint(1, 2))):
        out[i] = pick(word[i].lower())
    return "".join(out)


def _leet(word: str, rng: random.Random) -> str:
    return _swap(word, rng, _LEET, lambda ch: rng.choice(_LEET[ch]))


def _homoglyph(word: str, rng: random.Random) -> str:
    return _swap(word, rng, _TO_GLYPH, _TO_GLYPH.__getitem__)


def _jamo(word: str, rng: random.Random) -> str:
    spots = [i for i, ch in enumerate(word) if 0xAC00 <= ord(ch) <= 0xD7A3]
    if not spots:
        return word
    i = rng.choice(spots)
    return word[:i] + _split_syllable(word[i]) + word[i + 1 :]


def _split(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word))
    return word[:i] + " " + word[i:]


def _chunks(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word
    pieces, i = [], 0
    while i < len(word):
        step = rng.choice((1, 1, 2, 2, 3))
        pieces.append(word[i : i + step])
        i += step
    return " ".join(pieces)


def _double(word: str, rng: random.Random) -> str:
    spots = [i for i, ch in enumerate(word) if ch.isalpha()]
    if not spots:
        return word
    out = list(word)
    for i in sorted(rng.sample(spots, k=min(len(spots), rng.randint(1, 2))), reverse=True):
        out.insert(i, word[i])
    return "".join(out)


#: spellings that read (or look) the same to a chatter: (what, replacement)
_SOUNDS = (
    ("gg", "jj"),
    ("gg", "qq"),
    ("g", "j"),
    ("er", "a"),
    ("er", "ah"),
    ("ck", "k"),
    ("ck", "kk"),
    ("c", "k"),
    ("s", "z"),
    ("i", "y"),
    ("oo", "u"),
    ("u", "oo"),
    ("ph", "f"),
    ("f", "ph"),
    ("a", "ah"),
    ("ou", "u"),
    ("y", "ie"),
    ("x", "ks"),
)


def _lookalike(word: str, rng: random.Random) -> str:
    lower = word.lower()
    options = [(a, b) for a, b in _SOUNDS if a in lower]
    if not options:
        return word
    a, b = rng.choice(options)
    i = lower.find(a)
    return word[:i] + b + word[i + len(a) :]


PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "punct": _punct,
    "space": _space,
    "leet": _leet,
    "homoglyph": _homoglyph,
    "jamo": _jamo,
    "split": _split,
    "chunks": _chunks,
    "double": _double,
    "lookalike": _lookalike,
}
#: the kinds of the adversarial test sets (unchanged since they were first measured)
ADVERSARIAL_KINDS = ("punct", "space", "leet", "homoglyph", "jamo")


def _applicable(word: str) -> list[str]:
    hangul = any(0xAC00 <= ord(ch) <= 0xD7A3 for ch in word)
    latin = any("a" <= ch.lower() <= "z" for ch in word)
    names = ["punct", "space"]
    if latin:
        names += ["leet", "homoglyph", "split", "chunks", "double", "lookalike"]
    if hangul:
        names += ["jamo", "jamo"]
    return names


def perturb(text: str, rng: random.Random, kinds: Sequence[str] | None = None) -> str:
    """Apply one perturbation to one or two of the longer words of ``text``."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 2]
    if not candidates:
        return text
    candidates.sort(key=lambda i: -len(words[i]))
    chosen = candidates[: max(1, min(len(candidates), 4))]
    for i in rng.sample(chosen, k=min(len(chosen), rng.randint(1, 2))):
        names = [k for k in _applicable(words[i]) if kinds is None or k in kinds]
        if names:
            words[i] = PERTURBATIONS[rng.choice(names)](words[i], rng)
    return " ".join(words)


def augment(text: str, rng: random.Random, rate: float) -> str:
    """Perturb ``text`` with probability ``rate`` (training-time augmentation)."""
    return perturb(text, rng) if rng.random() < rate else text


def adversarial(texts: Sequence[str], seed: int = 2003) -> list[str]:
    """The adversarial version of a test set: every text perturbed, reproducibly."""
    rng = random.Random(seed)
    return [perturb(text, rng, ADVERSARIAL_KINDS) for text in texts]
