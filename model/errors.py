"""Errors raised by the model package.

ModelError
 ├── DataNotFoundError   a data dir, data set or word list is missing
 └── ModelLoadError      a scorer or model artifact cannot be loaded
      └── TrackingUnavailableError   the MLflow tracking server cannot be reached
"""

from __future__ import annotations


class ModelError(Exception):
    """Root of the model package's errors."""


class DataNotFoundError(ModelError):
    """A data dir, data set or word list is missing or unreadable."""


class ModelLoadError(ModelError):
    """A scorer or model artifact cannot be loaded (unknown URI, corrupt or mismatched files)."""


class TrackingUnavailableError(ModelLoadError):
    """The MLflow tracking server did not answer (network, DNS, refused, timeout)."""
