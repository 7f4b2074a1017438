"""Errors raised by the storage package.

StorageError
 └── StorageUnavailableError   the file cannot be opened or written (missing, read-only, locked)
"""

from __future__ import annotations


class StorageError(Exception):
    """Root of the storage package's errors."""


class StorageUnavailableError(StorageError):
    """The database file cannot be opened or written."""
