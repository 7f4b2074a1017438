"""Shared fixtures, and the one place that decides whether the real data dir is there.

The data dir (``shared/data`` beside the checkout, or ``CHATWARDEN_DATA_DIR``) holds
third-party sets and chat logs that are never copied into this repository. A test that
reads it uses the ``data_dir`` or ``rule_scorer`` fixture, or is marked ``needs_data``;
without the data dir those tests skip with a reason naming it, and every other test runs
on what the repository holds or generates. In CI (``CI`` set) a missing data dir is an
error, not a reason to skip: CI always has it, and must run every test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from model.rules import RuleScorer
from storage.location import DatabaseLocation, PostgresUrl
from tests.postgres_server import MISSING, PostgresServer, find_bin_dir, started

ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> tuple[Path, bool]:
    """Where the data dir is looked for, and whether it is there (its DATA.md)."""
    configured = os.environ.get("CHATWARDEN_DATA_DIR")
    path = Path(configured) if configured else ROOT.parent / "shared" / "data"
    return path.resolve(), (path / "DATA.md").is_file()


DATA_PATH, HAVE_DATA = _data_dir()
MISSING_DATA = (
    f"needs the data dir {DATA_PATH} (shared/data beside the checkout, or "
    "CHATWARDEN_DATA_DIR), which is missing"
)
if not HAVE_DATA and os.environ.get("CI"):
    raise RuntimeError(
        f"CI runs every test, and the tests that read real data need the data dir {DATA_PATH}, "
        "which is missing: put shared/ beside the checkout or set CHATWARDEN_DATA_DIR"
    )

#: The data dir; tests that read it at module level are marked ``needs_data`` (or the
#: whole module is, with ``pytestmark = needs_data``).
DATA_DIR = DATA_PATH
needs_data = pytest.mark.skipif(not HAVE_DATA, reason=MISSING_DATA)


def require_data() -> Path:
    """The data dir, for a helper that sets a test up with it (e.g. the rule scorer's word
    lists for a bot in a subprocess); the calling test skips, naming it, without one."""
    if not HAVE_DATA:
        pytest.skip(MISSING_DATA)
    return DATA_DIR


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No CHATWARDEN_* setting from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("CHATWARDEN_"):
            monkeypatch.delenv(key)
    yield


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not HAVE_DATA:
        pytest.skip(MISSING_DATA)
    return DATA_DIR


@pytest.fixture(scope="session")
def rule_scorer(data_dir: Path) -> RuleScorer:
    """The default rule scorer: the licensed word lists of the data dir and the lexicons
    shipped in the package."""
    return RuleScorer.licensed(data_dir)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on loopback for the whole session (see postgres_server.py).
    Skipped without PostgreSQL's binaries, except in CI, where that is an error."""
    if find_bin_dir() is None:
        if os.environ.get("CI"):
            raise RuntimeError(f"CI runs the PostgreSQL tests: {MISSING}")
        pytest.skip(MISSING)
    yield from started()


@pytest.fixture
async def pg_url(postgres_server: PostgresServer) -> AsyncIterator[PostgresUrl]:
    """A new, empty PostgreSQL database for one test."""
    yield await postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_location(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[DatabaseLocation]:
    """A fresh database of each backend: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield tmp_path / "cw.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    yield await server.create_database()
