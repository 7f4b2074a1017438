"""Commands that measure the bot: ``bench``, and the work of ``evaluate --live-chat``.

The measuring is done by :mod:`bot.lab`, imported only when one of these runs: the bot
itself never loads the lab.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli._common import (
    SAMPLE_DEFAULT,
    CommandError,
    count,
    database,
    need_data,
    one_line,
    positive,
    positive_rate,
    table,
)
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.cli._common import Subparsers

__all__ = ["BENCH_STREAM", "live_chat", "moderation", "register"]

#: Lines of `chatwarden bench`'s long-stream rows: several times the line memo and the
#: verdict cache (65,536 distinct texts by default), so forgetting old lines is measured too.
BENCH_STREAM = 300_000


def register(sub: Subparsers) -> None:
    bench = sub.add_parser(
        "bench",
        help="measure parser, scorer and pipeline throughput",
        description="Measure, on real chat logs from the data dir: IRC lines parsed per "
        "second on one core, messages scored per second (with and without the verdict "
        "cache), each network alone at 128 x 64 tokens, messages per second through the "
        "whole pipeline in one process, and a live bot: a real `chatwarden run` process fed "
        "the log over a loopback Twitch IRC socket at each --rate and flat out (sustained "
        "rate, p50/p99/max latency from line to stored decision, time to ready, peak RSS, "
        "lines lost). Compare rows of one run: shared machines vary by tens of percent.",
    )
    bench.add_argument(
        "logs",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="chat logs to use (default: a Korean and an English log)",
    )
    bench.add_argument("--repeats", type=int, default=3, help="best of N runs (default 3)")
    bench.add_argument(
        "--rate",
        type=positive_rate,
        action="append",
        metavar="LINES_PER_S",
        help="a fixed rate for a live-bot run; repeat for several (default: 2000, about all "
        "of Twitch's chat in 2020, and 5000); a last run goes flat out",
    )
    bench.add_argument(
        "--no-live",
        action="store_true",
        help="skip the runs of a live bot process fed over loopback IRC",
    )
    bench.add_argument(
        "--stream",
        type=count,
        default=BENCH_STREAM,
        metavar="N",
        help="also score the first N lines of every chat log of the data dir, interleaved, "
        f"through `chatwarden score` (default {BENCH_STREAM:,}: several times the line "
        "memo, so forgetting is measured too; 0 skips)",
    )
    bench.add_argument(
        "--workers",
        type=positive,
        action="append",
        metavar="N",
        help="instead: the sharded benchmark. N real `chatwarden run` workers on one "
        "PostgreSQL (a fresh database on the server of --db for each N; repeat for several, "
        "e.g. --workers 1 --workers 2 --workers 4), beside one process on SQLite, all fed "
        "the chat logs over 1,000 loopback channels: aggregate messages/s, "
        "p50/p99 line-to-stored-decision, database commits/s and CPU. Flat out, or at the "
        "first --rate",
    )
    bench.add_argument(
        "--db",
        type=database,
        help="with --workers: a PostgreSQL URL whose user may create databases, e.g. "
        "postgresql://postgres:PASSWORD@127.0.0.1:5432/postgres",
    )
    bench.add_argument("--json", action="store_true", help="results as JSON")
    bench.set_defaults(func=_bench)


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from bot.lab.bench import (
        DEFAULT_LIVE_RATES,
        bench_figures,
        bench_table,
        default_logs,
        live_table,
        run_bench,
        run_load_tests,
    )

    logging.getLogger("bot").setLevel(logging.WARNING)
    if settings.data_dir is None and not args.logs:
        raise ValueError("bench needs chat logs: pass FILE or set CHATWARDEN_DATA_DIR")
    logs = args.logs or default_logs(settings.data_dir)  # type: ignore[arg-type]
    if args.workers:
        return _shard_bench(args, settings, logs)
    results = run_bench(settings, logs, repeats=args.repeats, stream=args.stream)
    rates = args.rate or DEFAULT_LIVE_RATES
    live = [] if args.no_live else run_load_tests(settings, logs, rates)
    if args.json:
        print(json.dumps(bench_figures(results, live)))
        return 0
    headers, rows = bench_table(results)
    table(rows, headers, sys.stdout)
    if live:
        print(
            "\nlive bot: `chatwarden run` fed over loopback IRC, reports to a "
            "loopback Discord; latency = line sent → decision stored"
        )
        headers, rows = live_table(live)
        table(rows, headers, sys.stdout)
    return 0


def _shard_bench(args: argparse.Namespace, settings: Settings, logs: list[Path]) -> int:
    from bot.lab.shardbench import shard_bench, shard_table
    from bot.replay import read_chat_log
    from storage.location import PostgresUrl

    if not isinstance(settings.db, PostgresUrl):
        raise CommandError(
            "bench --workers needs a PostgreSQL server: pass --db postgresql://USER:PASSWORD"
            "@HOST:5432/postgres (its user must be allowed to create databases)"
        )
    # the logs four times over (every line a message of its own): long enough to measure
    # a sustained rate, not the start of one
    chat = [(m.login, m.text) for path in logs for m in read_chat_log(path)] * 4
    rate = args.rate[0] if args.rate else None
    results = shard_bench(settings, chat, settings.db, args.workers, rate)
    if args.json:
        print(json.dumps([{**asdict(r), "rate": r.rate} for r in results]))
        return 0
    print(
        f"sharded workers: {len(chat):,} chat lines over "
        f"{results[0].channels:,} loopback channels, "
        + (f"offered at {rate:,.0f}/s" if rate else "flat out")
        + "; latency = line written to decision stored"
    )
    headers, rows = shard_table(results)
    table(rows, headers, sys.stdout)
    return 0


def live_chat(args: argparse.Namespace, settings: Settings) -> int:
    """``evaluate --live-chat``: the configured scorer and policy on the data dir's chat."""
    from bot.lab.livechat import measure_live_chat, write_live_chat
    from bot.runtime import load_configured_scorer

    data_dir = need_data(settings)
    scorer = load_configured_scorer(settings)
    report = measure_live_chat(scorer, settings, data_dir, sample=args.sample)
    if args.json:
        print(json.dumps(report.figures()))
    else:
        print(f"scorer {report.scorer}, sensitivity {report.sensitivity}, default policy\n")
        headers, rows = report.chat_table()
        table(rows, headers, sys.stdout)
        if report.ban:
            ban = report.ban
            print(
                f"\nbanned users' last messages flagged: {ban.ban_flagged}/{ban.ban_messages} "
                f"({ban.ban_recall:.1%}); never-banned users' messages flagged: "
                f"{ban.never_banned_rate:.2%}"
            )
        print("\nhand-labelled chat (bot/lab/labels/live_chat_dev.tsv):")
        headers, rows = report.labelled_table()
        table(rows, headers, sys.stdout)
        print(
            "\nfresh audits (bot/lab/labels/fresh_audit.tsv: random medium flags of the rules "
            "named, on chats --live-chat does not replay):"
        )
        headers, rows = report.audit_table()
        table(rows, headers, sys.stdout)
        for r in report.chats:
            print(f"\nmost-flagged messages ({r.chat}, normalised):")
            for text, n in r.top_flagged:
                print(f"  {n:>5}  {one_line(text, 70)}")
            print(f"random flags to read ({r.chat}, stratified by score):")
            for score, text in r.sample:
                print(f"  {score:.2f}  {one_line(text, 70)}")
    if args.write:
        write_live_chat(args.write, report, settings.model_uri)
    return 0


