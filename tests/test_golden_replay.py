"""Golden replay: what the bot stores and would send for a recorded chat, pinned byte for byte.

``tests/golden/chat.log`` is a hand-written raw-IRC recording (no real chat): clean lines,
exclamations, insults aimed at someone, slurs, evasions, Korean swearing, markdown and HTML
in chat. It is replayed by the ``chatwarden`` command as a user would run it, one message per
batch (so the counts in a report never depend on batch timing), and every stored flag and
report payload is compared with ``tests/golden/replay_<scorer>.json``; the rules read their
word lists from the data dir (never copied into the project). Wall-clock times
(``flagged_at``, ``created_at`` and the embed's ``timestamp``) are the only fields left out.

A change that is meant to alter decisions or reports regenerates the files with
``GOLDEN_UPDATE=1 python -m pytest tests/test_golden_replay.py`` and shows the diff in review.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA_DIR, ROOT, require_data

GOLDEN = ROOT / "tests" / "golden"


def _replay(scorer: str, db: Path, cwd: Path) -> None:
    if scorer == "rules":
        require_data()  # the rules' word lists
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env.update(
        CHATWARDEN_MODEL_URI=scorer,
        CHATWARDEN_DATA_DIR=str(DATA_DIR),  # the rules' word lists (never in the project)
        CHATWARDEN_BATCH_MAX_SIZE="1",
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "--db", str(db), str(GOLDEN / "chat.log")],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _dump(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        flags = [
            {
                "msg_id": r["msg_id"],
                "channel": r["channel"],
                "login": r["login"],
                "text": r["text"],
                "score": round(r["score"], 4),
                "labels": json.loads(r["labels"]),
                "model_version": r["model_version"],
                "sent_at": r["sent_at"],
                "report": r["report_id"],
            }
            for r in conn.execute("SELECT * FROM flagged_messages ORDER BY sent_at, msg_id")
        ]
        reports = []
        for r in conn.execute("SELECT * FROM reports ORDER BY id"):
            payload = json.loads(r["payload"])
            payload.pop("timestamp")
            reports.append(
                {
                    "id": r["id"],
                    "channel": r["channel"],
                    "login": r["login"],
                    "reason": r["reason"],
                    "payload": payload,
                }
            )
        counts = [
            list(r)
            for r in conn.execute(
                "SELECT u.login, c.channel, c.messages_seen, c.messages_flagged, c.reports "
                "FROM user_channel_counts c JOIN users u USING (user_key) "
                "ORDER BY u.login, c.channel"
            )
        ]
    return {"flags": flags, "reports": reports, "counts": counts}


@pytest.mark.parametrize("scorer", ["rules", "bundled"])
def test_replay_stores_and_reports_exactly_the_golden_record(scorer: str, tmp_path: Path) -> None:
    db = tmp_path / "golden.db"
    _replay(scorer, db, tmp_path)
    got = json.dumps(_dump(db), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    expected = GOLDEN / f"replay_{scorer}.json"
    if os.environ.get("GOLDEN_UPDATE") == "1":
        expected.write_text(got, encoding="utf-8")
    assert got == expected.read_text(encoding="utf-8")
