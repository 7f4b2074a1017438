"""Text normalisation shared by training, the rule baseline and serving.

Every path that compares chat text with something learned or listed (word lists, emote
allow-lists, the tokenizer, dedup keys) must go through :func:`normalize`, or evasion
tricks and Unicode quirks make the same message look different in two places.

Steps, in order:

1. Unicode NFKC (full-width letters, ligatures, circled letters → plain forms).
2. NFKC turns Hangul *compatibility* jamo (ㅅㅂ) into *conjoining* jamo (ᄉᄇ), which
   render differently and break word lists; they are mapped back.
3. Zero-width and other invisible format characters are removed, control characters
   become spaces (invalid surrogates are dropped).
4. Cyrillic / Greek look-alikes are folded to Latin inside words that contain Latin
   (plain, accented or a look-alike of step 5, so that a second pass changes nothing).
5. Lower-casing (``casefold``); Latin look-alike symbols that no language writes words
   with (small capitals ``ɴɪɢɢᴇʀ``, negative circled and squared letters ``🅽``, regional
   indicator letters, script ``ɡ``, dotless ``ı``) become the letters they imitate, and
   accents and stacked combining marks ("zalgo") on Latin letters are dropped (``nïggër``
   → ``nigger``).
6. Runs of more than two identical characters are squashed to two (``fuuuuck`` →
   ``fuuck``, ``ㅋㅋㅋㅋㅋ`` → ``ㅋㅋ``).
7. Whitespace is collapsed.

Emote names survive as tokens: they are plain words, so only case is folded.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "HOMOGLYPHS",
    "LATIN_LOOKALIKES",
    "fold_homoglyphs",
    "fold_lookalikes",
    "is_number",
    "normalize",
    "normalize_word",
    "skeleton",
]

#: a number, with a unit or an ordinal (``900k``, ``1990s``, ``2.5m``, ``2nd``, ``60fps``): not
#: leetspeak, or ``900k`` would read as a slur. Only a token written so; a number spelled out
#: in single characters (``9 0 0 k``) is still joined and decoded.
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*(?:k|m|b|s|x|p|st|nd|rd|th|fps|hz)?")


def is_number(token: str) -> bool:
    """Whether ``token`` is a number as written (with a unit or an ordinal), not leetspeak."""
    return _NUMBER.fullmatch(token) is not None


def _conjoining_to_compat() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x3131, 0x318F):
        compat = chr(code)
        folded = unicodedata.normalize("NFKC", compat)
        if len(folded) == 1 and folded != compat:
            table.setdefault(ord(folded), compat)
    return table


_JAMO_BACK = _conjoining_to_compat()

# Invisible characters used to split words without changing how they look.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_REPEAT = re.compile(r"(.)\1{2,}", re.DOTALL)
_SPACES = re.compile(r"\s+")

#: Cyrillic and Greek letters that look like Latin ones (lower case; input is casefolded first).
HOMOGLYPHS: dict[str, str] = {
    "а": "a",
    "в": "b",
    "с": "c",
    "ԁ": "d",
    "е": "e",
    "ё": "e",
    "һ": "h",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "к": "k",
    "ӏ": "l",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "ԛ": "q",
    "г": "r",
    "ѕ": "s",
    "т": "t",
    "ц": "u",
    "ѵ": "v",
    "ԝ": "w",
    "х": "x",
    "у": "y",
    "ү": "y",
    "з": "3",
    "α": "a",
    "β": "b",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "γ": "y",
    "ω": "w",
    "μ": "u",
}
_HOMOGLYPH_TABLE = str.maketrans(HOMOGLYPHS)
_LATIN = re.compile("[a-z]")
_WORD = re.compile(r"\S+")


def fold_homoglyphs(text: str) -> str:
    """Fold Cyrillic/Greek look-alikes to Latin in words that also hold Latin letters.

    Words written wholly in Cyrillic or Greek are left alone, so real Russian or Greek
    chat is not mangled; mixed words (``guyЅ``, ``fцck``) are what evaders write.
    """

    def fold(match: re.Match[str]) -> str:
        word = match.group(0)
        if _LATIN.search(word) or _LOOKALIKE_CHAR.search(word):
            return word.translate(_HOMOGLYPH_TABLE)
        return word

    return _WORD.sub(fold, text)


_HOMOGLYPH_CHAR = re.compile("[" + "".join(HOMOGLYPHS) + "]")


def _latin_lookalikes() -> dict[str, str]:
    table = dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘǫʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnopqrstuvwyz", strict=True))
    table |= {"ɡ": "g", "ı": "i", "ȷ": "j", "ſ": "s"}
    for i, letter in enumerate("abcdefghijklmnopqrstuvwxyz"):
        table[chr(0x1F150 + i)] = letter  # negative circled 🅐
        table[chr(0x1F170 + i)] = letter  # negative squared 🅰
        table[chr(0x1F1E6 + i)] = letter  # regional indicator 🇦
    # Latin letters with accents (Latin-1 Supplement, Extended-A and -B): their base letter
    for code in range(0xC0, 0x250):
        char = chr(code)
        folded, base = char.casefold(), unicodedata.normalize("NFD", char)[0].casefold()
        if len(folded) == 1 and base != folded and "a" <= base <= "z":
            table[folded] = base
    return table


#: Latin look-alike symbols and accented Latin letters → the plain letter (after casefold)
LATIN_LOOKALIKES: dict[str, str] = _latin_lookalikes()
_LOOKALIKE_TABLE = str.maketrans(LATIN_LOOKALIKES)
_LOOKALIKE_CHAR = re.compile("[" + "".join(LATIN_LOOKALIKES) + "]")
# combining marks stacked on a Latin letter (accents, "zalgo" text)
_MARKS_ON_LATIN = re.compile(
    "(?<=[a-z])[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+"
)


def fold_lookalikes(text: str) -> str:
    """Step 5's folds, on casefolded text: Latin look-alike symbols and accented Latin
    letters become plain letters, combining marks on Latin letters are dropped."""
    if _LOOKALIKE_CHAR.search(text):
        text = text.translate(_LOOKALIKE_TABLE)
    return _MARKS_ON_LATIN.sub("", text)


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Return the canonical form of a chat message (see the module docstring)."""
    if text.isascii():
        # Steps 1-4 and the homoglyph fold cannot change ASCII, and ASCII casefolds as
        # lower(): half of English chat skips them (same result, tested).
        text = _CONTROL.sub(" ", text).lower()
    else:
        text = _SURROGATE.sub("", text)
        text = unicodedata.normalize("NFKC", text)
        text = text.translate(_JAMO_BACK)
        text = _INVISIBLE.sub("", text)
        text = _CONTROL.sub(" ", text)
        text = text.casefold()
        if _HOMOGLYPH_CHAR.search(text):
            text = fold_homoglyphs(text)
        text = fold_lookalikes(text)
    # what _SPACES.sub(" ", text).strip() gives: both split on str.isspace()
    return " ".join(_squash_runs(text).split())


