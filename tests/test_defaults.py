"""The default bot needs no data dir: word lists and model ship in the package."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.doctor import run_checks
from bot.settings import Settings
from tests.conftest import ROOT


def test_score_from_an_empty_folder_without_a_data_dir(tmp_path: Path) -> None:
    missing = tmp_path / "no-data-dir"  # anything read from a data dir would fail
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env.update(CHATWARDEN_DATA_DIR=str(missing), PYTHONPATH=str(ROOT))
    texts = ["good game everyone", "fuck you idiot", "안녕하세요 반가워요", "씨발 병신아 꺼져"]
    done = subprocess.run(
        [sys.executable, "-m", "bot", "score", "--workers", "1"],
        input="".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    flagged = [json.loads(line)["flagged"] for line in done.stdout.splitlines()]
    assert flagged == [False, True, False, True]
    assert list(tmp_path.iterdir()) == []  # no data dir made, nothing written


def test_the_default_data_dir_does_not_depend_on_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    found = set()
    for folder in (tmp_path, tmp_path / "a" / "b", ROOT):
        monkeypatch.chdir(folder)
        found.add(Settings.from_env({}, env_file=None).data_dir)
    beside = ROOT.parent / "shared" / "data"
    assert found == {beside if beside.is_dir() else None}


def test_doctor_says_the_data_dir_is_optional(tmp_path: Path) -> None:
    def checks(data_dir: Path) -> dict[str, dict[str, object]]:
        env = {
            "CHATWARDEN_DATA_DIR": str(data_dir),
            "CHATWARDEN_IRC_URL": "irc://127.0.0.1:9",
            "CHATWARDEN_DB": str(tmp_path / "cw.db"),
        }
        done = asyncio.run(run_checks(lambda: Settings.from_env(env, None), irc_timeout=0.5))
        return {c.name: c.as_dict() for c in done}

    present = checks(tmp_path)
    assert present["data dir"]["ok"] and "optional" in str(present["data dir"]["detail"])
    assert present["packaged files"]["ok"] and present["model"]["ok"]
    absent = checks(tmp_path / "missing")
    assert not absent["data dir"]["ok"] and "no such folder" in str(absent["data dir"]["detail"])
    assert absent["model"]["ok"]  # the bot does not need it
    assert "CHATWARDEN_DATA_DIR" in str(absent["data dir"]["fix"])
