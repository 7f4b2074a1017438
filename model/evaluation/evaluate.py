"""Evaluation on the public test splits, reproducing the original project's table.

Test groups:

* ``ko`` — Curse-detection's seeded hold-out plus BEEP dev (BEEP's test labels are hidden);
* ``en-off`` — TweetEval offensive test (= OLID level A test), where macro-F1 is the
  official measure;
* ``en-hate`` — TweetEval hate test (HatEval).

For every scorer and group: accuracy, toxic-class F1, macro-F1, average precision, F1 on
the adversarial version of the group (every text perturbed by :mod:`model.augment` with a
fixed seed) and the drop, and CPU milliseconds per 128-message batch (median over the
group's texts, tokenisation included). Decisions are the scorer's own
(``score >= scorer.threshold``), thresholds having been chosen on dev data.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from model.augment import adversarial
from model.data import Example
from model.evaluation.metrics import Metrics, average_precision, binary_metrics
from model.scorer import Scorer

__all__ = [
    "GROUPS",
    "EvalRow",
    "evaluate_scorer",
    "evaluation_groups",
    "markdown_table",
    "write_benchmarks",
    "write_section",
]

GROUPS: dict[str, tuple[str, ...]] = {
    "ko": ("curse", "beep"),
    "en-off": ("tweeteval_offensive",),
    "en-hate": ("tweeteval_hate",),
}


@dataclass(frozen=True, slots=True)
class EvalRow:
    model: str
    group: str
    n: int
    accuracy: float
    f1: float
    macro_f1: float
    ap: float
    adv_f1: float
    drop: float
    ms_per_128: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def evaluation_groups(examples: Sequence[Example]) -> dict[str, list[Example]]:
    groups = {
        name: [e for e in examples if e.split == "test" and e.source in sources]
        for name, sources in GROUPS.items()
    }
    return {name: rows for name, rows in groups.items() if rows}


def probabilities(scorer: Scorer, texts: Sequence[str]) -> list[float]:
    """``scorer``'s probabilities for ``texts``, scored in batches of 512."""
    out: list[float] = []
    for start in range(0, len(texts), 512):
        out += [s.probability for s in scorer.score(texts[start : start + 512])]
    return out


def time_per_128(scorer: Scorer, texts: Sequence[str], max_batches: int = 30) -> float:
    """Median milliseconds to score 128 texts (after one warm-up batch)."""
    batches = [texts[i : i + 128] for i in range(0, len(texts) - 127, 128)][: max_batches + 1]
    if not batches:
        batches = [list(texts)]
    scorer.score(batches[0])
    times = []
    for batch in batches[1:] or batches:
        started = time.perf_counter()
        scorer.score(batch)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def evaluate_scorer(
    name: str, scorer: Scorer, groups: dict[str, list[Example]], timing: bool = True
) -> tuple[list[EvalRow], dict[str, Metrics], dict[str, tuple[list[int], list[float]]]]:
    """Rows for the table, plus metrics and (labels, probabilities) per group for plots."""
    rows: list[EvalRow] = []
    metrics: dict[str, Metrics] = {}
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for group, examples in groups.items():
        texts = [e.text for e in examples]
        labels = [e.label for e in examples]
        probs = probabilities(scorer, texts)
        m = binary_metrics(labels, probs, scorer.threshold)
        adv = binary_metrics(labels, probabilities(scorer, adversarial(texts)), scorer.threshold)
        ms = time_per_128(scorer, texts) if timing else float("nan")
        ap = average_precision(labels, probs)
        rows.append(
            EvalRow(name, group, m.n, m.accuracy, m.f1, m.macro_f1, ap, adv.f1, m.f1 - adv.f1, ms)
        )
        metrics[group] = m
        curves[group] = (labels, probs)
    return rows, metrics, curves


def markdown_table(rows: Sequence[EvalRow]) -> str:
    lines = [
        "| model | test set | n | Acc | F1 | macro-F1 | AP | adversarial F1 | drop "
        "| CPU ms / 128 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.group} | {r.n} | {r.accuracy:.3f} | {r.f1:.3f} | "
            f"{r.macro_f1:.3f} | {r.ap:.3f} | {r.adv_f1:.3f} | {r.drop:+.3f} | "
            f"{r.ms_per_128:.1f} |"
        )
    return "\n".join(lines) + "\n"


def write_benchmarks(path: Path, rows: Sequence[EvalRow], models: Sequence[str]) -> None:
    """Write (or replace) the model table section of ``docs/benchmarks.md``."""
    command = "`chatwarden evaluate " + " ".join(models) + " --write " + str(path) + "`"
    write_section(path, "evaluate", command, markdown_table(rows).rstrip("\n"))


def write_section(path: Path, name: str, command: str, body: str) -> None:
    """Replace the ``<!-- name:start -->…<!-- name:end -->`` section of a markdown file
    (appending it when absent), stamped with the command and the machine."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = "\n".join(
        [
            start,
            f"Produced by {command} on {platform.machine()} / {os.cpu_count()} cores, "
            f"torch {torch.__version__}.",
            "",
            body,
            end,
        ]
    )
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
