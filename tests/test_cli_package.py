"""The command line's wiring: every command reaches its function, start-up stays light, and
errors of lazily imported modules still exit 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser, main

#: The least each command needs to parse.
MINIMAL = {
    "run": [],
    "score": [],
    "replay": ["chat.log"],
    "doctor": [],
    "health": [],
    "history": ["someone"],
    "flagged": [],
    "norms": ["show", "--channel", "somechannel"],
    "train": [],
    "evaluate": [],
    "bundle": ["models/x"],
    "data": ["fetch"],
    "models": [],
    "bench": [],
    "labels": ["export", "--out", "labels.tsv"],
}


def test_every_command_names_the_function_that_runs_it() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(commands) == set(MINIMAL)
    for command, rest in MINIMAL.items():
        args = parser.parse_args([command, *rest])
        if command == "doctor":  # it reports broken settings, so it loads them itself
            assert args.func is None and callable(args.before_settings)
        else:
            assert callable(args.func) and args.before_settings is None, command


def test_starting_a_command_imports_neither_lab_nor_training() -> None:
    """``chatwarden run`` imports the command line: torch, MLflow, the lab and training come
    only with the commands that use them."""
    code = (
        "import json, sys\n"
        "from bot.cli import build_parser\n"
        "build_parser()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out)
    assert "bot.cli.watch" in loaded and "bot.cli.lab" in loaded
    heavy = ("bot.lab", "model.training", "model.evaluation", "torch", "mlflow")
    assert [m for m in loaded if m.startswith(heavy)] == []


def test_a_failed_download_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--env-file", "/nonexistent", "data", "fetch", "no_such_set", "--to", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("chatwarden: unknown data set(s)") and err.count("\n") == 1
