"""The wheel as a user gets it: built from the tracked files, installed with its runtime
dependencies only into a fresh virtualenv, run from an empty folder with no settings.

Everything else in the suite runs from the checkout with every extra installed, so it
cannot see a file left out of the wheel, a runtime import of an optional package, or a
default that only works beside the data folder. This test can.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.lab.loopback import FakeDiscord, FakeTwitchServer
from bot.policy.version import POLICY_VERSION
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# What goes into the wheel: the packages and what pyproject.toml reads.
_SOURCES = ("pyproject.toml", "README.md", "bot", "model", "storage")
# Packages only the extras bring: none may come with the runtime install.
_OPTIONAL = ("mlflow", "matplotlib", "safetensors")
# Flagged (or not) alike by the rules and the bundled model, whichever is the default.
_LINES = {
    "fuck you idiot": True,
    "gg nice play everyone": False,
    "씨발 개새끼야 꺼져": True,
    "오늘 방송 정말 재밌었어요 감사합니다": False,
}


@dataclass(frozen=True)
class Install:
    wheel: Path
    sources: tuple[str, ...]  # the files the wheel was built from, relative to the root
    venv: Path
    home: Path  # an empty folder to run from

    @property
    def chatwarden(self) -> Path:
        return self.venv / "bin" / "chatwarden"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def _tracked_files() -> list[str]:
    """Tracked files plus new ones not ignored: what a commit of this tree would hold."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *_SOURCES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(name for name in out.splitlines() if (ROOT / name).is_file())


def _run(
    args: list[str | Path],
    timeout: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    assert proc.returncode == 0, f"{args}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    """Build the wheel from a copy of the tracked files (a stale build/ folder in the
    checkout can leak deleted modules into a wheel) and install it into a fresh venv."""
    root = tmp_path_factory.mktemp("clean-install")
    src, dist = root / "src", root / "dist"
    sources = _tracked_files()
    for name in sources:
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, src], 300)
    (wheel,) = dist.glob("chatwarden-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv], 120)
    # Runtime dependencies only; torch==2.13.0 comes from the local wheel folder pip knows.
    _run([venv / "bin" / "pip", "install", "-q", wheel], 300)
    home = root / "home"
    home.mkdir()
    return Install(wheel, tuple(sources), venv, home)


def user_env(**settings: str) -> dict[str, str]:
    """The developer's environment without any chatwarden setting or checkout path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CHATWARDEN_") and k not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    env.update(settings)
    return env


def test_the_wheel_ships_the_packages_with_their_data_and_nothing_else(install: Install) -> None:
    names = set(zipfile.ZipFile(install.wheel).namelist())
    shipped = {n for n in names if ".dist-info/" not in n}
    expected = {n for n in install.sources if n.split("/")[0] in {"bot", "model", "storage"}}
    assert shipped == expected
    for needed in ("weights.pt", "tokenizer.json", "config.json"):
        assert f"model/bundled/{needed}" in shipped
    # the dashboard's pages and scripts are served from the package (no CDN)
    for needed in ("templates/base.html", "templates/user.html", "static/live.js"):
        assert f"bot/dashboard/{needed}" in shipped
    assert not any(n.startswith("tests/") or "conftest" in n for n in names)


def test_the_runtime_install_has_no_optional_package(install: Install) -> None:
    probe = f"import importlib.util as u; print([m for m in {_OPTIONAL!r} if u.find_spec(m)])"
    assert _run([install.python, "-c", probe], 60, cwd=install.home).strip() == "[]"
    _run([install.venv / "bin" / "pip", "check"], 60)
    # the installed cue lists and policy files are the checkout's: same policy revision
    probe = "from bot.policy.version import POLICY_VERSION; print(POLICY_VERSION)"
    installed = _run([install.python, "-c", probe], 60, cwd=install.home, env=user_env())
    assert installed.strip() == POLICY_VERSION
    # the dashboard's runtime (aiohttp-jinja2) comes with it and finds its templates
    probe = (
        "import jinja2, bot.dashboard.app as a, pathlib; "
        "e = jinja2.Environment(loader=jinja2.FileSystemLoader(pathlib.Path(a.__file__).parent "
        "/ 'templates'), autoescape=True); "
        "print(e.get_template('login.html').render(why='<x>', next='/'))"
    )
    page = _run([install.python, "-c", probe], 60, cwd=install.home, env=user_env())
    assert "&lt;x&gt;" in page and 'name="token"' in page


def test_score_flags_english_and_korean_with_the_defaults(install: Install) -> None:
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in _LINES)
    proc = subprocess.run(
        [install.chatwarden, "score"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=install.home,
        env=user_env(),
    )
    assert proc.returncode == 0, proc.stderr
    verdicts = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [v["flagged"] for v in verdicts] == list(_LINES.values())
    assert "Warning" not in proc.stderr  # e.g. torch without numpy warns on every import


@pytest.mark.parametrize(
    ("args", "settings"),
    [
        (["models"], {}),
        (["score"], {"CHATWARDEN_MODEL_URI": "models:/chatwarden-toxicity@champion"}),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    install: Install, args: list[str], settings: dict[str, str]
) -> None:
    proc = subprocess.run(
        [install.chatwarden, *args],
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=install.home,
        env=user_env(**settings),
    )
    assert proc.returncode == 2
    assert proc.stderr.endswith("pip install 'chatwarden[mlflow]'\n"), proc.stderr
    assert proc.stderr.count("\n") == 1 and "'mlflow'" in proc.stderr


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # not created yet
            return []


async def _wait_for(predicate: Callable[[], bool], limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def _joined_before_exit(irc: FakeTwitchServer, proc: asyncio.subprocess.Process) -> bool:
    """Wait for the bot to join; False if it exits first (a start-up error: its stderr then
    says why, instead of a join timeout a minute later)."""
    joined = asyncio.ensure_future(irc.wait_joined({"streamer"}, within=60))
    exited = asyncio.ensure_future(proc.wait())
    await asyncio.wait({joined, exited}, return_when=asyncio.FIRST_COMPLETED)
    exited.cancel()
    if not joined.done():
        joined.cancel()
        return False
    await joined  # raises if the join timed out
    return True


async def test_run_stores_the_flag_and_reports_it_with_the_defaults(install: Install) -> None:
    db = install.home / "chatwarden.db"  # the default: in the working folder
    async with FakeTwitchServer() as irc, FakeDiscord() as discord:
        env = user_env(
            CHATWARDEN_CHANNELS="streamer",
            CHATWARDEN_IRC_URL=irc.url,
            CHATWARDEN_DISCORD_WEBHOOK_URL=discord.webhook_url,
        )
        proc = await asyncio.create_subprocess_exec(
            install.chatwarden,
            "run",
            env=env,
            cwd=install.home,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            if await _joined_before_exit(irc, proc):
                await irc.send_privmsg("streamer", "viewer", "gg nice play everyone", user_id="900")
                # reported at once: above the report threshold for the rules and bundled model
                await irc.send_privmsg(
                    "streamer", "racist", "kill yourself you retarded faggot", user_id="901"
                )
                await _wait_for(lambda: len(discord.embeds) >= 1)
                await _wait_for(lambda: _rows(db, "SELECT count(*) FROM seen_messages") == [(2,)])
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()

    assert [e["title"] for e in discord.embeds] == ["Flagged user: racist in #streamer"]
    flags = _rows(db, "SELECT login, channel FROM flagged_messages")
    assert flags == [("racist", "streamer")]
    assert _rows(db, "SELECT status, count(*) FROM reports GROUP BY status") == [("sent", 1)]
