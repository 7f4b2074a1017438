"""One way to run SQL on either backend: the queries of :mod:`storage.database` are written
once, with ``?`` placeholders, in the SQL that SQLite (3.39+) and PostgreSQL share
(``ON CONFLICT``, ``RETURNING``, ``IS NOT DISTINCT FROM``); each connection below runs
them on its own driver.

:class:`SqliteConnection` wraps aiosqlite; :class:`storage.postgres.PostgresConnection`
wraps asyncpg and numbers the placeholders (``$1``, ``$2``, …) as PostgreSQL wants.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol, overload

import aiosqlite

__all__ = ["Dialect", "Row", "SqlConnection", "SqliteConnection"]

Dialect = Literal["sqlite", "postgresql"]


class Row(Protocol):
    """A row as read back: a tuple (SQLite) or a record (asyncpg), read by position."""

    @overload
    def __getitem__(self, index: int, /) -> Any: ...
    @overload
    def __getitem__(self, index: slice, /) -> tuple[Any, ...]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...


class SqlConnection(Protocol):
    """A connection of either backend; ``?`` placeholders, positional parameters."""

    dialect: Dialect
    #: connections opened again after the server closed one (PostgreSQL)
    reconnects: int

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    async def fetchrow(self, sql: str, params: Sequence[object] = ()) -> Row | None: ...

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement; return how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """One write transaction: committed when the block ends, rolled back (without
        masking the first error) when it raises."""
        ...

    async def close(self) -> None: ...


class SqliteConnection:
    """An aiosqlite connection opened with ``isolation_level=None`` (we BEGIN ourselves)."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.raw = conn
        self.reconnects = 0  # a file is not a server: never

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        async with self.raw.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchrow(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        async with self.raw.execute(sql, params) as cursor:
            row = await cursor.fetchone()
            if row is not None:
                await cursor.fetchall()  # step a RETURNING statement to its end
            return row

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        async with self.raw.execute(sql, params) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            await self.raw.executemany(sql, rows)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return sqlite_transaction(self.raw)

    async def close(self) -> None:
        await self.raw.close()


@contextlib.asynccontextmanager
async def sqlite_transaction(
    conn: aiosqlite.Connection, *, commit: bool = True
) -> AsyncIterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; on any error (cancellation included) roll back and
    re-raise the *first* error: a failed ``COMMIT`` may already have ended the transaction,
    so a failing ``ROLLBACK`` is swallowed rather than allowed to replace it.

    IMMEDIATE takes the write lock at the start, so a busy database fails (or waits out
    ``busy_timeout``) before any work is done, not at the commit. ``commit=False`` always
    rolls back: it proves the lock can be taken and the file written, and leaves no trace.
    """
    await conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        await conn.execute("COMMIT" if commit else "ROLLBACK")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            await conn.execute("ROLLBACK")
        raise
