"""The small things a newcomer trips over (issue 30): an IRC connection never made is not
"lost", a bad --channel names itself, numbers are asked for in words, Korean text keeps
table columns straight, logged reports read without markdown escapes, doctor's table has
no log line in it, and the dashboard lists every channel with flags, finds users and says
what scores and at which sensitivity."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli._common import table
from bot.reporting.discord import LogSender
from bot.reporting.render import escape_markdown
from bot.settings import Settings, SettingsError
from bot.twitch.connection import Backoff, IrcClient
from bot.twitch.endpoint import parse_irc_url
from tests.test_dashboard import dashboard, flag, logged_in


async def test_a_connection_never_made_is_not_called_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    client = IrcClient(
        parse_irc_url("irc://127.0.0.1:9"), ["chan"], lambda m: None, backoff=Backoff(0.05, 0.1)
    )
    with caplog.at_level(logging.WARNING, logger="bot.twitch"):
        task = asyncio.create_task(client.run(stop))
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(task, 5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("lost" not in w for w in warnings), warnings
    assert "cannot connect to irc://127.0.0.1:9" in warnings[0]


def test_a_bad_channel_option_names_the_bad_entry(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--env-file", "/nonexistent", "run", "--channel", "good", "--channel", "bad!x"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--channel 'bad!x'" in err and "CHATWARDEN_CHANNELS" not in err


def test_a_bad_channels_setting_says_which_entry_without_echoing_it() -> None:
    with pytest.raises(SettingsError, match=r"CHATWARDEN_CHANNELS: entry 2 of 3") as info:
        Settings.from_env({"CHATWARDEN_CHANNELS": "good, https://x.example/s3cret ,other"}, None)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("CHATWARDEN_BATCH_MAX_SIZE", "expected a whole number"),
        ("CHATWARDEN_REPORT_THRESHOLD", "expected a number"),
    ],
)
def test_numbers_are_asked_for_in_words(key: str, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({key: "lots"}, None)
    assert f"{key}: {expected}" in str(info.value)
    assert "a int" not in str(info.value) and "a float" not in str(info.value)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_table_columns_line_up_with_korean_text() -> None:
    out = io.StringIO()
    table([["빙시야", "#채널", "x"], ["alice", "#chan", "y"]], ["login", "channel", "z"], out)
    lines = out.getvalue().splitlines()
    starts = set()
    for line in lines[2:]:
        third = line.rstrip().rsplit(" ", 1)[1]
        starts.add(_width(line[: line.rstrip().rindex(third)]))
    assert len(starts) == 1, lines  # the last column starts at one display column


async def test_a_logged_report_line_has_no_markdown_escapes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    embed = {
        "title": f"Flagged user: {escape_markdown('rude_user')} in #chan",
        "description": f"**Why:** {escape_markdown('said (twice) *that*')}\nmore",
    }
    with caplog.at_level(logging.INFO, logger="bot.reporting"):
        await LogSender().send({"embeds": [embed]})
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("REPORT")]
    assert "\\" not in line, line
    assert "rude_user" in line and "Why: said (twice) *that*" in line


def test_doctor_prints_no_log_line_beside_its_table(tmp_path: Path) -> None:
    empty = tmp_path / "data"
    empty.mkdir()  # a data dir without word lists: the model falls back, and says so
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env.update(CHATWARDEN_DATA_DIR=str(empty), CHATWARDEN_IRC_URL="irc://127.0.0.1:9")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("chatwarden")), "doctor", "--channel", "x"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.stderr == "", done.stderr
    [model] = [line for line in done.stdout.splitlines() if line[6:].startswith("model ")]
    assert "bundled" in model and "word lists" in model, model


async def test_dashboard_lists_channels_with_flags_finds_users_and_says_what_runs(
    tmp_path: Path,
) -> None:
    flags = [flag(1, "rude_user", "you are trash"), flag(2, "far_user", "trash", channel="away")]
    async with dashboard(tmp_path, flags) as (dash, _), logged_in(dash) as http:
        async with http.get("/") as r:
            html = await r.text()
        assert '<option value="away"' in html  # flagged there, though not watched
        assert "sensitivity medium" in html
        assert 'action="/users"' in html  # the user search
        async with http.get("/users?login=%40Rude_User", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/users/rude_user"
        async with http.get("/users?login=bad%20name") as r:
            assert r.status == 400
        async with http.get("/api/flagged") as r:
            body = await r.json()
        assert json.dumps(body)  # the API is unchanged JSON
