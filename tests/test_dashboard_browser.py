"""The dashboard in a real browser: headless Debian chromium driven by Playwright, against
``chatwarden run`` as a process watching the loopback Twitch IRC fake, reporting to the
Discord fake and acting through the Helix fake.

A moderator logs in with the token, watches a flagged user appear without reloading, opens
their history (the chat before the flag, a ``<script>`` in chat shown as text), marks a
verdict and times the user out (the Helix fake receives the ban with its duration); sees a
user flagged by what the channel's moderators taught (learned norms), and blocks the
learned word from the channel page; a browser without the token sees the login form and
no chat. With DASHBOARD_SCREENSHOT=1 the
user's page is saved to docs/dashboard.png (hand-made chat only).

Skipped only when /usr/bin/chromium is missing outside CI; in CI (``CI`` set) it must run.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from bot.lab.helix_fake import FakeHelix
from bot.lab.loopback import FakeDiscord, FakeTwitchServer, free_port
from tests.conftest import ROOT
from tests.test_end_to_end import bot_env, start_bot, stop, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DASHBOARD_TOKEN = "browser-test-dashboard-token-42"
HELIX_TOKEN = "helixbrowsertoken0123456789"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="no /usr/bin/chromium (apt-get install chromium); CI installs it",
    ),
]


async def _wait_for_dashboard(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.returncode is not None:
                raise AssertionError("the bot exited before serving the dashboard")
            try:
                async with http.get(url + "api/flagged") as r:
                    if r.status == 401:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the dashboard did not start in time")


async def test_a_moderator_works_a_flag_in_the_browser(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    db = tmp_path / "cw.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    async with (
        FakeHelix(token=HELIX_TOKEN) as helix,
        FakeTwitchServer(valid_token=f"oauth:{HELIX_TOKEN}") as irc,
        FakeDiscord() as discord,
    ):
        helix.add_user("streamer")
        troll_id = helix.add_user("troll_42")
        env = bot_env(db, irc, discord)
        env.update(
            CHATWARDEN_CHANNELS="streamer",
            CHATWARDEN_TWITCH_LOGIN=helix.login,
            CHATWARDEN_TWITCH_TOKEN=f"oauth:{HELIX_TOKEN}",
            CHATWARDEN_TWITCH_CLIENT_ID=helix.client_id,
            CHATWARDEN_HELIX_URL=helix.helix_url,
            CHATWARDEN_TWITCH_ID_URL=helix.id_url,
            CHATWARDEN_DASHBOARD_PORT=str(port),
            CHATWARDEN_DASHBOARD_TOKEN=DASHBOARD_TOKEN,
            CHATWARDEN_DASHBOARD_URL=url.rstrip("/"),
            CHATWARDEN_REPORT_AFTER_FLAGS="1",  # one flag is reported: the link is checked
        )
        proc = await start_bot(env, tmp_path, "run")
        try:
            await irc.wait_joined({"streamer"}, within=60)
            await _wait_for_dashboard(url, proc)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
                )
                try:
                    page = await browser.new_page(viewport={"width": 1200, "height": 1000})
                    page.set_default_timeout(20_000)
                    # without the token: the login form, and nothing else
                    await page.goto(url)
                    await expect(page.get_by_label("Token")).to_be_visible()
                    await page.get_by_label("Token").fill(DASHBOARD_TOKEN)
                    await page.get_by_label("Your name").fill("Dana")
                    await page.get_by_role("button", name="Log in").click()
                    await expect(page.get_by_role("heading", name="Flagged users")).to_be_visible()
                    await expect(page.locator("#flagged")).to_contain_text("Nobody was flagged")

                    chat = [
                        ("viewer_a", "gg that was a clean round"),
                        ("viewer_b", "<script>alert('hi')</script> lol"),
                        ("viewer_c", "what rank is this"),
                        ("troll_42", "fuck you, you useless idiot"),
                    ]
                    for login, text in chat:
                        await irc.send_privmsg("streamer", login, text, user_id=f"u-{login}")
                        await asyncio.sleep(0.05)
                    # live: the row appears without a reload
                    await expect(page.get_by_role("link", name="troll_42")).to_be_visible()
                    await page.get_by_role("link", name="troll_42").click()
                    await expect(page.get_by_role("heading", name="troll_42")).to_be_visible()
                    flag = page.locator("article.flag").first
                    await expect(flag.locator(".flagged")).to_contain_text("useless idiot")
                    context = flag.locator(".context")
                    await expect(context).to_contain_text("<script>alert('hi')</script> lol")
                    await expect(context).to_contain_text("what rank is this")
                    assert await page.locator("script:not([src])").count() == 0

                    await flag.get_by_placeholder("category fix").fill("harassment")
                    await flag.get_by_role("button", name="Correct").click()
                    await expect(page.locator(".flash.ok")).to_contain_text(
                        "Marked correct (category: harassment) as Dana."
                    )
                    await page.get_by_label("timeout length").select_option(label="10 min")
                    await page.get_by_label("reason").fill("insulting the streamer")
                    await page.get_by_role("button", name="Time out").click()
                    await expect(page.locator(".flash.ok")).to_contain_text(
                        "Twitch: troll_42 timed out for 600 s in #streamer."
                    )
                    await expect(page.locator("#bot-actions")).to_contain_text("Dana (dashboard)")
                    if os.environ.get("DASHBOARD_SCREENSHOT") == "1":
                        await page.screenshot(
                            path=str(ROOT / "docs" / "dashboard.png"), full_page=True
                        )

                    # the channel's moderators time out three users who name "hyde": the
                    # fourth is flagged as the channel's own norm, shown with the reason,
                    # and the learned word becomes a blocked term in one click
                    for n in range(4):
                        await irc.send_privmsg(
                            "streamer", f"fan{n}", "hyde is the best", user_id=f"9{n}"
                        )
                        if n < 3:
                            await asyncio.sleep(0.05)
                            await irc.send_raw(
                                f"@ban-duration=60;target-user-id=9{n} :tmi.twitch.tv "
                                f"CLEARCHAT #streamer :fan{n}\r\n".encode()
                            )
                        await asyncio.sleep(0.1)

                    def fan3_flagged() -> bool:
                        with sqlite3.connect(db) as conn:
                            found = "SELECT count(*) FROM flagged_messages WHERE login = 'fan3'"
                            return bool(conn.execute(found).fetchone()[0])

                    await wait_for(fan3_flagged, limit=20)
                    await page.goto(url + "users/fan3")
                    norm_flag = page.locator("article.flag").first
                    await expect(norm_flag.locator(".meta")).to_contain_text("learned term")
                    await expect(norm_flag.locator(".note")).to_contain_text(
                        "your moderators removed"
                    )
                    await page.goto(url + "channels/streamer")
                    learned = page.locator("table.norms")
                    await expect(learned).to_contain_text("hyde")
                    word = page.locator("q", has_text=re.compile(r"^hyde$"))
                    row = learned.locator("tr").filter(has=word)
                    await row.get_by_role("button", name="Block").click()
                    await expect(page.locator(".flash.ok")).to_contain_text(
                        "'hyde' is a blocked term now"
                    )
                    await expect(page.get_by_label("Blocked terms")).to_have_value("hyde")

                    # a browser without the session: no chat data, page or API
                    stranger = await browser.new_page()
                    await stranger.goto(url + "users/troll_42")
                    await expect(stranger.get_by_label("Token")).to_be_visible()
                    html = await stranger.content()
                    assert "useless idiot" not in html and "rank" not in html
                    answer = await stranger.goto(url + "api/users/troll_42")
                    assert answer is not None and answer.status == 401
                    assert "idiot" not in await answer.text()
                finally:
                    await browser.close()
            (ban,) = helix.helix_requests("POST", "/helix/moderation/bans")
            assert ban.body == {
                "data": {"user_id": troll_id, "duration": 600, "reason": "insulting the streamer"}
            }
            assert ban.param("broadcaster_id") == helix.users["streamer"]
            with sqlite3.connect(db) as conn:
                verdicts = conn.execute("SELECT correct, category, moderator FROM verdicts")
                assert verdicts.fetchall() == [(1, "harassment", "Dana")]
            await wait_for(lambda: len(discord.embeds) >= 1, limit=20)
            assert f"{url}users/troll_42" in discord.embeds[0]["description"]
        finally:
            if proc.returncode is None:
                code, err = await stop(proc)
                assert code == 0, err[-2000:]
                assert DASHBOARD_TOKEN not in err and HELIX_TOKEN not in err