def moderation(args: argparse.Namespace, settings: Settings) -> int:
    """``evaluate --moderation``: agreement of the configured bot with real moderators."""
    from bot.lab.agreement import (
        Agreement,
        agreement_markdown,
        load_events,
        load_report_verdicts,
        measure_agreement,
    )
    from bot.lab.modlogs import MODERATION_SOURCES
    from bot.norms import LearnedNorms
    from bot.policy.policy import Policy
    from bot.runtime import build_policy, load_configured_scorer
    from model.evaluation.evaluate import write_section

    sources = args.source or list(MODERATION_SOURCES)
    unknown = [s for s in sources if s not in MODERATION_SOURCES]
    if unknown:
        raise SystemExit(
            f"chatwarden: unknown --source {', '.join(unknown)}; "
            f"known: {', '.join(MODERATION_SOURCES)}"
        )
    data_dir = need_data(settings)
    scorer = load_configured_scorer(settings)
    verdicts = load_report_verdicts()

    def new_policy(learning: bool) -> Policy:
        norms = LearnedNorms() if learning else None
        return build_policy(settings, scorer_threshold=scorer.threshold, norms=norms)

    results: list[Agreement] = []
    for source in sources:
        events = load_events(data_dir, source)
        total = sum(1 for e in events if e.action == "message")
        done = 0

        def progress(n: int, source: str = source, total: int = total) -> None:
            nonlocal done
            done += n
            if sys.stderr.isatty():
                print(f"\r{source}: scored {done:,}/{total:,}", end="", file=sys.stderr)

        results += measure_agreement(
            scorer,
            new_policy,
            events,
            source=source,
            sensitivity=str(settings.sensitivity),
            learning=settings.learn_norms and not args.no_learning,
            sample=args.sample,
            verdicts=verdicts,
            progress=progress,
        )
        if sys.stderr.isatty():
            print(file=sys.stderr)
    body = agreement_markdown(results)
    if args.json:
        print(json.dumps([r.figures() for r in results]))
    else:
        print(body)
        for r in results:
            if not r.sample:
                continue
            print(
                f"reports to read ({r.source}; A = the user was actioned, with its category; "
                "read: J justified, x not, ? not yet read):"
            )
            for s in r.sample:
                mark = f"A {s.category or ''}" if s.actioned else "-"
                read = "?" if s.justified is None else "J" if s.justified else "x"
                print(f"  {s.score:.2f}  {read} {mark:<24} {one_line(s.text, 70)}")
    if args.write:
        env = f"CHATWARDEN_MODEL_URI={settings.model_uri or 'rules'}"
        # the command that reproduces the section, its sample (and so its read table) included
        flags = "".join(f" --source {s}" for s in args.source or ())
        if args.no_learning:
            flags += " --no-learning"
        if args.sample != SAMPLE_DEFAULT:
            flags += f" --sample {args.sample}"
        write_section(
            args.write,
            f"moderation:{scorer.name}:{settings.sensitivity}",
            f"`{env} chatwarden evaluate --moderation{flags} --write {args.write}`",
            body,
        )
    return 0
