"""What moderators' verdicts on flags say: ``evaluate --verdicts`` (precision per channel)
and ``labels export`` (a labelled set that ``train --extra-labels`` reads).

A flag judged *correct* is a toxic example (label 1, with the category a moderator gave,
if any); one judged *wrong* a clean one (label 0). Each flag's latest verdict counts. The
export is the owner's own chat: write it outside the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.cli._common import DB_HELP, database, table
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.cli._common import Subparsers

__all__ = ["print_precision", "register"]


def register(sub: Subparsers) -> None:
    labels = sub.add_parser("labels", help="moderators' verdicts as a labelled set")
    labels_sub = labels.add_subparsers(dest="labels_command", required=True, metavar="COMMAND")
    export = labels_sub.add_parser(
        "export",
        help="write judged flags as text/label rows (TSV, or JSON lines for .jsonl)",
        description="Write every flag a moderator judged on the dashboard: correct -> label "
        "1 (with the category fix, if any), wrong -> label 0. `chatwarden train "
        "--extra-labels FILE` adds them to the training split. This is your own chat: keep "
        "the file out of any repository.",
    )
    export.add_argument("--out", type=Path, required=True, help="the .tsv or .jsonl to write")
    export.add_argument("--db", type=database, help=DB_HELP)
    export.set_defaults(func=_export)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from model.data import write_labelled
    from storage.database import Database

    async def read() -> list[tuple[str, int, str | None]]:
        async with Database.open_readonly(settings.db) as db:
            judged = await db.labelled_flags()
        return [(f.text, int(f.correct), f.category if f.correct else None) for f in judged]

    rows = asyncio.run(read())
    written = write_labelled(args.out, rows)
    toxic = sum(label for _, label, _ in rows)
    print(
        f"{written} judged flag(s) written to {args.out}: {toxic} toxic, {written - toxic} "
        f"clean (train with: chatwarden train --extra-labels {args.out})",
        file=sys.stderr,
    )
    return 0


def print_precision(settings: Settings, as_json: bool, out: TextIO) -> int:
    """Per channel: flags judged, correct, wrong and precision = correct / judged."""
    from storage.database import Database

    async def read() -> list[tuple[str, int, int]]:
        async with Database.open_readonly(settings.db) as db:
            return await db.verdict_counts()

    counts = asyncio.run(read())
    rows = [
        {
            "channel": channel,
            "judged": correct + wrong,
            "correct": correct,
            "wrong": wrong,
            "precision": correct / (correct + wrong),
        }
        for channel, correct, wrong in counts
    ]
    if as_json:
        print(json.dumps(rows), file=out)
        return 0
    if not rows:
        print(f"no verdicts in {settings.db} yet: mark flags on the dashboard", file=out)
        return 0
    table(
        [
            [
                f"#{r['channel']}",
                str(r["judged"]),
                str(r["correct"]),
                str(r["wrong"]),
                f"{r['precision']:.3f}",
            ]
            for r in rows
        ],
        ["channel", "judged", "correct", "wrong", "precision"],
        out,
    )
    return 0
