"""The database's write-ahead log stays bounded during a long replay.

Replaying the largest Korean log (0.9 MB gzipped, ~64,000 messages, a 5 MB database) with
passive checkpoints only left a 313 MB ``-wal`` file; the whole folder, 9.25 GB. Here the
installed console script replays it the way a user does while the test watches the
``-wal`` file's size.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.database import WAL_LIMIT_BYTES

LOGS = "twitch_chat_ko_boostcamp/twitch"


def _console_script() -> str:
    script = Path(sys.executable).with_name("chatwarden")
    if not script.is_file():
        pytest.fail(f"the console script is not installed beside {sys.executable}")
    return str(script)


def _largest_log(data_dir: Path) -> Path:
    logs = sorted((data_dir / LOGS).glob("*.log.gz"), key=lambda p: p.stat().st_size)
    assert logs, f"no logs in {data_dir / LOGS}"
    return logs[-1]


def test_a_long_replay_keeps_the_wal_under_its_limit(data_dir: Path, tmp_path: Path) -> None:
    log = _largest_log(data_dir)
    db = tmp_path / "cw.db"
    wal = tmp_path / "cw.db-wal"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env["CHATWARDEN_MODEL_URI"] = "rules"
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    with out_path.open("w") as out_file, err_path.open("w") as err_file:  # no pipe to fill
        proc = subprocess.Popen(
            [_console_script(), "replay", "--db", str(db), "--json", str(log)],
            env=env,
            cwd=tmp_path,
            stdout=out_file,
            stderr=err_file,
        )
    peak = 0
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None:
            assert time.monotonic() < deadline, "replay still running after 120 s"
            with contextlib.suppress(FileNotFoundError):
                peak = max(peak, wal.stat().st_size)
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err_path.read_text()
    summary = json.loads(out_path.read_text())
    assert summary["messages"] > 50_000  # long enough to fill the log many times over
    assert 0 < peak < WAL_LIMIT_BYTES, f"-wal peaked at {peak / 1e6:.1f} MB"
    # bounded, and nothing lost for it: every message stored, the file sound
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT count(*) FROM seen_messages").fetchone()[0]
        assert stored == summary["messages"] - summary["duplicates"]
