"""`chatwarden run` with Twitch's API: start-up validation and the optional auto-deletes,
as a real process against the loopback IRC and Helix fakes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.lab.helix_fake import FakeHelix
from bot.lab.loopback import FakeTwitchServer
from tests.test_end_to_end import bot_env, rows, start_bot, stop, wait_for

TOKEN = "helixtoken0123456789"


def helix_env(db: Path, irc: FakeTwitchServer, helix: FakeHelix) -> dict[str, str]:
    env = bot_env(db, irc, None)
    env.update(
        CHATWARDEN_TWITCH_LOGIN=helix.login,
        CHATWARDEN_TWITCH_TOKEN=f"oauth:{TOKEN}",
        CHATWARDEN_TWITCH_CLIENT_ID=helix.client_id,
        CHATWARDEN_HELIX_URL=helix.helix_url,
        CHATWARDEN_TWITCH_ID_URL=helix.id_url,
    )
    return env


async def chat(irc: FakeTwitchServer) -> None:
    await irc.send_privmsg("streamer", "racist", "you are a nigger", user_id="901", msg_id="s-1")
    await irc.send_privmsg(
        "streamer", "amod", "you are a nigger", msg_id="s-2", badges="moderator/1"
    )
    await irc.send_privmsg("streamer", "rude", "fuck you bob", user_id="902", msg_id="s-3")
    await irc.send_privmsg("other_chan", "racist", "you are a nigger", user_id="901", msg_id="o-1")


async def test_auto_delete_is_off_by_default(tmp_path: Path) -> None:
    db = tmp_path / "cw.db"
    async with (
        FakeTwitchServer(valid_token=f"oauth:{TOKEN}") as irc,
        FakeHelix(token=TOKEN) as helix,
    ):
        proc = await start_bot(helix_env(db, irc, helix), tmp_path, "run")
        try:
            await irc.wait_joined({"streamer", "other_chan"}, within=30)
            await chat(irc)
            await wait_for(lambda: rows(db, "SELECT count(*) FROM seen_messages") == [(4,)])
            await asyncio.sleep(0.3)
        finally:
            code, err = await stop(proc)
        assert code == 0, err
    assert [(r.method, r.path) for r in helix.requests] == [("GET", "/oauth2/validate")]
    assert "Helix actions enabled as wardenbot" in err and TOKEN not in err
    assert rows(db, "SELECT count(*) FROM bot_actions") == [(0,)]


async def test_auto_delete_removes_a_severe_slur_in_a_configured_channel(tmp_path: Path) -> None:
    db = tmp_path / "cw.db"
    async with (
        FakeTwitchServer(valid_token=f"oauth:{TOKEN}") as irc,
        FakeHelix(token=TOKEN) as helix,
    ):
        helix.add_user("streamer")
        helix.add_user("other_chan")
        env = helix_env(db, irc, helix)
        env["CHATWARDEN_AUTO_DELETE"] = "streamer:0.9"
        proc = await start_bot(env, tmp_path, "run")
        try:
            await irc.wait_joined({"streamer", "other_chan"}, within=30)
            await chat(irc)
            await wait_for(lambda: rows(db, "SELECT count(*) FROM bot_actions") == [(1,)])
            await wait_for(lambda: rows(db, "SELECT count(*) FROM seen_messages") == [(4,)])
            await asyncio.sleep(0.3)
        finally:
            code, err = await stop(proc)
        assert code == 0, err
    # only the slur in #streamer: not the moderator's, not the insult, not #other_chan's
    assert helix.deleted == ["s-1"]
    (delete,) = helix.helix_requests("DELETE", "/helix/moderation/chat")
    assert delete.query["broadcaster_id"] == [helix.users["streamer"]]
    assert rows(
        db,
        "SELECT channel, target_login, kind, msg_id, moderator, source, ok, status "
        "FROM bot_actions",
    ) == [("streamer", "racist", "delete", "s-1", "wardenbot", "auto", 1, 204)]
    assert "auto-deleted racist's message s-1 in #streamer" in err and TOKEN not in err


async def test_a_token_without_a_scope_stops_run_with_its_name(tmp_path: Path) -> None:
    db = tmp_path / "cw.db"
    async with (
        FakeTwitchServer(valid_token=f"oauth:{TOKEN}") as irc,
        FakeHelix(token=TOKEN) as helix,
    ):
        helix.scopes = ("moderator:manage:banned_users",)
        proc = await start_bot(helix_env(db, irc, helix), tmp_path, "run")
        _, err_bytes = await asyncio.wait_for(proc.communicate(), 60)
    err = err_bytes.decode()
    assert proc.returncode == 2, err
    assert "lacks the scope moderator:manage:chat_messages" in err
    assert TOKEN not in err
