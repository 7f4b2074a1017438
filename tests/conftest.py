from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.rules import RuleScorer

ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    configured = os.environ.get("CHATWARDEN_DATA_DIR")
    path = Path(configured) if configured else ROOT.parent / "shared" / "data"
    if not (path / "DATA.md").is_file():
        raise RuntimeError(
            f"the tests read real data from {path}, which is missing: put shared/ beside the "
            "checkout or set CHATWARDEN_DATA_DIR"
        )
    return path.resolve()


DATA_DIR = _data_dir()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No CHATWARDEN_* setting from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("CHATWARDEN_"):
            monkeypatch.delenv(key)
    yield


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def rule_scorer() -> RuleScorer:
    """The default rule scorer: the lists shipped in the package."""
    return RuleScorer.licensed(DATA_DIR)
