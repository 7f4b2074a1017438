"""What every command module shares: argument types, the terminal table, times and text.

Kept free of heavy imports: every ``chatwarden`` start (``run`` too) imports this module.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeAlias

from bot.settings import Settings
from storage.errors import DatabaseUrlError
from storage.location import DatabaseLocation, parse_database

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = [
    "DB_HELP",
    "SAMPLE_DEFAULT",
    "Command",
    "CommandError",
    "count",
    "database",
    "duration",
    "need_data",
    "one_line",
    "period",
    "positive",
    "positive_rate",
    "table",
    "when",
]

#: Every ``--db``'s help.
DB_HELP = (
    "the database: a SQLite file, or a PostgreSQL URL postgresql://user:password@host:5432/db "
    "(default: CHATWARDEN_DB, else ./chatwarden.db; a URL with a password is better set in "
    "CHATWARDEN_DB: a command line is visible to other users)"
)


def database(raw: str) -> DatabaseLocation:
    """``--db``: a SQLite file or a PostgreSQL URL (its password never printed)."""
    try:
        return parse_database(raw)
    except DatabaseUrlError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: ``evaluate --live-chat/--moderation --sample``: flags or reports printed to read
SAMPLE_DEFAULT = 20

#: What a sub-parser's ``set_defaults(func=...)`` names: the parsed arguments and the loaded
#: settings in, the exit status out.
Command: TypeAlias = Callable[[argparse.Namespace, Settings], int]


class CommandError(Exception):
    """A failure the user can fix, raised by a command: one line on stderr, exit status 2.

    Commands translate into it the error types that ``main`` cannot name up front without
    importing their modules on every start (e.g. ``model.training``'s ``FetchError``)."""


def duration(raw: str) -> float:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` or plain seconds, as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", raw)
    if not match:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a duration (e.g. 90s, 30m, 24h, 7d)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return float(match.group(1)) * unit


def period(seconds: float) -> str:
    """Seconds as :func:`duration` reads them, e.g. ``24h``, ``7d``, ``90m``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and (unit != "d" or seconds >= 2 * size):
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def positive(raw: str, least: int = 1) -> int:
    """A whole number of at least ``least`` (1 unless told), or argparse's usage error."""
    try:
        value = int(raw)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of at least {least}")
    return value


def count(raw: str) -> int:
    """A whole number of at least 0."""
    return positive(raw, least=0)


def positive_rate(raw: str) -> float:
    """A finite rate above 0 (``inf`` and ``nan`` would make a load test never end)."""
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a rate above 0 (lines per second)")
    return value


def need_data(settings: Settings) -> Path:
    """The data dir, for the commands that cannot work without it (a user error if unset)."""
    if settings.data_dir is None:
        raise ValueError("no data dir: set CHATWARDEN_DATA_DIR to the folder holding DATA.md")
    return settings.data_dir


def when(ts: float | None) -> str:
    """A Unix time as UTC to the second, ``-`` when there is none."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (Hangul, CJK, most emoji) count two,
    combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def table(rows: list[list[str]], headers: list[str], out: TextIO) -> None:
    """Left-aligned columns under a dashed rule: readable in a terminal, easy to ``grep``.
    Columns are measured in display width, so Korean text keeps them straight."""
    widths = [
        max(width(h), *(width(r[i]) for r in rows)) if rows else width(h)
        for i, h in enumerate(headers)
    ]
    print("  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def one_line(text: str, limit: int = 80) -> str:
    """Chat text on one line of at most ``limit`` display columns, so a table row stays
    a row."""
    text = " ".join(text.split())
    if width(text) <= limit:
        return text
    cut = []
    used = 0
    for c in text:
        used += width(c)
        if used > limit - 1:
            break
        cut.append(c)
    return "".join(cut) + "…"
