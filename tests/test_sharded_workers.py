"""Three real `chatwarden run` workers on one real PostgreSQL database share 300 channels
served by the loopback Twitch fake; one is SIGKILLed mid-stream.

Twitch delivers a message only to the connections that joined its channel (the fake
does the same) and never delivers it again. So "no toxic message lost" means: every
toxic message Twitch delivered to a worker is stored once, and no channel stays unread
for long: a message sent to a channel nobody reads (after the kill) is typed again by
the test's chatter until a worker reads the channel. A process killed mid-write loses
what it had read and not yet written (Twitch does not redeliver it): toxic chat pauses
for the second before the kill while ordinary chat goes on, so the test asserts exactly
what the workers promise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg

from bot.lab.loopback import FakeDiscord, FakeTwitchServer, free_port
from storage.location import PostgresUrl
from tests.conftest import ROOT, require_data

CHANNELS = [f"ch{i:03d}" for i in range(300)]
TOKEN = "sharded-dashboard-token-0123456789"
TTL = 6.0  # CHATWARDEN_LEASE_TTL_S: a silent worker's channels are taken over after it


def worker_env(
    pg: PostgresUrl, irc: FakeTwitchServer, discord: FakeDiscord, port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env.update(
        CHATWARDEN_CHANNELS=",".join(CHANNELS),
        CHATWARDEN_IRC_URL=irc.url,
        CHATWARDEN_DB=pg.url,
        CHATWARDEN_DATA_DIR=str(require_data()),
        CHATWARDEN_MODEL_URI="rules",  # known decisions: a slur is reported at once
        CHATWARDEN_BATCH_MAX_WAIT_MS="10",
        CHATWARDEN_DISCORD_WEBHOOK_URL=discord.webhook_url,
        CHATWARDEN_LEASE_TTL_S=str(TTL),
        # joins as a verified bot may (2,000 per 10 s): 300 channels are joined in
        # seconds; an ordinary account's 20 per 10 s is tested in tests/test_leases.py
        CHATWARDEN_JOIN_RATE="2000",
        CHATWARDEN_DASHBOARD_PORT=str(port),
        CHATWARDEN_DASHBOARD_TOKEN=TOKEN,
        PYTHONPATH=str(ROOT),
    )
    return env


async def pg_value(pg: PostgresUrl, sql: str) -> int:
    conn = await asyncpg.connect(pg.url)
    try:
        return int(await conn.fetchval(sql))
    except asyncpg.UndefinedTableError:  # the workers have not migrated yet
        return 0
    finally:
        await conn.close()


async def wait_until(check: Callable[[], Awaitable[bool]], limit: float, what: str) -> float:
    """Poll ``check`` until it holds; how many seconds that took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > limit:
            raise AssertionError(f"{what}: not within {limit:.0f} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def readers(irc: FakeTwitchServer) -> dict[str, list[str]]:
    """Each channel's live readers (nicks), as the Twitch fake sees them."""
    out: dict[str, list[str]] = {c: [] for c in CHANNELS}
    for client in irc.live():
        for channel in client.channels:
            if channel in out:
                out[channel].append(client.nick or "?")
    return out


class Chatter:
    """Ordinary chat on every channel, and toxic messages from users of their own; a toxic
    message that reached no reader is typed again until one reads it."""

    def __init__(self, irc: FakeTwitchServer) -> None:
        self.irc = irc
        self.toxic = True  # send toxic messages (paused around the kill)
        self.delivered: dict[str, str] = {}  # toxic msg_id -> the user who sent it
        self.channel_of: dict[str, str] = {}  # toxic msg_id -> its channel
        self.waiting: list[tuple[str, str, str]] = []  # (channel, login, msg_id) unread
        self.benign = 0
        self._n = 0

    async def run(self, stop: asyncio.Event) -> None:
        round_ = 0
        while not stop.is_set():
            for i, channel in enumerate(CHANNELS):
                if (i + round_) % 3 == 0:
                    self.benign += len(
                        await self.irc.send_to_channel(channel, f"viewer{i % 17}", f"gg {round_}")
                    )
            if self.toxic:
                for k in range(4):  # four new toxic users a round, on rotating channels
                    self._n += 1
                    channel = CHANNELS[(round_ * 37 + k * 75) % len(CHANNELS)]
                    self.waiting.append((channel, f"tox{self._n}", f"tox-{self._n}"))
                still: list[tuple[str, str, str]] = []
                for channel, login, msg_id in self.waiting:
                    got = await self.irc.send_to_channel(
                        channel, login, "you are a nigger", msg_id=msg_id
                    )
                    if got:
                        self.delivered[msg_id] = login
                        self.channel_of[msg_id] = channel
                    else:
                        still.append((channel, login, msg_id))
                self.waiting = still
            round_ += 1
            await asyncio.sleep(0.25)


async def test_three_workers_share_300_channels_and_survive_a_sigkill(
    tmp_path: Path, pg_url: PostgresUrl
) -> None:
    async with FakeTwitchServer() as irc, FakeDiscord() as discord:
        ports = [free_port() for _ in range(3)]
        with contextlib.ExitStack() as files:
            logs = [files.enter_context((tmp_path / f"w{i}.log").open("wb")) for i in range(3)]
            procs = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    "run",
                    env=worker_env(pg_url, irc, discord, ports[i]),
                    cwd=tmp_path,
                    stdout=logs[i],
                    stderr=logs[i],
                )
                for i in range(3)
            ]
            try:
                await _scenario(tmp_path, pg_url, irc, discord, procs, ports)
            finally:
                for proc in procs:
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()


