"""A database on a read-only mount is read, not refused: ``flagged`` and ``history`` open
it read-only and work; ``doctor --db`` says it is read-only (the bot cannot write there).

The mount is real: the CLI runs in a private mount namespace (``unshare``) where the
database's folder is bind-mounted read-only. SQLite cannot create the ``-shm`` file there,
which made every read command fail with "unable to open database file".
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from storage.database import Database
from storage.records import BatchRecord, FlagRecord, SeenMessage

CHATWARDEN = Path(sys.executable).with_name("chatwarden")


def _can_mount_read_only(tmp: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    mount = f"mount --bind {tmp} {tmp} && mount -o remount,bind,ro {tmp} {tmp}"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", mount],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


@pytest.fixture
def read_only(tmp_path: Path) -> Path:
    """A folder that the CLI, run through :func:`_on_read_only`, sees mounted read-only."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if not _can_mount_read_only(folder):
        if os.environ.get("CI"):
            pytest.fail("CI must run this test: `unshare -rm` and bind mounts are needed")
        pytest.skip("needs `unshare -rm` with bind mounts (a private read-only mount)")
    return folder


def _on_read_only(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    cli = shlex.join([str(CHATWARDEN), "--env-file", "/nonexistent", *args])
    mount = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} {folder}"
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"{mount} && {cli}"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=folder.parent,
        check=False,
    )


async def _write_db(path: Path) -> None:
    flag = FlagRecord(
        "m1",
        "streamer",
        "uid-1",
        "rude_user",
        "you are trash",
        0.9,
        ("insult",),
        "rules-x",
        "policy-x",
        1.7e9,
        1.7e9,
    )
    seen = SeenMessage("m1", "streamer", "uid-1", "uid-1", "rude_user", "rude_user", 1.7e9)
    async with Database.open(path) as db:
        await db.record_batch(BatchRecord((seen,), (flag,)))


def test_read_commands_read_a_database_on_a_read_only_mount(read_only: Path) -> None:
    db = read_only / "cw.db"
    asyncio.run(_write_db(db))
    assert sorted(p.name for p in read_only.iterdir()) == ["cw.db"]  # closed cleanly

    flagged = _on_read_only(read_only, "flagged", "--db", str(db), "--since", "100000d")
    assert flagged.returncode == 0, flagged.stderr
    assert "rude_user" in flagged.stdout

    history = _on_read_only(read_only, "history", "rude_user", "--db", str(db), "--json")
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)["flags"][0]["text"] == "you are trash"

    doctor = _on_read_only(read_only, "doctor", "--db", str(db), "--json")
    [check] = [c for c in json.loads(doctor.stdout) if c["name"] == "database"]
    assert not check["ok"] and "read-only" in check["detail"], check
    assert "1 flags" in check["detail"]  # it was read all the same
    assert sorted(p.name for p in read_only.iterdir()) == ["cw.db"]  # nothing written


def test_doctor_db_checks_the_database_it_is_given(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere.db"
    asyncio.run(_write_db(db))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    done = subprocess.run(
        [str(CHATWARDEN), "--env-file", "/nonexistent", "doctor", "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    [check] = [c for c in json.loads(done.stdout) if c["name"] == "database"]
    assert check["ok"] and str(db) in check["detail"] and "1 flags" in check["detail"], check
