"""Reporting tells the truth about itself: it is degraded whenever reports cannot be
delivered (connection errors and 5xx past a short grace, not only a deleted webhook), and a
report that went to the log says ``logged``, not ``sent``.

Real parts: a SQLite file, the real sender against a closed loopback port or the loopback
Discord fake, the real outbox loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.lab.loopback import FakeDiscord, FakeTwitchServer, free_port, server_error
from bot.reporting.discord import DiscordSender, LogSender
from bot.reporting.outbox import OutboxWorker
from bot.secret import Secret
from storage.database import Database
from tests.conftest import ROOT
from tests.test_end_to_end import fetch, poll, rows, start_bot, stop, wait_for
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


async def test_healthz_and_health_say_degraded_while_discord_cannot_be_reached(
    tmp_path: Path,
) -> None:
    """The running bot, its webhook on a port where nothing listens (as a DNS failure, no
    connection at all): /healthz answers 503 with the reason and ``chatwarden health``
    exits 1 saying it; before, both said reporting was ok with reports pending."""
    db = tmp_path / "cw.db"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    async with FakeTwitchServer() as irc:
        env.update(
            CHATWARDEN_CHANNELS="streamer",
            CHATWARDEN_IRC_URL=irc.url,
            CHATWARDEN_DB=str(db),
            CHATWARDEN_MODEL_URI="bundled",  # needs no data dir
            CHATWARDEN_BATCH_MAX_WAIT_MS="10",
            CHATWARDEN_DISCORD_WEBHOOK_URL=CLOSED,
            CHATWARDEN_METRICS_PORT=str(port),
            PYTHONPATH=str(ROOT),
        )
        proc = await start_bot(env, tmp_path, "run")
        try:
            await irc.wait_joined({"streamer"}, within=60)
            status, body = await poll(f"http://127.0.0.1:{port}/healthz")
            assert status == 200 and json.loads(body)["reporting"] == "ok"
            for i in range(3):  # flagged three times: a report, whatever else decides
                await irc.send_privmsg("streamer", "rude", "kys you dumb bitch", user_id="7")
                await irc.send_privmsg("streamer", "rude", f"you are a fucking idiot {i}")
            await wait_for(lambda: rows(db, "SELECT count(*) FROM reports") >= [(1,)], 30)
            health: dict[str, object] = {}
            deadline = time.monotonic() + 30  # 3 failed deliveries: about 6 s of backoff
            while time.monotonic() < deadline and health.get("reporting") != "degraded":
                status, body = await fetch(f"http://127.0.0.1:{port}/healthz")
                health = json.loads(body)
                await asyncio.sleep(0.5)
            assert status == 503 and health["reporting"] == "degraded", body
            assert "Connect" in str(health["reporting_error"])
            assert CLOSED not in body
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "bot", "health"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 1 and '"reporting": "degraded"' in done.stdout
        finally:
            code, err = await stop(proc)
        assert code == 0, err
