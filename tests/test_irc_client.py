"""The IRC client against a loopback server that speaks Twitch's dialect."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from bot.lab.loopback import FakeTwitchServer
from bot.secret import Secret
from bot.twitch.connection import Backoff, IrcClient, JoinLimiter, TwitchAuthError
from bot.twitch.endpoint import parse_irc_url
from bot.twitch.events import ChatMessage, Event


class Harness:
    def __init__(self, server: FakeTwitchServer, client: IrcClient) -> None:
        self.server = server
        self.client = client
        self.messages: asyncio.Queue[ChatMessage] = asyncio.Queue()
        self.events: list[Event] = []

    async def next_message(self) -> ChatMessage:
        return await asyncio.wait_for(self.messages.get(), 5)


@contextlib.asynccontextmanager
async def running(
    channels: tuple[str, ...] = ("chan_a", "chan_b"), **kwargs: object
) -> AsyncIterator[Harness]:
    async with FakeTwitchServer(valid_token="oauth:goodtoken123") as server:
        harness: Harness

        async def on_message(message: ChatMessage) -> None:
            await harness.messages.put(message)

        client = IrcClient(
            parse_irc_url(server.url),
            channels,
            on_message,
            on_event=lambda e: harness.events.append(e),
            backoff=Backoff(base=0.05, cap=0.2),
            **kwargs,  # type: ignore[arg-type]
        )
        harness = Harness(server, client)
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        try:
            yield harness
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)


async def test_anonymous_login_caps_join_and_messages() -> None:
    async with running() as h:
        fake = await h.server.wait_joined({"chan_a", "chan_b"})
        await asyncio.wait_for(h.client.ready.wait(), 5)
        assert fake.nick is not None and fake.nick.startswith("justinfan")
        assert fake.caps == "twitch.tv/tags twitch.tv/commands"
        assert fake.lines[:3] == [
            "CAP REQ :twitch.tv/tags twitch.tv/commands",
            "PASS SCHMOOPIIE",
            f"NICK {fake.nick}",
        ]
        await h.server.send_privmsg("chan_a", "viewer", "hello there", msg_id="id-1", user_id="77")
        message = await h.next_message()
        assert (message.msg_id, message.channel, message.login, message.text) == (
            "id-1",
            "chan_a",
            "viewer",
            "hello there",
        )
        assert h.client.stats.connected


async def test_bot_login_sends_token_and_bad_token_is_fatal() -> None:
    async with running(login="mybot", token=Secret("oauth:goodtoken123")) as h:
        fake = await h.server.wait_joined({"chan_a"})
        assert fake.nick == "mybot" and fake.password == "oauth:goodtoken123"
    async with FakeTwitchServer(valid_token="oauth:goodtoken123") as server:
        client = IrcClient(
            parse_irc_url(server.url),
            ["c"],
            _ignore,
            login="mybot",
            token=Secret("oauth:wrongtoken999"),
        )
        with pytest.raises(TwitchAuthError, match="refused the login"):
            await asyncio.wait_for(client.run(asyncio.Event()), 5)
        assert server.connections == 1  # no retry storm with bad credentials


async def _ignore(message: ChatMessage) -> None:
    return None


async def test_ping_is_answered() -> None:
    async with running() as h:
        await h.server.wait_joined({"chan_a"})
        await h.server.send_ping()
        for _ in range(100):
            if any(line.startswith("PONG") for line in h.server.clients[-1].lines):
                break
            await asyncio.sleep(0.02)
        assert "PONG :tmi.twitch.tv" in h.server.clients[-1].lines


async def test_reconnect_command_reconnects_and_rejoins() -> None:
    async with running() as h:
        await h.server.wait_joined({"chan_a", "chan_b"})
        await h.server.send_reconnect()
        for _ in range(200):
            if h.server.connections == 2 and len(h.server.live()) >= 1:
                break
            await asyncio.sleep(0.02)
        await h.server.wait_joined({"chan_a", "chan_b"})
        assert h.server.connections == 2
        await h.server.send_privmsg("chan_b", "after", "still here")
        assert (await h.next_message()).text == "still here"


async def test_dropped_connection_backs_off_and_rejoins() -> None:
    async with running() as h:
        await h.server.wait_joined({"chan_a"})
        await h.server.drop_all()
        await asyncio.sleep(0.05)
        for _ in range(200):
            if h.server.connections >= 2 and h.server.live():
                break
            await asyncio.sleep(0.02)
        await h.server.wait_joined({"chan_a", "chan_b"})
        assert h.client.stats.reconnects >= 1
        await h.server.send_privmsg("chan_a", "u", "back")
        assert (await h.next_message()).text == "back"


async def test_silent_socket_is_caught_by_the_watchdog() -> None:
    async with running(idle_timeout=0.2, ping_timeout=0.2) as h:
        await h.server.wait_joined({"chan_a"})
        h.server.silent = True  # stops answering, even our PING
        for _ in range(300):
            if h.server.connections >= 2:
                break
            await asyncio.sleep(0.02)
        assert h.server.connections >= 2
        assert "PING :chatwarden" in h.server.clients[0].lines
        h.server.silent = False


async def test_bad_lines_are_counted_and_skipped() -> None:
    async with running() as h:
        await h.server.wait_joined({"chan_a"})
        await h.server.send_raw(b"\xff\xfe not utf-8\r\n")
        await h.server.send_raw(b":p 12 nonsense\r\n")
        await h.server.send_raw(b"@" + b"x" * 9000 + b" :u PRIVMSG #chan_a :huge\r\n")
        await h.server.send_privmsg("chan_a", "u", "survivor")
        assert (await h.next_message()).text == "survivor"
        stats = h.client.stats
        assert (stats.bad_utf8, stats.malformed, stats.oversized) == (1, 1, 1)


async def test_join_limiter_spaces_joins() -> None:
    limiter = JoinLimiter(limit=2, period=0.3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(5):
        await limiter.acquire()
    # 5 joins at 2 per 0.3 s need two full waits
    assert loop.time() - start >= 0.55


async def test_many_channels_join_within_the_limit() -> None:
    channels = tuple(f"chan_{i}" for i in range(5))
    async with running(channels, join_limiter=JoinLimiter(limit=2, period=0.2)) as h:
        fake = await h.server.wait_joined(set(channels))
        assert fake.channels == list(channels)


async def test_channels_join_and_part_while_connected() -> None:
    """A sharded worker gains and gives up channels on a live connection: JOINs wait for
    the limiter, PARTs go at once, and chat of a parted channel stops coming."""
    async with running(("chan_a",), join_limiter=JoinLimiter(limit=2, period=0.3)) as h:
        fake = await h.server.wait_joined({"chan_a"})
        h.client.join(["chan_b", "chan_c", "chan_d"])
        loop = asyncio.get_running_loop()
        started = loop.time()
        await h.server.wait_joined({"chan_a", "chan_b", "chan_c", "chan_d"})
        assert loop.time() - started >= 0.25  # 4 joins at 2 per 0.3 s: one wait
        h.client.part(["chan_a"])
        for _ in range(100):
            if "chan_a" not in fake.channels:
                break
            await asyncio.sleep(0.01)
        assert sorted(fake.channels) == ["chan_b", "chan_c", "chan_d"]
        assert h.client.channels == ("chan_b", "chan_c", "chan_d")
        assert await h.server.send_to_channel("chan_a", "someone", "hello?") == []
        await h.server.send_to_channel("chan_b", "viewer", "still here")
        message = await h.next_message()
        assert (message.channel, message.text) == ("chan_b", "still here")


async def test_unreachable_server_retries_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = IrcClient(
        parse_irc_url(f"irc://127.0.0.1:{port}"),
        ["c"],
        _ignore,
        backoff=Backoff(base=0.02, cap=0.05),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    await asyncio.sleep(0.4)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert client.stats.reconnects >= 3
    assert "retrying in" in caplog.text


async def test_websocket_transport() -> None:
    """ws:// speaks IRC in websocket text frames, as Twitch's irc-ws endpoint does."""
    from aiohttp import WSMsgType, web

    received: list[str] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                break
            for line in frame.data.splitlines():
                received.append(line)
                if line.startswith("NICK "):
                    nick = line[5:]
                    await ws.send_str(f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!\r\n")
                elif line.startswith("JOIN #"):
                    # two lines in one frame, as Twitch sends them
                    await ws.send_str(
                        FakeTwitchServer().privmsg_line("wschan", "u1", "over ws")
                        + "\r\n"
                        + FakeTwitchServer().privmsg_line("wschan", "u2", "second")
                        + "\r\n"
                    )
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    messages: asyncio.Queue[ChatMessage] = asyncio.Queue()
    client = IrcClient(parse_irc_url(f"ws://127.0.0.1:{port}"), ["wschan"], messages.put)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        first = await asyncio.wait_for(messages.get(), 5)
        second = await asyncio.wait_for(messages.get(), 5)
        assert (first.text, second.text) == ("over ws", "second")
        assert received[0] == "CAP REQ :twitch.tv/tags twitch.tv/commands"
        assert "JOIN #wschan" in received
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await runner.cleanup()


def test_the_twitch_client_imports_nothing_of_bot_but_the_secret() -> None:
    """``bot.twitch`` stands alone: importing it must not pull in the settings (and with
    them the policy), nor anything else of ``bot`` but :mod:`bot.secret`."""
    code = (
        "import sys, bot.twitch.connection, bot.twitch.endpoint;"
        "print(sorted(m for m in sys.modules if m.startswith('bot')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(ast.literal_eval(done.stdout))
    assert loaded == {
        "bot",
        "bot.secret",
        "bot.twitch",
        "bot.twitch.connection",
        "bot.twitch.endpoint",
        "bot.twitch.events",
        "bot.twitch.irc",
    }


def test_a_bad_irc_url_never_shows_its_credentials() -> None:
    from bot.twitch.endpoint import EndpointError, parse_irc_url

    for raw in (
        "ircs://bot:hunter2secret@irc.example:99999",
        "ftp://bot:hunter2secret@irc.example",
        "ircs://bot:hunter2secret@",
        "bot:hunter2secret@irc.example",
    ):
        with pytest.raises(EndpointError) as caught:
            parse_irc_url(raw)
        assert "hunter2secret" not in str(caught.value) and "***" in str(caught.value)
        assert caught.value.__cause__ is None  # the parser's own message holds the URL too