async def _scenario(
    tmp_path: Path,
    pg: PostgresUrl,
    irc: FakeTwitchServer,
    discord: FakeDiscord,
    procs: list[asyncio.subprocess.Process],
    ports: list[int],
) -> None:
    def log_tail() -> str:
        return "\n".join(
            (tmp_path / f"w{i}.log").read_text(errors="replace")[-1500:] for i in range(3)
        )

    async def balanced() -> bool:
        by_channel = readers(irc)
        load = Counter(nick for nicks in by_channel.values() for nick in nicks)
        one_each = all(len(nicks) == 1 for nicks in by_channel.values())
        return one_each and len(load) == 3 and max(load.values()) <= 100

    try:
        took = await wait_until(balanced, 90, "three workers each reading 100 channels")
    except AssertionError:
        raise AssertionError(log_tail()) from None
    print(f"balanced 3 x 100 channels {took:.1f} s after the start")

    chatter = Chatter(irc)
    stop_chat = asyncio.Event()
    chat = asyncio.create_task(chatter.run(stop_chat), name="chatter")
    try:
        await asyncio.sleep(4)  # mid-stream
        chatter.toxic = False  # the second before the kill: ordinary chat only
        before = set(chatter.delivered)
        await wait_until(
            lambda: _stored(pg, len(before)), 20, "toxic messages read before the kill stored"
        )
        await asyncio.sleep(1)
        victim = procs[1]
        read_by = {c: nicks[0] for c, nicks in readers(irc).items()}
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await victim.wait()
        chatter.toxic = True
        # the victim's socket closes: its channels have no reader until taken over
        await asyncio.sleep(0.5)
        orphaned = {c for c, nicks in readers(irc).items() if not nicks}
        [victim_nick] = {read_by[c] for c in orphaned}  # one worker's channels, all of them
        assert orphaned == {c for c, nick in read_by.items() if nick == victim_nick}

        async def all_read() -> bool:
            return all(readers(irc).values())

        await wait_until(all_read, 40, "every channel read again")
        taken_over = time.monotonic() - killed_at
        print(f"{len(orphaned)} channels of the killed worker read again {taken_over:.1f} s after")
        assert taken_over <= 30.0
        # users the killed worker reported write again where they did: the worker that
        # took the channel over knows they were reported (no second report)
        again = sorted(m for m in before if chatter.channel_of[m] in orphaned)[:10]
        assert again
        for n, msg_id in enumerate(again):
            channel, login = chatter.channel_of[msg_id], chatter.delivered[msg_id]
            got = await irc.send_to_channel(
                channel, login, "you are a nigger again", msg_id=f"tox-again-{n}"
            )
            assert got
            chatter.delivered[f"tox-again-{n}"] = login
        await asyncio.sleep(3)  # toxic chat on the taken-over channels too
    finally:
        stop_chat.set()
        await chat
    assert not chatter.waiting, "a toxic message never found a reader"
    delivered = chatter.delivered
    assert len(delivered) > 100

    await wait_until(lambda: _stored(pg, len(delivered)), 30, "every toxic message stored")
    conn = await asyncpg.connect(pg.url)
    try:
        stored = Counter(r[0] for r in await conn.fetch("SELECT msg_id FROM flagged_messages"))
        counted = await conn.fetchval(
            "SELECT sum(c.messages_flagged) FROM user_channel_counts c "
            "JOIN users u ON u.user_key = c.user_key WHERE u.login LIKE 'tox%'"
        )
    finally:
        await conn.close()
    assert set(stored) == set(delivered) and set(stored.values()) == {1}
    assert counted == len(delivered)  # each counted once, handovers included

    users = set(delivered.values())

    async def all_reported() -> bool:
        return len(discord.embeds) >= len(users)

    await wait_until(all_reported, 30, "a report for every toxic user")
    await asyncio.sleep(2)  # a report sent twice would arrive now
    titles = Counter(e["title"] for e in discord.embeds)
    assert len(titles) == len(users) and set(titles.values()) == {1}, titles.most_common(3)

    # the dashboard of a surviving worker lists every flagged user, whoever read them
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        base = f"http://127.0.0.1:{ports[2]}"
        listed: set[str] = set()
        page = 1
        while True:
            async with http.get(
                f"{base}/api/flagged", params={"token": TOKEN, "since": "1h", "page": str(page)}
            ) as response:
                assert response.status == 200, await response.text()
                data = await response.json()
            listed.update(u["login"] for u in data["users"])
            if page >= data["pages"]:
                break
            page += 1
    assert listed == users

    # the survivors stop cleanly and give their channels back
    for proc in (procs[0], procs[2]):
        proc.send_signal(signal.SIGTERM)
    codes = [await asyncio.wait_for(p.wait(), 30) for p in (procs[0], procs[2])]
    assert codes == [0, 0], log_tail()
    assert await pg_value(pg, "SELECT count(*) FROM channel_leases WHERE owner IS NOT NULL") == 0


async def _stored(pg: PostgresUrl, expected: int) -> bool:
    count = await pg_value(pg, "SELECT count(*) FROM flagged_messages WHERE msg_id LIKE 'tox-%'")
    return count >= expected
