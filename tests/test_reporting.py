from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from bot.lab.loopback import FakeDiscord, embed_problems, rate_limited, server_error
from bot.reporting.discord import DiscordSender, LogSender, embed_chars, pack_embeds
from bot.reporting.outbox import OutboxWorker
from bot.reporting.render import escape_markdown, render_report
from bot.secret import Secret
from storage.database import Database
from storage.migrations import MIGRATIONS
from storage.records import (
    BatchRecord,
    FlaggedMessage,
    FlagRecord,
    ReportDraft,
    SeenMessage,
    UserCounts,
)


def flagged(i: int, text: str = "you are trash", score: float = 0.8) -> FlaggedMessage:
    return FlaggedMessage(
        f"m{i}",
        "chan",
        "troll",
        text,
        score,
        ("insult",),
        "rules-x",
        "policy-x",
        1_700_000_000.0 + i,
        1_700_000_100.0,
        None,
    )


DRAFT = ReportDraft("chan", "u1", "troll", "Troll", "3 flagged messages within 10 min", 1.7e9)


def test_escape_markdown_and_mentions() -> None:
    assert escape_markdown("**bold** @everyone <@123> [x](http://y)") == (
        r"\*\*bold\*\* \@everyone \<\@123\> \[x\]\(http\://y\)"
    )


def test_render_report_shape() -> None:
    embed = render_report(
        DRAFT, [flagged(1), flagged(2, "@here _hi_")], UserCounts("chan", 40, 2, 1)
    )
    assert embed["url"] == "https://www.twitch.tv/troll"
    assert "Troll" in embed["title"] and "#chan" in embed["title"]
    assert "40 messages seen, 2 flagged" in embed["description"]
    assert [f["value"] for f in embed["fields"]] == ["you are trash", r"\@here \_hi\_"]
    assert embed["fields"][0]["name"].startswith("0.80 · insult · 2023-11-14")
    assert embed["footer"]["text"] == "chatwarden · model rules-x"
    assert embed["timestamp"].startswith("2023-11-14T22:13:20")
    assert not embed_problems({"embeds": [embed]})


def _json(embed: dict[str, Any]) -> str:
    """How the outbox serialises an embed for the webhook and for ``reports.payload``."""
    return json.dumps(embed, ensure_ascii=False)


def test_render_report_json_is_pinned_byte_for_byte() -> None:
    """The exact JSON the bot has always stored and sent: key order, escaping, the colour,
    evidence wording (rules "matched", networks "driven by"), the footer, the timestamp."""
    draft = ReportDraft("chan", "u1", "troll", "Troll", "3 flagged <@1> *msgs*", 1.7e9)
    flags = [
        flagged(1),
        FlaggedMessage(
            "m2",
            "chan",
            "troll",
            "@here _hi_",
            0.95,
            ("insult",),
            "cnn-3",
            "policy-x",
            1_700_000_002.0,
            1_700_000_100.0,
            None,
            ("hi", "trash"),
        ),
        FlaggedMessage(
            "m3",
            "chan",
            "troll",
            "",
            0.91,
            ("insult",),
            "rules-x",
            "policy-x",
            1_700_000_003.0,
            1_700_000_100.0,
            None,
            ("x",),
        ),
    ]
    assert _json(render_report(draft, flags, UserCounts("chan", 40, 3, 2))) == (
        '{"title": "Flagged user: Troll in #chan", "description": "**Why:** 3 flagged '
        "\\\\<\\\\@1\\\\> \\\\*msgs\\\\*\\n**In #chan:** 40 messages seen, 3 flagged, report #2"
        '\\n**Categories:** insult", "url": "https://www.twitch.tv/troll", "fields": '
        '[{"name": "0.80 · insult · 2023-11-14 22:13:21 UTC", "value": "you are trash", '
        '"inline": false}, {"name": "0.95 · insult · driven by “hi”, “trash” · '
        '2023-11-14 22:13:22 UTC", "value": "\\\\@here \\\\_hi\\\\_", "inline": false}, '
        '{"name": "0.91 · insult · matched “x” · 2023-11-14 22:13:23 UTC", "value": '
        '"(empty)", "inline": false}], "color": 15158332, "footer": {"text": "chatwarden · '
        'model cnn-3, rules-x"}, "timestamp": "2023-11-14T22:13:20+00:00"}'
    )
    other = ReportDraft("chan", "u1", "troll", "트롤", "why", 1.7e9)
    plain = FlaggedMessage(
        "m1", "chan", "troll", "a | b", 0.5, (), "rules-x", None, 1_700_000_001.0, 1.7e9, None
    )
    assert _json(render_report(other, [plain], UserCounts("chan", 1, 1, 1))) == (
        '{"title": "Flagged user: 트롤 \\\\(troll\\\\) in #chan", "description": "**Why:** why'
        '\\n**In #chan:** 1 messages seen, 1 flagged, report #1", "url": '
        '"https://www.twitch.tv/troll", "fields": [{"name": "0.50 · 2023-11-14 22:13:21 UTC", '
        '"value": "a \\\\| b", "inline": false}], "color": 15965202, "footer": {"text": '
        '"chatwarden · model rules-x"}, "timestamp": "2023-11-14T22:13:20+00:00"}'
    )


