"""Verdicts out of the database: `chatwarden evaluate --verdicts` (precision per channel)
and `chatwarden labels export` (a labelled set `train --extra-labels` reads), as processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.data import load_labelled, write_labelled
from model.errors import DataNotFoundError
from storage.database import Database
from storage.records import BatchRecord, FlagRecord, SeenMessage
from tests.conftest import ROOT, needs_data


def chatwarden(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def judged_db(path: Path) -> None:
    now = time.time()
    texts = {
        "a": ("chan_one", "you are trash"),
        "b": ("chan_one", "shit happens\tto all"),
        "c": ("chan_one", "너 진짜 꺼져"),
        "d": ("chan_two", "gg no re"),
    }
    flags = tuple(
        FlagRecord(k, ch, f"u{k}", f"user_{k}", text, 0.8, ("insult",), "rules", "p", now, now)
        for k, (ch, text) in texts.items()
    )
    seen = tuple(
        SeenMessage(f.msg_id, f.channel, f.user_key, None, f.login, f.login, now) for f in flags
    )
    async with Database.open(path) as db:
        await db.record_batch(BatchRecord(seen, flags))
        await db.record_verdict("a", True, None, "ann", now)
        await db.record_verdict("b", True, None, "ann", now)
        await db.record_verdict("b", False, None, "bob", now + 1)  # the latest counts
        await db.record_verdict("c", True, "threat", "ann", now)
        await db.record_verdict("d", False, None, "ann", now)
        assert await db.record_verdict("nope", True, None, "ann", now) is None


async def test_precision_per_channel_from_the_latest_verdicts(tmp_path: Path) -> None:
    db = tmp_path / "cw.db"
    await judged_db(db)
    done = chatwarden("evaluate", "--verdicts", "--db", str(db), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"channel": "chan_one", "judged": 3, "correct": 2, "wrong": 1, "precision": 2 / 3},
        {"channel": "chan_two", "judged": 1, "correct": 0, "wrong": 1, "precision": 0.0},
    ]
    done = chatwarden("evaluate", "--verdicts", "--db", str(db), cwd=tmp_path)
    assert "#chan_one  3       2        1      0.667" in done.stdout


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl"])
async def test_labels_export_writes_a_set_train_reads(tmp_path: Path, suffix: str) -> None:
    db = tmp_path / "cw.db"
    await judged_db(db)
    out = tmp_path / f"own{suffix}"
    done = chatwarden("labels", "export", "--db", str(db), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4 judged flag(s) written" in done.stderr and "2 toxic, 2 clean" in done.stderr
    examples = load_labelled(out)
    assert [(e.text, e.label, e.lang, set(e.categories)) for e in examples] == [
        ("you are trash", 1, "en", set()),
        ("shit happens to all" if suffix == ".tsv" else "shit happens\tto all", 0, "en", set()),
        ("너 진짜 꺼져", 1, "ko", {"threat"}),
        ("gg no re", 0, "en", set()),
    ]
    assert {e.split for e in examples} == {"train"}


@needs_data
def test_a_malformed_labelled_set_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\nhello\tmaybe\n", encoding="utf-8")
    with pytest.raises(DataNotFoundError, match=r"bad.tsv:2: not a labelled row"):
        load_labelled(bad)
    bad.write_text("hello\t1\n", encoding="utf-8")
    with pytest.raises(DataNotFoundError, match="expected a header line"):
        load_labelled(bad)
    done = chatwarden("train", "--extra-labels", str(bad), "--no-track", cwd=tmp_path)
    assert done.returncode == 2
    assert "expected a header line" in done.stderr and "Traceback" not in done.stderr
    assert write_labelled(tmp_path / "empty.tsv", []) == 0
    assert load_labelled(tmp_path / "empty.tsv") == []
