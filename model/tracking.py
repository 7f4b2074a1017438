"""MLflow tracking: with :mod:`model.registry`, the only modules that import mlflow (lazily,
so that a bot without the ``[mlflow]`` extra runs as long as it does not use MLflow).

Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db`` in the working folder.
Model files are logged as plain artifacts under ``model/`` (never MLflow's pt2 format,
which fixes the sequence length and ignores ``map_location``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from model.extras import needs_extra

__all__ = ["DEFAULT_TRACKING_URI", "MlflowRun", "tracking_uri"]

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT = "chatwarden-toxicity"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


class MlflowRun:
    """``with MlflowRun(run_name) as run: run.log_params(...); run.on_epoch(...)``."""

    def __init__(self, run_name: str, experiment: str = EXPERIMENT) -> None:
        self.run_name = run_name
        self.experiment = experiment
        self.run_id: str | None = None
        self._mlflow: Any = None

    def __enter__(self) -> MlflowRun:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        # MLflow prints "View run … at <url>" to stdout, which would corrupt `--json` output.
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        with needs_extra("train", "MLflow tracking"):
            import mlflow

        self._mlflow = mlflow
        mlflow.set_tracking_uri(tracking_uri())
        mlflow.set_experiment(self.experiment)
        run = mlflow.start_run(run_name=self.run_name)
        self.run_id = run.info.run_id
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._mlflow.end_run(status="FAILED" if exc_type else "FINISHED")

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def on_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=epoch)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()})

    def log_artifacts(self, folder: Path, artifact_path: str) -> None:
        self._mlflow.log_artifacts(str(folder), artifact_path=artifact_path)

    def log_text(self, text: str, name: str) -> None:
        self._mlflow.log_text(text, name)
