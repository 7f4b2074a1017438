"""The MLflow model registry: register trained models, move aliases, fetch models by URI.

A training run logs its model folder as plain artifacts under ``model/``; registering
creates a version of ``chatwarden-toxicity`` whose source is that folder
(``create_model_version(source=...)``: MLflow 3's ``register_model`` refuses plain
artifacts). Fetched models are cached on disk by registry version (or run id), so a bot
whose tracking server is unreachable at start-up can fall back to the last model it had.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import ModelLoadError, TrackingUnavailableError
from model.extras import needs_extra

__all__ = [
    "REGISTERED_MODEL",
    "ModelRef",
    "ModelVersionInfo",
    "download",
    "is_registry_uri",
    "list_versions",
    "register",
    "resolve",
    "set_alias",
]

REGISTERED_MODEL = "chatwarden-toxicity"
# What a MissingExtraError says needs mlflow.
_PURPOSE = "the MLflow registry (models:/ and runs:/ URIs, chatwarden models)"
_ALIAS = re.compile(r"^models:/([^/@]+)@([\w-]+)$")
_VERSION = re.compile(r"^models:/([^/@]+)/(\d+)$")
_RUN = re.compile(r"^runs:/([0-9a-f]+)/(.+)$")


def is_registry_uri(uri: str) -> bool:
    return uri.startswith(("models:/", "runs:/"))


_UNREACHABLE = (
    "Max retries exceeded",
    "Connection refused",
    "Failed to establish",
    "Name or service not known",
    "timed out",
    "ConnectionError",
)


def _client() -> Any:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Fail fast when the server is down: the bot falls back and checks again later.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    with needs_extra("mlflow", _PURPOSE):
        from mlflow.tracking import MlflowClient

    from model.tracking import tracking_uri

    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())


@dataclass(frozen=True, slots=True)
class ModelRef:
    """What a URI points at right now: a stable label and where its files are."""

    uri: str
    label: str  # e.g. "chatwarden-toxicity/3" or "run 1a2b3c/model"
    source: str  # an artifact URI MLflow can download
    cache_key: str


@dataclass(frozen=True, slots=True)
class ModelVersionInfo:
    version: int
    aliases: tuple[str, ...]
    run_id: str | None
    created: float
    metrics: dict[str, float]


def register(run_id: str, alias: str | None = None, name: str = REGISTERED_MODEL) -> int:
    """Register the run's ``model/`` artifacts as a new version; optionally move ``alias``."""
    with needs_extra("mlflow", _PURPOSE):
        from mlflow.exceptions import MlflowException

    client = _client()
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    run = client.get_run(run_id)
    version = client.create_model_version(
        name, source=f"{run.info.artifact_uri}/model", run_id=run_id
    )
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return int(version.version)


def set_alias(alias: str, version: int, name: str = REGISTERED_MODEL) -> None:
    _client().set_registered_model_alias(name, alias, str(version))


def _existing_store() -> None:
    """Raise ModelLoadError when the tracking URI is a local SQLite file that does not
    exist: opening it would create an empty ``mlflow.db`` in the working folder."""
    from model.tracking import tracking_uri

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise ModelLoadError(
                f"no MLflow tracking store at {path.resolve()} ({uri}): register a model "
                "with `chatwarden train --register` in this folder, or set "
                "MLFLOW_TRACKING_URI to your tracking server"
            )


def list_versions(name: str = REGISTERED_MODEL) -> list[ModelVersionInfo]:
    """The registered versions of ``name``, newest first; [] when it has none or does not
    exist. Raises ModelLoadError when there is no local store (nothing is created), and
    TrackingUnavailableError when the server does not answer."""
    with needs_extra("mlflow", _PURPOSE):  # a missing extra first: it is the fix to make
        from mlflow.exceptions import MlflowException

    _existing_store()
    client = _client()
    try:
        return _list_versions(client, name)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code):
            return []
        if any(marker in str(exc) for marker in _UNREACHABLE):
            from model.tracking import tracking_uri

            raise TrackingUnavailableError(
                f"the MLflow tracking server at {tracking_uri()} did not answer "
                "(is it running? MLFLOW_TRACKING_URI)"
            ) from exc
        raise


def _list_versions(client: Any, name: str) -> list[ModelVersionInfo]:
    out = []
    # search results leave `aliases` empty: the registered model holds the alias map
    alias_map = dict(client.get_registered_model(name).aliases or {})
    for mv in client.search_model_versions(f"name='{name}'"):
        aliases = tuple(sorted(a for a, v in alias_map.items() if str(v) == str(mv.version)))
        metrics: dict[str, float] = {}
        if mv.run_id:
            metrics = {
                k: v
                for k, v in client.get_run(mv.run_id).data.metrics.items()
                if k.startswith("test_") and k.endswith(("_f1", "macro_f1"))
            }
        out.append(
            ModelVersionInfo(
                int(mv.version), aliases, mv.run_id, mv.creation_timestamp / 1000, metrics
            )
        )
    return sorted(out, key=lambda v: -v.version)


def resolve(uri: str) -> ModelRef:
    """Ask the tracking server what ``uri`` points at now (raises ModelLoadError)."""
    with needs_extra("mlflow", _PURPOSE):
        from mlflow.exceptions import MlflowException

    client = _client()
    try:
        if match := _ALIAS.match(uri):
            name, alias = match.groups()
            try:
                mv = client.get_model_version_by_alias(name, alias)
            except MlflowException as exc:
                if any(marker in str(exc) for marker in _UNREACHABLE):
                    raise
                raise ModelLoadError(
                    f"no alias {alias!r} on the registered model {name!r} ({exc.message})"
                ) from exc
            return ModelRef(uri, f"{name}/{mv.version}", str(mv.source), f"{name}-v{mv.version}")
        if match := _VERSION.match(uri):
            name, number = match.groups()
            mv = client.get_model_version(name, number)
            return ModelRef(uri, f"{name}/{mv.version}", str(mv.source), f"{name}-v{mv.version}")
        if match := _RUN.match(uri):
            run_id, path = match.groups()
            run = client.get_run(run_id)
            source = f"{run.info.artifact_uri}/{path.strip('/')}"
            return ModelRef(uri, f"run {run_id[:8]}/{path}", source, f"run-{run_id}-{path}")
    except MlflowException as exc:
        if any(marker in str(exc) for marker in _UNREACHABLE):
            raise TrackingUnavailableError(
                f"tracking server unreachable while resolving {uri}: {exc.message[:200]}"
            ) from exc
        raise ModelLoadError(f"cannot resolve {uri}: {exc.message}") from exc
    except OSError as exc:
        raise TrackingUnavailableError(f"tracking server unreachable: {exc}") from exc
    raise ModelLoadError(
        f"not a model URI: {uri!r} (expected models:/NAME@ALIAS, models:/NAME/VERSION or "
        "runs:/RUN_ID/PATH)"
    )


def download(ref: ModelRef, cache: Path) -> Path:
    """Download ``ref``'s files into ``cache/<key>`` (once) and return that folder."""
    with needs_extra("mlflow", _PURPOSE):
        import mlflow

    target = cache / re.sub(r"[^\w.-]", "_", ref.cache_key)
    if (target / "config.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=ref.source, dst_path=tmp))
        except Exception as exc:  # mlflow raises many types for missing artifacts
            raise ModelLoadError(f"cannot download {ref.label} from {ref.source}: {exc}") from exc
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(local), target)
    return target
