"""Commands that watch chat, live or recorded: ``run``, ``score``, ``replay``, ``doctor``,
``health``.

The bot's modules are imported inside each command, so that ``chatwarden history`` does not
pay for the runtime and ``chatwarden run`` does not pay for the lab or for training.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli._common import DB_HELP, database, positive
from bot.settings import Settings, parse_channels

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bot.cli._common import Subparsers

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    run = sub.add_parser(
        "run",
        help="watch Twitch channels and report flagged users",
        description="Join the channels (anonymously unless a bot login is "
        "set), score every message, store flags and send reports. Stop with "
        "Ctrl-C or SIGTERM: queued messages are still scored and stored. With a "
        "PostgreSQL database (--db postgresql://...), any number of `run` workers given "
        "the same channels divide them among themselves, take over the channels of a "
        "worker that dies (within CHATWARDEN_LEASE_TTL_S) and send each report once; "
        "see docs/scaling.md.",
    )
    run.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="NAME",
        help="channel to watch (repeatable; adds to CHATWARDEN_CHANNELS)",
    )
    run.add_argument("--db", type=database, help=DB_HELP)
    run.set_defaults(func=_run)

    score = sub.add_parser(
        "score",
        help="score JSONL from stdin",
        description='Read lines {"text": "..."} on stdin; write one JSON '
        'object per line, same order: {"score", "flagged", "toxic", "labels", "why"} '
        "(flagged: the bot's decision at CHATWARDEN_SENSITIVITY; toxic: the scorer's "
        "own call at the flag threshold; why: the words that drove it). A blank line "
        'gets {"score": null, ...}, a bad one {"error": ...}.',
    )
    score.add_argument(
        "--batch-size",
        type=positive,
        default=2048,
        help="texts per scorer call (default 2048; output comes a batch at a time, so use "
        "1 to follow a live pipe line by line)",
    )
    score.add_argument(
        "--workers",
        type=positive,
        default=None,
        metavar="N",
        help="processes that score large batches side by side (default: one per CPU; "
        "1 scores everything in this process)",
    )
    score.set_defaults(func=_score)

    replay = sub.add_parser(
        "replay",
        help="shadow mode: replay recorded chat logs",
        description="Push recorded chat (raw IRC lines, Chatty, Chatterino or irssi logs, "
        ".gz allowed) through the same batcher, scorer, policy and "
        "storage as `run`. Reports go to the log unless --discord. Lines that are not chat "
        "are counted by reason. A file that cannot be read to its end (e.g. a truncated "
        ".gz) or holds no chat is named on stderr, the others are still replayed, and the "
        "exit status is 1. Ctrl-C or SIGTERM stops reading; what was "
        "read is scored and stored, and the exit status is 130.",
    )
    replay.add_argument("files", nargs="+", type=Path, metavar="FILE")
    replay.add_argument("--db", type=database, help=DB_HELP)
    replay.add_argument(
        "--rate", type=float, help="messages per second (default: as fast as possible)"
    )
    replay.add_argument("--limit", type=int, help="stop after this many messages")
    replay.add_argument(
        "--discord", action="store_true", help="send reports to CHATWARDEN_DISCORD_WEBHOOK_URL"
    )
    replay.add_argument("--json", action="store_true", help="print the summary as JSON")
    replay.set_defaults(func=_replay)

    doctor = sub.add_parser(
        "doctor",
        help="check settings, database, model, webhook and Twitch reachability",
        description="Check the set-up and print what is wrong and how to fix it "
        "(exit status 1 when a check fails).",
    )
    doctor.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="NAME",
        help="a channel the bot will watch, as given to run (repeatable; adds to "
        "CHATWARDEN_CHANNELS), e.g. chatwarden doctor --channel twitchdev",
    )
    doctor.add_argument("--db", type=database, help="the database to check: " + DB_HELP)
    doctor.add_argument("--json", action="store_true", help="checks as JSON")
    # broken settings are one of the things doctor reports, so it loads them itself
    doctor.set_defaults(func=None, before_settings=_doctor)

    health = sub.add_parser(
        "health",
        help="exit 0 if the running bot's /healthz says healthy (for container health checks)",
        description="Ask the running bot's health endpoint (CHATWARDEN_METRICS_PORT) whether "
        "IRC is connected, the database writable and a model loaded.",
    )
    health.set_defaults(func=_health)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import run_bot

    asyncio.run(run_bot(settings.with_overrides(channels=_channels(settings, args.channel))))
    return 0


def _score(args: argparse.Namespace, settings: Settings) -> int:
    import io

    from bot.jsonl import default_workers, score_lines
    from bot.runtime import build_policy, load_configured_scorer

    scorer = load_configured_scorer(settings)
    threshold = settings.flag_threshold if settings.flag_threshold is not None else scorer.threshold
    # the default preset: each text is judged as one message of a new user (channel "")
    policy = build_policy(settings, scorer_threshold=scorer.threshold)
    workers = default_workers() if args.workers is None else args.workers
    # bytes in, UTF-8 out, whatever the locale: an invalid byte spoils its line only
    # (streams without a byte buffer, as in tests, are used as they are)
    lines: Iterable[str | bytes] = getattr(sys.stdin, "buffer", sys.stdin)
    raw = getattr(sys.stdout, "buffer", None)
    sys.stdout.flush()
    utf8 = None if raw is None else io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    try:
        _, errors = score_lines(
            scorer,
            threshold,
            lines,
            sys.stdout if utf8 is None else utf8,
            args.batch_size,
            settings.score_cache,
            workers,
            policy,
        )
    finally:
        if utf8 is not None:
            utf8.detach()  # flushes; sys.stdout keeps the buffer
    if errors:
        print(
            f"chatwarden: {errors} input line(s) were not valid UTF-8 JSON objects with a "
            '"text" string (marked with "error" in the output)',
            file=sys.stderr,
        )
        return 1
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import run_replay
    from bot.replay import ReplayStats

    summary = asyncio.run(
        run_replay(settings, args.files, rate=args.rate, use_discord=args.discord, limit=args.limit)
    )
    unread = dict(summary.unread)
    if args.json:
        print(
            json.dumps(
                {
                    **asdict(summary),
                    "unread": unread,
                    "messages_per_second": summary.messages_per_second,
                }
            )
        )
    else:
        print(
            f"replayed {summary.messages} messages from {summary.files} file(s) in "
            f"{summary.seconds:.1f} s ({summary.messages_per_second:,.0f} msg/s) with "
            f"{summary.scorer}: {summary.scored} scored, {summary.duplicates} duplicates, "
            f"{summary.flagged} flagged, {summary.reports} reports "
            f"({summary.reports_sent} sent to {_destination(args, settings)}"
            + (f", {summary.reports_logged} to the log" if summary.reports_logged else "")
            + f"); database {settings.db}"
        )
        if unread:
            stats = ReplayStats(unread=unread)
            print(f"{sum(unread.values())} lines not read ({stats.unread_text()})")
    # each failure was logged as it came; the summary repeats them last, where a user looks
    for failure in summary.failed:
        print(f"chatwarden: {failure}", file=sys.stderr)
    if summary.failed:
        print(
            f"chatwarden: {len(summary.failed)} of {summary.files} file(s) could not be read "
            "to their end or held no chat; what was read of them and the other files is "
            "stored (exit 1)",
            file=sys.stderr,
        )
    if summary.interrupted:
        print(
            f"chatwarden: replay interrupted after {summary.messages} messages: what was "
            "read is stored"
            + (
                f", and {summary.reports_logged} report(s) not sent yet went to the log"
                if summary.reports_logged
                else ""
            )
            + " (exit 130)",
            file=sys.stderr,
        )
        return 130
    return 1 if summary.failed else 0


def _destination(args: argparse.Namespace, settings: Settings) -> str:
    return "Discord" if args.discord and settings.discord_webhook_url else "the log"


def _channels(settings: Settings, given: list[str]) -> tuple[str, ...]:
    """The settings' channels and those given with --channel, each once."""
    extra = tuple(c for name in given for c in parse_channels(name, "--channel"))
    return tuple(dict.fromkeys((*settings.channels, *extra)))


def _doctor(args: argparse.Namespace) -> int:
    from bot.doctor import run_checks

    def load() -> Settings:
        settings = Settings.from_env(os.environ, args.env_file)
        return settings.with_overrides(channels=_channels(settings, args.channel), db=args.db)

    checks = asyncio.run(run_checks(load))
    if args.json:
        print(json.dumps([c.as_dict() for c in checks]))
    else:
        for c in checks:
            print(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<16} {c.detail}")
            if not c.ok and c.fix:
                print(f"      {'':<16} fix: {c.fix}")
    return 0 if all(c.ok for c in checks) else 1


def _health(args: argparse.Namespace, settings: Settings) -> int:
    import urllib.error
    import urllib.request

    if settings.metrics_port is None:
        raise ValueError("health needs CHATWARDEN_METRICS_PORT (the bot serves /healthz there)")
    host = "127.0.0.1" if settings.metrics_host in {"0.0.0.0", ""} else settings.metrics_host
    url = f"http://{host}:{settings.metrics_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.read().decode())
        return 1
    except OSError as exc:
        print(f"chatwarden: no answer from {url}: {exc}", file=sys.stderr)
        return 1
