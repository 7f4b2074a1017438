"""Errors raised by the storage package.

StorageError
 ├── StorageUnavailableError   the database cannot be opened or written (missing, read-only,
 │                             locked, a server that cannot be reached or refuses the login)
 └── DatabaseUrlError          CHATWARDEN_DB / --db is a URL chatwarden cannot use

``WRITE_ERRORS`` are what a write may fail with while the database is open (a locked or
full SQLite file, a PostgreSQL server that went away): the pipeline logs and retries them.
"""

from __future__ import annotations

import sqlite3

import asyncpg


class StorageError(Exception):
    """Root of the storage package's errors."""


class StorageUnavailableError(StorageError):
    """The database cannot be opened or written."""


class DatabaseUrlError(StorageError, ValueError):
    """A database URL that is malformed or of a kind chatwarden cannot use."""


#: Errors of a write on an open database that a retry may get past.
WRITE_ERRORS: tuple[type[BaseException], ...] = (
    StorageUnavailableError,  # a PostgreSQL server that cannot be reached again yet
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)
