"""The rule scorer's lists as files, and its version from their content.

Two kinds of list feed :class:`model.rules.RuleScorer`:

* **sources**: third-party word lists, read from a data dir's ``wordlists/`` folder (never
  copied into the project: DATA.md gives each one's licence);
* **lexicons**: the project's own hand-tuned lists in ``model/lexicon/*.txt`` (allow-lists,
  whole-token words, slurs), one ``entry  # why`` a line, their history in
  ``model/lexicon/CHANGES.md``. Labellers review a diff of a plain file, not of Python.

The rules version is a hash of every file read and of the matching code, so no change to
what the rules decide can go out under the old name, and nobody has to remember a number.
A missing or unreadable file is a :class:`~model.errors.DataNotFoundError` naming it, raised
when the scorer is built (at start-up), never mid-stream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

from model.errors import DataNotFoundError

__all__ = [
    "LEXICON_DIR",
    "MATCHING_CODE",
    "ContentHash",
    "Lexicon",
    "entries_of",
    "lexicon_files",
]

_HERE = Path(__file__).resolve().parent
LEXICON_DIR = _HERE / "lexicon"
#: The code that decides what a list entry matches: part of the version as the lists are.
MATCHING_CODE = (_HERE / "rules.py", _HERE / "normalize.py")


def read_text(path: Path) -> str:
    """A list file's text, or an error that names the file."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataNotFoundError(f"word list missing or unreadable: {path} ({exc})") from exc


def entries_of(text: str) -> tuple[str, ...]:
    """The entries of a lexicon file, in file order: ``#`` starts a comment (the entry's
    reason, or a heading), blank lines are skipped."""
    entries = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(entry for entry in entries if entry)


class ContentHash:
    """Reads files and hashes what it read: the version of whatever is built from them.

    Each file counts under a stable name (``ldnoobw/en``, ``lexicon/en_allow.txt``), not its
    path, so the same lists give the same version wherever they are installed. Line endings
    and trailing blanks do not count (a checkout on Windows scores alike).
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256()

    def read(self, name: str, path: Path) -> str:
        text = read_text(path)
        self._sha.update(name.encode())
        self._sha.update(b"\0")
        self._sha.update("\n".join(line.rstrip() for line in text.splitlines()).encode())
        self._sha.update(b"\0")
        return text

    def hexdigest(self) -> str:
        """Twelve hex digits of SHA-256 over the files read so far, in reading order."""
        return self._sha.hexdigest()[:12]


def lexicon_files(folder: Path = LEXICON_DIR) -> list[Path]:
    """The project's lexicon files, one per field of :class:`Lexicon` (for a set-up check)."""
    return [folder / f"{f.name}.txt" for f in fields(Lexicon)]


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The project's own lists (``model/lexicon/*.txt``), one field per file."""

    #: English terms the sources list but that are harmless in Twitch chat.
    en_allow: frozenset[str]
    #: Surge AI categories whose terms are labelled ``hate``.
    en_hate_categories: frozenset[str]
    #: Surge canonical forms that are profanity, not ``sexual``; ``!`` entries stay sexual.
    en_profanity: tuple[str, ...]
    #: Korean words that are harmless on their own, and inside longer words.
    ko_allow: frozenset[str]
    #: Korean words that count only as a whole token (with an optional particle).
    ko_whole_token: frozenset[str]
    #: Tokens starting with these contain a listed root but are harmless words.
    ko_allow_prefixes: tuple[str, ...]
    #: Korean slurs: ``hate``, severe.
    ko_hate: tuple[str, ...]
    #: Korean ``hate`` words that count only when aimed at someone (strong, not severe).
    ko_hate_aimed: tuple[str, ...]

    @classmethod
    def read(cls, folder: Path = LEXICON_DIR, content: ContentHash | None = None) -> Lexicon:
        """One ``<field>.txt`` per field from ``folder``, hashed into ``content``."""
        content = content or ContentHash()
        entries = {
            f.name: entries_of(content.read(f"lexicon/{f.name}.txt", folder / f"{f.name}.txt"))
            for f in fields(cls)
        }
        return cls(
            en_allow=frozenset(entries["en_allow"]),
            en_hate_categories=frozenset(entries["en_hate_categories"]),
            en_profanity=entries["en_profanity"],
            ko_allow=frozenset(entries["ko_allow"]),
            ko_whole_token=frozenset(entries["ko_whole_token"]),
            ko_allow_prefixes=entries["ko_allow_prefixes"],
            ko_hate=entries["ko_hate"],
            ko_hate_aimed=entries["ko_hate_aimed"],
        )
