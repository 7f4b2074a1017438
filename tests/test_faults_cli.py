"""Issue 22, the user's side of `score`, the read commands, `models` and the docs: the
installed console script, run as a user runs it, on real files and real subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.lab.loopback import free_port
from tests.conftest import DATA_DIR, ROOT, require_data

CHATWARDEN = Path(sys.executable).parent / "chatwarden"
GOLDEN_LOG = ROOT / "tests" / "golden" / "chat.log"


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CHATWARDEN_", "MLFLOW_", "PYTHONIOENCODING", "LC_", "LANG"))
    }
    env.update(CHATWARDEN_MODEL_URI="rules", **extra)
    return env


def cli(
    args: list[str], cwd: Path, stdin: bytes = b"", timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[bytes]:
    if args[0] in {"score", "replay"}:
        require_data()  # the rule scorer's word lists, found beside the checkout
    return subprocess.run(
        [str(CHATWARDEN), "--env-file", "/nonexistent", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=_env(**env),
        timeout=timeout,
        check=False,
    )


def _rows(out: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.decode("utf-8").split("\n")[:-1]]


# --- score ------------------------------------------------------------------------------


def test_score_writes_one_line_per_input_line_blank_ones_included(tmp_path: Path) -> None:
    stdin = b'{"text": "hello"}\n\n{"text": "you idiot"}\n   \n\n{"text": "hi"}\n'
    done = cli(["score", "--workers", "1"], tmp_path, stdin)
    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    assert len(rows) == stdin.count(b"\n") == 6  # before: 3 lines, out of step with the input
    blank: dict[str, Any] = {
        "score": None,
        "flagged": False,
        "toxic": False,
        "labels": [],
        "why": [],
    }
    assert [rows[i] for i in (1, 3, 4)] == [blank] * 3
    assert rows[0]["score"] == rows[5]["score"] == 0.0


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_score_survives_an_invalid_byte_on_one_line(tmp_path: Path, locale: str) -> None:
    """Under a UTF-8 locale stdin is strict: one bad byte aborted the whole run before (no
    line written). Now that line gets an error naming the byte, the others their verdict."""
    stdin = (
        b'{"text": "fuck you"}\n{"text": "caf\xff"}\n{"text": "\xc3\xa9t\xc3\xa9 \xea\xb0\x9c"}\n'
    )
    stdin += b"\xfe\xff\n" + b'{"text": "hello"}\n'
    done = cli(["score", "--workers", "1"], tmp_path, stdin, LC_ALL=locale)
    rows = _rows(done.stdout)
    assert len(rows) == 5, done.stderr
    assert rows[1] == {"error": "line 2: not UTF-8: byte 0xff at offset 13"}
    assert rows[3] == {"error": "line 4: not UTF-8: byte 0xfe at offset 0"}
    assert rows[0]["toxic"] is True and rows[2]["score"] == rows[4]["score"] == 0.0
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "2 input line(s)" in err and "Traceback" not in err


def test_score_flagged_is_the_bots_decision_and_toxic_the_scorers(tmp_path: Path) -> None:
    """`holy shit` names nobody: the scorer calls it toxic, the bot (medium) does not flag
    it; before, `flagged` was the scorer's call with no field saying so."""
    texts = ["holy shit", "@bob shut up you stupid bitch", "hello there", "fuck you"]
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
    rows = _rows(cli(["score"], tmp_path, stdin).stdout)
    got = [(r["flagged"], r["toxic"]) for r in rows]
    # a bare `fuck you` answers whoever was speaking: aimed, so flagged (issue 29)
    assert got == [(False, True), (True, True), (False, False), (True, True)]
    # at `high` the bot flags every toxic message: flagged follows the sensitivity
    high = _rows(cli(["score"], tmp_path, stdin, CHATWARDEN_SENSITIVITY="high").stdout)
    assert [r["flagged"] for r in high] == [True, True, False, True]


def test_an_insult_is_not_labelled_sexual(tmp_path: Path) -> None:
    texts = ["fuck you", "you fucking idiot", "stfu", "you motherfucker", "fuckface", "face fuck"]
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
    rows = _rows(cli(["score"], tmp_path, stdin).stdout)
    labels = [r["labels"] for r in rows]
    assert labels[:5] == [["profanity"]] * 5  # before: ["sexual"] for each
    assert "sexual" in labels[5]  # a sex act keeps its label


# --- read commands on odd paths -----------------------------------------------------------


@pytest.mark.parametrize("folder", ["a#b", "a?b", "100%41", "x#y?z%41"])
def test_read_commands_accept_any_database_path(tmp_path: Path, folder: str) -> None:
    (tmp_path / folder).mkdir()
    db = tmp_path / folder / "t.db"
    done = cli(["replay", "--db", str(db), str(GOLDEN_LOG)], tmp_path)
    assert done.returncode == 0, done.stderr
    before = sorted(p.name for p in tmp_path.iterdir())
    flagged = cli(["flagged", "--db", str(db), "--since", "100000d", "--json"], tmp_path)
    assert flagged.returncode == 0, flagged.stderr  # before: "not a readable database"
    users = json.loads(flagged.stdout)
    assert {"oscar", "judy"} <= {u["login"] for u in users}
    history = cli(["history", "--db", str(db), "oscar", "--json"], tmp_path)
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)["flags"]
    # before, the cut URI opened (and created) the file at the name before `#` or `?`
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("command", [["history", "oscar"], ["flagged"], ["replay"]])
def test_a_folder_as_database_is_one_clear_line(tmp_path: Path, command: list[str]) -> None:
    args = [*command, "--db", str(tmp_path)]
    if command == ["replay"]:
        args.append(str(GOLDEN_LOG))
    done = cli(args, tmp_path)
    err = [line for line in done.stderr.decode().splitlines() if " INFO " not in line]
    assert done.returncode == 2
    assert err == [
        f"chatwarden: {tmp_path} is a folder, not a database file: point CHATWARDEN_DB "
        "(or --db) at a file, e.g. chatwarden.db"
    ]  # before (replay): an "Event loop is closed" traceback after the error


