from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from bot.lab.loopback import free_port
from storage.database import Database
from storage.errors import StorageUnavailableError
from storage.location import DatabaseLocation, PostgresUrl
from storage.migrations import MIGRATIONS
from storage.records import (
    BatchRecord,
    FlagRecord,
    ReportDraft,
    SeenMessage,
    UserCounts,
)
from tests.postgres_server import PostgresServer


def seen(i: int, user: str = "u1", channel: str = "c") -> SeenMessage:
    return SeenMessage(f"m{i}", channel, user, user, f"login_{user}", f"Name_{user}", 1000.0 + i)


def flag(i: int, user: str = "u1", channel: str = "c", score: float = 0.7) -> FlagRecord:
    return FlagRecord(
        f"m{i}",
        channel,
        user,
        f"login_{user}",
        f"text {i}",
        score,
        ("profanity",),
        "rules-test",
        "policy-test",
        1000.0 + i,
        2000.0,
    )


async def raw_rows(location: DatabaseLocation, sql: str) -> list[tuple[object, ...]]:
    """Rows read straight from the backend's own driver, past our code."""
    if isinstance(location, PostgresUrl):
        conn = await asyncpg.connect(location.url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    with sqlite3.connect(location) as sconn:
        return list(sconn.execute(sql).fetchall())


async def test_migrations_are_recorded_once(db_location: DatabaseLocation) -> None:
    async with Database.open(db_location):
        pass
    async with Database.open(db_location):
        pass
    names = [r[0] for r in await raw_rows(db_location, "SELECT name FROM schema_migrations")]
    assert names == [name for name, _ in MIGRATIONS]
    if isinstance(db_location, Path):
        assert (await raw_rows(db_location, "PRAGMA journal_mode"))[0][0] == "wal"


async def test_one_schema_on_both_backends(tmp_path: Path, pg_url: PostgresUrl) -> None:
    """The same migrations make the same tables and columns on SQLite and PostgreSQL."""
    path = tmp_path / "cw.db"
    for location in (path, pg_url):
        async with Database.open(location):
            pass
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        sqlite_columns = {
            (table, row[1])
            for table in tables
            for row in conn.execute(f"PRAGMA table_info({table})")
        }
    pg_columns = set(
        await raw_rows(
            pg_url,
            "SELECT table_name::text, column_name::text FROM information_schema.columns "
            "WHERE table_schema = 'public'",
        )
    )
    assert sqlite_columns == pg_columns
    assert ("channel_leases", "owner") in pg_columns and ("reports", "claimed_by") in pg_columns
    # epoch seconds keep their sub-millisecond part (PostgreSQL's REAL would round them)
    [(kind,)] = await raw_rows(
        pg_url,
        "SELECT data_type::text FROM information_schema.columns "
        "WHERE table_name = 'seen_messages' AND column_name = 'seen_at'",
    )
    assert kind == "double precision"


async def test_batch_counts_dedup_and_reports(db_location: DatabaseLocation) -> None:
    async with Database.open(db_location) as db:
        batch = BatchRecord(
            messages=(seen(1), seen(2), seen(3, "u2")),
            flags=(flag(1), flag(2, score=0.95)),
            reports=(ReportDraft("c", "u1", "login_u1", "Name_u1", "high score", 3000.0),),
        )
        [report_id] = await db.record_batch(batch)
        assert await db.filter_unseen(["m1", "m2", "m4"]) == {"m4"}
        # a redelivered batch is ignored by the pipeline; even if written, flags stay unique
        await db.record_batch(BatchRecord((), (flag(1),)))
        assert await db.count("flagged_messages") == 2
        history = await db.history("LOGIN_U1")
        assert history is not None
        assert history.counts == (UserCounts("c", 2, 2, 1),)
        assert [f.msg_id for f in history.flags] == ["m2", "m1"]  # newest first
        assert all(f.report_id == report_id for f in history.flags)
        # the report is stored as rows, to be rendered when it is sent
        [pending] = await db.pending_reports(now=3000.0)
        assert pending.report == batch.reports[0] and pending.payload is None
        assert pending.counts == UserCounts("c", 2, 2, 1)  # the counts when it was written
        assert [f.msg_id for f in pending.flags] == ["m1", "m2"]  # oldest first
        assert {f.policy_version for f in pending.flags} == {"policy-test"}
        # later flags are unreported until the next report takes them
        await db.record_batch(BatchRecord((seen(5),), (flag(5),)))
        await db.record_batch(
            BatchRecord(
                (seen(6),),
                (flag(6),),
                (ReportDraft("c", "u1", "login_u1", "Name_u1", "again", 4000.0),),
            )
        )
        reports = await db.pending_reports(now=5000.0)
        assert [f.msg_id for f in reports[1].flags] == ["m5", "m6"]
        assert reports[1].counts == UserCounts("c", 4, 4, 2)  # report #2
        assert reports[0].counts == UserCounts("c", 2, 2, 1)  # a snapshot: unchanged


async def test_outbox_lifecycle(db_location: DatabaseLocation) -> None:
    async with Database.open(db_location) as db:
        draft = ReportDraft("c", "u1", "login_u1", "Name_u1", "why", 100.0)
        [rid] = await db.record_batch(BatchRecord((seen(1),), (flag(1),), (draft,)))
        assert await db.next_report_due() == 100.0
        await db.mark_reports_retry([rid], next_attempt=200.0, error="HTTP 500")
        assert await db.pending_reports(now=150.0) == []
        [item] = await db.pending_reports(now=200.0)
        assert item.attempts == 1
        await db.defer_reports([rid], 300.0)
        assert await db.pending_reports(now=250.0) == []
        await db.mark_reports_sent([rid], sent_at=301.0, payloads={rid: '{"title": "sent"}'})
        assert await db.pending_reports(now=1e12) == [] and await db.next_report_due() is None
        [summary] = (await db.history("login_u1")).reports  # type: ignore[union-attr]
        assert (summary.status, summary.attempts, summary.sent_at) == ("sent", 2, 301.0)
    # what was sent stays on record
    assert await raw_rows(db_location, "SELECT payload FROM reports") == [('{"title": "sent"}',)]


async def test_flagged_users_worst_first(db_location: DatabaseLocation) -> None:
    async with Database.open(db_location) as db:
        await db.record_batch(
            BatchRecord(
                (seen(1), seen(2), seen(3, "u2"), seen(4, "u3", channel="d")),
                (flag(1), flag(2), flag(3, "u2", score=0.99), flag(4, "u3", "d")),
            )
        )
        users = await db.flagged_users(since=0)
        assert [(u.login, u.flagged) for u in users][:2] == [("login_u1", 2), ("login_u2", 1)]
        assert [u.login for u in await db.flagged_users(since=0, channel="#D")] == ["login_u3"]
        assert await db.flagged_users(since=1e12) == []


async def test_prune_seen_keeps_flags(db_location: DatabaseLocation) -> None:
    async with Database.open(db_location) as db:
        await db.record_batch(BatchRecord((seen(1), seen(500)), (flag(1),)))
        assert await db.prune_seen(before=1100.0) == 1
        assert await db.count("seen_messages") == 1
        assert await db.count("flagged_messages") == 1


def _make_unwritable(path: Path) -> Callable[[], None]:
    """Make ``path`` unwritable even for root (chattr +i); return the undo."""
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        os.chmod(path.parent, 0o555)
        return lambda: (os.chmod(path.parent, 0o755), os.chmod(path, 0o644))  # type: ignore[func-returns-value]
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)  # type: ignore[return-value]


