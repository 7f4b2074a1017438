"""`chatwarden run` as a real process against loopback Twitch IRC and Discord fakes."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.lab.loopback import FakeDiscord, FakeTwitchServer, free_port, server_error
from tests.conftest import DATA_DIR, ROOT, require_data


def bot_env(db: Path, irc: FakeTwitchServer | None, discord: FakeDiscord | None) -> dict[str, str]:
    require_data()  # the rules' word lists: known decisions
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env.update(
        CHATWARDEN_CHANNELS="streamer,other_chan",
        CHATWARDEN_IRC_URL=irc.url if irc else "irc://127.0.0.1:9",
        CHATWARDEN_DB=str(db),
        CHATWARDEN_DATA_DIR=str(DATA_DIR),
        CHATWARDEN_BATCH_MAX_WAIT_MS="10",
        CHATWARDEN_MODEL_URI="rules",  # known word-list decisions; the models are tested apart
        PYTHONPATH=str(ROOT),
    )
    if discord:
        env["CHATWARDEN_DISCORD_WEBHOOK_URL"] = discord.webhook_url
    return env


async def start_bot(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_for(predicate: Callable[[], bool], limit: float = 20) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_run_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "cw.db"
    async with FakeTwitchServer() as irc, FakeDiscord() as discord:
        proc = await start_bot(bot_env(db, irc, discord), tmp_path, "run", "--channel", "third")
        try:
            fake = await irc.wait_joined({"streamer", "other_chan", "third"}, within=30)
            assert fake.nick is not None and fake.nick.startswith("justinfan")
            sent = 0
            for i in range(30):  # ordinary chat
                await irc.send_privmsg("streamer", f"viewer{i % 7}", f"gg nice play {i}")
                sent += 1
            # one severe message: reported at once
            await irc.send_privmsg("streamer", "racist", "you are a nigger", user_id="901")
            # three milder flags aimed at someone, within the window: reported on the third
            for text in ("fuck you bob", "you are shit", "@everyone **fuck you** <@123>"):
                await irc.send_privmsg("other_chan", "repeat", text, user_id="902")
            # everyday swearing aimed at nobody is not flagged at the default sensitivity
            await irc.send_privmsg("streamer", "hype", "HOLY SHIT what a play", user_id="904")
            # the broadcaster and moderators are exempt
            await irc.send_privmsg("streamer", "streamer", "fuck yeah", badges="broadcaster/1")
            await irc.send_privmsg("streamer", "amod", "fuck off", badges="moderator/1")
            # a redelivered message (same id) must not count twice
            line = await irc.send_privmsg(
                "streamer", "dupe", "ur shit", msg_id="dup-1", user_id="903"
            )
            await irc.send_raw((line + "\r\n").encode())
            total = sent + 1 + 3 + 1 + 2 + 1
            await wait_for(lambda: len(discord.embeds) >= 2)
            await wait_for(lambda: rows(db, "SELECT count(*) FROM seen_messages") == [(total,)])
        finally:
            code, err = await stop(proc)
        assert code == 0, err

    # Discord got exactly the two reports, safe to display
    titles = sorted(e["title"] for e in discord.embeds)
    assert titles == ["Flagged user: racist in #streamer", "Flagged user: repeat in #other_chan"]
    for body in discord.received:
        assert body["allowed_mentions"] == {"parse": []}
    repeat = next(e for e in discord.embeds if "repeat" in e["title"])
    values = [f["value"] for f in repeat["fields"]]
    assert r"\@everyone \*\*fuck you\*\* \<\@123\>" in values
    assert "3 flagged messages within 10 min" in repeat["description"]
    assert any("matched “fuck”" in f["name"] for f in repeat["fields"])  # why it was flagged
    assert repeat["url"] == "https://www.twitch.tv/repeat"

    # SQLite holds users, flags with model version, counters and sent reports
    flags = rows(db, "SELECT login, channel, model_version, report_id FROM flagged_messages")
    assert sorted((f[0], f[1]) for f in flags) == [
        ("dupe", "streamer"),
        ("racist", "streamer"),
        ("repeat", "other_chan"),
        ("repeat", "other_chan"),
        ("repeat", "other_chan"),
    ]
    assert all(str(f[2]).startswith("rules-") for f in flags)
    assert rows(db, "SELECT status, count(*) FROM reports GROUP BY status") == [("sent", 2)]
    assert rows(
        db, "SELECT messages_seen, messages_flagged FROM user_channel_counts WHERE user_key = '903'"
    ) == [(1, 1)]


async def test_pending_reports_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "cw.db"
    async with FakeTwitchServer() as irc, FakeDiscord() as discord:
        discord.script = [server_error(503) for _ in range(1000)]  # Discord is down
        proc = await start_bot(bot_env(db, irc, discord), tmp_path, "run")
        try:
            await irc.wait_joined({"streamer", "other_chan"}, within=30)
            await irc.send_privmsg("streamer", "racist", "nigger", user_id="77")
            await wait_for(lambda: discord.requests >= 1)
        finally:
            code, err = await stop(proc)
        assert code == 0, err
        assert rows(db, "SELECT status, attempts >= 1 FROM reports") == [("pending", 1)]
        assert discord.embeds == []

        discord.script = []  # Discord is back; the restarted bot sends what was pending
        proc = await start_bot(bot_env(db, irc, discord), tmp_path, "run")
        try:
            await wait_for(lambda: len(discord.embeds) == 1, limit=60)
            # the restarted bot remembers the cool-down: a new flag joins the next report
            await irc.wait_joined({"streamer", "other_chan"}, within=30)
            await irc.send_privmsg("streamer", "racist", "nigger again", user_id="77")
            await wait_for(lambda: rows(db, "SELECT count(*) FROM flagged_messages") == [(2,)])
        finally:
            code, err = await stop(proc)
        assert code == 0, err
    assert rows(db, "SELECT status FROM reports") == [("sent",)]
    assert rows(db, "SELECT count(*) FROM flagged_messages WHERE report_id IS NULL") == [(1,)]
    assert discord.embeds[0]["title"] == "Flagged user: racist in #streamer"


async def test_bad_configuration_fails_at_start_up(tmp_path: Path) -> None:
    env = bot_env(tmp_path / "cw.db", None, None)
    env["CHATWARDEN_DISCORD_WEBHOOK_URL"] = "https://example.com/hook/secret123"
    proc = await start_bot(env, tmp_path, "run")
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert "CHATWARDEN_DISCORD_WEBHOOK_URL" in err.decode() and "secret123" not in err.decode()

    env = bot_env(tmp_path / "missing_dir" / "cw.db", None, None)
    proc = await start_bot(env, tmp_path, "run")
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2 and "does not exist" in err.decode()

    env = bot_env(tmp_path / "cw.db", None, None)
    env["CHATWARDEN_CHANNELS"] = ""
    proc = await start_bot(env, tmp_path, "run")
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2 and "no channels to watch" in err.decode()


async def fetch(url: str) -> tuple[int, str]:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def poll(url: str, limit: float = 30) -> tuple[int, str]:
    deadline = time.monotonic() + limit
    while True:
        try:
            return await fetch(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_metrics_and_health_are_scraped_from_a_running_bot(tmp_path: Path) -> None:
    import json

    port = free_port()
    db = tmp_path / "cw.db"
    async with FakeTwitchServer() as irc, FakeDiscord() as discord:
        env = bot_env(db, irc, discord)
        env["CHATWARDEN_METRICS_PORT"] = str(port)
        proc = await start_bot(env, tmp_path, "run")
        try:
            await irc.wait_joined({"streamer", "other_chan"}, within=30)
            for i in range(10):
                await irc.send_privmsg("streamer", f"v{i}", "hello chat")
            await irc.send_privmsg("streamer", "racist", "nigger", user_id="5")
            await irc.send_raw(b":p 12 broken\r\n")
            await wait_for(lambda: len(discord.embeds) == 1)
            status, body = await poll(f"http://127.0.0.1:{port}/healthz")
            assert status == 200
            health = json.loads(body)
            assert health["irc_connected"] is True and health["db_writable"] is True
            assert health["model_version"].startswith("rules-")
            status, text = await poll(f"http://127.0.0.1:{port}/metrics")
            assert status == 200
        finally:
            code, err = await stop(proc)
        assert code == 0, err
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["chatwarden_messages_received_total"] == 11
    assert values["chatwarden_messages_scored_total"] == 11
    assert values["chatwarden_messages_flagged_total"] == 1
    assert values["chatwarden_reports_sent_total"] == 1
    assert values["chatwarden_reports_pending"] == 0
    assert values["chatwarden_irc_connected"] == 1
    assert values['chatwarden_irc_bad_lines_total{reason="malformed"}'] == 1
    assert values["chatwarden_batch_size_count"] >= 1
    assert values["chatwarden_batch_size_sum"] == 11
    # every stored decision's delay since its tmi-sent-ts is observed
    assert values["chatwarden_decision_delay_seconds_count"] == 11
    # each scored batch's storage is timed, once per batch
    assert values["chatwarden_write_seconds_count"] == values["chatwarden_batch_size_count"]
    assert 0 < values["chatwarden_write_seconds_sum"] < 30
    assert 0 < values["chatwarden_decision_delay_max_seconds"] < 30
    assert any(k.startswith("chatwarden_model_info{") for k in values)


async def test_health_is_503_while_twitch_is_unreachable(tmp_path: Path) -> None:
    port = free_port()
    env = bot_env(tmp_path / "cw.db", None, None)  # IRC at a closed port
    env["CHATWARDEN_METRICS_PORT"] = str(port)
    proc = await start_bot(env, tmp_path, "run")
    try:
        status, body = await poll(f"http://127.0.0.1:{port}/healthz")
        assert status == 503 and '"irc_connected": false' in body
    finally:
        code, err = await stop(proc)
    assert code == 0, err


async def test_moderators_actions_are_recorded_and_shown_in_history(tmp_path: Path) -> None:
    db = tmp_path / "cw.db"
    async with FakeTwitchServer() as irc:
        proc = await start_bot(bot_env(db, irc, None), tmp_path, "run")
        try:
            await irc.wait_joined({"streamer", "other_chan"}, within=30)
            await irc.send_privmsg("streamer", "troll", "hello", user_id="55", msg_id="m-55")
            await irc.send_privmsg("streamer", "spammer", "buy followers", user_id="66")
            await irc.send_raw(
                b"@ban-duration=600;room-id=1;target-user-id=55;tmi-sent-ts=1700000000000 "
                b":tmi.twitch.tv CLEARCHAT #streamer :troll\r\n"
                b"@login=troll;room-id=;target-msg-id=m-55;tmi-sent-ts=1700000000001 "
                b":tmi.twitch.tv CLEARMSG #streamer :hello\r\n"
                b"@room-id=1;target-user-id=66 :tmi.twitch.tv CLEARCHAT #streamer :spammer\r\n"
                b"@room-id=1 :tmi.twitch.tv CLEARCHAT #streamer\r\n"
            )
            await wait_for(lambda: rows(db, "SELECT count(*) FROM moderation_events") == [(4,)])
        finally:
            code, err = await stop(proc)
        assert code == 0, err
    assert rows(
        db, "SELECT kind, target_login, duration, target_msg_id FROM moderation_events ORDER BY id"
    ) == [
        ("timeout", "troll", 600, None),
        ("delete", "troll", None, "m-55"),
        ("ban", "spammer", None, None),
        ("clear", None, None, None),
    ]
    env = bot_env(db, None, None)
    history = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "history",
        "troll",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await history.communicate()
    text = out.decode()
    assert history.returncode == 0, err.decode()
    assert "moderator action" in text and "timeout" in text and "600 s" in text
    assert "delete" in text and "hello" in text
