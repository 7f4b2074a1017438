"""The README's test command passes on a fresh clone without the data dir: the tests that
need its third-party sets skip, naming it; in CI (``CI`` set) a missing data dir is an
error instead, so CI never passes by skipping them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

NEEDS_DATA = "tests/test_lexicon.py::test_editing_a_lexicon_changes_the_rules_version"
NO_DATA = "tests/test_lexicon.py::test_entries_are_words_and_comments_are_reasons"


def _pytest(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("CHATWARDEN_")}
    env["CHATWARDEN_DATA_DIR"] = str(tmp_path / "no-data")
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            NEEDS_DATA,
            NO_DATA,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_without_the_data_dir_its_tests_skip_naming_it(tmp_path: Path) -> None:
    done = _pytest(tmp_path, ci=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout, done.stdout
    assert f"needs the data dir {tmp_path / 'no-data'}" in done.stdout


def test_in_ci_a_missing_data_dir_is_an_error(tmp_path: Path) -> None:
    done = _pytest(tmp_path, ci=True)
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "passed" not in out and str(tmp_path / "no-data") in out
    assert "CI runs every test" in out
