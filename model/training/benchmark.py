"""The benchmark table of ``chatwarden evaluate``: the rule baseline and model folders on the
public test splits, and the MLflow run that keeps the table.

The table is tracked apart from the training runs that made the models: one run per table,
so that a table re-made from the same folders (a new test split, a new metric) is kept too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from model.bundle import load_bundle
from model.data import Example, load_examples
from model.evaluation.evaluate import EvalRow, evaluate_scorer, evaluation_groups, markdown_table
from model.neural import TorchScorer
from model.rules import RuleScorer
from model.scorer import Scorer

__all__ = ["benchmark_rows", "track_benchmark"]


def benchmark_rows(
    data_dir: Path, folders: Sequence[Path], examples: Sequence[Example] | None = None
) -> list[EvalRow]:
    """The rules' rows, then each folder's (named by its architecture), per test group.

    ``examples`` may pass the labelled sets already loaded (e.g. for training just now)."""
    groups = evaluation_groups(examples if examples is not None else load_examples(data_dir))
    scorers: list[tuple[str, Scorer]] = [("rules", RuleScorer.from_data_dir(data_dir))]
    for folder in folders:
        bundle = load_bundle(folder)
        scorers.append((bundle.config.arch, TorchScorer(bundle)))
    return [row for name, scorer in scorers for row in evaluate_scorer(name, scorer, groups)[0]]


def track_benchmark(rows: Sequence[EvalRow], folders: Sequence[Path]) -> None:
    """Log the table and the folders it measured as an MLflow run named ``evaluate``."""
    from model.tracking import MlflowRun

    with MlflowRun(run_name="evaluate") as run:
        run.log_text(markdown_table(list(rows)), "evaluation.md")
        run.log_params({"models": ",".join(str(f) for f in folders) or "rules"})