async def test_unwritable_database_fails_at_open(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailableError, match="does not exist"):
        async with Database.open(tmp_path / "nope" / "cw.db"):
            pass
    (tmp_path / "a_dir.db").mkdir()
    with pytest.raises(StorageUnavailableError, match="is a folder, not a database file"):
        async with Database.open(tmp_path / "a_dir.db"):
            pass
    path = tmp_path / "ro.db"
    async with Database.open(path):
        pass
    undo = _make_unwritable(path)
    try:
        with pytest.raises(StorageUnavailableError, match="cannot write"):
            async with Database.open(path):
                pass
        # reading still works, for `chatwarden history` on a read-only copy
        async with Database.open_readonly(path) as db:
            assert await db.count("flagged_messages") == 0
    finally:
        undo()


async def test_readonly_open_needs_an_existing_database(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailableError, match="no chatwarden database"):
        async with Database.open_readonly(tmp_path / "missing.db"):
            pass
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.close()
    with pytest.raises(StorageUnavailableError, match="not a readable chatwarden database"):
        async with Database.open_readonly(other):
            pass


async def test_locked_database_fails_at_open(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    async with Database.open(path):
        pass
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageUnavailableError, match="lock"):
            async with Database.open(path, busy_timeout_ms=100):
                pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_flag_evidence_round_trips(db_location: DatabaseLocation) -> None:
    async with Database.open(db_location) as db:
        evidence = FlagRecord(
            "m9", "c", "u1", "login_u1", "t", 0.9, (), "v", "p", 1009.0, 2000.0, ("fuck", "shit")
        )
        await db.record_batch(BatchRecord((seen(9),), (evidence, flag(1))))
        history = await db.history("login_u1")
        assert history is not None
        assert {f.msg_id: f.evidence for f in history.flags} == {"m9": ("fuck", "shit"), "m1": ()}