def test_huge_reports_are_truncated_to_discord_limits() -> None:
    flags = [flagged(i, "💀" * 600 + "x" * 2000) for i in range(40)]
    draft = ReportDraft("chan", "u1", "t" * 25, "N" * 300, "r" * 5000, 1.7e9)
    embed = render_report(draft, flags, UserCounts("chan", 99, 40, 3))
    assert len(embed["fields"]) == 10
    assert "30 earlier flagged message(s) not shown" in embed["description"]
    packed = pack_embeds([(i, embed) for i in range(12)])
    assert sum(len(ids) for ids, _ in packed) == 12
    for _ids, body in packed:
        assert body["allowed_mentions"] == {"parse": []}
        assert len(body["embeds"]) <= 10
        assert sum(embed_chars(e) for e in body["embeds"]) <= 6000
        assert not embed_problems(body), embed_problems(body)


def test_small_reports_share_a_message() -> None:
    embed = render_report(DRAFT, [flagged(1)], UserCounts("chan", 1, 1, 1))
    assert [len(ids) for ids, _ in pack_embeds([(i, embed) for i in range(13)])] == [10, 3]


async def _db_with_reports(path: Path, n: int) -> None:
    async with Database.open(path) as db:
        for i in range(n):
            user = f"user{i}"
            await db.record_batch(
                BatchRecord(
                    (SeenMessage(f"m{i}", "chan", user, user, user, user, 1.7e9 + i),),
                    (
                        FlagRecord(
                            f"m{i}",
                            "chan",
                            user,
                            user,
                            f"bad {i}",
                            0.95,
                            ("hate",),
                            "rules-x",
                            "policy-x",
                            1.7e9 + i,
                            1.7e9,
                        ),
                    ),
                    (ReportDraft("chan", user, user, user, "high score", time.time()),),
                ),
            )


