"""``chatwarden train --mpl``: supervised vs pseudo-labelling vs Meta Pseudo Labels.

One run, same data and splits for all three: a supervised network (the teacher), a
student trained with plain pseudo-labels on unlabeled real chat, and a student trained
with Meta Pseudo Labels (:mod:`model.training.mpl`). Each is evaluated on the public test splits
and on the weak real moderation set: the last message of every user that moderators or
their bots banned or timed out in ``twitch_chat_ko_boostcamp`` (``BAN:`` lines), against
the messages of users never banned in three of its channels. Those evaluation messages
are kept out of the unlabeled pool. Every model is saved and logged to MLflow.

The unlabeled pool includes chat logs whose licence is NONE STATED: models from this
command are for measurement, never for ``chatwarden bundle``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from model.bundle import Bundle, save_bundle
from model.chatlogs import (
    CHAT_SOURCES,
    ban_logs,
    iter_chat,
    live_chat_logs,
    read_ban_targets,
    read_chat_lines,
)
from model.data import load_examples
from model.evaluation.evaluate import evaluate_scorer, evaluation_groups, probabilities
from model.evaluation.metrics import average_precision
from model.neural import TorchScorer
from model.training.mpl import MODES, SemiConfig, train_semi
from model.training.train import TrainConfig, train

__all__ = ["SemiRow", "compare_semi_supervised", "markdown"]


@dataclass(frozen=True, slots=True)
class SemiRow:
    method: str
    version: str
    f1: dict[str, float]  # per public test group
    adv_f1: dict[str, float]
    ban_ap: float
    ban_recall: float
    never_banned_rate: float
    seconds: float


@dataclass(frozen=True, slots=True)
class BanSet:
    texts: list[str]
    labels: list[int]


def ban_set(data_dir: Path, negatives: int = 20_000, seed: int = 7) -> BanSet:
    targets = [m for path in ban_logs(data_dir) for m in read_ban_targets(path)]
    banned = {m.login for m in targets}
    clean = [
        m.text
        for path in live_chat_logs(data_dir)["ko"]
        for m in read_chat_lines(path)
        if m.login not in banned
    ]
    clean = random.Random(seed).sample(clean, min(negatives, len(clean)))
    return BanSet([m.text for m in targets] + clean, [1] * len(targets) + [0] * len(clean))


def _ban_figures(scorer: TorchScorer, bans: BanSet) -> tuple[float, float, float]:
    probs = probabilities(scorer, bans.texts)
    pos = [p for p, y in zip(probs, bans.labels, strict=True) if y]
    neg = [p for p, y in zip(probs, bans.labels, strict=True) if not y]
    recall = sum(p >= 0.5 for p in pos) / max(1, len(pos))
    rate = sum(p >= 0.5 for p in neg) / max(1, len(neg))
    return average_precision(bans.labels, probs), recall, rate


def compare_semi_supervised(
    config: TrainConfig,
    semi: SemiConfig,
    data_dir: Path,
    out_dir: Path,
    *,
    unlabeled_lines: int = 200_000,
    track: bool = True,
    progress: bool = True,
) -> list[SemiRow]:
    import time

    examples = load_examples(data_dir, config.sources, langs=config.langs, seed=config.seed)
    rng = random.Random(config.seed)
    train_set = [e for e in examples if e.split == "train"]
    dev_set = [e for e in examples if e.split == "dev"]
    if config.max_examples is not None:
        train_set = rng.sample(train_set, min(config.max_examples, len(train_set)))
        dev_set = rng.sample(dev_set, min(max(500, config.max_examples // 4), len(dev_set)))
    groups = evaluation_groups(examples)
    bans = ban_set(data_dir)
    held_out = set(bans.texts)
    per_source = unlabeled_lines // max(1, len(CHAT_SOURCES))
    unlabeled = [t for _, t in iter_chat(data_dir, config.langs, per_source) if t not in held_out]

    started = time.perf_counter()
    supervised = train(
        replace(config, max_examples=None),
        data_dir,
        progress=progress,
        examples=train_set + dev_set,
    )
    models: list[tuple[str, Bundle, float, list[dict[str, float]]]] = [
        ("supervised", supervised.bundle, time.perf_counter() - started, supervised.history)
    ]
    for mode in MODES:
        started = time.perf_counter()
        bundle, history = train_semi(
            mode, supervised, train_set, unlabeled, semi, progress=progress
        )
        models.append((mode, bundle, time.perf_counter() - started, history))

    rows = []
    for method, bundle, seconds, history in models:
        scorer = TorchScorer(bundle)
        evaluated, _, _ = evaluate_scorer(method, scorer, groups, timing=False)
        ap, recall, rate = _ban_figures(scorer, bans)
        f1 = {r.group: r.f1 for r in evaluated}
        adv = {r.group: r.adv_f1 for r in evaluated}
        row = SemiRow(method, bundle.version, f1, adv, ap, recall, rate, seconds)
        rows.append(row)
        bundle.metrics = {
            "method": method,
            "test_f1": f1,
            "adv_f1": adv,
            "ban_ap": ap,
            "ban_recall": recall,
            "never_banned_rate": rate,
        }
        folder = save_bundle(bundle, out_dir / bundle.version)
        if track:
            _track(method, config, semi, row, history, folder, len(unlabeled), len(bans.labels))
    return rows


def _track(
    method: str,
    config: TrainConfig,
    semi: SemiConfig,
    row: SemiRow,
    history: list[dict[str, float]],
    folder: Path,
    unlabeled: int,
    ban_n: int,
) -> None:
    from model.tracking import MlflowRun

    with MlflowRun(run_name=f"{config.arch}-{method}") as run:
        params: dict[str, Any] = {
            **config.params(),
            "method": method,
            "unlabeled_texts": unlabeled,
            "ban_set": ban_n,
        }
        if method != "supervised":
            params.update({f"semi_{k}": v for k, v in semi.params().items()})
        run.log_params(params)
        for step, metrics in enumerate(history, 1):
            if method == "supervised" or step % 50 == 0:
                run.on_epoch(step, metrics)
        run.log_metrics(
            {
                **{f"test_{g}_f1": v for g, v in row.f1.items()},
                **{f"test_{g}_adv_f1": v for g, v in row.adv_f1.items()},
                "ban_ap": row.ban_ap,
                "ban_recall": row.ban_recall,
                "never_banned_flag_rate": row.never_banned_rate,
            }
        )
        run.log_artifacts(folder, "model")


def markdown(rows: list[SemiRow]) -> str:
    groups = list(rows[0].f1) if rows else []
    head = [
        "method",
        *[f"F1 {g}" for g in groups],
        *[f"adv F1 {g}" for g in groups],
        "ban AP",
        "ban recall",
        "never-banned flagged",
        "train s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for r in rows:
        cells = [
            r.method,
            *[f"{r.f1[g]:.3f}" for g in groups],
            *[f"{r.adv_f1[g]:.3f}" for g in groups],
            f"{r.ban_ap:.3f}",
            f"{r.ban_recall:.1%}",
            f"{r.never_banned_rate:.1%}",
            f"{r.seconds:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