def _wal_pages(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return (wal.stat().st_size // 4096) if wal.exists() else 0


async def test_checkpoints_run_in_the_background_not_in_commits(tmp_path: Path) -> None:
    """SQLite's own checkpoint runs inside the commit that fills 1,000 WAL pages and waits
    for the disk; here commits never checkpoint, a second connection does it."""
    path = tmp_path / "cw.db"
    batches = [BatchRecord(tuple(seen(b * 5000 + i) for i in range(5000))) for b in range(40)]
    async with Database.open(path, checkpoint_interval=3600) as db:
        for batch in batches:
            await db.record_batch(batch)
        assert _wal_pages(path) > 2000  # no commit reset the log (SQLite's default: 1,000)
        assert db.checkpoints == 0
    async with Database.open(path, checkpoint_interval=0.02) as db:
        for batch in batches[:10]:
            await db.record_batch(
                BatchRecord(tuple(seen(int(m.msg_id[1:]) + 10**6) for m in batch.messages))
            )
        for _ in range(200):
            if db.checkpointed_pages > 0:
                break
            await asyncio.sleep(0.02)
        assert db.checkpoints >= 1 and db.checkpointed_pages > 300
        task = db._checkpoint_task
        assert await db.count("seen_messages") == 250_000
    assert task is not None and task.done()  # closing stops it: no orphan task
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM seen_messages").fetchone()[0] == 250_000


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
async def test_a_failing_checkpoint_is_logged_once_retried_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk, for real: a file-size limit lets the WAL take the new pages but not
    the database file grow, so the background checkpoint fails; it is logged once, the
    writes go on, and once there is room again the next checkpoint catches up."""
    import resource

    path = tmp_path / "cw.db"
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a killed process
    try:
        async with Database.open(path, checkpoint_interval=0.02) as db:
            n = 0

            async def write(batches: int) -> None:
                nonlocal n
                for _ in range(batches):
                    await db.record_batch(BatchRecord(tuple(seen(n + i) for i in range(500))))
                    n += 500
                    await asyncio.sleep(0.03)  # a checkpoint runs between writes

            await write(20)  # copied into the file each round: the WAL restarts small
            rounds = db.checkpoints
            for _ in range(500):  # two more rounds: everything copied, the file full-sized
                if db.checkpoints >= rounds + 2:
                    break
                await asyncio.sleep(0.01)
            room = path.stat().st_size + 8192
            assert _wal_pages(path) * 4096 < room  # the WAL may still be rewritten
            resource.setrlimit(resource.RLIMIT_FSIZE, (room, limits[1]))
            with caplog.at_level(logging.INFO, logger="storage.database"):
                await write(2)  # stored in the WAL; the database file cannot grow
                failed = db.checkpoints
                resource.setrlimit(resource.RLIMIT_FSIZE, limits)
                for _ in range(200):
                    if db.checkpoints > failed:
                        break
                    await asyncio.sleep(0.02)
            warnings = [r for r in caplog.records if "checkpoint" in r.getMessage()]
            assert [r.levelno for r in warnings] == [logging.WARNING, logging.INFO]
            assert "failed" in warnings[0].getMessage() and db.checkpoints > failed
            assert await db.count("seen_messages") == 11_000
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert path.stat().st_size > room  # caught up once the limit was lifted
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM seen_messages").fetchone()[0] == 11_000


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
async def test_a_full_disk_fails_the_batch_whole_and_the_retry_counts_once(
    tmp_path: Path,
) -> None:
    """The writer itself hits a full disk: a file-size limit leaves the WAL no room for
    a batch. The batch fails with SQLite's own error, nothing of it is stored (no
    message, flag, count or report), the database stays sound and usable, and the same
    batch written again once there is room is counted exactly once."""
    import resource

    path = tmp_path / "cw.db"
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a killed process
    big = BatchRecord(
        tuple(seen(10_000 + i, user=f"u{i}") for i in range(3000)),
        tuple(flag(10_000 + i, user=f"u{i}") for i in range(0, 3000, 3)),
        (ReportDraft("c", "u0", "login_u0", "Name_u0", "test", 2000.0),),
    )
    try:
        async with Database.open(path, checkpoint_interval=3600) as db:
            await db.record_batch(BatchRecord(tuple(seen(i) for i in range(100)), (flag(1),)))
            wal = path.with_name(path.name + "-wal")
            room = max(path.stat().st_size, wal.stat().st_size) + 4096
            resource.setrlimit(resource.RLIMIT_FSIZE, (room, limits[1]))
            try:
                with pytest.raises(sqlite3.OperationalError) as failed:
                    await db.record_batch(big)
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, limits)
            message = str(failed.value)
            assert str(path) in message and "disk may be full" in message
            assert "nothing of this write was stored" in message
            assert await db.count("seen_messages") == 100
            assert await db.count("flagged_messages") == 1
            assert await db.count("users") == 1
            assert await db.count("reports") == 0
            assert await db.history("login_u2") is None
            assert await db.record_batch(big) == [1]  # room again: the retry goes through
            assert await db.count("seen_messages") == 3100
            assert await db.count("flagged_messages") == 1001
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts = conn.execute(
            "SELECT messages_seen, messages_flagged FROM user_channel_counts WHERE user_key = 'u3'"
        ).fetchall()
        assert counts == [(1, 1)]


async def test_a_batch_stores_its_moderation_events_and_flag_notes(
    db_location: DatabaseLocation,
) -> None:
    from dataclasses import replace

    from storage.records import ModerationEvent

    timeout = ModerationEvent("c", "timeout", 1003.0, "login_u1", "u1", duration=600)
    noted = replace(flag(2), note="like 3 messages your moderators removed: 'hyde'")
    async with Database.open(db_location) as db:
        await db.record_batch(BatchRecord((seen(1), seen(2)), (noted,), moderation=(timeout,)))
        assert await db.moderation_events("c") == [timeout]
        assert await db.moderation_events("c", since=1004.0) == []
        history = await db.history("login_u1")
        assert history is not None and history.flags[0].note == noted.note
        await db.record_batch(BatchRecord((), moderation=(replace(timeout, event_id="e1"),) * 2))
        assert len(await db.moderation_events("c")) == 2  # an event id is stored once


async def test_norms_are_saved_and_a_reset_wins_over_an_older_learner(
    db_location: DatabaseLocation,
) -> None:
    from storage.records import NormsSnapshot

    async with Database.open(db_location) as db:
        first = NormsSnapshot("c", '{"terms": 1}', 3, epoch=0, updated_at=1.0)
        assert await db.save_norms([first]) == []
        assert await db.save_norms([NormsSnapshot("c", '{"terms": 2}', 4, updated_at=2.0)]) == []
        [saved] = await db.channel_norms("c")
        assert (saved.state, saved.generation, saved.epoch) == ('{"terms": 2}', 4, 0)
        # a reset (the CLI, while a bot runs): the bot's next save is refused as stale
        assert await db.reset_norms("c", at=3.0) == 1
        assert await db.save_norms([NormsSnapshot("c", '{"terms": 3}', 5, epoch=0)]) == ["c"]
        [reset] = await db.channel_norms()
        assert (reset.state, reset.generation, reset.epoch) == ("{}", 0, 1)
        # a learner that started afresh at the new epoch saves again
        assert await db.save_norms([NormsSnapshot("c", "{}", 1, epoch=1, frozen=True)]) == []
        [again] = await db.channel_norms("c")
        assert again.generation == 1 and again.frozen
        # resetting a channel never saved makes its row at epoch 1
        assert await db.reset_norms("never", at=4.0) == 1


# -- PostgreSQL: the URL, its errors, and several workers on one database ---------------


def test_a_database_url_is_parsed_and_its_password_never_shown() -> None:
    from storage.errors import DatabaseUrlError
    from storage.location import parse_database

    url = parse_database("postgresql://bot:hunter2@db.example:6543/chatwarden")
    assert isinstance(url, PostgresUrl)
    assert (url.host, url.port, url.database, url.user) == ("db.example", 6543, "chatwarden", "bot")
    for shown in (str(url), repr(url), url.redacted):
        assert "hunter2" not in shown and "bot:***@db.example:6543" in shown
    assert parse_database("chatwarden.db") == Path("chatwarden.db")
    assert parse_database("postgres://h/d") == parse_database("postgres://h/d")  # alias scheme
    with pytest.raises(DatabaseUrlError, match="mysql:// is not a database") as bad:
        parse_database("mysql://bot:hunter2@h/d")
    with pytest.raises(DatabaseUrlError, match="must name a host and a database") as missing:
        parse_database("postgresql://bot:hunter2@db.example:5432/")
    with pytest.raises(DatabaseUrlError, match="not a valid PostgreSQL URL") as port:
        parse_database("postgresql://bot:hunter2@db.example:port/cw")
    for error in (bad, missing, port):
        assert "hunter2" not in str(error.value)


async def test_an_unreachable_server_or_a_wrong_password_is_a_clear_error(
    postgres_server: PostgresServer,
) -> None:
    nobody = PostgresUrl(
        f"postgresql://chatwarden:hunter2@127.0.0.1:{free_port()}/cw",
        "127.0.0.1",
        0,
        "cw",
        "chatwarden",
    )
    with pytest.raises(StorageUnavailableError, match="cannot reach the PostgreSQL server") as e1:
        async with Database.open(nobody):
            pass
    wrong = postgres_server.url(password="hunter2")
    with pytest.raises(StorageUnavailableError, match="refused the login") as e2:
        async with Database.open(wrong):
            pass
    missing = postgres_server.url("no_such_db")
    with pytest.raises(StorageUnavailableError, match="no database 'no_such_db'") as e3:
        async with Database.open(missing):
            pass
    for error in (e1, e2, e3):
        assert "hunter2" not in str(error.value) and "pg-test-s3cret" not in str(error.value)


async def test_a_read_only_connection_reads_and_refuses_writes(pg_url: PostgresUrl) -> None:
    with pytest.raises(StorageUnavailableError, match="holds no chatwarden database yet"):
        async with Database.open_readonly(pg_url):
            pass
    async with Database.open(pg_url) as db:
        await db.record_batch(BatchRecord((seen(1),), (flag(1),)))
    async with Database.open_readonly(pg_url) as reader:
        assert await reader.count("flagged_messages") == 1
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await reader.record_batch(BatchRecord((seen(2),)))
        assert await reader.count("seen_messages") == 1


async def test_two_workers_claim_each_report_once(db_location: DatabaseLocation) -> None:
    """Two outboxes on one database claim at the same moment: each report goes to one of
    them; a sent report is claimed by nobody again; a claim whose worker died lapses."""
    drafts = tuple(
        ReportDraft("c", f"u{i}", f"login_u{i}", f"Name_u{i}", "why", 100.0) for i in range(40)
    )
    async with Database.open(db_location) as a, Database.open(db_location) as b:
        await a.record_batch(
            BatchRecord(
                tuple(seen(i, f"u{i}") for i in range(40)),
                tuple(flag(i, f"u{i}") for i in range(40)),
                drafts,
            )
        )
        first, second = await asyncio.gather(
            a.claim_reports(200.0, "worker-a", limit=25),
            b.claim_reports(200.0, "worker-b", limit=25),
        )
        ids_a, ids_b = {i.id for i in first}, {i.id for i in second}
        assert not ids_a & ids_b and len(ids_a | ids_b) == 40
        assert all(len(item.flags) == 1 for item in [*first, *second])
        # worker-a sends its own; worker-b dies holding its claim
        await a.mark_reports_sent(sorted(ids_a), sent_at=201.0)
        assert await a.claim_reports(202.0, "worker-a", limit=50) == []  # b's claim holds
        lapsed = await a.claim_reports(200.0 + 61.0, "worker-a", limit=50)
        assert {i.id for i in lapsed} == ids_b  # after the hold, another worker sends them
        await a.mark_reports_sent(sorted(ids_b), sent_at=262.0)
        assert await b.claim_reports(1e12, "worker-b", limit=50) == []
        assert await a.count_pending() == 0


async def test_two_writers_of_the_same_chat_count_it_once(pg_url: PostgresUrl) -> None:
    """While a channel changes hands both workers read it for a moment: the same batch
    written by both at once is stored, counted and reported once."""
    batch = BatchRecord(
        tuple(seen(i) for i in range(50)),
        tuple(flag(i) for i in range(0, 50, 5)),
        (ReportDraft("c", "u1", "login_u1", "Name_u1", "three strikes", 3000.0),),
    )
    async with Database.open(pg_url) as a, Database.open(pg_url) as b:
        results = await asyncio.gather(a.record_batch(batch), b.record_batch(batch))
        assert sorted(len(r) for r in results) == [0, 1]  # one report, written by one
        history = await a.history("login_u1")
        assert history is not None
        assert history.counts == (UserCounts("c", 50, 10, 1),)
        assert await a.count("flagged_messages") == 10


async def test_a_lost_server_connection_fails_one_write_and_the_retry_stores_it(
    pg_url: PostgresUrl,
) -> None:
    """The server ends the bot's connection (a restart, a failover), idle or in the middle
    of a write: the write fails with an error the pipeline retries (never another kind),
    the retry connects again and stores it, counted once."""
    from storage.errors import WRITE_ERRORS

    async def terminate() -> None:
        admin = await asyncpg.connect(pg_url.url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'chatwarden' AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()

    async def write(batch: BatchRecord) -> int:
        """What the pipeline does: retry until it is stored; the failures it saw."""
        for failures in range(10):
            try:
                await db.record_batch(batch)
                return failures
            except WRITE_ERRORS:
                await asyncio.sleep(0.05)
        raise AssertionError("never stored")

    async with Database.open(pg_url) as db:
        await db.record_batch(BatchRecord((seen(0),)))
        await terminate()  # while idle
        assert await write(BatchRecord((seen(1),), (flag(1),))) <= 1
        for i in range(2, 8):  # while writing
            batch = BatchRecord(tuple(seen(i * 1000 + k) for k in range(300)), (flag(i * 1000),))
            await asyncio.gather(write(batch), terminate())
        assert db.reconnects >= 2

        async def count(table: str) -> int:
            """Read as the pipeline writes: the last terminate may land after its write
            and break the idle connection, which the next call finds (retryable)."""
            for _ in range(3):
                try:
                    return await db.count(table)
                except WRITE_ERRORS:
                    await asyncio.sleep(0.05)
            raise AssertionError("never read")

        assert await count("seen_messages") == 2 + 6 * 300
        assert await count("flagged_messages") == 7


async def test_a_nul_character_in_chat_is_stored_not_refused(db_location: DatabaseLocation) -> None:
    """PostgreSQL's text cannot hold NUL: such a line (from a replayed log, say) is stored
    with U+FFFD in its place instead of failing its whole batch on every retry."""
    from dataclasses import replace

    odd = replace(flag(1), text="bad\x00word", context=())
    async with Database.open(db_location) as db:
        await db.record_batch(BatchRecord((seen(1),), (odd,)))
        history = await db.history("login_u1")
    assert history is not None
    expected = "bad\x00word" if isinstance(db_location, Path) else "bad\ufffdword"
    assert history.flags[0].text == expected
