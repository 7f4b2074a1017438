"""What ``chatwarden replay`` reads, counts and refuses: every line it could not read is
counted by reason, a file with no chat in it is an error naming it, the documented
logger-timestamp prefix before raw IRC works, and Chatterino logs are read.

Every input is written here at test time (hand-made chat, random bytes): no data dir needed.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.replay import ReplayStats, read_chat_log
from bot.twitch.events import synthetic_msg_id

CHATWARDEN = Path(sys.executable).with_name("chatwarden")
TAGS = "@badge-info=;badges=;display-name=Alice;id={id};room-id=1;tmi-sent-ts=1765015200000"
IRC = ":alice!alice@alice.tmi.twitch.tv PRIVMSG #twitchdev :{text}"


def _replay(tmp: Path, *files: Path, json_out: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env.update(CHATWARDEN_LOG_LEVEL="WARNING", CHATWARDEN_MODEL_URI="bundled")
    cmd = [str(CHATWARDEN), "replay", "--db", str(tmp / "t.db"), *map(str, files)]
    if json_out:
        cmd.append("--json")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp)


def _stored(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT u.login, c.channel, c.messages_seen FROM user_channel_counts c "
            "JOIN users u ON u.user_key = c.user_key ORDER BY u.login"
        ).fetchall()


def test_raw_irc_after_a_bracketed_logger_timestamp_is_read(tmp_path: Path) -> None:
    """README: raw IRC lines "optionally after a logger's timestamp"; the common
    ``[2025-12-06 10:00:00] `` prefix was dropped in silence."""
    log = tmp_path / "bot.log"
    log.write_text(
        f"[2025-12-06 10:00:00] {TAGS.format(id='m1')} {IRC.format(text='hi chat')}\n"
        f"[2025-12-06 10:00:02] {IRC.format(text='no tags here')}\n"
        f"2025-12-06T10:00:03 {IRC.format(text='iso time, no brackets')}\n"
        f"2025-12-06 10:00:04 — {IRC.format(text='with a separator')}\n"
    )
    stats = ReplayStats()
    messages = list(read_chat_log(log, stats))
    assert [m.text for m in messages] == [
        "hi chat",
        "no tags here",
        "iso time, no brackets",
        "with a separator",
    ]
    assert messages[0].msg_id == "m1" and messages[1].msg_id == synthetic_msg_id("bot.log", 2)
    assert messages[1].sent_at == messages[0].sent_at + 2  # the logger's time, in UTC
    assert stats.skipped == 0 and stats.unread == {}


def test_chatterino_logs_are_read(tmp_path: Path) -> None:
    folder = tmp_path / "Twitch" / "Channels" / "twitchdev"
    folder.mkdir(parents=True)
    log = folder / "twitchdev-2025-12-06.log"
    log.write_text(
        "# Start logging at 2025-12-06 10:00:00 UTC\n"
        "[10:00:01]  alice: hi\n"
        "[10:00:02]  Bob_99: @alice you are a worthless piece of shit\n"
        "[10:00:03] alice has been timed out for 10m.\n"
        "[23:59:59]  carol: late\n"
        "[00:00:01]  carol: after midnight\n"
        "# Stop logging at 2025-12-07 00:01:00 UTC\n"
    )
    stats = ReplayStats()
    messages = list(read_chat_log(log, stats))
    assert [(m.channel, m.login, m.text) for m in messages] == [
        ("twitchdev", "alice", "hi"),
        ("twitchdev", "bob_99", "@alice you are a worthless piece of shit"),
        ("twitchdev", "carol", "late"),
        ("twitchdev", "carol", "after midnight"),
    ]
    assert messages[0].sent_at == 1765015201.0  # 2025-12-06 10:00:01 UTC
    assert messages[3].sent_at - messages[2].sent_at == 2  # the day rolled over
    assert stats.skipped == 0  # the header and the timeout notice are known, not chat

    done = _replay(tmp_path, log)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["messages"] == 4 and summary["unread"] == {}
    assert ("bob_99", "twitchdev", 1) in _stored(tmp_path / "t.db")


def test_unread_lines_are_counted_by_reason(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_bytes(
        (
            f"{IRC.format(text='good one')}\n"
            "this is not a chat line\n"
            "neither is this\n"
            "@badges=;id=x :broken\n"
            ":tmi.twitch.tv PING\n"  # IRC that is not chat: known, not counted as unread
        ).encode()
        + b"\xff\xfe\xfa bytes that are no text\n"
    )
    stats = ReplayStats()
    assert [m.text for m in read_chat_log(log, stats)] == ["good one"]
    assert stats.unread == {"not a chat line": 2, "malformed IRC": 1, "not UTF-8 text": 1}
    assert stats.skipped == 4

    done = _replay(tmp_path, log, json_out=False)
    assert done.returncode == 0, done.stderr
    assert "4 lines not read (2 not a chat line, 1 malformed IRC, 1 not UTF-8 text)" in (
        done.stdout
    )


def test_a_file_with_no_chat_is_an_error_naming_it(tmp_path: Path) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(random.Random(7).randbytes(2048))
    prose = tmp_path / "notes.txt"
    prose.write_text("shopping list\neggs\nmilk\n")
    good = tmp_path / "good.log"
    good.write_text(IRC.format(text="still replayed") + "\n")

    done = _replay(tmp_path, noise, prose, good)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    named = [line for line in done.stderr.splitlines() if "no chat in" in line]
    assert len(named) == 2, done.stderr
    assert str(noise) in named[0] and "not UTF-8 text" in named[0]
    assert str(prose) in named[1] and "3 not a chat line" in named[1]
    summary = json.loads(done.stdout)
    assert summary["messages"] == 1 and len(summary["failed"]) == 2


def test_a_json_chat_export_is_refused_by_name(tmp_path: Path) -> None:
    export = tmp_path / "vod.json"
    export.write_text(json.dumps({"comments": [{"message": {"body": "hi"}}]}, indent=1))
    done = _replay(tmp_path, export)
    assert done.returncode == 1
    assert str(export) in done.stderr and "JSON" in done.stderr, done.stderr
