"""The default bot needs no data dir: without its word lists it scores with the bundled model,
which ships in the package."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.doctor import run_checks
from bot.settings import Settings
from tests.conftest import DATA_DIR, ROOT, needs_data

GOLDEN_LOG = ROOT / "tests" / "golden" / "chat.log"


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


def test_doctor_says_which_scorer_version_and_sensitivity_run(tmp_path: Path) -> None:
    from bot.policy.version import POLICY_VERSION
    from model.bundle import load_bundle
    from model.loading import BUNDLED_DIR

    env = {
        "CHATWARDEN_MODEL_URI": "bundled",
        "CHATWARDEN_SENSITIVITY": "low,loud=high",
        "CHATWARDEN_IRC_URL": "irc://127.0.0.1:9",
        "CHATWARDEN_DB": str(tmp_path / "cw.db"),
    }
    done = asyncio.run(run_checks(lambda: Settings.from_env(env, None), irc_timeout=0.5))
    checks = {c.name: c for c in done}
    assert checks["model"].detail == f"scorer {load_bundle(BUNDLED_DIR).version}"
    assert checks["model"].detail.startswith("scorer cnn_bilstm-")
    policy = checks["policy"]
    assert policy.ok and "sensitivity low,loud=high" in policy.detail
    assert POLICY_VERSION in policy.detail


@needs_data
@pytest.mark.parametrize(
    ("broken", "named"),
    [
        ("bot/policy/cues/second_person.txt", "second_person.txt"),
        ("model/lexicon/en_allow.txt", "en_allow.txt"),
    ],
)
def test_a_missing_packaged_resource_is_one_line_naming_it(
    tmp_path: Path, broken: str, named: str
) -> None:
    """A broken installation (a packaged list deleted) stops ``replay`` at start-up with one
    line naming the file and exit status 2, before any chat is read; no traceback."""
    install = tmp_path / "install"
    for package in ("bot", "model", "storage"):
        shutil.copytree(
            ROOT / package,
            install / package,
            ignore=shutil.ignore_patterns("__pycache__", "weights.pt", "tokenizer.json"),
        )
    for name in ("weights.pt", "tokenizer.json"):  # the bundled model is not copied twice
        (install / "model" / "bundled" / name).symlink_to(ROOT / "model" / "bundled" / name)
    (install / broken).unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env.update(PYTHONPATH=str(install), CHATWARDEN_MODEL_URI="rules")
    env.update(CHATWARDEN_DATA_DIR=str(DATA_DIR))  # the rules' word lists
    done = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "--db", "t.db", str(GOLDEN_LOG)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert named in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
    assert not (tmp_path / "t.db").exists()