async def _run_worker_until(
    db: Database, worker: OutboxWorker, done: object, limit: float = 10
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not done():  # type: ignore[operator]
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_outbox_sends_and_marks_sent(tmp_path: Path) -> None:
    await _db_with_reports(tmp_path / "cw.db", 12)
    async with FakeDiscord() as discord, Database.open(tmp_path / "cw.db") as db:
        async with DiscordSender(Secret(discord.webhook_url)) as sender:
            worker = OutboxWorker(db, sender)
            await _run_worker_until(db, worker, lambda: worker.sent == 12)
        assert worker.sent == 12
        assert len(discord.received) == 2  # 10 + 2 embeds
        assert {e["title"].split(": ")[1].split(" in")[0] for e in discord.embeds} == {
            f"user{i}" for i in range(12)
        }
        assert await db.pending_reports(now=1e12) == []


async def test_429_is_honoured_and_nothing_is_lost(tmp_path: Path) -> None:
    await _db_with_reports(tmp_path / "cw.db", 3)
    async with FakeDiscord() as discord, Database.open(tmp_path / "cw.db") as db:
        discord.script = [rate_limited(0.3), rate_limited(0.2)]
        async with DiscordSender(Secret(discord.webhook_url)) as sender:
            worker = OutboxWorker(db, sender)
            started = time.monotonic()
            await _run_worker_until(db, worker, lambda: worker.sent == 3)
            elapsed = time.monotonic() - started
        assert worker.rate_limited == 2 and worker.sent == 3
        assert elapsed >= 0.5  # waited retry_after both times
        assert len(discord.embeds) == 3 and discord.requests == 3
        # rate limits are not failures: no attempt was counted against the reports
        history = await db.history("user0")
        assert history is not None and history.reports[0].attempts == 1


async def test_5xx_and_network_errors_are_retried_with_backoff(tmp_path: Path) -> None:
    await _db_with_reports(tmp_path / "cw.db", 2)
    async with FakeDiscord() as discord, Database.open(tmp_path / "cw.db") as db:
        discord.script = [server_error(500), server_error(502)]
        async with DiscordSender(Secret(discord.webhook_url)) as sender:
            worker = OutboxWorker(db, sender, retry_base=0.05)
            await _run_worker_until(db, worker, lambda: worker.sent == 2)
        assert worker.failed == 2 and worker.sent == 2
        assert len(discord.embeds) == 2
        history = await db.history("user0")
        assert history is not None and history.reports[0].attempts == 3
    # a server that is down: reports stay pending with the error recorded
    await _db_with_reports(tmp_path / "down.db", 1)
    async with Database.open(tmp_path / "down.db") as db:
        sender2 = DiscordSender(Secret("http://127.0.0.1:9/api/webhooks/1/x"), timeout=1)
        async with sender2:
            worker = OutboxWorker(db, sender2, retry_base=10)
            await _run_worker_until(db, worker, lambda: worker.failed >= 1)
        [pending] = await db.pending_reports(now=1e12)
        history = await db.history("user0")
        assert history is not None and history.reports[0].status == "pending"
        assert "Connect" in (history.reports[0].last_error or "")
        assert pending.attempts == 1


async def test_exhausted_bucket_pauses_before_next_send() -> None:
    async with FakeDiscord() as discord:
        discord.default_remaining = "0"
        async with DiscordSender(Secret(discord.webhook_url)) as sender:
            result = await sender.send({"embeds": [], "content": "x"})
        assert result.ok and result.pause == 0.2


async def test_log_sender_reports_to_the_log(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="bot.reporting")
    await _db_with_reports(tmp_path / "cw.db", 1)
    async with Database.open(tmp_path / "cw.db") as db:
        worker = OutboxWorker(db, LogSender())
        await _run_worker_until(db, worker, lambda: worker.sent == 1)
    assert "REPORT Flagged user: user0 in #chan" in caplog.text
    assert "bad 0" not in caplog.text  # no chat text at INFO


async def test_outbox_renders_at_send_time_and_keeps_what_it_sent(tmp_path: Path) -> None:
    await _db_with_reports(tmp_path / "cw.db", 2)
    with sqlite3.connect(tmp_path / "cw.db") as conn:  # rows only, nothing rendered yet
        assert conn.execute("SELECT payload FROM reports").fetchall() == [("",), ("",)]
    async with FakeDiscord() as discord, Database.open(tmp_path / "cw.db") as db:
        async with DiscordSender(Secret(discord.webhook_url)) as sender:
            worker = OutboxWorker(db, sender)
            await _run_worker_until(db, worker, lambda: worker.sent == 2)
        assert worker.sent == 2
    with sqlite3.connect(tmp_path / "cw.db") as conn:
        stored = [json.loads(r[0]) for r in conn.execute("SELECT payload FROM reports ORDER BY id")]
    assert stored == discord.embeds  # what was sent is what stays on record
    assert [e["title"] for e in stored] == [f"Flagged user: user{i} in #chan" for i in range(2)]
    assert "high score" in stored[0]["description"] and "report #1" in stored[0]["description"]


def _database_before_0004(path: Path) -> None:
    """A database as the bot left it before migration 0004: migrations 0001-0003 applied."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        for name, sql in MIGRATIONS[:3]:
            conn.executescript(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (name,))
    assert [name for name, _ in MIGRATIONS[:3]][-1] == "0003_flag_evidence"


async def test_a_report_written_before_0004_sends_its_stored_payload(tmp_path: Path) -> None:
    """Before 0004 a report was rendered when it was written; its payload is sent as stored,
    even though its flags and counts would now render differently."""
    path = tmp_path / "old.db"
    _database_before_0004(path)
    old_payload = _json(render_report(DRAFT, [flagged(1)], UserCounts("chan", 7, 1, 1)))
    with sqlite3.connect(path) as conn:
        conn.execute(
            """INSERT INTO reports (id, channel, user_key, login, reason, payload,
                                    next_attempt, created_at)
               VALUES (1, 'chan', 'u1', 'troll', 'why', ?, 0, 0)""",
            (old_payload,),
        )
        conn.execute(
            """INSERT INTO flagged_messages (msg_id, channel, user_key, login, text, score,
                 labels, model_version, sent_at, flagged_at, report_id)
               VALUES ('m1', 'chan', 'u1', 'troll', 'edited since', 0.8, '[]', 'v', 1, 1, 1)"""
        )
    async with FakeDiscord() as discord, Database.open(path) as db:  # migrates to 0004
        [pending] = await db.pending_reports(now=1.0)
        assert pending.counts is None and pending.payload == old_payload
        async with DiscordSender(Secret(discord.webhook_url)) as sender:
            worker = OutboxWorker(db, sender)
            await _run_worker_until(db, worker, lambda: worker.sent == 1)
        assert discord.embeds == [json.loads(old_payload)]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT status, payload FROM reports").fetchall() == [
            ("sent", old_payload)
        ]
        assert conn.execute("SELECT policy_version FROM flagged_messages").fetchall() == [
            (None,)  # flagged before the policy's version was stored
        ]


async def test_a_report_that_cannot_be_rendered_stays_queued_and_others_go_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored flag whose time no calendar holds makes rendering fail: that report stays in
    the outbox with the error recorded, the delivery loop goes on and sends the others."""
    await _db_with_reports(tmp_path / "cw.db", 3)
    with sqlite3.connect(tmp_path / "cw.db") as conn:
        conn.execute("UPDATE flagged_messages SET sent_at = 1e300 WHERE login = 'user1'")
    async with FakeDiscord() as discord, Database.open(tmp_path / "cw.db") as db:
        async with DiscordSender(Secret(discord.webhook_url)) as sender:
            worker = OutboxWorker(db, sender, retry_base=30)
            await _run_worker_until(db, worker, lambda: worker.sent == 2 and worker.failed >= 1)
        assert worker.sent == 2 and worker.failed == 1
        assert sorted(e["title"] for e in discord.embeds) == [
            "Flagged user: user0 in #chan",
            "Flagged user: user2 in #chan",
        ]
        [stuck] = await db.pending_reports(now=1e12)
        assert stuck.report.login == "user1" and stuck.attempts == 1
    assert "could not be rendered" in caplog.text
