"""Shadow stays shadow: reports a replay wrote are never sent by a later ``run``.

A ``replay --discord`` whose Discord is rate limiting writes the reports it could not send
to the log at its end; one killed outright (SIGKILL, a crash) leaves them pending in the
outbox. The live bot, started afterwards on the same database, must not send them (before
migration 0005 it sent every one of them for real).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from bot.lab.loopback import FakeDiscord, FakeTwitchServer, rate_limited
from tests.conftest import ROOT
from tests.test_end_to_end import bot_env, rows, start_bot, stop, wait_for

CHAT_LOG = ROOT / "tests" / "golden" / "chat.log"


async def _replay(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "replay", *args, str(CHAT_LOG)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_replay_reports_are_never_sent_by_a_later_run(tmp_path: Path) -> None:
    db = tmp_path / "cw.db"
    async with FakeTwitchServer() as irc, FakeDiscord() as discord:
        env = bot_env(db, irc, discord)
        # Discord rate limits the replay's first send: the replay ends (due next second)
        # writing the reports it could not send to the log, none left pending
        discord.script = [rate_limited(1.0)]
        done = await _replay(env, tmp_path, "--discord")
        assert done.returncode == 0, done.stderr
        assert rows(db, "SELECT count(*) FROM reports WHERE status = 'pending'") == [(0,)]
        logged = rows(db, "SELECT count(*) FROM reports WHERE sent_to = 'log'")
        assert logged and int(str(logged[0][0])) >= 2, logged
        assert discord.embeds == []
        assert rows(db, "SELECT count(*) FROM reports WHERE shadow IS NULL") == [(0,)]
        # as a replay killed outright leaves them: pending, shadow
        rows(db, "UPDATE reports SET status = 'pending', sent_to = NULL, sent_at = NULL")
        left = rows(db, "SELECT count(*) FROM reports WHERE status = 'pending'")
        assert left == logged

        proc = await start_bot(env, tmp_path, "run")
        try:
            await irc.wait_joined({"streamer", "other_chan"}, within=30)
            # one live report, sent: the outbox runs, and sends only that one
            await irc.send_privmsg("streamer", "racist", "you are a nigger", user_id="901")
            await wait_for(lambda: len(discord.embeds) >= 1)
            await asyncio.sleep(1.5)  # time for any leftover to go out
        finally:
            code, err = await stop(proc)
        assert code == 0, err
    assert [e["title"] for e in discord.embeds] == ["Flagged user: racist in #streamer"]
    still = rows(db, "SELECT count(*) FROM reports WHERE status = 'pending'")
    assert still == left  # the replay's reports are still there, unsent, and marked
    assert rows(db, "SELECT count(*) FROM reports WHERE shadow IS NOT NULL") == left


async def test_replay_sends_only_its_own_reports(tmp_path: Path) -> None:
    db = tmp_path / "cw.db"
    async with FakeDiscord() as discord:
        env = bot_env(db, None, discord)
        discord.script = [rate_limited(1.0)]
        first = await _replay(env, tmp_path, "--discord")
        assert first.returncode == 0, first.stderr
        assert discord.embeds == []
        await asyncio.sleep(1.5)  # the first replay's leftovers are due again
        # a second replay of the same log stores nothing new (every message was seen)
        # and must not send the first replay's leftovers
        second = await _replay(env, tmp_path, "--discord")
        assert second.returncode == 0, second.stderr
        assert discord.embeds == []
        # replay without --discord sends nothing to Discord, its own reports go to the log
        third = await _replay(env, tmp_path)
        assert third.returncode == 0, third.stderr
    assert discord.requests == 1
