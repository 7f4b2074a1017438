"""Optional packages: the extra of the chatwarden distribution that brings each one.

``pip install chatwarden`` installs only what the live bot needs (``run``, ``score``,
``replay``, ``history``, ``flagged``, ``doctor``), which keeps the runtime image small.
Training and evaluation plots (``[train]``) and the MLflow registry (``[mlflow]``) are
extras. Without this module, a missing extra would show up as a ModuleNotFoundError
traceback deep inside a training run. With it, the user gets one line that names the
command to run: ``chatwarden`` prints a ModelError as ``chatwarden: <message>`` and exits 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from model.errors import ModelError

__all__ = ["MissingExtraError", "needs_extra"]


class MissingExtraError(ModelError):
    """An optional package is not installed; the message names the extra that brings it."""


@contextmanager
def needs_extra(extra: str, purpose: str) -> Iterator[None]:
    """Turn a ModuleNotFoundError raised by imports in the block into a MissingExtraError.

    ``purpose`` says what needs the package, e.g. ``"training"``. This is meant for imports
    only: the block should hold nothing else, so that the error cannot hide a bug."""
    try:
        yield
    except ModuleNotFoundError as exc:
        package = (exc.name or "an optional package").partition(".")[0]
        raise MissingExtraError(
            f"{purpose} needs {package!r}, which is not installed: "
            f"pip install 'chatwarden[{extra}]'"
        ) from exc
