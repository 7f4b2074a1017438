"""The SQLite database: one writer connection, WAL, one transaction per scored batch.

Checkpoints (copying the write-ahead log back into the database file, the only step that
waits for the disk under ``synchronous = NORMAL``) run on a second connection, in the
background, every ``checkpoint_interval`` seconds, instead of inside whichever commit
fills the log: such commits are the slow ones, and most likely the live bot's rare
0.25-0.5 s writes on a slow disk (docs/benchmarks.md, "Live bot").

The WAL is bounded: its file stays under ``WAL_LIMIT_BYTES`` (64 MiB), however long the
run. A PASSIVE checkpoint copies pages back but never lets the log restart while the
writer keeps appending, so a fast replay of all the Korean logs once left a 9.7 GB
``-wal`` beside an 88 MB database (the largest single log: 313 MB beside 5 MB). So the
checkpointer also looks at the ``-wal`` file's size every 50 ms; past half the limit it
runs a PASSIVE checkpoint (copies nearly everything, blocks nobody), then a RESTART one
with the writer paused on ``lock`` (only the pages written meanwhile are left to copy;
5-20 ms, where TRUNCATE, which also gives the file's blocks back, took 20-50 ms), so the
next commit writes the log from its start, and ``journal_size_limit`` (half the limit)
cuts the file back to half the limit: it grows past that again only when the live log
does. Should a writer outrun those rounds (a starved CPU), a write that finds the file
past 3/4 of the limit has the log restarted first, so the file never passes the limit
by more than a batch or two. If a reader in another process keeps the log from
restarting (the writer then waits at most 0.25 s), that is logged once and retried
every ``checkpoint_interval``. Measured (3,000 back-to-back batches of 150 messages,
alternating runs on a loaded 2-core machine): record_batch p99 7.6-11.8 ms against
10.0-10.1 ms before, the WAL 37-41 MB against 448 MB; paced 10 ms apart, p99 9.6-12.4
against 12.7-21.0 ms.

Use as an async context manager::

    async with Database.open(path) as db:              # creates, migrates, proves writable
        unseen = await db.filter_unseen(ids)
        await db.record_batch(batch)

    async with Database.open_readonly(path) as db:     # for the CLI's read commands
        history = await db.history("login")
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Concatenate, ParamSpec, TypeVar

import aiosqlite
import asyncpg

from storage.errors import StorageUnavailableError
from storage.location import DatabaseLocation, PostgresUrl, parse_database
from storage.migrations import apply_migrations
from storage.postgres import connect_postgres
from storage.records import (
    BatchRecord,
    BotAction,
    ChannelSettings,
    ContextLine,
    FlaggedMessage,
    FlaggedUser,
    FlagView,
    LabelledFlag,
    ModerationEvent,
    NormsSnapshot,
    OlderFlags,
    OutboxItem,
    ReportDraft,
    ReportSummary,
    SeenMessage,
    UserCounts,
    UserHistory,
    Verdict,
)
from storage.sql import Dialect, Row, SqlConnection, SqliteConnection, sqlite_transaction

__all__ = ["Database"]

_ACTION_KINDS = frozenset({"timeout", "ban", "delete"})
_ACTION_SOURCES = frozenset({"dashboard", "auto"})
_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit
WAL_LIMIT_BYTES = 64 * 1024 * 1024  # the -wal file stays under this (see the docstring)
_WAL_POLL = 0.05  # seconds between looks at the -wal file's size

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _locked(
    method: Callable[Concatenate[Database, _P], Awaitable[_R]],
) -> Callable[Concatenate[Database, _P], Awaitable[_R]]:
    async def wrapper(self: Database, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        await self._make_room()
        async with self.lock:
            return await method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


class Database:
    """An open chatwarden database. Not shared between event loops."""

    def __init__(
        self,
        sql: SqlConnection,
        location: DatabaseLocation,
        readonly: bool,
        checkpointer: aiosqlite.Connection | None = None,
        checkpoint_interval: float = 1.0,
        wal_limit: int = WAL_LIMIT_BYTES,
    ) -> None:
        self._sql = sql
        #: where the database is: a SQLite file or a PostgreSQL URL (shown without password)
        self.location = location
        #: the SQLite file (None on PostgreSQL)
        self.path: Path | None = location if isinstance(location, Path) else None
        self.readonly = readonly
        # One connection serves the pipeline's writer and the reporter: transactions on it
        # must not interleave.
        self.lock = asyncio.Lock()
        #: background checkpoints run, and WAL pages they copied into the database file
        self.checkpoints = 0
        self.checkpointed_pages = 0
        #: RESTART checkpoints run because the WAL passed half of ``wal_limit``
        self.wal_restarts = 0
        #: writes that waited for the log to be emptied first (see ``_make_room``)
        self.wal_waits = 0
        self.wal_limit = wal_limit
        self._wal_hard = wal_limit * 3 // 4
        self._checkpoint_interval = checkpoint_interval
        self._checkpoint_failing = False
        self._checkpointing = asyncio.Lock()  # one checkpoint round at a time
        self._wal_path = (
            self.path.with_name(self.path.name + "-wal") if self.path is not None else None
        )
        self._checkpointer = checkpointer
        self._checkpoint_task: asyncio.Task[None] | None = None
        if checkpointer is not None and self.path is not None:
            self._checkpoint_task = asyncio.create_task(
                self._checkpoint_loop(checkpointer, checkpoint_interval),
                name=f"checkpoint {self.path.name}",
            )

    @property
    def dialect(self) -> Dialect:
        """``sqlite`` or ``postgresql``."""
        return self._sql.dialect

    @property
    def reconnects(self) -> int:
        """Connections opened again after the server closed one (PostgreSQL)."""
        return self._sql.reconnects

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        location: DatabaseLocation | str,
        busy_timeout_ms: int = 5000,
        checkpoint_interval: float = 1.0,
        wal_limit: int = WAL_LIMIT_BYTES,
    ) -> _Opener:
        """Open (creating and migrating) ``location`` for writing: a SQLite file, whose
        ``-wal`` file is kept under ``wal_limit`` bytes, or a PostgreSQL URL."""
        return _Opener(
            parse_database(location),
            readonly=False,
            busy_timeout_ms=busy_timeout_ms,
            checkpoint_interval=checkpoint_interval,
            wal_limit=wal_limit,
        )

    @classmethod
    def open_readonly(cls, location: DatabaseLocation | str) -> _Opener:
        """Open an existing database read-only; a missing file is a clear error."""
        return _Opener(parse_database(location), readonly=True, busy_timeout_ms=5000)

    async def close(self) -> None:
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
        if self._checkpointer is not None:
            await self._checkpointer.close()
        await self._sql.close()  # the last connection to close checkpoints what is left

    async def _checkpoint_loop(self, conn: aiosqlite.Connection, interval: float) -> None:
        """Copy the WAL into the database file now and then, off the write path. PASSIVE
        never waits for the writer or readers; what it cannot copy now waits for the next
        round. Past half of ``wal_limit`` the log is also restarted (RESTART), see the
        module docstring. A failure is logged and retried; it never stops the bot."""
        loop = asyncio.get_running_loop()
        poll = min(interval, _WAL_POLL)
        due = loop.time() + interval
        while True:
            await asyncio.sleep(poll)
            too_big = self._wal_size() > self.wal_limit // 2
            if loop.time() < due and (self._checkpoint_failing or not too_big):
                continue  # after a failure, retried every interval only
            due = loop.time() + interval
            async with self._checkpointing:
                await self._checkpoint_round(conn, restart=too_big)

    async def _make_room(self) -> None:
        """Before a write: if the log has passed 3/4 of ``wal_limit`` (the background
        rounds fell behind a fast writer), restart it first. Skipped while checkpoints fail:
        the bound then cannot hold, and that is logged, but writes are never held up."""
        conn = self._checkpointer
        if conn is None or self._checkpoint_failing or self._wal_size() <= self._wal_hard:
            return
        async with self._checkpointing:  # a round in progress may do it for us
            if self._wal_size() > self._wal_hard:
                self.wal_waits += 1
                await self._checkpoint_round(conn, restart=True)

    async def _checkpoint_round(self, conn: aiosqlite.Connection, restart: bool) -> None:
        """A PASSIVE checkpoint (copies nearly everything, blocks nobody), then, if asked, a
        RESTART one with the writer paused on ``lock``: only the pages written meanwhile
        are left to copy, and the next commit writes the log from its start."""
        try:
            await self._checkpoint(conn, "PASSIVE")
            if restart:
                async with self.lock:  # the writer waits here, not in SQLite's busy loop
                    busy = await self._checkpoint(conn, "RESTART")
                if busy:
                    raise sqlite3.OperationalError(
                        "the log cannot restart while another connection reads it"
                    )
                self.wal_restarts += 1
        except sqlite3.Error as exc:
            if not self._checkpoint_failing:  # once per run of failures, not every round
                log.warning(
                    "WAL checkpoint of %s failed (retried every %g s; the -wal file is "
                    "%.1f MB): %s",
                    self.path,
                    self._checkpoint_interval,
                    self._wal_size() / 1e6,
                    exc,
                )
            self._checkpoint_failing = True
            return
        if self._checkpoint_failing:
            log.info("WAL checkpoints of %s work again", self.path)
            self._checkpoint_failing = False

    async def _checkpoint(self, conn: aiosqlite.Connection, mode: str) -> bool:
        """One ``wal_checkpoint(mode)``; True if it was blocked (SQLITE_BUSY)."""
        async with conn.execute(f"PRAGMA wal_checkpoint({mode})") as cursor:
            row = await cursor.fetchone()
        self.checkpoints += 1
        if row is not None and row[2] > 0:
            self.checkpointed_pages += int(row[2])
        return row is not None and row[0] != 0

    def _wal_size(self) -> int:
        if self._wal_path is None:
            return 0
        try:
            return self._wal_path.stat().st_size
        except OSError:
            return 0

    # -- the write path ----------------------------------------------------------------

    @_locked
    async def filter_unseen(self, msg_ids: Sequence[str]) -> set[str]:
        """The ids in ``msg_ids`` that were never recorded (a redelivery counts once)."""
        seen = await self._existing("seen_messages", msg_ids)
        return {msg_id for msg_id in msg_ids if msg_id not in seen}

    @_locked
    async def filter_unseen_events(self, event_ids: Sequence[str]) -> set[str]:
        """The moderation event ids in ``event_ids`` never stored."""
        found = await self._existing("moderation_events", event_ids, column="event_id")
        return {e for e in event_ids if e not in found}

    @_locked
    async def record_batch(self, batch: BatchRecord) -> list[int]:
        """Write one scored batch in one transaction; return the new report ids.

        Idempotent per message: a message or flag already stored is neither stored nor
        counted again, so a redelivered or retried batch never counts twice. A report is
        stored as plain rows (the report, a snapshot of the counts it states, its flags
        linked by ``report_id``); it is rendered when it is sent, outside this transaction.
        A report that would take no flag (its flags were stored already: a redelivery, or
        the same chat read by two workers while a channel changes hands) is not written.

        Which messages are new is decided by inserting their ids: on PostgreSQL a second
        worker writing the same message waits for the first's commit and then finds it
        stored, so it is counted once even when two workers read it.
        """
        sql = self._sql
        report_ids: list[int] = []
        async with self._writing():
            new_ids = await self._insert_seen(batch.messages)
            batch_ids = {m.msg_id for m in batch.messages}
            old_flags = await self._existing("flagged_messages", [f.msg_id for f in batch.flags])
            messages = [m for m in batch.messages if m.msg_id in new_ids]
            flags = [
                f
                for f in batch.flags
                if f.msg_id not in old_flags and (f.msg_id in new_ids or f.msg_id not in batch_ids)
            ]
            users: dict[str, tuple[str | None, str, str, float, float]] = {}
            counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
            for m in messages:
                old = users.get(m.user_key)
                first = min(old[3], m.sent_at) if old else m.sent_at
                last = max(old[4], m.sent_at) if old else m.sent_at
                users[m.user_key] = (m.user_id, m.login, m.display_name, first, last)
                counts[(m.user_key, m.channel)][0] += 1
            last_flagged: dict[tuple[str, str], float] = {}
            for f in flags:
                key = (f.user_key, f.channel)
                counts[key][1] += 1
                last_flagged[key] = max(last_flagged.get(key, 0.0), f.sent_at)
            await sql.executemany(
                """INSERT INTO users (user_key, user_id, login, display_name, first_seen, last_seen)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (user_key) DO UPDATE SET
                     user_id = coalesce(excluded.user_id, users.user_id),
                     login = excluded.login, display_name = excluded.display_name,
                     first_seen = CASE WHEN excluded.first_seen < users.first_seen
                                       THEN excluded.first_seen ELSE users.first_seen END,
                     last_seen = CASE WHEN excluded.last_seen > users.last_seen
                                      THEN excluded.last_seen ELSE users.last_seen END""",
                [(key, *row) for key, row in users.items()],
            )
            await sql.executemany(
                """INSERT INTO user_channel_counts AS c
                     (user_key, channel, messages_seen, messages_flagged, last_flagged)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (user_key, channel) DO UPDATE SET
                     messages_seen = c.messages_seen + excluded.messages_seen,
                     messages_flagged = c.messages_flagged + excluded.messages_flagged,
                     last_flagged = CASE
                       WHEN c.last_flagged IS NULL OR excluded.last_flagged > c.last_flagged
                       THEN coalesce(excluded.last_flagged, c.last_flagged)
                       ELSE c.last_flagged END""",
                [
                    (user_key, channel, seen, flagged, last_flagged.get((user_key, channel)))
                    for (user_key, channel), (seen, flagged) in counts.items()
                ],
            )
            await sql.executemany(
                """INSERT INTO flagged_messages
                     (msg_id, channel, user_key, login, text, score, labels, model_version,
                      policy_version, sent_at, flagged_at, evidence, note, shadow)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT DO NOTHING""",
                [
                    (
                        f.msg_id,
                        f.channel,
                        f.user_key,
                        f.login,
                        f.text,
                        f.score,
                        json.dumps(list(f.labels)),
                        f.model_version,
                        f.policy_version,
                        f.sent_at,
                        f.flagged_at,
                        json.dumps(list(f.evidence)),
                        f.note,
                        self.shadow,
                    )
                    for f in flags
                ],
            )
            await sql.executemany(
                """INSERT INTO flag_context (flag_msg_id, position, login, text, sent_at)
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                [
                    (f.msg_id, position, line.login, line.text, line.sent_at)
                    for f in flags
                    for position, line in enumerate(f.context, 1)
                ],
            )
            if batch.moderation:
                await self._insert_moderation(batch.moderation)
            for draft in batch.reports:
                report_id = await self._insert_report(draft)
                if report_id is not None:
                    report_ids.append(report_id)
        return report_ids

    async def _insert_seen(self, messages: Sequence[SeenMessage]) -> set[str]:
        """Store the ids of ``messages`` not stored yet; return those ids."""
        if not messages:
            return set()
        if self._sql.dialect == "postgresql":
            rows = await self._sql.fetch(
                """INSERT INTO seen_messages (msg_id, seen_at)
                   SELECT * FROM unnest(?::text[], ?::double precision[])
                   ON CONFLICT DO NOTHING RETURNING msg_id""",
                ([m.msg_id for m in messages], [m.sent_at for m in messages]),
            )
            return {row[0] for row in rows}
        # SQLite: one writer at a time (BEGIN IMMEDIATE), so reading first is exact
        old = await self._existing("seen_messages", [m.msg_id for m in messages])
        new = {m.msg_id: m.sent_at for m in messages if m.msg_id not in old}
        await self._sql.executemany(
            "INSERT INTO seen_messages (msg_id, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            list(new.items()),
        )
        return set(new)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlConnection]:
        """One write transaction on this database's connection, for the storage modules
        that keep tables of their own (:mod:`storage.leases`): nothing else runs on the
        connection meanwhile."""
        await self._make_room()
        async with self.lock, self._writing():
            yield self._sql

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """A write transaction whose disk errors say what they mean: which file, the
        likely causes, and that nothing of the write was stored (it was rolled back).
        Still a ``sqlite3.OperationalError``, which the pipeline logs and retries."""
        try:
            async with self._sql.transaction():
                yield
        except sqlite3.OperationalError as exc:
            name = str(getattr(exc, "sqlite_errorname", ""))
            if not name.startswith(("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY")):
                raise
            raise sqlite3.OperationalError(
                f"cannot write the database {self.path} ({exc}, {name}): the disk may be "
                "full, the file at its size limit, or the file or its folder read-only; "
                "nothing of this write was stored"
            ) from exc

    async def _existing(self, table: str, ids: Sequence[str], column: str = "msg_id") -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {column} FROM {table} WHERE {column} IN ({marks})"
            rows = await self._sql.fetch(query, chunk)
            found.update(row[0] for row in rows)
        return found

    async def _insert_report(self, draft: ReportDraft) -> int | None:
        sql = self._sql
        unreported = await sql.fetchrow(
            """SELECT 1 FROM flagged_messages
               WHERE user_key = ? AND channel = ? AND report_id IS NULL LIMIT 1""",
            (draft.user_key, draft.channel),
        )
        if unreported is None:
            return None
        counts = await self._counts(draft.user_key, draft.channel)
        row = await sql.fetchrow(
            """INSERT INTO reports (channel, user_key, login, reason, payload, next_attempt,
                                    created_at, display_name, messages_seen, messages_flagged,
                                    report_number, shadow)
               VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (
                draft.channel,
                draft.user_key,
                draft.login,
                draft.reason,
                draft.created_at,
                draft.created_at,
                draft.display_name,
                counts.messages_seen,
                counts.messages_flagged,
                counts.reports + 1,
                self.shadow,
            ),
        )
        assert row is not None
        report_id = int(row[0])
        await sql.execute(
            """UPDATE flagged_messages SET report_id = ?
               WHERE user_key = ? AND channel = ? AND report_id IS NULL""",
            (report_id, draft.user_key, draft.channel),
        )
        await sql.execute(
            "UPDATE user_channel_counts SET reports = reports + 1 "
            "WHERE user_key = ? AND channel = ?",
            (draft.user_key, draft.channel),
        )
        return report_id

    # -- the outbox --------------------------------------------------------------------

    #: The replay run whose reports this connection writes and reads (``reports.shadow``),
    #: or None for the live bot. Every outbox query below sees only its own kind: the live
    #: bot never reads, counts or sends a shadow report, a replay only its own.
    shadow: str | None = None

    @_locked
    async def pending_reports(self, now: float, limit: int = 10) -> list[OutboxItem]:
        """Pending reports whose next attempt is due, oldest first, with their flags."""
        rows = await self._sql.fetch(
            f"""SELECT {_OUTBOX_COLUMNS} FROM reports
               WHERE status = 'pending' AND shadow IS NOT DISTINCT FROM ? AND next_attempt <= ?
               ORDER BY id LIMIT ?""",
            (self.shadow, now, limit),
        )
        return await self._outbox_items(rows)

    @_locked
    async def claim_reports(
        self, now: float, worker: str, limit: int = 10, hold: float = 60.0
    ) -> list[OutboxItem]:
        """Claim due reports for ``worker`` to send, oldest first, for ``hold`` seconds:
        no other worker claims them meanwhile (``FOR UPDATE SKIP LOCKED`` on PostgreSQL:
        two workers claiming at once take different reports, neither waits). Sending
        (:meth:`mark_reports_sent`), a retry or a deferral releases the claim; a claim
        whose worker died lapses after ``hold``."""
        lock = " FOR UPDATE SKIP LOCKED" if self._sql.dialect == "postgresql" else ""
        async with self._writing():
            claimed = await self._sql.fetch(
                f"""UPDATE reports SET claimed_by = ?, claimed_until = ?
                    WHERE id IN (
                      SELECT id FROM reports
                      WHERE status = 'pending' AND shadow IS NOT DISTINCT FROM ?
                        AND next_attempt <= ?
                        AND (claimed_until IS NULL OR claimed_until <= ? OR claimed_by = ?)
                      ORDER BY id LIMIT ?{lock})
                    RETURNING id""",
                (worker, now + hold, self.shadow, now, now, worker, limit),
            )
            ids = sorted(int(r[0]) for r in claimed)
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            rows = await self._sql.fetch(
                f"SELECT {_OUTBOX_COLUMNS} FROM reports WHERE id IN ({marks}) ORDER BY id", ids
            )
            return await self._outbox_items(rows)

    async def _outbox_items(self, rows: Sequence[Row]) -> list[OutboxItem]:
        flags: dict[int, list[FlaggedMessage]] = defaultdict(list)
        ids = [int(r[0]) for r in rows if r[10] is not None]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for flag in await self._flags(
                f"WHERE report_id IN ({marks}) ORDER BY sent_at, id", chunk
            ):
                assert flag.report_id is not None
                flags[flag.report_id].append(flag)
        items = []
        for r in rows:
            (report_id, attempts, channel, user_key, login, display_name, reason, created) = r[:8]
            report = ReportDraft(channel, user_key, login, display_name or login, reason, created)
            if r[10] is None:  # written before migration 0004: rendered then, sent as stored
                items.append(OutboxItem(report_id, attempts, report, None, (), r[11]))
                continue
            counts = UserCounts(channel, r[8], r[9], r[10])
            items.append(OutboxItem(report_id, attempts, report, counts, tuple(flags[report_id])))
        return items

    @_locked
    async def count_pending(self) -> int:
        """Reports waiting in this connection's outbox (live, or this replay's own)."""
        row = await self._sql.fetchrow(
            "SELECT count(*) FROM reports WHERE status = 'pending' "
            "AND shadow IS NOT DISTINCT FROM ?",
            (self.shadow,),
        )
        return int(row[0]) if row else 0

    @_locked
    async def next_report_due(self) -> float | None:
        """When the earliest pending report is due (None when the outbox is empty)."""
        row = await self._sql.fetchrow(
            "SELECT min(next_attempt) FROM reports WHERE status = 'pending' "
            "AND shadow IS NOT DISTINCT FROM ?",
            (self.shadow,),
        )
        return None if row is None or row[0] is None else float(row[0])

    @_locked
    async def mark_reports_sent(
        self,
        ids: Iterable[int],
        sent_at: float,
        payloads: Mapping[int, str] | None = None,
        sent_to: str = "discord",
    ) -> None:
        """Mark reports sent (to ``sent_to``: ``discord`` or ``log``), keeping on record the
        embed JSON that was sent for each (``payloads`` by report id; a report without one
        keeps its stored payload)."""
        payloads = payloads or {}
        await self._write(
            "UPDATE reports SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
            "last_error = NULL, payload = coalesce(?, payload), sent_to = ?, "
            "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            [(sent_at, payloads.get(report_id), sent_to, report_id) for report_id in ids],
        )

    @_locked
    async def mark_reports_retry(self, ids: Iterable[int], next_attempt: float, error: str) -> None:
        await self._write(
            "UPDATE reports SET attempts = attempts + 1, next_attempt = ?, last_error = ?, "
            "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            [(next_attempt, error[:500], report_id) for report_id in ids],
        )

    @_locked
    async def make_reports_due(self) -> None:
        """Make every pending report of this connection's outbox due now."""
        await self._write(
            "UPDATE reports SET next_attempt = 0 "
            "WHERE status = 'pending' AND shadow IS NOT DISTINCT FROM ?",
            [(self.shadow,)],
        )

    @_locked
    async def defer_reports(self, ids: Iterable[int], next_attempt: float) -> None:
        """Postpone reports without counting an attempt (rate limits are not failures)."""
        await self._write(
            "UPDATE reports SET next_attempt = ?, claimed_by = NULL, claimed_until = NULL "
            "WHERE id = ?",
            [(next_attempt, report_id) for report_id in ids],
        )

    async def _write(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        async with self._writing():
            await self._sql.executemany(sql, rows)

    @_locked
    async def prune_seen(self, before: float) -> int:
        """Forget dedup ids older than ``before``; flags and counters are kept."""
        async with self._writing():
            return await self._sql.execute("DELETE FROM seen_messages WHERE seen_at < ?", (before,))

    # -- reads -------------------------------------------------------------------------

    @_locked
    async def history(self, login: str, channel: str | None = None) -> UserHistory | None:
        """A user's flagged messages, counts and reports (None if the login is unknown)."""
        login = login.lower().lstrip("@")
        users = await self._sql.fetch(
            "SELECT user_key, display_name FROM users WHERE login = ? ORDER BY last_seen DESC",
            (login,),
        )
        if not users:
            return None
        keys = [row[0] for row in users]
        marks = ",".join("?" * len(keys))
        where = f"WHERE user_key IN ({marks})"
        params: list[object] = list(keys)
        if channel:
            where += " AND channel = ?"
            params.append(channel.lower().lstrip("#"))
        flags = await self._flags(where + " ORDER BY sent_at DESC, id DESC", params)
        rows = await self._sql.fetch(
            f"""SELECT channel, sum(messages_seen), sum(messages_flagged), sum(reports)
                FROM user_channel_counts {where} GROUP BY channel ORDER BY channel""",
            params,
        )
        counts = [UserCounts(r[0], r[1], r[2], r[3]) for r in rows]
        rows = await self._sql.fetch(
            f"""SELECT id, channel, login, reason, {_STATUS}, attempts, created_at, sent_at,
                       last_error FROM reports {where} ORDER BY id DESC""",
            params,
        )
        reports = [ReportSummary(*r) for r in rows]
        mod_where = "WHERE target_login = ?" + (" AND channel = ?" if channel else "")
        mod_params: list[object] = [login, *([channel.lower().lstrip("#")] if channel else [])]
        rows = await self._sql.fetch(
            f"""SELECT channel, kind, at, target_login, target_user_id, target_msg_id, duration,
                       text FROM moderation_events {mod_where} ORDER BY at DESC, id DESC""",
            mod_params,
        )
        moderation = [ModerationEvent(*r) for r in rows]
        return UserHistory(
            login, users[0][1], tuple(counts), tuple(flags), tuple(reports), tuple(moderation)
        )

    @_locked
    async def flagged_users(self, since: float, channel: str | None = None) -> list[FlaggedUser]:
        """Users flagged since ``since`` (epoch seconds), worst first."""
        where = "WHERE f.sent_at >= ?"
        params: list[object] = [since]
        if channel:
            where += " AND f.channel = ?"
            params.append(channel.lower().lstrip("#"))
        rows = await self._sql.fetch(
            f"""SELECT u.login, u.display_name, f.channel, count(*), max(f.score),
                       max(f.sent_at), count(DISTINCT f.report_id), count(f.shadow)
                FROM flagged_messages f JOIN users u ON u.user_key = f.user_key
                {where}
                GROUP BY f.user_key, f.channel, u.login, u.display_name
                ORDER BY count(*) DESC, max(f.score) DESC, max(f.sent_at) DESC""",
            params,
        )
        return [FlaggedUser(*row) for row in rows]

    @_locked
    async def flag_channels(self) -> list[str]:
        """Every channel with a stored flag, live or replayed."""
        rows = await self._sql.fetch("SELECT DISTINCT channel FROM flagged_messages")
        return sorted(row[0] for row in rows)

    @_locked
    async def older_flags(self, since: float, channel: str | None = None) -> OlderFlags:
        """The flags before ``since`` (of ``channel``): what a period hides from view."""
        where = "WHERE sent_at < ?" + (" AND channel = ?" if channel else "")
        params: list[object] = [since, *([channel.lower().lstrip("#")] if channel else [])]
        row = await self._sql.fetchrow(
            f"SELECT count(*), count(shadow), max(sent_at) FROM flagged_messages {where}",
            params,
        )
        assert row is not None
        return OlderFlags(int(row[0]), int(row[1]), row[2])

    @_locked
    async def record_moderation(self, events: Sequence[ModerationEvent]) -> None:
        """Store moderators' actions seen in chat, in one transaction."""
        async with self._writing():
            await self._insert_moderation(events)

    async def _insert_moderation(self, events: Sequence[ModerationEvent]) -> None:
        await self._sql.executemany(
            """INSERT INTO moderation_events (channel, kind, target_login,
                 target_user_id, target_msg_id, duration, text, at, event_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            [
                (
                    e.channel,
                    e.kind,
                    e.target_login,
                    e.target_user_id,
                    e.target_msg_id,
                    e.duration,
                    e.text,
                    e.at,
                    e.event_id,
                )
                for e in events
            ],
        )

    @_locked
    async def moderation_events(
        self, channel: str, since: float = 0.0, limit: int = 1000
    ) -> list[ModerationEvent]:
        """A channel's moderation events since ``since``, oldest first."""
        rows = await self._sql.fetch(
            """SELECT channel, kind, at, target_login, target_user_id, target_msg_id,
                      duration, text
               FROM moderation_events WHERE channel = ? AND at >= ? ORDER BY at, id LIMIT ?""",
            (channel, since, limit),
        )
        return [ModerationEvent(*row) for row in rows]  # ids not kept

    # -- learned channel norms -------------------------------------------------------

    @_locked
    async def channel_norms(self, channel: str | None = None) -> list[NormsSnapshot]:
        """The saved norms of every channel (or of one), by channel."""
        where, params = ("WHERE channel = ?", (channel,)) if channel else ("", ())
        rows = await self._sql.fetch(
            f"""SELECT channel, state, generation, epoch, frozen, updated_at
                FROM channel_norms {where} ORDER BY channel""",
            params,
        )
        return [NormsSnapshot(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    @_locked
    async def save_norms(self, snapshots: Sequence[NormsSnapshot]) -> list[str]:
        """Save learned norms; return the channels whose saved epoch moved on (a reset
        since this state was loaded): those are not saved, and their learner starts afresh.
        """
        stale: list[str] = []
        async with self._writing():
            for n in snapshots:
                saved = await self._sql.fetchrow(
                    """INSERT INTO channel_norms
                         (channel, state, generation, epoch, frozen, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?)
                       ON CONFLICT (channel) DO UPDATE SET
                         state = excluded.state, generation = excluded.generation,
                         frozen = excluded.frozen, updated_at = excluded.updated_at
                       WHERE channel_norms.epoch = excluded.epoch
                       RETURNING channel""",
                    (n.channel, n.state, n.generation, n.epoch, int(n.frozen), n.updated_at),
                )
                if saved is None:
                    stale.append(n.channel)
        return stale

    @_locked
    async def reset_norms(self, channel: str, at: float) -> int:
        """Forget what ``channel``'s moderators taught (a running bot notices at its next
        save); return the new epoch."""
        async with self._writing():
            await self._sql.execute(
                """INSERT INTO channel_norms (channel, state, generation, epoch, updated_at)
                   VALUES (?, '{}', 0, 1, ?)
                   ON CONFLICT (channel) DO UPDATE SET
                     state = '{}', generation = 0, epoch = channel_norms.epoch + 1,
                     updated_at = excluded.updated_at""",
                (channel, at),
            )
            row = await self._sql.fetchrow(
                "SELECT epoch FROM channel_norms WHERE channel = ?", (channel,)
            )
        return int(row[0]) if row else 0

    @_locked
    async def record_action(
        self,
        *,
        channel: str,
        target_login: str | None,
        kind: str,
        duration: int | None,
        reason: str,
        msg_id: str | None,
        moderator: str,
        ok: bool,
        status: int,
        message: str,
        source: str,
        target_user_id: str | None = None,
        at: float | None = None,
    ) -> int:
        """Store one action sent through Twitch's API, failed or not; return its id."""
        if kind not in _ACTION_KINDS:
            raise ValueError(f"kind must be one of {sorted(_ACTION_KINDS)}, not {kind!r}")
        if source not in _ACTION_SOURCES:
            raise ValueError(f"source must be one of {sorted(_ACTION_SOURCES)}, not {source!r}")
        async with self._writing():
            row = await self._sql.fetchrow(
                """INSERT INTO bot_actions (channel, target_login, target_user_id, kind,
                                            duration, reason, msg_id, moderator, source, ok,
                                            status, message, at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (
                    channel.lower().lstrip("#"),
                    target_login.lower().lstrip("@") if target_login else None,
                    target_user_id,
                    kind,
                    duration,
                    reason,
                    msg_id,
                    moderator,
                    source,
                    int(ok),
                    status,
                    message,
                    time.time() if at is None else at,
                ),
            )
        assert row is not None
        return int(row[0])

    @_locked
    async def bot_actions(
        self, login: str | None = None, channel: str | None = None, limit: int = 100
    ) -> list[BotAction]:
        """Actions sent through Twitch's API, newest first (of one user and/or channel)."""
        clauses: list[str] = []
        params: list[object] = []
        if login:
            clauses.append("target_login = ?")
            params.append(login.lower().lstrip("@"))
        if channel:
            clauses.append("channel = ?")
            params.append(channel.lower().lstrip("#"))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._sql.fetch(
            f"""SELECT id, channel, target_login, target_user_id, kind, duration, reason,
                       msg_id, moderator, source, ok, status, message, at
                FROM bot_actions {where} ORDER BY at DESC, id DESC LIMIT ?""",
            [*params, max(0, limit)],
        )
        return [
            BotAction(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                r[9],
                bool(r[10]),
                r[11],
                r[12],
                r[13],
            )
            for r in rows
        ]

    @_locked
    async def recent_flags(self, since: float) -> list[tuple[str, str, float, int | None]]:
        """``(channel, user_key, sent_at, report_id)`` of flags sent since ``since``, oldest
        first: what the policy needs to resume its windows and cool-downs after a restart."""
        rows = await self._sql.fetch(
            """SELECT channel, user_key, sent_at, report_id FROM flagged_messages
               WHERE sent_at >= ? ORDER BY sent_at, id""",
            (since,),
        )
        return [(r[0], r[1], float(r[2]), r[3]) for r in rows]

    @_locked
    async def count(self, table: str) -> int:
        """Row count of one of our tables (for tests, benchmarks and ``doctor``)."""
        if table not in {
            "users",
            "seen_messages",
            "flagged_messages",
            "reports",
            "user_channel_counts",
            "moderation_events",
            "flag_context",
            "verdicts",
            "channel_settings",
            "bot_actions",
        }:
            raise ValueError(f"unknown table {table!r}")
        row = await self._sql.fetchrow(f"SELECT count(*) FROM {table}")
        return int(row[0]) if row else 0

    # -- the dashboard: pages of flagged users, context, verdicts, channel settings ------

    @_locked
    async def flagged_users_page(
        self,
        since: float,
        channel: str | None = None,
        category: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[FlaggedUser], int]:
        """One page of users flagged since ``since``, worst first, and how many there are."""
        where = "WHERE f.sent_at >= ?"
        params: list[object] = [since]
        if channel:
            where += " AND f.channel = ?"
            params.append(channel)
        if category:
            # labels is a JSON list of strings: the category, quoted, is one of its items
            where += " AND f.labels LIKE ? ESCAPE '!'"
            quoted = json.dumps(category).replace("!", "!!").replace("%", "!%").replace("_", "!_")
            params.append(f"%{quoted}%")
        row = await self._sql.fetchrow(
            f"""SELECT count(*) FROM (SELECT 1 FROM flagged_messages f {where}
                GROUP BY f.user_key, f.channel) AS g""",
            params,
        )
        total = int(row[0]) if row else 0
        rows = await self._sql.fetch(
            f"""SELECT u.login, u.display_name, f.channel, count(*), max(f.score),
                       max(f.sent_at), count(DISTINCT f.report_id), count(f.shadow)
                FROM flagged_messages f JOIN users u ON u.user_key = f.user_key
                {where}
                GROUP BY f.user_key, f.channel, u.login, u.display_name
                ORDER BY count(*) DESC, max(f.score) DESC, max(f.sent_at) DESC, u.login
                LIMIT ? OFFSET ?""",
            [*params, limit, offset],
        )
        users = [FlaggedUser(*r) for r in rows]
        return users, total

    @_locked
    async def latest_flag_id(self) -> int:
        """The newest flag's row id (0 when none): a cursor for live updates."""
        row = await self._sql.fetchrow("SELECT coalesce(max(id), 0) FROM flagged_messages")
        return int(row[0]) if row else 0

    @_locked
    async def flags_after(self, after: int, limit: int = 100) -> list[tuple[int, FlaggedMessage]]:
        """Flags stored after row id ``after``, oldest first, with their row ids."""
        rows = await self._sql.fetch(
            "SELECT id FROM flagged_messages WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        )
        ids = [int(r[0]) for r in rows]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        flags = await self._flags(f"WHERE id IN ({marks}) ORDER BY id", ids)
        return list(zip(ids, flags, strict=True))

    @_locked
    async def flag_views(self, flags: Sequence[FlaggedMessage]) -> list[FlagView]:
        """``flags`` with the chat before each and each one's latest verdict."""
        ids = [f.msg_id for f in flags]
        context: dict[str, list[ContextLine]] = defaultdict(list)
        verdicts: dict[str, Verdict] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = await self._sql.fetch(
                f"""SELECT flag_msg_id, login, text, sent_at FROM flag_context
                    WHERE flag_msg_id IN ({marks}) ORDER BY flag_msg_id, position""",
                chunk,
            )
            for r in rows:
                context[r[0]].append(ContextLine(r[1], r[2], r[3]))
            rows = await self._sql.fetch(
                f"""SELECT msg_id, channel, correct, category, moderator, at FROM verdicts
                    WHERE msg_id IN ({marks}) ORDER BY at, id""",
                chunk,
            )
            for r in rows:
                verdicts[r[0]] = Verdict(r[0], r[1], bool(r[2]), r[3], r[4], r[5])
        return [FlagView(f, tuple(context[f.msg_id]), verdicts.get(f.msg_id)) for f in flags]

    @_locked
    async def record_verdict(
        self, msg_id: str, correct: bool, category: str | None, moderator: str, at: float
    ) -> Verdict | None:
        """Store a moderator's verdict on a flag; None (nothing stored) if no such flag."""
        row = await self._sql.fetchrow(
            "SELECT channel FROM flagged_messages WHERE msg_id = ?", (msg_id,)
        )
        if row is None:
            return None
        verdict = Verdict(msg_id, str(row[0]), correct, category or None, moderator, at)
        await self._write(
            """INSERT INTO verdicts (msg_id, channel, correct, category, moderator, at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [(msg_id, verdict.channel, int(correct), verdict.category, moderator, at)],
        )
        return verdict

    @_locked
    async def flag(self, msg_id: str) -> FlaggedMessage | None:
        """The stored flag of message ``msg_id``, if it was flagged."""
        found = await self._flags("WHERE msg_id = ?", (msg_id,))
        return found[0] if found else None

    @_locked
    async def verdict_counts(self) -> list[tuple[str, int, int]]:
        """``(channel, correct, wrong)`` over each flag's latest verdict, by channel."""
        rows = await self._sql.fetch(
            f"""SELECT channel, sum(correct), sum(1 - correct) FROM ({_LATEST_VERDICTS}) AS v
                GROUP BY channel ORDER BY channel"""
        )
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    @_locked
    async def labelled_flags(self) -> list[LabelledFlag]:
        """Every flag a moderator judged, with its latest verdict, oldest first."""
        rows = await self._sql.fetch(
            f"""SELECT f.text, f.channel, f.labels, v.correct, v.category
                FROM ({_LATEST_VERDICTS}) v JOIN flagged_messages f ON f.msg_id = v.msg_id
                ORDER BY f.sent_at, f.id"""
        )
        return [LabelledFlag(r[0], r[1], tuple(json.loads(r[2])), bool(r[3]), r[4]) for r in rows]

    @_locked
    async def reports_page(
        self, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[ReportSummary], int]:
        """The live outbox, newest first: ``status`` pending, sent (to Discord), logged
        (sent to the log), or failed (pending with an error), or all; and how many match."""
        where = "WHERE shadow IS NULL"
        if status == "sent":
            where += " AND status = 'sent' AND sent_to IS DISTINCT FROM 'log'"
        elif status == "logged":
            where += " AND status = 'sent' AND sent_to = 'log'"
        elif status == "pending":
            where += " AND status = 'pending' AND last_error IS NULL"
        elif status == "failed":
            where += " AND status = 'pending' AND last_error IS NOT NULL"
        row = await self._sql.fetchrow(f"SELECT count(*) FROM reports {where}")
        rows = await self._sql.fetch(
            f"""SELECT id, channel, login, reason, {_STATUS}, attempts, created_at, sent_at,
                       last_error FROM reports {where} ORDER BY id DESC LIMIT ? OFFSET ?""",
            (limit, offset),
        )
        reports = [ReportSummary(*r) for r in rows]
        return reports, int(row[0]) if row else 0

    @_locked
    async def channel_settings(self) -> list[ChannelSettings]:
        """Every channel's dashboard settings."""
        rows = await self._sql.fetch(
            """SELECT channel, sensitivity, exempt_vips, exempt_subscribers, allowed_terms,
                      blocked_terms, updated_by, updated_at FROM channel_settings
               ORDER BY channel"""
        )
        return [
            ChannelSettings(
                r[0],
                r[1],
                None if r[2] is None else bool(r[2]),
                None if r[3] is None else bool(r[3]),
                tuple(json.loads(r[4])),
                tuple(json.loads(r[5])),
                r[6],
                r[7],
            )
            for r in rows
        ]

    @_locked
    async def save_channel_settings(self, cs: ChannelSettings) -> None:
        await self._write(
            """INSERT INTO channel_settings
                 (channel, sensitivity, exempt_vips, exempt_subscribers, allowed_terms,
                  blocked_terms, updated_by, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (channel) DO UPDATE SET
                 sensitivity = excluded.sensitivity, exempt_vips = excluded.exempt_vips,
                 exempt_subscribers = excluded.exempt_subscribers,
                 allowed_terms = excluded.allowed_terms, blocked_terms = excluded.blocked_terms,
                 updated_by = excluded.updated_by, updated_at = excluded.updated_at""",
            [
                (
                    cs.channel,
                    cs.sensitivity,
                    None if cs.exempt_vips is None else int(cs.exempt_vips),
                    None if cs.exempt_subscribers is None else int(cs.exempt_subscribers),
                    json.dumps(list(cs.allowed_terms), ensure_ascii=False),
                    json.dumps(list(cs.blocked_terms), ensure_ascii=False),
                    cs.updated_by,
                    cs.updated_at,
                )
            ],
        )

    async def _flags(self, where: str, params: Sequence[object]) -> list[FlaggedMessage]:
        rows = await self._sql.fetch(
            f"""SELECT msg_id, channel, login, text, score, labels, model_version,
                       policy_version, sent_at, flagged_at, report_id, evidence, note, shadow
                FROM flagged_messages {where}""",
            params,
        )
        return [
            FlaggedMessage(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                tuple(json.loads(r[5])),
                r[6],
                r[7],
                r[8],
                r[9],
                r[10],
                tuple(json.loads(r[11])),
                note=r[12],
                shadow=r[13],
            )
            for r in rows
        ]

    async def _counts(self, user_key: str, channel: str) -> UserCounts:
        row = await self._sql.fetchrow(
            """SELECT messages_seen, messages_flagged, reports FROM user_channel_counts
               WHERE user_key = ? AND channel = ?""",
            (user_key, channel),
        )
        return UserCounts(channel, *(row or (0, 0, 0)))


_OUTBOX_COLUMNS = """id, attempts, channel, user_key, login, display_name, reason, created_at,
    messages_seen, messages_flagged, report_number, payload"""

#: Each judged flag's latest verdict (a later verdict replaces an earlier one).
#: A report's status as shown: 'logged' for one sent to the log (no webhook set).
_STATUS = "CASE WHEN status = 'sent' AND sent_to = 'log' THEN 'logged' ELSE status END"

_LATEST_VERDICTS = """SELECT v.msg_id, v.channel, v.correct, v.category FROM verdicts v
    WHERE v.id = (SELECT w.id FROM verdicts w WHERE w.msg_id = v.msg_id
                  ORDER BY w.at DESC, w.id DESC LIMIT 1)"""


class _Opener:
    """``async with Database.open(location) as db`` — opens on enter, closes on exit."""

    def __init__(
        self,
        location: DatabaseLocation,
        readonly: bool,
        busy_timeout_ms: int,
        checkpoint_interval: float = 1.0,
        wal_limit: int = WAL_LIMIT_BYTES,
    ) -> None:
        self._location = location
        self._readonly = readonly
        self._busy_timeout_ms = busy_timeout_ms
        self._checkpoint_interval = checkpoint_interval
        self._wal_limit = wal_limit
        self._db: Database | None = None

    async def __aenter__(self) -> Database:
        if isinstance(self._location, PostgresUrl):
            self._db = await _connect_postgres(self._location, self._readonly)
        else:
            self._db = await _connect(
                self._location,
                self._readonly,
                self._busy_timeout_ms,
                self._checkpoint_interval,
                self._wal_limit,
            )
        return self._db

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    def __repr__(self) -> str:
        return f"<Database.open {self._location}>"


async def _connect_postgres(url: PostgresUrl, readonly: bool) -> Database:
    """Connect, migrate (writers only: a read-only connection cannot) and check the schema."""
    conn = await connect_postgres(url, readonly=readonly)
    try:
        if not readonly:
            await apply_migrations(conn)
        try:
            await conn.fetchrow("SELECT count(*) FROM schema_migrations")
        except asyncpg.UndefinedTableError:
            raise StorageUnavailableError(
                f"{url} holds no chatwarden database yet: run the bot (or any command that "
                "writes) on it first"
            ) from None
    except asyncpg.PostgresError as exc:
        await conn.close()
        raise StorageUnavailableError(f"cannot prepare the database {url}: {exc}") from None
    except BaseException:
        await conn.close()
        raise
    return Database(conn, url, readonly=readonly)


async def _connect(
    path: Path,
    readonly: bool,
    busy_timeout_ms: int,
    checkpoint_interval: float = 1.0,
    wal_limit: int = WAL_LIMIT_BYTES,
) -> Database:
    if path.is_dir():
        # checked first: aiosqlite's failed connect leaves its thread to report to a closed
        # event loop ("Event loop is closed" traceback after the error)
        raise StorageUnavailableError(
            f"{path} is a folder, not a database file: point CHATWARDEN_DB (or --db) at a "
            "file, e.g. chatwarden.db"
        )
    if readonly:
        if not path.is_file():
            raise StorageUnavailableError(
                f"no chatwarden database at {path}: run the bot first, or point "
                "CHATWARDEN_DB (or --db) at the right file"
            )
        try:
            ro_conn = await _open_readonly(path, busy_timeout_ms, immutable=False)
        except sqlite3.Error as exc:
            if os.access(path.parent, os.W_OK):
                raise StorageUnavailableError(
                    f"{path} is not a readable chatwarden database: {exc}"
                ) from exc
            # A read-only folder (mount): SQLite cannot make the -shm file a WAL database
            # is read with. Without a -wal file the database file is complete: read it as
            # immutable. With one, its changes could be read only where -shm can be made.
            wal = path.with_name(path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise StorageUnavailableError(
                    f"{path} is in a read-only folder with changes not yet merged into it "
                    f"({wal.name}); read it where the folder is writable, or after the bot "
                    "has stopped (it merges them when it closes)"
                ) from exc
            try:
                ro_conn = await _open_readonly(path, busy_timeout_ms, immutable=True)
            except sqlite3.Error as again:
                raise StorageUnavailableError(
                    f"{path} is not a readable chatwarden database: {again}"
                ) from again
        return Database(SqliteConnection(ro_conn), path, readonly=True)

    if not path.parent.is_dir():
        raise StorageUnavailableError(
            f"cannot create the database {path}: the folder {path.parent} does not exist"
        )
    conn: aiosqlite.Connection | None = None
    checkpointer: aiosqlite.Connection | None = None
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
        await conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA wal_autocheckpoint = 0")  # see _checkpoint_loop
        await conn.execute(f"PRAGMA journal_size_limit = {int(wal_limit) // 2}")
        await apply_migrations(SqliteConnection(conn))
        # Prove now, not at the first flag, that we can take the write lock and write: SQLite
        # silently opens an unwritable file read-only, so write the header and roll back.
        async with conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        async with sqlite_transaction(conn, commit=False):
            await conn.execute(f"PRAGMA user_version = {int(row[0]) if row else 0}")
        checkpointer = await aiosqlite.connect(path, isolation_level=None)
        # the writer waits while a RESTART checkpoint waits out readers: not for long
        await checkpointer.execute(f"PRAGMA busy_timeout = {min(busy_timeout_ms, 250)}")
        await checkpointer.execute(f"PRAGMA journal_size_limit = {int(wal_limit) // 2}")
    except sqlite3.Error as exc:
        for opened in (checkpointer, conn):
            if opened is not None:
                await opened.close()
        raise StorageUnavailableError(
            f"cannot write the database {path}: {exc} (check that the file and its folder "
            "are writable and that no other process holds a lock on it)"
        ) from exc
    return Database(
        SqliteConnection(conn),
        path,
        readonly=False,
        checkpointer=checkpointer,
        checkpoint_interval=checkpoint_interval,
        wal_limit=wal_limit,
    )


async def _open_readonly(
    path: Path, busy_timeout_ms: int, *, immutable: bool
) -> aiosqlite.Connection:
    """A read-only connection that has read the schema (an error if it cannot)."""
    # as_uri() percent-escapes the path: a raw `#`, `?` or `%` would end or garble the
    # file name (and drop mode=ro: SQLite then created an empty file at the cut name)
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        async with conn.execute("SELECT count(*) FROM schema_migrations") as cursor:
            await cursor.fetchone()
    except BaseException:
        await conn.close()
        raise
    return conn
