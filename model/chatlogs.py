"""Unlabeled real Twitch chat from the data dir, as plain message texts.

Used to train the tokenizer (so chat words and emote names get their own pieces) and as
the unlabeled pool for semi-supervised training. Usernames are never returned, only texts.
Readers are streaming and deterministic: the same call yields the same texts in the same
order.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from model.errors import DataNotFoundError

__all__ = ["CHAT_SOURCES", "iter_chat"]

_CHATTY = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] <[^>]+>\*? ?(.*)$")
_MADCOOKIE = re.compile(r"^\[[^\]]+\] <[^>]+> (.*)$")
_IRSSI = re.compile(r"^\d\d:\d\d <[ @+%~&]?[^>]+> (.*)$")


def _boostcamp(root: Path) -> Iterator[str]:
    for path in sorted((root / "twitch_chat_ko_boostcamp" / "twitch").glob("*.log.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = _CHATTY.match(line.rstrip("\n"))
                if match:
                    yield match.group(1)


def _parkeunsang(root: Path) -> Iterator[str]:
    for path in sorted((root / "twitch_chat_ko_parkeunsang" / "sample_files").glob("*.csv")):
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            for row in csv.DictReader(handle):
                yield (row.get("contents") or "").strip()


def _bocru(root: Path) -> Iterator[str]:
    for path in sorted((root / "twitch_chat_en_bocru" / "data").glob("*/*/verbose_chat.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for comment in json.load(handle):
                message = comment.get("message") or {}
                body = message.get("body")
                if not isinstance(body, str):  # VOD exports keep only the fragments
                    body = "".join(f.get("text") or "" for f in message.get("fragments") or [])
                yield body


def _madcookie(root: Path) -> Iterator[str]:
    base = root / "twitch_chat_en_madcookie"
    for path in sorted([*base.glob("*.txt"), *base.glob("dist/*.txt")]):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = _MADCOOKIE.match(line.rstrip("\n"))
                if match:
                    yield match.group(1)


def _hasanabi(root: Path) -> Iterator[str]:
    for path in sorted((root / "twitch_chat_en_hasanabi" / "HasanAbiData").glob("*.csv")):
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            for row in csv.DictReader(handle):
                yield (row.get("comment") or "").strip()


def _spannbauer(root: Path) -> Iterator[str]:
    for path in sorted((root / "twitch_chat_en_spannbauer" / "data").glob("*.log")):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = _IRSSI.match(line.rstrip("\n"))
                if match:
                    yield match.group(1)


#: Chat logs whose licence allows shipping what is derived from them (DATA.md: the
#: madcookie repository is MIT); every other log states no licence.
SHIPPABLE_CHAT = ("madcookie_en",)

#: name → (language, reader)
CHAT_SOURCES = {
    "boostcamp_ko": ("ko", _boostcamp),
    "parkeunsang_ko": ("ko", _parkeunsang),
    "bocru_en": ("en", _bocru),
    "madcookie_en": ("en", _madcookie),
    "hasanabi_en": ("en", _hasanabi),
    "spannbauer_en": ("en", _spannbauer),
}


_MENTION = re.compile(r"@\w+")


def iter_chat(
    data_dir: Path,
    langs: tuple[str, ...] = ("en", "ko"),
    per_source: int | None = None,
    sources: tuple[str, ...] | None = None,
) -> Iterator[tuple[str, str]]:
    """Yield ``(lang, text)`` from the chat logs of the wanted languages (and ``sources``,
    default all), interleaving sources, at most ``per_source`` texts from each. @mentions
    are replaced by ``@user``: usernames never reach a vocabulary."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataNotFoundError(f"data dir not found: {root} (set CHATWARDEN_DATA_DIR)")
    readers = [
        (lang, islice(reader(root), per_source))
        for name, (lang, reader) in CHAT_SOURCES.items()
        if lang in langs and (sources is None or name in sources)
    ]
    active = list(readers)
    while active:
        still = []
        for lang, it in active:
            chunk = list(islice(it, 512))
            for text in chunk:
                if text:
                    yield lang, _MENTION.sub("@user", text)
            if len(chunk) == 512:
                still.append((lang, it))
        active = still
