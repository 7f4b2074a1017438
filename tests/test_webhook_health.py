"""A deleted Discord webhook (404 Unknown Webhook) is said plainly, once, and nothing is lost.

``doctor`` GETs the webhook and fails on it; the running bot marks reporting degraded in
``/healthz`` and the metrics, logs one error (not one per retry) and keeps the reports.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from bot.lab.loopback import FakeDiscord, FakeTwitchServer, free_port
from tests.test_end_to_end import bot_env, fetch, poll, rows, start_bot, stop, wait_for


def _doctor(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "doctor", "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_doctor_checks_the_webhook_exists(tmp_path: Path) -> None:
    async with FakeTwitchServer() as irc, FakeDiscord() as discord:
        env = bot_env(tmp_path / "cw.db", irc, discord)
        done = await asyncio.to_thread(_doctor, env, tmp_path)
        [hook] = [c for c in json.loads(done.stdout) if c["name"] == "discord webhook"]
        assert hook["ok"] and "exists" in hook["detail"], hook
        discord.deleted = True
        done = await asyncio.to_thread(_doctor, env, tmp_path)
        assert done.returncode == 1
        [hook] = [c for c in json.loads(done.stdout) if c["name"] == "discord webhook"]
        assert not hook["ok"] and "404" in hook["detail"] and "deleted" in hook["detail"]
        assert "Unknown Webhook" in hook["detail"] and hook["fix"]
        assert "fake-token_ABC" not in done.stdout + done.stderr


async def test_deleted_webhook_degrades_health_logs_once_and_keeps_reports(
    tmp_path: Path,
) -> None:
    db = tmp_path / "cw.db"
    port = free_port()
    async with FakeTwitchServer() as irc, FakeDiscord() as discord:
        discord.deleted = True
        env = bot_env(db, irc, discord)
        env["CHATWARDEN_METRICS_PORT"] = str(port)
        proc = await start_bot(env, tmp_path, "run")
        try:
            await irc.wait_joined({"streamer", "other_chan"}, within=30)
            status, body = await poll(f"http://127.0.0.1:{port}/healthz")
            assert status == 200 and json.loads(body)["reporting"] == "ok"
            await irc.send_privmsg("streamer", "racist", "you are a nigger", user_id="901")
            await wait_for(lambda: discord.requests >= 1)
            await irc.send_privmsg("other_chan", "racist2", "you are a nigger", user_id="902")
            await wait_for(lambda: rows(db, "SELECT count(*) FROM reports") == [(2,)])
            await asyncio.sleep(1.0)
            status, body = await fetch(f"http://127.0.0.1:{port}/healthz")
            health = json.loads(body)
            assert status == 503, body
            assert health["reporting"] == "degraded" and health["reports_pending"] == 2
            assert "404" in health["reporting_error"]
            _, metrics = await fetch(f"http://127.0.0.1:{port}/metrics")
            assert "chatwarden_reporting_degraded 1.0" in metrics
            assert "chatwarden_reports_pending 2.0" in metrics
        finally:
            code, err = await stop(proc)
        assert code == 0, err
    assert rows(db, "SELECT status, count(*) FROM reports GROUP BY status") == [("pending", 2)]
    errors = [line for line in err.splitlines() if " ERROR " in line or "WARNING" in line]
    assert len(errors) == 1, errors  # one clear line, not one per retry
    assert "deleted" in errors[0] and "stay queued" in errors[0]
    assert "fake-token_ABC" not in err
