"""Storage: users, flagged messages, per-user counters and the reports outbox, in a SQLite
file (one bot process) or a PostgreSQL database (sharded workers), chosen by
``CHATWARDEN_DB`` (a path or a ``postgresql://`` URL, :mod:`storage.location`).

The bot owns one :class:`storage.database.Database` (one writer connection, one
transaction per scored batch); the CLI's read commands open it read-only. Both backends
run the same queries (:mod:`storage.sql`) on one schema and one migration history
(:mod:`storage.migrations`).
"""

from storage.database import Database
from storage.errors import StorageError, StorageUnavailableError

__all__ = ["Database", "StorageError", "StorageUnavailableError"]