# --- models ---------------------------------------------------------------------------------


def test_models_without_a_store_or_server_says_so_and_writes_nothing(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    done = cli(["models"], tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        f"chatwarden: no MLflow tracking store at {tmp_path / 'mlflow.db'} "
        "(sqlite:///mlflow.db): register a model with `chatwarden train --register` in this "
        "folder, or set MLFLOW_TRACKING_URI to your tracking server"
    ]
    assert list(tmp_path.iterdir()) == []  # before: a traceback and a stray mlflow.db
    server = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = cli(["models"], tmp_path, timeout=120, MLFLOW_TRACKING_URI=server)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        f"chatwarden: the MLflow tracking server at {server} did not answer (is it running? "
        "MLFLOW_TRACKING_URI)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_models_with_a_store_but_no_registered_model_says_so(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "from mlflow.tracking import MlflowClient as C; import sys; "
            "C(sys.argv[1], sys.argv[1]).search_experiments()",
            store,
        ],
        capture_output=True,
        env=_env(MLFLOW_DISABLE_TELEMETRY="true"),
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    done = cli(["models"], tmp_path, timeout=120, MLFLOW_TRACKING_URI=store)
    assert done.returncode == 0, done.stderr  # before: MlflowException traceback
    assert done.stdout.decode() == (
        "no versions of chatwarden-toxicity yet: chatwarden train --register\n"
    )
    assert (
        json.loads(
            cli(["models", "--json"], tmp_path, timeout=120, MLFLOW_TRACKING_URI=store).stdout
        )
        == []
    )


# --- docs true to the code ------------------------------------------------------------------


def test_the_readme_replay_example_shows_the_flags_it_claims(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    replay = re.search(r"^\.venv/bin/chatwarden replay --db /tmp/shadow\.db (.+)$", readme, re.M)
    claim = re.search(r"with the default rules at `medium`: (\d+) flagged, (\d+) report", readme)
    assert replay and claim
    log = Path(replay.group(1))
    if not (ROOT / log).is_file():
        pytest.skip(f"{log} is not in the data dir")
    assert (ROOT / log).resolve().is_relative_to(DATA_DIR)
    db = tmp_path / "shadow.db"
    done = cli(["replay", "--db", str(db), "--json", str(log)], ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    # before: the Korean example log replayed with 0 flags and 0 reports
    assert (summary["flagged"], summary["reports"]) == (int(claim[1]), int(claim[2]))
    assert summary["flagged"] > 0
    listed = cli(["flagged", "--db", str(db), "--since", "10000d", "--json"], ROOT)
    assert len(json.loads(listed.stdout)) == int(claim[1])


def test_doctor_says_where_a_relative_data_dir_points(tmp_path: Path) -> None:
    done = cli(
        ["doctor", "--json"],
        tmp_path,
        timeout=120,
        CHATWARDEN_DATA_DIR="no/such/data",
        CHATWARDEN_CHANNELS="somechannel",
        CHATWARDEN_IRC_URL=f"irc://127.0.0.1:{free_port()}",
    )
    checks = {c["name"]: c for c in json.loads(done.stdout)}
    data = checks["data dir"]
    assert not data["ok"]
    assert data["detail"] == f"no/such/data (= {tmp_path / 'no/such/data'}): no such folder"
    # "ok" is said only of what was checked: set, not verified
    assert checks["channels"]["detail"] == "#somechannel set (not looked up on Twitch)"
    assert checks["discord webhook"]["detail"] == "not set: reports go to the log"


def test_doctor_as_the_readme_says_passes_the_channels_check(tmp_path: Path) -> None:
    """The README runs the bot with ``run --channel twitchdev`` and checks it with the doctor
    line it shows: that line must not fail "channels" (it did: doctor took no --channel)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"`chatwarden doctor (--channel \w+)`", readme)
    assert shown and "run --channel twitchdev" in readme
    done = cli(
        ["doctor", "--json", *shown[1].split()],
        tmp_path,
        timeout=120,
        CHATWARDEN_IRC_URL=f"irc://127.0.0.1:{free_port()}",  # no Twitch from tests
    )
    checks = {c["name"]: c for c in json.loads(done.stdout)}
    assert checks["channels"]["ok"] and checks["channels"]["detail"].startswith("#twitchdev")
    bare = cli(["doctor", "--json"], tmp_path, timeout=120, CHATWARDEN_IRC_URL="irc://127.0.0.1:9")
    channels = {c["name"]: c for c in json.loads(bare.stdout)}["channels"]
    assert not channels["ok"] and "chatwarden doctor --channel NAME" in channels["fix"]
