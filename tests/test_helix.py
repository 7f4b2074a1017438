"""Moderation through Twitch's API (bot.twitch.helix) against the loopback Helix fake."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.autoactions import AutoDelete
from bot.lab.helix_fake import ALL_SCOPES, FakeHelix, helix_failure, helix_rate_limited
from bot.lab.loopback import free_port
from bot.policy.policy import Decision
from bot.settings import Settings, SettingsError, parse_token
from bot.twitch.events import ChatMessage
from bot.twitch.helix import ActionResult, HelixError, HelixModerator, inspect_token
from model.scorer import Score
from storage.database import Database

TOKEN = "helixtoken0123456789"


def settings_for(fake: FakeHelix, token: str = TOKEN) -> Settings:
    return Settings(
        twitch_login=fake.login,
        twitch_token=parse_token(f"oauth:{token}"),
        twitch_client_id=fake.client_id,
        helix_url=fake.helix_url,
        twitch_id_url=fake.id_url,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeHelix]:
    async with FakeHelix(token=TOKEN) as server:
        server.add_user("somechannel")
        server.add_user("troll")
        yield server


async def test_start_up_validates_the_token(fake: FakeHelix) -> None:
    async with asyncio.timeout(10), HelixModerator.open(settings_for(fake)) as helix:
        assert (helix.info.login, helix.info.user_id) == ("wardenbot", "900001")
        assert helix.info.missing_scopes == ()
    (validate,) = fake.requests
    assert (validate.method, validate.path) == ("GET", "/oauth2/validate")
    assert validate.authorization == f"OAuth {TOKEN}"  # the bare token, without 'oauth:'


async def test_a_missing_scope_is_named(fake: FakeHelix) -> None:
    fake.scopes = ("moderator:manage:banned_users", "chat:read")
    with pytest.raises(HelixError) as caught:
        async with asyncio.timeout(10), HelixModerator.open(settings_for(fake)):
            pass
    message = str(caught.value)
    assert "lacks the scope moderator:manage:chat_messages" in message
    assert "banned_users and" not in message.split("lacks")[1].split(";")[0]
    assert "token" in message and TOKEN not in message
    info = await inspect_token(settings_for(fake))  # what doctor shows: scopes, no error
    assert info.missing_scopes == ("moderator:manage:chat_messages",)


async def test_an_invalid_token_is_a_clear_error(fake: FakeHelix) -> None:
    with pytest.raises(HelixError, match=r"refused by Twitch.*invalid, expired or revoked"):
        async with asyncio.timeout(10), HelixModerator.open(settings_for(fake, "wrong0123456")):
            pass
    other_app = replace(settings_for(fake), twitch_client_id="someoneelse0123456")
    with pytest.raises(HelixError, match="issued to another app"):
        async with asyncio.timeout(10), HelixModerator.open(other_app):
            pass
    assert not fake.helix_requests("POST", "/helix/moderation/bans")


async def test_timeout_ban_and_delete_send_exactly_twitchs_requests(fake: FakeHelix) -> None:
    channel_id, troll_id = fake.users["somechannel"], fake.users["troll"]
    async with asyncio.timeout(10), HelixModerator.open(settings_for(fake)) as helix:
        timed = await helix.timeout("#SomeChannel", "@Troll", 600, "spam")
        banned = await helix.ban("somechannel", "troll", "slurs")  # a timed-out user may be
        again = await helix.ban("somechannel", "troll", "slurs")
        deleted = await helix.delete_message("somechannel", "885196de-cb67-427a-baa8-82f9b0fcd05f")
    assert timed == ActionResult(True, 200, "")
    assert banned == ActionResult(True, 200, "")
    assert again == ActionResult(
        False, 400, "The user specified in the user_id field is already banned."
    )
    assert deleted == ActionResult(True, 204, "")
    bans = fake.helix_requests("POST", "/helix/moderation/bans")
    assert [r.query for r in bans] == [
        {"broadcaster_id": [channel_id], "moderator_id": ["900001"]}
    ] * 3
    assert bans[0].body == {"data": {"user_id": troll_id, "duration": 600, "reason": "spam"}}
    assert bans[1].body == {"data": {"user_id": troll_id, "reason": "slurs"}}
    (delete,) = fake.helix_requests("DELETE", "/helix/moderation/chat")
    assert delete.query == {
        "broadcaster_id": [channel_id],
        "moderator_id": ["900001"],
        "message_id": ["885196de-cb67-427a-baa8-82f9b0fcd05f"],
    }
    assert delete.body is None
    for request in [*bans, delete]:
        assert request.authorization == f"Bearer {TOKEN}"
        assert request.client_id == fake.client_id
    # logins are resolved once each, then cached
    lookups = fake.helix_requests("GET", "/helix/users")
    assert sorted(r.query["login"][0] for r in lookups) == ["somechannel", "troll"]


async def test_a_ban_without_a_running_timeout_is_sent_without_duration(fake: FakeHelix) -> None:
    async with asyncio.timeout(10), HelixModerator.open(settings_for(fake)) as helix:
        assert await helix.ban("somechannel", "troll", "r" * 600) == ActionResult(True, 200, "")
    (ban,) = fake.helix_requests("POST", "/helix/moderation/bans")
    assert ban.body == {"data": {"user_id": fake.users["troll"], "reason": "r" * 500}}
    assert fake.bans[0]["end_time"] is None


async def test_unknown_logins_and_bad_durations_are_answered_without_a_ban(
    fake: FakeHelix,
) -> None:
    async with asyncio.timeout(10), HelixModerator.open(settings_for(fake)) as helix:
        nobody = await helix.timeout("somechannel", "nobody_here", 60, "x")
        no_channel = await helix.delete_message("nochannel", "abc")
        too_long = await helix.timeout("somechannel", "troll", 1_209_601, "x")
    assert (nobody.ok, nobody.status) == (False, 404) and "nobody_here" in nobody.message
    assert (no_channel.ok, no_channel.status) == (False, 404) and "nochannel" in no_channel.message
    assert (too_long.ok, too_long.status) == (False, 0) and "1209600" in too_long.message
    assert not fake.helix_requests("POST", "/helix/moderation/bans")
    assert not fake.helix_requests("DELETE", "/helix/moderation/chat")


async def test_a_429_is_retried_after_the_reset(fake: FakeHelix) -> None:
    async with asyncio.timeout(15), HelixModerator.open(settings_for(fake)) as helix:
        await helix.user_id("somechannel")
        await helix.user_id("troll")
        fake.script = [helix_rate_limited(reset_in=1.5)]
        result = await helix.timeout("somechannel", "troll", 60, "spam")
    assert result == ActionResult(True, 200, "")
    first, second = fake.helix_requests("POST", "/helix/moderation/bans")
    assert first.body == second.body
    # Ratelimit-Reset said "in 1.5 s" (rounded up to a whole second): not retried before it
    assert second.at - first.at >= 1.4


async def test_a_429_that_persists_is_a_failed_action(fake: FakeHelix) -> None:
    async with asyncio.timeout(15), HelixModerator.open(settings_for(fake), max_wait=0.05) as helix:
        fake.script = [helix_rate_limited(reset_in=0.05) for _ in range(10)]
        result = await helix.delete_message("somechannel", "m1")
    assert (result.ok, result.status, result.message) == (False, 429, "Too Many Requests")
    assert len(fake.helix_requests("DELETE", "/helix/moderation/chat")) == 4  # 1 + 3 retries


async def test_an_empty_bucket_waits_for_its_reset(fake: FakeHelix) -> None:
    async with asyncio.timeout(15), HelixModerator.open(settings_for(fake)) as helix:
        await helix.user_id("somechannel")
        fake.remaining = 1  # this answer says 0 remaining, with a reset 1 s away
        fake._refill_at = time.time() + 1.0
        await helix.delete_message("somechannel", "m1")
        started = time.monotonic()
        assert (await helix.delete_message("somechannel", "m2")).ok
        assert time.monotonic() - started >= 0.5


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "Missing scope: moderator:manage:banned_users"),
        (403, "The user in moderator_id is not one of the broadcaster's moderators."),
        (500, "Internal Server Error"),
    ],
)
async def test_helix_failures_become_failed_results_and_are_recorded(
    fake: FakeHelix,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    status: int,
    message: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        asyncio.timeout(10),
        HelixModerator.open(settings_for(fake)) as helix,
        Database.open(tmp_path / "cw.db") as db,
    ):
        fake.script = [helix_failure(status, message)]
        result = await helix.timeout("somechannel", "troll", 600, "spam")
        await db.record_action(
            channel="somechannel",
            target_login="troll",
            kind="timeout",
            duration=600,
            reason="spam",
            msg_id=None,
            moderator="a_mod",
            ok=result.ok,
            status=result.status,
            message=result.message,
            source="dashboard",
        )
        (stored,) = await db.bot_actions("troll")
    assert result == ActionResult(False, status, message)
    assert (stored.ok, stored.status, stored.message) == (False, status, message)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(message in r.getMessage() and "timeout" in r.getMessage() for r in warnings)


async def test_no_answer_is_a_failed_result(fake: FakeHelix) -> None:
    async with asyncio.timeout(15), HelixModerator.open(settings_for(fake)) as helix:
        await helix.user_id("somechannel")
        helix._http._route_class.BASE = f"http://127.0.0.1:{free_port()}/helix/"
        result = await helix.delete_message("somechannel", "m1")
    assert (result.ok, result.status) == (False, 0)
    assert "no answer" in result.message


async def test_the_token_is_never_logged_or_shown(
    fake: FakeHelix, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    async with asyncio.timeout(20), HelixModerator.open(settings_for(fake)) as helix:
        shown.append(repr(helix))
        shown.append(repr(helix._http))
        for step in (helix_failure(401, "Invalid OAuth token"), helix_rate_limited(0.1)):
            fake.script = [step]
            shown.append(repr(await helix.timeout("somechannel", "troll", 5, "x")))
        shown.append(repr(await helix.delete_message("somechannel", "m1")))
    for bad in ("wrong0123456", TOKEN):
        fake.scopes = ()
        try:
            async with HelixModerator.open(settings_for(fake, bad)):
                pass
        except HelixError as exc:
            shown.append(str(exc))
    assert len(shown) == 7
    assert fake.requests and caplog.records
    assert TOKEN not in caplog.text and "wrong0123456" not in caplog.text
    assert not [s for s in shown if TOKEN in s or "wrong0123456" in s]


def test_auto_delete_settings_are_off_by_default_and_checked() -> None:
    assert Settings.from_env({}, None).auto_delete == ()
    env = {
        "CHATWARDEN_TWITCH_LOGIN": "wardenbot",
        "CHATWARDEN_TWITCH_TOKEN": f"oauth:{TOKEN}",
        "CHATWARDEN_TWITCH_CLIENT_ID": "fakeclientid0123456789",
        "CHATWARDEN_AUTO_DELETE": "#Chan:0.98, other:1",
    }
    settings = Settings.from_env(env, None)
    assert settings.auto_delete == (("chan", 0.98), ("other", 1.0))
    assert settings.auto_delete_threshold("chan") == 0.98
    assert settings.auto_delete_threshold("third") is None
    assert settings.twitch_api_token is not None
    assert settings.twitch_api_token.reveal() == TOKEN and TOKEN not in repr(settings)
    for bad in ("chan", "chan:0.2", "chan:x", "bad name:0.99"):
        with pytest.raises(SettingsError, match="CHATWARDEN_AUTO_DELETE: expected"):
            Settings.from_env({**env, "CHATWARDEN_AUTO_DELETE": bad}, None)
    without_token = {"CHATWARDEN_AUTO_DELETE": "chan:0.98"}
    with pytest.raises(SettingsError, match="needs CHATWARDEN_TWITCH_TOKEN"):
        Settings.from_env(without_token, None)
    with pytest.raises(SettingsError, match="CHATWARDEN_HELIX_URL: expected an https URL"):
        Settings.from_env({"CHATWARDEN_HELIX_URL": "http://example.com/helix"}, None)


async def test_doctor_says_which_scopes_the_token_has(fake: FakeHelix) -> None:
    from bot.doctor import _helix

    fake.scopes = ("moderator:manage:banned_users", "chat:read")
    async with asyncio.timeout(15):
        check = await _helix(settings_for(fake))
        assert not check.ok
        assert "moderator:manage:banned_users present" in check.detail
        assert "moderator:manage:chat_messages MISSING" in check.detail
        assert "wardenbot" in check.detail and TOKEN not in check.detail + check.fix
        fake.scopes = ALL_SCOPES
        assert (await _helix(settings_for(fake))).ok
        refused = await _helix(settings_for(fake, "wrong0123456"))
        assert not refused.ok and "refused" in refused.detail
        assert "wrong0123456" not in refused.detail
        assert (await _helix(Settings())).ok  # not set: nothing to check


async def test_the_token_is_validated_again_while_open(fake: FakeHelix) -> None:
    async with (
        asyncio.timeout(15),
        HelixModerator.open(settings_for(fake), revalidate_every=0.1) as helix,
    ):
        fake.revoked = True
        while helix.valid:
            await asyncio.sleep(0.02)
        fake.revoked = False
        while not helix.valid:
            await asyncio.sleep(0.02)
        fake.scopes = ("moderator:manage:banned_users",)
        assert not await helix.revalidate(fake.id_url)
    assert len(fake.helix_requests("GET", "/oauth2/validate")) >= 3


def _decided(
    channel: str, msg_id: str, score: float, labels: tuple[str, ...], *, mod: bool = False
) -> tuple[ChatMessage, Score, Decision]:
    badges = frozenset({"moderator"}) if mod else frozenset()
    message = ChatMessage(
        msg_id, channel, "troll", "Troll", "text", time.time(), "42", badges=badges
    )
    return (message, Score(score, labels), Decision(flagged=True))


async def test_auto_delete_records_refused_deletions_and_pauses_without_a_valid_token(
    fake: FakeHelix, tmp_path: Path
) -> None:
    fake.moderates = {"othermod"}  # the bot account does not moderate #somechannel
    async with (
        asyncio.timeout(20),
        HelixModerator.open(settings_for(fake)) as helix,
        Database.open(tmp_path / "cw.db") as db,
    ):
        async with AutoDelete(helix, db, {"somechannel": 0.9}) as auto:
            auto.decided(
                [
                    _decided("somechannel", "a1", 0.95, ("hate",)),
                    _decided("somechannel", "a2", 0.85, ("hate",)),  # under the threshold
                    _decided("somechannel", "a3", 0.99, ("insult",)),  # not slur/threat
                    _decided("elsewhere", "a4", 0.99, ("threat",)),  # channel not listed
                    _decided("somechannel", "a5", 0.99, ("threat",), mod=True),  # a moderator
                ]
            )
            helix.valid = False
            auto.decided([_decided("somechannel", "a6", 0.99, ("threat",))])
        (action,) = await db.bot_actions()
    assert (action.msg_id, action.kind, action.source, action.ok, action.status) == (
        "a1",
        "delete",
        "auto",
        False,
        403,
    )
    assert "not one of the broadcaster's moderators" in action.message
    assert action.target_login == "troll" and action.target_user_id == "42"
    assert (auto.deleted, auto.failed) == (0, 1)
    assert [
        r.param("message_id") for r in fake.helix_requests("DELETE", "/helix/moderation/chat")
    ] == ["a1"]
