"""PostgreSQL through asyncpg: one connection, the shared SQL of :mod:`storage.sql`.

Placeholders are numbered once per query text (``?`` → ``$1``, ``$2``, …; a ``?`` inside a
quoted literal is left alone) and asyncpg keeps the prepared statement. Connecting fails
with a :class:`StorageUnavailableError` that says what went wrong and shows the URL
without its password. PostgreSQL's text cannot hold a NUL character (SQLite's can): one
in a chat line is stored as U+FFFD, rather than failing its batch on every retry.
A connection the server closed (a restart, a failover) is opened
again at the next call: the write that failed with it is retried by its caller
(``storage.errors.WRITE_ERRORS``), nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager

import asyncpg

from storage.errors import StorageUnavailableError
from storage.location import PostgresUrl
from storage.sql import Dialect, Row

__all__ = ["PostgresConnection", "connect_postgres", "numbered"]

_CONNECT_TIMEOUT = 10.0

_log = logging.getLogger(__name__)

#: What a broken connection raises (the server closed it, the network dropped, or the
#: protocol lost its footing after a termination message arrived mid-call).
_BROKEN: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


@functools.lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """``sql`` with each ``?`` outside quotes replaced by ``$1``, ``$2``, …"""
    out: list[str] = []
    quote: str | None = None
    n = 0
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(char)
    return "".join(out)


def _text_safe(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [_text_safe(item) for item in value]
    return value


def _params(params: Sequence[object]) -> list[object]:
    return [_text_safe(value) for value in params]


class PostgresConnection:
    """One asyncpg connection, used by one task at a time (the database's lock)."""

    dialect: Dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection, url: PostgresUrl, readonly: bool) -> None:
        self.raw = conn
        self.url = url
        self.readonly = readonly
        self._depth = 0  # open transactions: no reconnecting inside one
        #: connections opened again after the server closed one
        self.reconnects = 0

    async def _live(self) -> asyncpg.Connection:
        if self.raw.is_closed() and self._depth == 0:
            fresh = await connect_postgres(self.url, readonly=self.readonly)
            self.raw = fresh.raw
            self.reconnects += 1
            _log.warning("the connection to %s was lost; connected again", self.url)
        return self.raw

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """A broken connection is closed here (the next call opens a new one) and reported
        as a :class:`StorageUnavailableError`, which writers retry."""
        try:
            yield
        except _BROKEN as exc:
            if not self.raw.is_closed():
                self.raw.terminate()
            raise StorageUnavailableError(
                f"the connection to {self.url} broke ({type(exc).__name__}: "
                f"{_clean(exc, self.url)}); a new one is opened at the next call"
            ) from exc

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        conn = await self._live()
        with self._guard():
            return list(await conn.fetch(numbered(sql), *_params(params)))

    async def fetchrow(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        conn = await self._live()
        with self._guard():
            row: Row | None = await conn.fetchrow(numbered(sql), *_params(params))
        return row

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        conn = await self._live()
        with self._guard():
            status: str = await conn.execute(numbered(sql), *_params(params))
        last = status.rsplit(" ", 1)[-1]  # "UPDATE 3", "INSERT 0 1", "DELETE 0"
        return int(last) if last.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            conn = await self._live()
            with self._guard():
                await conn.executemany(numbered(sql), [_params(row) for row in rows])

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return self._transaction()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        conn = await self._live()
        self._depth += 1
        try:
            with self._guard():
                async with conn.transaction():
                    yield
        finally:
            self._depth -= 1

    async def close(self) -> None:
        with contextlib.suppress(OSError, asyncpg.InterfaceError, asyncio.TimeoutError):
            await self.raw.close(timeout=5)

    def __repr__(self) -> str:
        return f"<PostgresConnection {self.url}>"


async def connect_postgres(url: PostgresUrl, *, readonly: bool = False) -> PostgresConnection:
    """Connect to ``url``; a read-only connection refuses every write (the server's own
    ``default_transaction_read_only``)."""
    settings = {"default_transaction_read_only": "on"} if readonly else {}
    try:
        conn = await asyncpg.connect(
            url.url,
            timeout=_CONNECT_TIMEOUT,
            server_settings={"application_name": "chatwarden", **settings},
        )
    except (TimeoutError, OSError) as exc:
        raise StorageUnavailableError(
            f"cannot reach the PostgreSQL server of {url} ({type(exc).__name__}: "
            f"{_clean(exc, url)}): check the host and port, and that the server runs"
        ) from None
    except asyncpg.InvalidPasswordError:
        raise StorageUnavailableError(
            f"PostgreSQL refused the login to {url}: check the user and password"
        ) from None
    except asyncpg.InvalidCatalogNameError:
        raise StorageUnavailableError(
            f"PostgreSQL has no database {url.database!r} at {url}: create it "
            f"(createdb {url.database}) or fix the URL"
        ) from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StorageUnavailableError(
            f"cannot open the PostgreSQL database {url}: {_clean(exc, url)}"
        ) from None
    return PostgresConnection(conn, url, readonly)


def _clean(exc: BaseException, url: PostgresUrl) -> str:
    """An error's text with the URL (and so its password) never in it."""
    text = str(exc) or "no detail"
    return text.replace(url.url, url.redacted)
