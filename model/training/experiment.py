"""One tracked experiment: train, evaluate on the test splits, save the bundle, plot, log.

MLflow receives the parameters, per-epoch metrics, test metrics and the artifacts:
``model/`` (``tokenizer.json``, ``weights.pt``, ``config.json``, ``metrics.json``) and
``plots/`` (confusion matrices, precision-recall curves).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from model.bundle import save_bundle
from model.data import Example, load_examples
from model.evaluation.evaluate import EvalRow, evaluate_scorer, evaluation_groups, markdown_table
from model.evaluation.plots import confusion_png, pr_curve_png
from model.neural import TorchScorer
from model.training.train import TrainConfig, TrainResult, train

if TYPE_CHECKING:
    from model.training.teacher import TeacherResult

__all__ = ["ExperimentResult", "run_experiment"]


@dataclass
class ExperimentResult:
    train: TrainResult
    rows: list[EvalRow]
    folder: Path
    run_id: str | None


def run_experiment(
    config: TrainConfig,
    data_dir: Path,
    out_dir: Path,
    *,
    track: bool = True,
    progress: bool = True,
    examples: Sequence[Example] | None = None,
    teacher: TeacherResult | None = None,
) -> ExperimentResult:
    """Train and evaluate one network; save it under ``out_dir/<version>``.

    ``examples`` may pass already loaded data (as :func:`model.training.train.train` takes it);
    ``teacher`` (from :func:`model.training.teacher.teach`) labels the training texts of its
    language for distillation and is recorded with the run."""
    if examples is None:
        examples = load_examples(data_dir, config.sources, langs=config.langs, seed=config.seed)
    if not track:
        return _run(config, data_dir, out_dir, None, progress, examples, teacher)
    from model.tracking import MlflowRun

    with MlflowRun(run_name=config.arch) as run:
        run.log_params(config.params() | (teacher.config.params() if teacher else {}))
        if teacher is not None:
            run.log_metrics(teacher.metrics())
        return _run(config, data_dir, out_dir, run, progress, examples, teacher)


def _run(
    config: TrainConfig,
    data_dir: Path,
    out_dir: Path,
    run: object,
    progress: bool,
    examples: Sequence[Example],
    teacher: TeacherResult | None,
) -> ExperimentResult:
    from model.tracking import MlflowRun

    tracked = run if isinstance(run, MlflowRun) else None
    result = train(
        config,
        data_dir,
        progress=progress,
        examples=examples,
        teacher=teacher.teacher if teacher else None,
        on_epoch=tracked.on_epoch if tracked else None,
    )
    bundle = result.bundle
    groups = evaluation_groups(examples)
    rows, metrics, curves = evaluate_scorer(config.arch, TorchScorer(bundle), groups)
    bundle.metrics = {
        "thresholds": bundle.thresholds,
        "examples": result.examples,
        "train_seconds": round(result.seconds, 1),
        "history": result.history,
        "test": {r.group: r.as_dict() for r in rows},
    }
    if teacher is not None:
        bundle.metrics["teacher"] = {
            **teacher.config.params(),
            **teacher.metrics(),
            "teacher_weight": config.teacher_weight,
        }
    folder = save_bundle(bundle, out_dir / bundle.version)
    if tracked is not None:
        tracked.log_metrics(
            {
                f"test_{r.group}_{k}": float(getattr(r, k))
                for r in rows
                for k in ("accuracy", "f1", "macro_f1", "ap", "adv_f1", "ms_per_128")
            }
        )
        tracked.log_artifacts(folder, "model")
        with tempfile.TemporaryDirectory() as tmp:
            plots = Path(tmp)
            confusion_png(metrics, plots / "confusion_matrix.png", f"{bundle.version} (test)")
            dev_curves = {"dev": ([e.label for e in result.dev], result.dev_probs)}
            pr_curve_png({**dev_curves, **curves}, plots / "pr_curve.png", bundle.version)
            tracked.log_artifacts(plots, "plots")
        tracked.log_text(markdown_table(rows), "evaluation.md")
    return ExperimentResult(result, rows, folder, tracked.run_id if tracked else None)