def _squash_runs(text: str) -> str:
    """Runs of more than two identical characters squashed to two (step 6)."""
    # re.sub costs several times a search that finds nothing, the common case
    return _REPEAT.sub(r"\1\1", text) if _REPEAT.search(text) else text


# Hangul compatibility consonants that NFKC turns into leading consonants (ㄱ…ㅎ; not the
# clusters ㄳ, ㄺ…, which become trailing ones), and the compatibility vowels (ㅏ…ㅣ)
_LEADING = "".join(
    chr(c)
    for c in range(0x3131, 0x314F)
    if 0x1100 <= ord(unicodedata.normalize("NFKC", chr(c))) <= 0x1112
)
_VOWELS = "\u314f-\u3163"
# Printable ASCII, Hangul syllables and those jamo: NFKC leaves them as they are (the jamo
# come back through _JAMO_BACK), none is invisible, a control, a space or a look-alike,
# and they fold as lower() does; but a leading consonant then a vowel NFKC-composes into
# a syllable (ㄱㅏ → 가), a trailing one after a syllable too (가ㄳ → 갃): not plain.
_PLAIN_WORD = re.compile(f"[\x21-\x7e\uac00-\ud7a3{_LEADING}{_VOWELS}]+")
_COMPOSES = re.compile(f"[{_LEADING}][{_VOWELS}]")


def normalize_word(word: str) -> str:
    """:func:`normalize` of one word (no whitespace), with a shortcut for the common plain
    words (printable ASCII, Hangul syllables, ㅋㅋ-style jamo): only case and runs of
    three or more change them."""
    if _PLAIN_WORD.fullmatch(word) and not _COMPOSES.search(word):
        return _squash_runs(word.lower())
    return normalize(word)


_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "!": "i",
        "3": "e",
        "4": "a",
        "@": "a",
        "5": "s",
        "$": "s",
        "7": "t",
        "+": "t",
        "8": "b",
        "9": "g",
    }
)
_NON_WORD = re.compile(r"[^\w]|_", re.UNICODE)
_REPEAT_ONE = re.compile(r"(.)\1+", re.DOTALL)


def skeleton(word: str, squash: bool = True) -> str:
    """An evasion-resistant key for one normalised token.

    Leetspeak digits become letters, punctuation inside the word is dropped and, with
    ``squash``, every run of a repeated character becomes one (``f.u.c.c.k`` → ``fuck``,
    ``sh1t`` → ``shit``, ``시.발`` → ``시발``). Squashing merges words (``ass`` → ``as``), so
    word lists must only compare squashed forms of words without doubled letters.
    """
    word = word.translate(_LEET)
    word = _NON_WORD.sub("", word)
    return _REPEAT_ONE.sub(r"\1", word) if squash else word
