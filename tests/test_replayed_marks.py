"""Replayed data is marked as such: ``flagged`` and ``history`` in the terminal and the
dashboard's pages and API say which flags came from a replay, and a period that hides
older (e.g. replayed) flags says so and how to see them, instead of "nobody".

Real SQLite files written by the real database class (as ``run`` and ``replay`` write them).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import pytest

from bot.cli import main
from storage.database import Database
from storage.records import BatchRecord, FlagRecord, SeenMessage
from tests.test_dashboard import dashboard, flag, logged_in

NOW = time.time()
OLD = 1_639_137_462.0  # 2021-12-10 11:57:42 UTC, a replayed Korean log's time


def _flag(msg_id: str, login: str, sent_at: float) -> FlagRecord:
    return FlagRecord(
        msg_id,
        "streamer",
        f"uid-{login}",
        login,
        "you are trash",
        0.9,
        ("insult",),
        "rules-x",
        "policy-x",
        sent_at,
        NOW,
    )


async def _store(db: Database, shadow: str | None, *flags: FlagRecord) -> None:
    db.shadow = shadow
    seen = tuple(
        SeenMessage(f.msg_id, f.channel, f.user_key, f.user_key, f.login, f.login, f.sent_at)
        for f in flags
    )
    await db.record_batch(BatchRecord(seen, flags))
    db.shadow = None


async def _db(path: Path) -> Path:
    async with Database.open(path) as db:
        await _store(db, None, _flag("live1", "live_user", NOW - 60))
        await _store(db, "replay 2026-12-06T10:00:00 abc", _flag("r1", "old_user", OLD))
        await _store(db, "replay 2026-12-06T10:00:00 abc", _flag("r2", "both", NOW - 30))
        await _store(db, None, _flag("live2", "both", NOW - 20))
    return path


def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    return main(["--env-file", "/nonexistent", *args]), out.getvalue()


def test_flagged_and_history_mark_replayed_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(asyncio.run(_db(tmp_path / "cw.db")))
    code, out = _cli(["flagged", "--db", db, "--since", "100000d"], monkeypatch)
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert rows["live_user"].rstrip().endswith("live")
    assert rows["old_user"].rstrip().endswith("replay")
    assert rows["both"].rstrip().endswith("live+replay")

    code, out = _cli(["flagged", "--db", db, "--json", "--since", "100000d"], monkeypatch)
    by_login = {u["login"]: u for u in json.loads(out)}
    assert (by_login["old_user"]["replayed"], by_login["both"]["replayed"]) == (1, 1)
    assert by_login["live_user"]["replayed"] == 0

    code, out = _cli(["history", "old_user", "--db", db], monkeypatch)
    assert code == 0 and "replay 2026-12-06T10:00:00 abc" in out
    code, out = _cli(["history", "old_user", "--db", db, "--json"], monkeypatch)
    assert json.loads(out)["flags"][0]["shadow"] == "replay 2026-12-06T10:00:00 abc"


def test_a_period_that_hides_older_flags_says_how_to_see_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "replayed.db"

    async def write() -> None:
        async with Database.open(path) as db:
            await _store(db, "replay x", _flag("r1", "old_user", OLD))

    asyncio.run(write())
    code, out = _cli(["flagged", "--db", str(path)], monkeypatch)
    assert code == 0
    assert "no users flagged in the last 24h" in out
    assert "1 flag(s) are older (1 from replays" in out and "2021-12-10" in out
    days = int(out.split("--since ")[1].split("d")[0])
    assert (NOW - OLD) / 86400 < days < (NOW - OLD) / 86400 + 2
    code, out = _cli(["flagged", "--db", str(path), "--since", f"{days}d"], monkeypatch)
    assert "old_user" in out


async def test_the_dashboard_marks_replayed_flags_and_hints_at_older_ones(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path, [flag(1, "live_user", "you are trash")]) as (dash, db):
        await _store(db, "replay 2026-12-06 abc", _flag("r1", "old_user", OLD))
        async with logged_in(dash) as http:
            async with http.get("/") as r:
                html = await r.text()
            assert "live_user" in html and "old_user" not in html
            assert "1 older flag(s)" in html and "from replays" in html
            assert "since=" in html.split("older flag(s)")[1].split("</p>")[0]
            async with http.get("/api/flagged?since=100000d") as r:
                users = {u["login"]: u for u in (await r.json())["users"]}
            assert users["old_user"]["replayed"] == 1 and users["live_user"]["replayed"] == 0
            async with http.get("/?since=100000d") as r:
                html = await r.text()
            [row] = [r for r in html.split("<tr>") if "/users/old_user" in r]
            assert "replay" in row.split("</tr>")[0]
            async with http.get("/users/old_user") as r:
                html = await r.text()
            assert "replayed" in html and "replay 2026-12-06 abc" in html
