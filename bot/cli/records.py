"""Commands that read what the bot recorded: ``history`` and ``flagged``.

They open the database read-only, so a moderator can ask while the bot is running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, TextIO

from bot.cli._common import DB_HELP, database, duration, one_line, period, table, when
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.cli._common import Subparsers
    from storage.records import OlderFlags

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    history = sub.add_parser("history", help="a user's flagged messages, counts and reports")
    history.add_argument("login", help="the user's Twitch login")
    history.add_argument("--channel", help="only this channel")
    history.add_argument("--db", type=database, help=DB_HELP)
    history.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    history.set_defaults(func=_history)

    flagged = sub.add_parser("flagged", help="users flagged in a period, worst first")
    flagged.add_argument("--channel", help="only this channel")
    flagged.add_argument(
        "--since",
        type=duration,
        default=duration("24h"),
        help="how far back: 90s, 30m, 24h (default), 7d",
    )
    flagged.add_argument("--db", type=database, help=DB_HELP)
    flagged.add_argument("--json", action="store_true", help="a JSON list, for scripts")
    flagged.set_defaults(func=_flagged)


def _history(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_print_history(settings, args.login, args.channel, args.json, sys.stdout))


def _flagged(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_print_flagged(settings, args.since, args.channel, args.json, sys.stdout))


async def _print_history(
    settings: Settings, login: str, channel: str | None, as_json: bool, out: TextIO
) -> int:
    """Print a user's counts, flags, moderator actions and reports; 1 if nothing is known."""
    from storage.database import Database

    async with Database.open_readonly(settings.db) as db:
        history = await db.history(login, channel)
    if history is None:
        if as_json:
            print(json.dumps(None), file=out)
        else:
            print(f"no messages from {login!r} are recorded in {settings.db}", file=out)
        return 1
    if as_json:
        print(json.dumps(asdict(history), ensure_ascii=False), file=out)
        return 0
    print(f"{history.display_name} ({history.login})", file=out)
    table(
        [
            [f"#{c.channel}", str(c.messages_seen), str(c.messages_flagged), str(c.reports)]
            for c in history.counts
        ],
        ["channel", "seen", "flagged", "reports"],
        out,
    )
    print(file=out)
    if history.flags:
        table(
            [
                [
                    when(f.sent_at),
                    f"#{f.channel}",
                    f"{f.score:.2f}",
                    ",".join(f.labels) or "-",
                    ",".join(f.evidence) or "-",
                    f.model_version,
                    str(f.report_id or "-"),
                    f.shadow or "live",
                    one_line(f.text),
                ]
                for f in history.flags
            ],
            [
                "sent (UTC)",
                "channel",
                "score",
                "labels",
                "why",
                "model",
                "report",
                "source",
                "text",
            ],
            out,
        )
    else:
        print("no flagged messages", file=out)
    if history.moderation:
        print(file=out)
        table(
            [
                [
                    when(m.at),
                    f"#{m.channel}",
                    m.kind,
                    f"{m.duration} s" if m.duration else "-",
                    one_line(m.text or "", 60) or "-",
                ]
                for m in history.moderation
            ],
            ["when (UTC)", "channel", "moderator action", "duration", "deleted message"],
            out,
        )
    if history.reports:
        print(file=out)
        table(
            [
                [
                    str(r.id),
                    f"#{r.channel}",
                    when(r.created_at),
                    r.status,
                    str(r.attempts),
                    when(r.sent_at),
                    r.reason,
                ]
                for r in history.reports
            ],
            ["report", "channel", "created (UTC)", "status", "attempts", "sent (UTC)", "why"],
            out,
        )
    return 0


async def _print_flagged(
    settings: Settings, since: float, channel: str | None, as_json: bool, out: TextIO
) -> int:
    """Print the users flagged in the last ``since`` seconds, worst first."""
    from storage.database import Database

    async with Database.open_readonly(settings.db) as db:
        users = await db.flagged_users(time.time() - since, channel)
        older = None if as_json else await db.older_flags(time.time() - since, channel)
    if as_json:
        print(json.dumps([asdict(u) for u in users], ensure_ascii=False), file=out)
        return 0
    if not users:
        print(f"no users flagged in the last {period(since)}", file=out)
        _print_older(older, out)
        return 0
    table(
        [
            [
                u.login,
                f"#{u.channel}",
                str(u.flagged),
                f"{u.worst_score:.2f}",
                str(u.reports),
                when(u.last_flagged),
                _source(u.flagged, u.replayed),
            ]
            for u in users
        ],
        ["login", "channel", "flagged", "worst", "reports", "last flagged (UTC)", "source"],
        out,
    )
    _print_older(older, out)
    return 0


def _print_older(older: OlderFlags | None, out: TextIO) -> None:
    """Say what the period hides: replayed chat keeps the time it was sent, so a replayed
    log from 2021 is years older than the default 24 h."""
    if older is None or not older.count or older.newest is None:
        return
    days = math.ceil((time.time() - older.newest) / 86400) + 1
    print(
        f"{older.count} flag(s) are older ({older.replayed} from replays; the newest "
        f"{when(older.newest)} UTC): see them with --since {days}d",
        file=out,
    )


def _source(flagged: int, replayed: int) -> str:
    """Where a user's flags came from: ``live`` (``run``), ``replay`` or both."""
    if replayed == 0:
        return "live"
    return "replay" if replayed == flagged else "live+replay"
