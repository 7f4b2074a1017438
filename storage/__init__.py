"""SQLite storage: users, flagged messages, per-user counters and the reports outbox.

The bot owns one :class:`storage.database.Database` (one writer connection, WAL, one
transaction per scored batch); the CLI's read commands open the file read-only.
"""

from storage.database import Database
from storage.errors import StorageError, StorageUnavailableError

__all__ = ["Database", "StorageError", "StorageUnavailableError"]
