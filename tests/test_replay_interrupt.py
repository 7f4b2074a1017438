"""Ctrl-C in a long replay: what was read is stored, the summary says the replay was
interrupted, the exit status is 130, and none of its reports is left pending for good (a
replay's reports are shadow reports that nothing else ever sends: those it could not send,
here held back by Discord's rate limit, are written to the log and marked ``logged``).

Real parts: the installed console script, a hand-made chat log, the loopback Discord fake.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

from bot.lab.loopback import FakeDiscord, rate_limited

CHATWARDEN = Path(sys.executable).with_name("chatwarden")


def _log(path: Path, users: int, filler: int) -> None:
    lines = ["# Log started: 2021-12-10 00:00:00 +0000"]
    for i in range(users):  # three flagged messages each: a report each
        for text in ("you are a fucking idiot", "kys you dumb bitch", "you are a fucking idiot"):
            lines.append(f"[2021-12-10 00:00:00] <u{i} (u{i})> {text}")
    lines += [
        f"[2021-12-10 00:01:00] <f{i % 500} (f{i % 500})> nice play {i}" for i in range(filler)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def test_an_interrupted_replay_says_so_exits_130_and_leaves_no_report_pending(
    tmp_path: Path,
) -> None:
    log = tmp_path / "#streamer.log"
    _log(log, users=20, filler=200_000)
    db = tmp_path / "t.db"
    async with FakeDiscord() as discord:
        discord.script = [rate_limited(60.0)] * 50  # Discord holds every report back
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
        env.update(
            CHATWARDEN_MODEL_URI="bundled",
            CHATWARDEN_LOG_LEVEL="WARNING",
            CHATWARDEN_BATCH_MAX_SIZE="8",
            CHATWARDEN_DISCORD_WEBHOOK_URL=discord.webhook_url,
        )
        proc = await asyncio.create_subprocess_exec(
            str(CHATWARDEN),
            "replay",
            "--discord",
            "--json",
            "--db",
            str(db),
            str(log),
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 90
            while discord.requests == 0 and time.monotonic() < deadline:  # reports exist
                await asyncio.sleep(0.1)
            assert discord.requests > 0 and proc.returncode is None
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.communicate()
    stderr = err.decode()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    summary = json.loads(out)
    assert summary["interrupted"] is True
    assert 0 < summary["messages"] < 60 + 200_000
    assert summary["reports"] > 0
    with sqlite3.connect(db) as conn:
        statuses = dict(
            conn.execute(
                "SELECT CASE WHEN sent_to = 'log' THEN 'logged' ELSE status END, count(*) "
                "FROM reports GROUP BY 1"
            ).fetchall()
        )
        stored = conn.execute("SELECT count(*) FROM seen_messages").fetchone()[0]
    assert "pending" not in statuses, statuses
    assert statuses.get("logged", 0) == summary["reports"] == summary["reports_logged"]
    assert stored == summary["scored"]
