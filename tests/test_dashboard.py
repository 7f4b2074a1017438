"""The dashboard on a real loopback port over a real SQLite file: access, CSRF, escaping,
pagination, bad names, channel settings applied live."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.dashboard import Dashboard, DashboardContext
from bot.dashboard.auth import COOKIE, Sessions
from bot.lab.helix_fake import FakeHelix, helix_failure
from bot.norms import LearnedNorms
from bot.norms.store import NormsControl
from bot.policy.policy import Policy, PolicyConfig
from bot.runtime import apply_saved
from bot.secret import Secret
from bot.settings import Settings, SettingsError, parse_token
from bot.twitch.helix import HelixModerator
from storage.database import Database
from storage.records import (
    BatchRecord,
    ChannelSettings,
    ContextLine,
    FlagRecord,
    SeenMessage,
)

TOKEN = "dashboard-test-token-0123456789"
NOW = time.time()


def seen(i: int, login: str, channel: str = "streamer") -> SeenMessage:
    return SeenMessage(f"m{i}", channel, f"uid-{login}", f"uid-{login}", login, login, NOW - i)


def flag(
    i: int,
    login: str,
    text: str,
    score: float = 0.8,
    channel: str = "streamer",
    context: tuple[ContextLine, ...] = (),
) -> FlagRecord:
    return FlagRecord(
        f"m{i}",
        channel,
        f"uid-{login}",
        login,
        text,
        score,
        ("insult",),
        "rules-test",
        "p1",
        NOW - i,
        NOW - i,
        ("trash",),
        context,
    )


async def seed(db: Database, flags: Sequence[FlagRecord]) -> None:
    messages = tuple(
        SeenMessage(f.msg_id, f.channel, f.user_key, f.user_key, f.login, f.login, f.sent_at)
        for f in flags
    )
    await db.record_batch(BatchRecord(messages, tuple(flags)))


def settings(db: Path, **extra: object) -> Settings:
    return Settings(
        channels=("streamer", "other"),
        db=db,
        dashboard_token=Secret(TOKEN),
        **extra,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def dashboard(
    tmp_path: Path,
    flags: Sequence[FlagRecord] = (),
    policy: Policy | None = None,
    helix: FakeHelix | None = None,
    norms: LearnedNorms | None = None,
) -> AsyncIterator[tuple[Dashboard, Database]]:
    cfg = settings(tmp_path / "cw.db")
    if helix is not None:
        cfg = settings(
            tmp_path / "cw.db",
            twitch_login=helix.login,
            twitch_token=parse_token(f"oauth:{helix.token}"),
            twitch_client_id=helix.client_id,
            helix_url=helix.helix_url,
            twitch_id_url=helix.id_url,
        )
    policy = Policy(PolicyConfig()) if policy is None else policy
    async with Database.open(cfg.db) as db:
        await seed(db, flags)

        def apply(saved: ChannelSettings) -> None:
            apply_saved(policy, cfg, saved)

        async with Database.open_readonly(cfg.db) as reader:
            if helix is None:
                context = DashboardContext(
                    db=db,
                    settings=cfg,
                    apply_channel=apply,
                    reader=reader,
                    norms=NormsControl(db, norms),
                )
                async with Dashboard(context) as dash:
                    yield dash, db
                return
            async with (
                HelixModerator.open(cfg) as moderator,
                Dashboard(
                    DashboardContext(
                        db=db, settings=cfg, apply_channel=apply, moderator=moderator, reader=reader
                    )
                ) as dash,
            ):
                yield dash, db


def anonymous(dash: Dashboard) -> aiohttp.ClientSession:
    """A browser-like client: keeps cookies set by 127.0.0.1."""
    return aiohttp.ClientSession(
        base_url=dash.url.rstrip("/"), cookie_jar=aiohttp.CookieJar(unsafe=True)
    )


@asynccontextmanager
async def logged_in(dash: Dashboard, name: str = "") -> AsyncIterator[aiohttp.ClientSession]:
    async with anonymous(dash) as http:
        async with http.post(
            "/login", data={"token": TOKEN, "moderator": name, "next": "/"}, allow_redirects=False
        ) as r:
            assert r.status == 303
        yield http


async def csrf_of(http: aiohttp.ClientSession, path: str) -> str:
    async with http.get(path) as r:
        html = await r.text()
    marker = '<meta name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_without_the_token_no_page_or_api_shows_chat_data(tmp_path: Path) -> None:
    async with (
        dashboard(tmp_path, [flag(1, "rude_user", "you are trash")]) as (dash, _),
        aiohttp.ClientSession(
            base_url=dash.url.rstrip("/"), cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http,
    ):
        for path in ("/", "/users/rude_user", "/reports", "/channels/streamer"):
            async with http.get(path) as r:
                body = await r.text()
                assert r.status == 401, path
                assert 'name="token"' in body  # the login form
                assert "trash" not in body and "insult" not in body
                # the login form names only the page asked for (to go back to it)
                assert body.count("rude_user") == (path == "/users/rude_user")
        for path in ("/api/flagged", "/api/users/rude_user", "/api/reports"):
            async with http.get(path) as r:
                assert r.status == 401
                assert "error" in await r.json()
        async with http.get("/?token=wrong-token-0000000000") as r:
            assert r.status == 401
            assert "rude_user" not in await r.text()
        http.cookie_jar.update_cookies({COOKIE: TOKEN})  # the token is no cookie
        async with http.get("/api/flagged") as r:
            assert r.status == 401
        http.cookie_jar.update_cookies({COOKIE: "forged-session-id"})
        async with http.get("/") as r:
            assert r.status == 401


async def test_token_in_url_sets_a_session_cookie_and_is_dropped_from_the_url(
    tmp_path: Path,
) -> None:
    async with (
        dashboard(tmp_path, [flag(1, "rude_user", "you are trash")]) as (dash, _),
        aiohttp.ClientSession(
            base_url=dash.url.rstrip("/"), cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http,
    ):
        async with http.get(f"/users/rude_user?token={TOKEN}&x=1", allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/users/rude_user?x=1"
            cookie = r.cookies[COOKIE]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            assert TOKEN not in cookie.value
        async with http.get("/users/rude_user") as r:
            assert r.status == 200
            assert "you are trash" in await r.text()
        async with http.get("/api/flagged") as r:
            assert (await r.json())["users"][0]["login"] == "rude_user"


async def test_a_cookie_from_before_a_restart_or_past_its_idle_time_is_refused(
    tmp_path: Path,
) -> None:
    async with (
        dashboard(tmp_path, [flag(1, "rude_user", "you are trash")]) as (dash, _),
        logged_in(dash) as http,
    ):
        sid = next(c.value for c in http.cookie_jar if c.key == COOKIE)
    async with (
        dashboard(tmp_path / "..") as (dash, _),
        aiohttp.ClientSession(
            base_url=dash.url.rstrip("/"), cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http,
    ):
        http.cookie_jar.update_cookies({COOKIE: sid})
        async with http.get("/") as r:
            assert r.status == 401
    sessions = Sessions(Secret(TOKEN), idle=0.05)
    sid, _ = sessions.start()
    assert sessions.get(sid) is not None
    await asyncio.sleep(0.1)
    assert sessions.get(sid) is None


async def test_a_post_without_the_csrf_token_changes_nothing(tmp_path: Path) -> None:
    async with (
        dashboard(tmp_path, [flag(1, "rude_user", "you are trash")]) as (dash, db),
        logged_in(dash, "Alice") as http,
    ):
        url = "/users/rude_user/verdicts"
        form = {"msg_id": "m1", "verdict": "wrong"}
        for forged in ({}, {"csrf": "forged"}):
            async with http.post(url, data={**form, **forged}, allow_redirects=False) as r:
                assert r.status == 403
        async with http.post(
            "/channels/streamer", data={"sensitivity": "high"}, allow_redirects=False
        ) as r:
            assert r.status == 403
        assert count(db.path, "verdicts") == 0
        assert count(db.path, "channel_settings") == 0
        csrf = await csrf_of(http, "/users/rude_user")
        async with http.post(url, data={**form, "csrf": csrf}, allow_redirects=False) as r:
            assert r.status == 303
        async with http.post(
            url, data={"msg_id": "m1", "verdict": "wrong"}, headers={"X-CSRF-Token": csrf}
        ) as r:
            assert "Marked wrong as Alice" in await r.text()
        assert count(db.path, "verdicts") == 2
        with sqlite3.connect(db.path) as conn:
            assert conn.execute("SELECT moderator, correct FROM verdicts").fetchall() == [
                ("Alice", 0),
                ("Alice", 0),
            ]


async def test_chat_text_is_shown_as_text(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    before = (ContextLine("someone", "<b>bold</b> context", NOW - 5),)
    async with (
        dashboard(tmp_path, [flag(1, "rude_user", evil, context=before)]) as (dash, _),
        logged_in(dash) as http,
    ):
        for path in ("/users/rude_user", "/"):
            async with http.get(path) as r:
                html = await r.text()
            assert "<script>alert" not in html and "<img src=x" not in html
            assert "<b>bold</b>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html or path == "/"
        async with http.get("/users/rude_user") as r:
            html = await r.text()
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert "&lt;b&gt;bold&lt;/b&gt; context" in html


async def test_ten_thousand_flagged_users_page_worst_first(tmp_path: Path) -> None:
    flags = [
        flag(i, f"user_{i:05d}", "you are trash", score=0.5 + (i % 50) / 100) for i in range(10_000)
    ]
    flags += [flag(20_000 + i, "worst_user", "you are trash", score=0.99) for i in range(3)]
    async with dashboard(tmp_path, flags) as (dash, _), logged_in(dash) as http:
        started = time.monotonic()
        async with http.get("/api/flagged?since=7d") as r:
            first = await r.json()
        assert time.monotonic() - started < 5
        assert first["total"] == 10_001 and first["pages"] == 201
        assert len(first["users"]) == 50
        assert first["users"][0]["login"] == "worst_user"
        scores = [u["worst_score"] for u in first["users"][1:]]
        assert scores == sorted(scores, reverse=True)
        async with http.get("/api/flagged?since=7d&page=201") as r:
            last = await r.json()
        assert len(last["users"]) == 1
        async with http.get("/?since=7d&page=2") as r:
            html = await r.text()
        assert "page 2 of 201" in html and html.count('href="/users/') == 50
        async with http.get("/api/flagged?since=7d&page=202") as r:
            assert (await r.json())["users"] == []
        for bad in (
            "page=0",
            "page=x",
            "since=forever",
            "channel=no%20way",
            "category=%3Cx%3E",
        ):
            async with http.get(f"/api/flagged?{bad}") as r:
                assert r.status == 400, bad
                assert "error" in await r.json()
        latest = first["latest"]
        async with http.get(f"/api/flagged?after={latest}") as r:
            assert await r.json() == {"latest": latest, "new": 0}
        async with http.get(f"/api/flagged?after={latest - 2}") as r:
            assert await r.json() == {"latest": latest, "new": 2}


async def test_unknown_login_is_404_and_odd_names_are_400(tmp_path: Path) -> None:
    async with (
        dashboard(tmp_path, [flag(1, "rude_user", "you are trash")]) as (dash, _),
        logged_in(dash) as http,
    ):
        async with http.get("/users/nobody_here") as r:
            assert r.status == 404
            assert "No messages from this user" in await r.text()
        async with http.get("/api/users/nobody_here") as r:
            assert r.status == 404
        async with http.get("/users/bad%3Cname%3E") as r:
            assert r.status == 400
            assert "is not a Twitch name" in await r.text()
        async with http.get("/channels/bad..chan") as r:
            assert r.status == 400
            assert "not a Twitch name" in await r.text()
        async with http.get("/channels/not_watched") as r:
            assert r.status == 404


async def test_channel_settings_are_saved_and_applied_live(tmp_path: Path) -> None:
    policy = Policy(PolicyConfig())
    async with dashboard(tmp_path, policy=policy) as (dash, db), logged_in(dash, "Bob") as http:
        csrf = await csrf_of(http, "/channels/streamer")
        form = {
            "csrf": csrf,
            "sensitivity": "low",
            "exempt_vips": "on",
            "allowed_terms": "Damn\n gg ez ,damn",
            "blocked_terms": "badword",
        }
        async with http.post("/channels/streamer", data=form) as r:
            html = await r.text()
        assert "#streamer: saved and applied." in html
        async with http.get("/api/channels/streamer") as r:
            data = await r.json()
        assert data["sensitivity"] == "low" and data["exempt_vips"] is True
        assert data["allowed_terms"] == ["damn", "gg ez"]
        assert data["updated_by"] == "Bob"
        assert policy.threshold("streamer") == 0.8 and policy.config_for("streamer").exempt_vips
        assert policy.terms["streamer"].blocked == ("badword",)
        assert policy.config_for("other") == policy.config
        assert [c.channel for c in await db.channel_settings()] == ["streamer"]


@pytest.mark.parametrize("kind", ["timeout", "ban", "delete"])
async def test_actions_without_twitch_credentials_say_so_and_do_nothing(
    tmp_path: Path, kind: str
) -> None:
    async with (
        dashboard(tmp_path, [flag(1, "rude_user", "you are trash")]) as (dash, _),
        logged_in(dash) as http,
    ):
        csrf = await csrf_of(http, "/users/rude_user")
        form = {"csrf": csrf, "kind": kind, "channel": "streamer", "duration": "600"}
        async with http.post("/users/rude_user/actions", data={**form, "msg_id": "m1"}) as r:
            html = await r.text()
        assert "Twitch actions are off" in html and "Nothing was done." in html


async def test_a_timeout_reaches_twitch_and_is_recorded_with_who_clicked(
    tmp_path: Path,
) -> None:
    async with FakeHelix() as helix:
        helix.add_user("streamer")
        troll_id = helix.add_user("rude_user")
        flags = [flag(1, "rude_user", "you are trash")]
        async with (
            dashboard(tmp_path, flags, helix=helix) as (dash, db),
            logged_in(dash, "Carol") as http,
        ):
            csrf = await csrf_of(http, "/users/rude_user")
            form = {
                "csrf": csrf,
                "kind": "timeout",
                "channel": "streamer",
                "duration": "600",
                "reason": "insults",
            }
            async with http.post("/users/rude_user/actions", data=form) as r:
                html = await r.text()
            assert "Twitch: rude_user timed out for 600 s in #streamer." in html
            (ban,) = helix.helix_requests("POST", "/helix/moderation/bans")
            assert ban.body == {"data": {"user_id": troll_id, "duration": 600, "reason": "insults"}}
            assert ban.param("broadcaster_id") == helix.users["streamer"]
            helix.script.append(helix_failure(403, "The user is a moderator."))
            async with http.post(
                "/users/rude_user/actions", data={**form, "kind": "ban", "reason": "again"}
            ) as r:
                html = await r.text()
            assert "Twitch refused (HTTP 403): The user is a moderator." in html
            assert "failed: HTTP 403" in html  # the action log on the page
            delete = {"csrf": csrf, "kind": "delete", "channel": "streamer", "msg_id": "m1"}
            async with http.post("/users/rude_user/actions", data=delete) as r:
                assert "Twitch: the message deleted in #streamer." in await r.text()
            assert helix.deleted == ["m1"]
            for bad in ({"duration": "7"}, {"kind": "kick"}, {"channel": "not_watched"}):
                async with http.post("/users/rude_user/actions", data={**form, **bad}) as r:
                    assert "nothing was done" in (await r.text()).lower()
            actions = await db.bot_actions(login="rude_user")
        assert [(a.kind, a.ok, a.status, a.moderator, a.source) for a in actions] == [
            ("delete", True, 204, "Carol", "dashboard"),
            ("ban", False, 403, "Carol", "dashboard"),
            ("timeout", True, 200, "Carol", "dashboard"),
        ]
        assert len(helix.helix_requests("POST", "/helix/moderation/bans")) == 2


def test_discord_reports_link_to_the_users_page_only_when_the_url_is_set() -> None:
    from bot.reporting.render import render_report
    from storage.records import FlaggedMessage, ReportDraft, UserCounts

    draft = ReportDraft("streamer", "uid-rude", "rude_user", "Rude_User", "3 flags", NOW)
    flagged = FlaggedMessage(
        "m1",
        "streamer",
        "rude_user",
        "you are trash",
        0.8,
        ("insult",),
        "rules",
        "p1",
        NOW,
        NOW,
        None,
    )
    counts = UserCounts("streamer", 10, 3, 1)
    plain = render_report(draft, [flagged], counts)
    linked = render_report(draft, [flagged], counts, dashboard_url="https://mod.example.org")
    assert "mod.example.org" not in str(plain)
    assert linked["description"] == plain["description"] + (
        "\n[History, verdicts and actions](https://mod.example.org/users/rude_user)"
    )
    assert Settings.from_env(
        {"CHATWARDEN_DASHBOARD_URL": "https://mod.example.org/"}, None
    ).dashboard_url == ("https://mod.example.org")


async def test_without_a_configured_token_one_is_made_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = Settings(channels=("streamer",), db=tmp_path / "cw.db")
    caplog.set_level("INFO", logger="bot.dashboard.app")
    async with (
        Database.open(cfg.db) as db,
        Dashboard(DashboardContext(db=db, settings=cfg, apply_channel=print)) as dash,
    ):
        lines = [r.getMessage() for r in caplog.records if "dashboard on" in r.getMessage()]
        assert len(lines) == 1 and lines[0].startswith(f"dashboard on {dash.url}?token=")
        token = lines[0].rsplit("=", 1)[1]
        assert len(token) >= 30
        async with anonymous(dash) as http:
            async with http.post("/login", data={"token": token[:-1] + "x"}) as r:
                assert r.status == 401 and "That token is not right." in await r.text()
            async with http.get(f"/?token={token}") as r:
                assert r.status == 200 and "Flagged users" in await r.text()
    assert sum(token in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(SettingsError, match="CHATWARDEN_DASHBOARD_TOKEN: too short"):
        Settings.from_env({"CHATWARDEN_DASHBOARD_TOKEN": "short"}, None)
    with pytest.raises(SettingsError, match="CHATWARDEN_DASHBOARD_URL"):
        Settings.from_env({"CHATWARDEN_DASHBOARD_URL": "mod.example.org"}, None)


def _taught(norms: LearnedNorms, channel: str) -> None:
    """Chat in ``channel`` where moderators time out three users who name "hyde"."""
    from bot.twitch.events import ChatMessage, ClearChat

    at = NOW - 3600
    for n in range(3):
        for i in range(100):
            text = ("gg", "nice play", "what a save", "good morning")[i % 4]
            message = ChatMessage(f"c{n}-{i}", channel, f"viewer{i}", "v", text, at + i)
            norms.judge(message)
            norms.seen(message, False)
        fan = ChatMessage(f"f{n}", channel, f"fan{n}", "f", "hyde is better", at + 100)
        norms.judge(fan)
        norms.seen(fan, False)
        norms.moderated(ClearChat(channel, f"fan{n}", None, 600, sent_at=at + 102))
        at += 110


async def test_the_channel_page_shows_learned_norms_and_blocks_resets_freezes(
    tmp_path: Path,
) -> None:
    policy = Policy(PolicyConfig())
    norms = LearnedNorms()
    _taught(norms, "streamer")
    async with (
        dashboard(tmp_path, policy=policy, norms=norms) as (dash, db),
        logged_in(dash, "Ann") as http,
    ):
        async with http.get("/api/channels/streamer") as r:
            data = await r.json()
        assert data["learning"] is True and data["norms"]["actions"] == 3
        hyde = next(k for k in data["norms"]["keys"] if k["key"] == "hyde")
        assert hyde["active"] and hyde["category"] == "learned term" and hyde["users"] == 3
        async with http.get("/channels/streamer") as r:
            html = await r.text()
        assert "Learned from your moderators" in html and "<q>hyde</q>" in html
        async with http.get("/api/channels/other") as r:
            assert (await r.json())["norms"] is None  # nothing learned there
        csrf = await csrf_of(http, "/channels/streamer")
        async with http.post(
            "/channels/streamer/norms", data={"csrf": csrf, "do": "block", "term": "hyde"}
        ) as r:
            assert "is a blocked term now" in await r.text()
        assert policy.terms["streamer"].blocked == ("hyde",)
        [saved] = await db.channel_settings()
        assert saved.blocked_terms == ("hyde",) and saved.updated_by == "Ann"
        async with http.post(
            "/channels/streamer/norms", data={"csrf": csrf, "do": "block", "term": "[repeat]"}
        ) as r:
            assert "Only a learned word can be blocked" in await r.text()
        async with http.post("/channels/streamer/norms", data={"csrf": csrf, "do": "freeze"}) as r:
            assert "learned norms frozen" in await r.text()
        assert norms.channel("streamer").frozen
        assert (await db.channel_norms("streamer"))[0].frozen  # saved at once
        async with http.post("/channels/streamer/norms", data={"csrf": csrf, "do": "reset"}) as r:
            assert "is forgotten" in await r.text()
        assert norms.channel("streamer").summary().keys == ()
        assert norms.version("streamer") == "norms-1.0"
        async with http.post("/channels/streamer/norms", data={"csrf": csrf, "do": "nope"}) as r:
            assert "Unknown request" in await r.text()


async def test_a_learned_norm_its_moderators_mark_wrong_flags_no_more(tmp_path: Path) -> None:
    from dataclasses import replace

    from bot.twitch.events import ChatMessage

    norms = LearnedNorms()
    _taught(norms, "streamer")
    hyde_flags = [
        replace(flag(i, f"fan_{i}", "hyde is great"), labels=("learned term",), evidence=("hyde",))
        for i in (1, 2)
    ]
    later = ChatMessage("later", "streamer", "newcomer", "n", "hyde again", NOW)
    assert norms.judge(later) is not None  # learned: flags before any verdict
    async with (
        dashboard(tmp_path, hyde_flags, norms=norms) as (dash, _),
        logged_in(dash, "Ann") as http,
    ):
        for login, msg_id in (("fan_1", "m1"), ("fan_2", "m2")):
            csrf = await csrf_of(http, f"/users/{login}")
            async with http.post(
                f"/users/{login}/verdicts",
                data={"csrf": csrf, "msg_id": msg_id, "verdict": "wrong"},
            ) as r:
                assert "Marked wrong as Ann" in await r.text()
    hyde = next(k for k in norms.channel("streamer").summary().keys if k.key == "hyde")
    assert not hyde.active  # two flags marked wrong outweigh three removals
    assert norms.judge(replace(later, msg_id="later2")) is None
    assert norms.channel("streamer").dirty  # saved with the next save
