"""Reporting tells the truth about itself: it is degraded whenever reports cannot be
delivered (connection errors and 5xx past a short grace, not only a deleted webhook), and a
report that went to the log says ``logged``, not ``sent``.

Real parts: a SQLite file, the real sender against a closed loopback port or the loopback
Discord fake, the real outbox loop.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.lab.loopback import FakeDiscord, server_error
from bot.reporting.discord import DiscordSender, LogSender
from bot.reporting.outbox import OutboxWorker
from bot.secret import Secret
from storage.database import Database
from tests.test_reporting import _db_with_reports, _run_worker_until

CLOSED = "http://127.0.0.1:9/api/webhooks/1/x"  # nothing listens on port 9 (discard)


async def test_unreachable_discord_degrades_reporting_after_a_short_grace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await _db_with_reports(tmp_path / "cw.db", 2)
    async with Database.open(tmp_path / "cw.db") as db, DiscordSender(Secret(CLOSED)) as sender:
        worker = OutboxWorker(db, sender, retry_base=0.05)
        await _run_worker_until(db, worker, lambda: worker.failed >= 1)
        assert worker.degraded is None  # one failure is within the grace
        with caplog.at_level(logging.ERROR, logger="bot.reporting"):
            await _run_worker_until(db, worker, lambda: worker.failed >= 5)
        assert worker.degraded is not None
        assert "Connect" in worker.degraded and "2 report(s)" in worker.degraded
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, errors  # said once, not once per retry
        assert CLOSED not in worker.degraded  # the URL holds the token
        assert await db.count_pending() == 2  # nothing lost


async def test_5xx_past_the_grace_degrades_and_a_delivery_clears_it(tmp_path: Path) -> None:
    await _db_with_reports(tmp_path / "cw.db", 1)
    async with FakeDiscord() as discord, Database.open(tmp_path / "cw.db") as db:
        discord.script = [server_error(503)] * 4
        async with DiscordSender(Secret(discord.webhook_url)) as sender:
            worker = OutboxWorker(db, sender, retry_base=0.2)
            await _run_worker_until(db, worker, lambda: worker.degraded is not None)
            assert worker.degraded is not None and "503" in worker.degraded
            await _run_worker_until(db, worker, lambda: worker.sent == 1)
            assert worker.sent == 1 and worker.degraded is None
        assert len(discord.embeds) == 1


async def test_a_report_that_went_to_the_log_says_logged(tmp_path: Path) -> None:
    await _db_with_reports(tmp_path / "log.db", 1)
    async with Database.open(tmp_path / "log.db") as db:
        worker = OutboxWorker(db, LogSender())
        await _run_worker_until(db, worker, lambda: worker.sent == 1)
        history = await db.history("user0")
        assert history is not None and history.reports[0].status == "logged"
        logged, total = await db.reports_page("logged")
        assert total == 1 and logged[0].status == "logged"
        assert (await db.reports_page("sent"))[1] == 0
    await _db_with_reports(tmp_path / "discord.db", 1)
    async with FakeDiscord() as discord, Database.open(tmp_path / "discord.db") as db:
        async with DiscordSender(Secret(discord.webhook_url)) as sender:
            worker = OutboxWorker(db, sender)
            await _run_worker_until(db, worker, lambda: worker.sent == 1)
        history = await db.history("user0")
        assert history is not None and history.reports[0].status == "sent"
