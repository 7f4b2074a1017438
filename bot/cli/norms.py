"""``chatwarden norms show|reset|export --channel NAME``: what a channel's moderators taught.

``show`` and ``export`` read the database read-only (a running bot saves what it learns
every 30 seconds); ``reset`` forgets a channel's learned norms, and a running bot follows
at its next save.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.cli._common import DB_HELP, CommandError, database, one_line, table, when
from bot.settings import Settings, parse_channels

if TYPE_CHECKING:
    from bot.cli._common import Subparsers
    from bot.norms import NormsSummary

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    norms = sub.add_parser(
        "norms",
        help="what each channel's moderators taught the bot (show, reset, export)",
        description="The bot learns each channel's norms from what its moderators remove\n"
        "(timeouts, bans and deleted messages seen in chat): words and patterns they keep\n"
        "removing are put before them next time. `show` lists what was learned, active\n"
        "ones first; `export` writes it as JSON; `reset` forgets it (a running bot\n"
        "follows within 30 s).",
        epilog="e.g. chatwarden norms show --channel somechannel\n"
        "     chatwarden norms export --channel somechannel --out norms.json\n"
        "     chatwarden norms reset --channel somechannel",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    norms.add_argument("action", choices=("show", "reset", "export"))
    norms.add_argument("--channel", required=True, metavar="NAME", help="the channel's login")
    norms.add_argument("--db", type=database, help=DB_HELP)
    norms.add_argument("--json", action="store_true", help="with show: JSON, for scripts")
    norms.add_argument(
        "--out", type=Path, help="with export: write to this file (default: standard output)"
    )
    norms.add_argument(
        "--all", action="store_true", help="with show: every learned key, not only the top 30"
    )
    norms.set_defaults(func=_norms)


def _norms(args: argparse.Namespace, settings: Settings) -> int:
    (channel,) = parse_channels(args.channel) or ("",)
    if not channel:
        raise CommandError("--channel: give the channel's login")
    if args.action == "reset":
        return asyncio.run(_reset(settings, channel))
    summary = asyncio.run(_summary(settings, channel))
    if summary is None:
        print(
            f"nothing learned for #{channel} in {settings.db} (no moderator action seen there yet)",
            file=sys.stderr,
        )
        return 1
    if args.action == "export":
        body = json.dumps(asdict(summary), ensure_ascii=False, indent=2) + "\n"
        if args.out is None:
            sys.stdout.write(body)
        else:
            args.out.write_text(body, encoding="utf-8")
            print(f"wrote {len(summary.keys)} learned keys of #{channel} to {args.out}")
        return 0
    if args.json:
        print(json.dumps(asdict(summary), ensure_ascii=False))
    else:
        _print(summary, sys.stdout, limit=None if args.all else 30)
    return 0


async def _summary(settings: Settings, channel: str) -> NormsSummary | None:
    from bot.norms import LearnedNorms
    from storage.database import Database

    if isinstance(settings.db, Path) and not settings.db.exists():
        raise CommandError(f"no database at {settings.db} (set CHATWARDEN_DB or pass --db)")
    async with Database.open_readonly(settings.db) as db:
        saved = await db.channel_norms(channel)
    if not saved:
        return None
    norms = LearnedNorms()
    row = saved[0]
    norms.restore(channel, row.state, row.generation, row.epoch, row.frozen)
    return norms.channel(channel).summary()


async def _reset(settings: Settings, channel: str) -> int:
    from storage.database import Database

    async with Database.open(settings.db) as db:
        epoch = await db.reset_norms(channel, time.time())
    print(f"#{channel}: learned norms forgotten (reset {epoch}); a running bot follows within 30 s")
    return 0


def _print(summary: NormsSummary, out: TextIO, limit: int | None) -> None:
    state = "frozen (judges, learns nothing more)" if summary.frozen else "learning"
    language = summary.language or "not known yet"
    print(
        f"#{summary.channel}: {state}; learned from {summary.actions:,} moderator actions "
        f"over {summary.messages:,} messages; chat language {language}; "
        f"{summary.flagged_users:,} users flagged by learned norms",
        file=out,
    )
    keys = summary.keys if limit is None else summary.keys[:limit]
    if not keys:
        print("nothing learned yet", file=out)
        return
    rows = [
        [
            "yes" if k.active else "-",
            one_line(k.key, 40),
            k.category,
            f"{k.removed:.0f}",
            str(k.users),
            f"{k.uses:.0f}",
            f"{100 * k.hit:.0f} %",
            when(k.last),
        ]
        for k in keys
    ]
    headers = ["flags", "key", "category", "removed", "users", "labelled uses", "hit", "last"]
    table(rows, headers, out)
    if limit is not None and len(summary.keys) > limit:
        print(f"… {len(summary.keys) - limit} more (--all shows every key)", file=out)
