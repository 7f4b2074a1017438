"""One tracked experiment: train, evaluate on the test splits, save the bundle, plot, log.

MLflow receives the parameters, per-epoch metrics, test metrics and the artifacts:
``model/`` (``tokenizer.json``, ``weights.pt``, ``config.json``, ``metrics.json``) and
``plots/`` (confusion matrices, precision-recall curves). :func:`train_model` is the whole of
``chatwarden train``: the labelled sets, an optional teacher, the experiment and the registry.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from model.bundle import save_bundle
from model.data import Example, deduplicate, load_examples
from model.evaluation.evaluate import EvalRow, evaluate_scorer, evaluation_groups, markdown_table
from model.evaluation.plots import confusion_png, pr_curve_png
from model.neural import TorchScorer
from model.normalize import normalize
from model.training.train import TrainConfig, TrainResult, chat_negatives, train

if TYPE_CHECKING:
    from model.training.teacher import TeacherConfig, TeacherResult

__all__ = ["ExperimentResult", "TrainedModel", "run_experiment", "train_model"]


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
        label=teacher.teacher.label if teacher else None,
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
            # each language's decision threshold, chosen on dev (also in metrics.json and
            # the model card)
            | {f"threshold_{lang}": float(t) for lang, t in bundle.thresholds.items()}
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


@dataclass(frozen=True, slots=True)
class TrainedModel:
    experiment: ExperimentResult
    #: the new version of the registered model, when the run was registered
    registered_version: int | None


def train_model(
    config: TrainConfig,
    data_dir: Path,
    out_dir: Path,
    *,
    cache_dir: Path,
    teacher: TeacherConfig | None = None,
    track: bool = True,
    register: bool = False,
    alias: str | None = None,
    progress: bool = True,
    on_teacher: Callable[[TeacherResult], None] | None = None,
    extra: Sequence[Example] = (),
) -> TrainedModel:
    """Load ``config``'s labelled sets, fine-tune the ``teacher`` if one is asked for (kept in
    ``cache_dir``), run one experiment and, with ``register``, make it a new version of the
    registered model (``alias`` pointed at it).

    ``on_teacher`` hears of the teacher as soon as it is ready, before the long training
    starts, so that its scores can be shown while the network trains."""
    examples = load_examples(data_dir, config.sources, langs=config.langs, seed=config.seed)
    if extra:  # e.g. moderators' verdicts: train only; a text in dev or test stays there
        examples = deduplicate([*examples, *(e for e in extra if e.lang in config.langs)])
    taught = _teach(examples, data_dir, cache_dir, teacher, progress, on_teacher)
    result = run_experiment(
        config,
        data_dir,
        out_dir,
        track=track,
        progress=progress,
        examples=examples,
        teacher=taught,
    )
    version = None
    if register and result.run_id:
        from model.registry import register as register_run

        version = register_run(result.run_id, alias)
    return TrainedModel(result, version)


def train_architectures(
    data_dir: Path,
    out_dir: Path,
    examples: Sequence[Example],
    *,
    epochs: int,
    max_examples: int | None,
    cache_dir: Path,
    teacher: TeacherConfig | None = None,
    teacher_weight: float = TrainConfig.teacher_weight,
    track: bool = True,
    progress: bool = True,
    on_teacher: Callable[[TeacherResult], None] | None = None,
) -> list[Path]:
    """One experiment for each network (cnn, bilstm, cnn_bilstm), all on the same
    ``examples`` and the same teacher (fine-tuned once), for the benchmark table; the folders
    they were saved in, in that order."""
    taught = _teach(examples, data_dir, cache_dir, teacher, progress, on_teacher)
    folders = []
    for arch in ("cnn", "bilstm", "cnn_bilstm"):
        config = TrainConfig(
            arch=arch, epochs=epochs, max_examples=max_examples, teacher_weight=teacher_weight
        )
        result = run_experiment(
            config,
            data_dir,
            out_dir,
            track=track,
            progress=progress,
            examples=examples,
            teacher=taught,
        )
        folders.append(result.folder)
    return folders


def _teach(
    examples: Sequence[Example],
    data_dir: Path,
    cache_dir: Path,
    config: TeacherConfig | None,
    progress: bool,
    on_teacher: Callable[[TeacherResult], None] | None,
) -> TeacherResult | None:
    if config is None:
        return None
    from model.training.teacher import teach

    chat: list[Example] = []
    if config.chat_negatives:  # licensed chat only, never a labelled set's text
        seen = {normalize(e.text) for e in examples}
        chat = chat_negatives(data_dir, config.chat_negatives, seed=config.seed, exclude=seen)
    result = teach(examples, cache_dir, config, chat=chat, progress=progress)
    if on_teacher is not None:
        on_teacher(result)
    return result
