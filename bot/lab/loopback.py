"""Loopback stand-ins for twitch.tv and discord.com, speaking their protocols exactly.

Used by ``chatwarden bench`` (a real chat log replayed into a running bot over real
sockets) and by the tests. Nothing here talks to the internet.

:class:`FakeTwitchServer` is Twitch's IRC server (TMI) over plain TCP: it answers
``CAP REQ`` with ``CAP * ACK``, registers ``PASS``/``NICK`` (anonymous ``justinfan`` nicks
or the one accepted token), sends the 001–376 welcome, acknowledges ``JOIN`` with
JOIN/ROOMSTATE lines (and ``PART``), answers ``PING`` with ``PONG`` and can, on demand,
send tagged PRIVMSGs (to every client, or as Twitch does, to the clients that joined the
channel), raw bytes, ``PING``, ``RECONNECT``, drop every connection or go silent (stop
answering, to exercise keepalive watchdogs). It notes when each JOIN came, per nick.

:class:`FakeDiscord` is Discord's Execute Webhook endpoint (aiohttp):
``POST /api/webhooks/{id}/{token}`` validates the body like Discord does (embed limits,
10 embeds, 6,000 characters) and answers 400 when it breaks them; otherwise it answers
with the next scripted response (429 with ``retry_after``, 500, …) or 200 with the
message, plus ``X-RateLimit-*`` headers. Every accepted body is kept in ``received``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "FakeClient",
    "FakeDiscord",
    "FakeTwitchServer",
    "Scripted",
    "embed_problems",
    "escape_tag",
    "free_port",
    "rate_limited",
    "server_error",
]


def escape_tag(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\:")
        .replace(" ", "\\s")
        .replace("\r", "\\r")
        .replace("\n", "\\n")
    )


@dataclass
class FakeClient:
    writer: asyncio.StreamWriter
    lines: list[str] = field(default_factory=list)
    nick: str | None = None
    password: str | None = None
    caps: str | None = None
    channels: list[str] = field(default_factory=list)
    registered: bool = False
    #: when each JOIN arrived (time.monotonic())
    join_times: list[float] = field(default_factory=list)


class FakeTwitchServer:
    """``async with FakeTwitchServer() as server: server.url`` → ``irc://127.0.0.1:PORT``."""

    def __init__(self, valid_token: str | None = None) -> None:
        self.valid_token = valid_token
        self.clients: list[FakeClient] = []
        self.connections = 0
        self.silent = False
        self._server: asyncio.Server | None = None
        self._ids = itertools.count(1)
        self.joined = asyncio.Condition()
        self.pongs: list[str] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"irc://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeTwitchServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drop_all()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    # -- the protocol ---------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = FakeClient(writer)
        self.clients.append(client)
        self.connections += 1
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\r\n")
                client.lines.append(line)
                if self.silent:
                    continue
                await self._command(client, line)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _command(self, client: FakeClient, line: str) -> None:
        cmd, _, rest = line.partition(" ")
        cmd = cmd.upper()
        if cmd == "CAP":
            caps = rest.split(":", 1)[1] if ":" in rest else ""
            client.caps = caps
            await self._send(client, f":tmi.twitch.tv CAP * ACK :{caps}")
        elif cmd == "PASS":
            client.password = rest
        elif cmd == "NICK":
            client.nick = rest.strip()
            anonymous = client.nick.startswith("justinfan")
            if not anonymous and client.password != self.valid_token:
                await self._send(client, ":tmi.twitch.tv NOTICE * :Login authentication failed")
                client.writer.close()
                return
            client.registered = True
            nick = client.nick
            for number, text in (
                ("001", "Welcome, GLHF!"),
                ("002", "Your host is tmi.twitch.tv"),
                ("003", "This server is rather new"),
                ("004", "-"),
                ("375", "-"),
                ("372", "You are in a maze of twisty passages, all alike."),
                ("376", ">"),
            ):
                await self._send(client, f":tmi.twitch.tv {number} {nick} :{text}")
        elif cmd == "JOIN":
            for channel in rest.split(","):
                name = channel.strip().lstrip("#")
                client.channels.append(name)
                client.join_times.append(time.monotonic())
                nick = client.nick or "*"
                await self._send(client, f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{name}")
                await self._send(
                    client,
                    f"@emote-only=0;followers-only=-1;r9k=0;room-id=1{len(name)};slow=0;"
                    f"subs-only=0 :tmi.twitch.tv ROOMSTATE #{name}",
                )
            async with self.joined:
                self.joined.notify_all()
        elif cmd == "PART":
            for channel in rest.split(","):
                name = channel.strip().lstrip("#")
                if name in client.channels:
                    client.channels.remove(name)
        elif cmd == "PING":
            token = rest.split(":", 1)[-1]
            await self._send(client, f":tmi.twitch.tv PONG tmi.twitch.tv :{token}")
        elif cmd == "PONG":
            self.pongs.append(rest)

    async def _send(self, client: FakeClient, line: str) -> None:
        await self.send_raw((line + "\r\n").encode(), [client])

    # -- test controls -------------------------------------------------------------

    def live(self) -> list[FakeClient]:
        return [c for c in self.clients if not c.writer.is_closing() and c.registered]

    async def wait_joined(self, channels: set[str], within: float = 10.0) -> FakeClient:
        async def ready() -> FakeClient:
            async with self.joined:
                while True:
                    for client in self.live():
                        if channels <= set(client.channels):
                            return client
                    await self.joined.wait()

        return await asyncio.wait_for(ready(), within)

    async def send_raw(self, data: bytes, clients: list[FakeClient] | None = None) -> None:
        for client in clients if clients is not None else self.live():
            with contextlib.suppress(ConnectionError):
                client.writer.write(data)
                await client.writer.drain()

    def privmsg_line(
        self,
        channel: str,
        login: str,
        text: str,
        *,
        msg_id: str | None = None,
        user_id: str | None = None,
        badges: str = "",
        display_name: str | None = None,
        first_msg: bool = False,
        sent_ms: int | None = None,
    ) -> str:
        tags = {
            "badge-info": "",
            "badges": badges,
            "color": "#1E90FF",
            "display-name": display_name or login,
            "emotes": "",
            "first-msg": "1" if first_msg else "0",
            "flags": "",
            "id": msg_id or f"00000000-0000-4000-8000-{next(self._ids):012d}",
            "mod": "1" if "moderator/" in badges else "0",
            "returning-chatter": "0",
            "room-id": "12345",
            "subscriber": "1" if "subscriber/" in badges else "0",
            "tmi-sent-ts": str(sent_ms if sent_ms is not None else int(time.time() * 1000)),
            "turbo": "0",
            "user-id": user_id or str(abs(hash(login)) % 10**8),
            "user-type": "",
        }
        tag_text = ";".join(f"{k}={escape_tag(v)}" for k, v in tags.items())
        return f"@{tag_text} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :{text}"

    async def send_privmsg(self, channel: str, login: str, text: str, **tags: object) -> str:
        line = self.privmsg_line(channel, login, text, **tags)  # type: ignore[arg-type]
        await self.send_raw((line + "\r\n").encode())
        return line

    def readers(self, channel: str) -> list[FakeClient]:
        """The live clients that joined ``channel`` (and did not part)."""
        return [c for c in self.live() if channel in c.channels]

    async def send_to_channel(
        self, channel: str, login: str, text: str, *, msg_id: str | None = None
    ) -> list[FakeClient]:
        """A PRIVMSG delivered as Twitch does: to the clients in ``channel``; which ones."""
        readers = self.readers(channel)
        line = self.privmsg_line(channel, login, text, msg_id=msg_id)
        await self.send_raw((line + "\r\n").encode(), readers)
        return readers

    async def send_ping(self) -> None:
        await self.send_raw(b"PING :tmi.twitch.tv\r\n")

    async def send_reconnect(self) -> None:
        await self.send_raw(b":tmi.twitch.tv RECONNECT\r\n")

    async def drop_all(self) -> None:
        for client in self.clients:
            client.writer.close()
            with contextlib.suppress(Exception):
                await client.writer.wait_closed()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def runner_port(runner: web.AppRunner) -> int:
    """The port an aiohttp runner's (single) site listens on."""
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("the server has no listening socket")


@dataclass
class Scripted:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def rate_limited(retry_after: float) -> Scripted:
    return Scripted(
        429,
        {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
        {
            "Retry-After": str(max(1, int(retry_after))),
            "X-RateLimit-Scope": "user",
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(retry_after),
            "Via": "1.1 google",
        },
    )


def server_error(status: int = 500) -> Scripted:
    return Scripted(status, {"message": "Internal Server Error", "code": 0})


def embed_problems(body: dict[str, Any]) -> list[str]:
    problems = []
    embeds = body.get("embeds", [])
    if len(embeds) > 10:
        problems.append("more than 10 embeds")
    total = 0
    for embed in embeds:
        title, desc = embed.get("title", ""), embed.get("description", "")
        fields = embed.get("fields", [])
        footer = embed.get("footer", {}).get("text", "")
        if len(title) > 256:
            problems.append("title over 256")
        if len(desc) > 4096:
            problems.append("description over 4096")
        if len(fields) > 25:
            problems.append("more than 25 fields")
        if len(footer) > 2048:
            problems.append("footer over 2048")
        for f in fields:
            if len(f.get("name", "")) > 256 or len(f.get("value", "")) > 1024:
                problems.append("field too long")
            if not f.get("name") or not f.get("value"):
                problems.append("empty field")
        total += len(title) + len(desc) + len(footer)
        total += sum(len(f.get("name", "")) + len(f.get("value", "")) for f in fields)
    if total > 6000:
        problems.append("over 6000 characters")
    if len(body.get("content") or "") > 2000:
        problems.append("content over 2000")
    return problems


class FakeDiscord:
    """``async with FakeDiscord() as d: d.webhook_url``."""

    def __init__(self) -> None:
        self.script: list[Scripted] = []
        self.received: list[dict[str, Any]] = []
        self.requests = 0
        self.default_remaining = "4"
        #: a deleted webhook: every request answers 404 Unknown Webhook, as Discord does
        self.deleted = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/webhooks/123456789/fake-token_ABC"

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_post("/api/webhooks/{id}/{token}", self._execute)
        app.router.add_get("/api/webhooks/{id}/{token}", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(runner_port(self._runner))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return [embed for body in self.received for embed in body.get("embeds", [])]

    async def _get(self, request: web.Request) -> web.Response:
        """Discord's Get Webhook with Token: the webhook object, or 404 once deleted."""
        if self.deleted:
            return _unknown_webhook()
        return web.json_response(
            {
                "type": 1,
                "id": request.match_info["id"],
                "name": "chatwarden reports",
                "avatar": None,
                "channel_id": "199737254929760256",
                "guild_id": "199737254929760257",
                "application_id": None,
                "token": request.match_info["token"],
            }
        )

    async def _execute(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.deleted:
            return _unknown_webhook()
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"message": "Cannot send an empty message"}, status=400)
        problems = embed_problems(body)
        if problems:
            return web.json_response(
                {"message": "Invalid Form Body", "errors": problems}, status=400
            )
        if self.script:
            step = self.script.pop(0)
            if step.status >= 300:
                return web.json_response(step.body, status=step.status, headers=step.headers)
        self.received.append(body)
        headers = {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": self.default_remaining,
            "X-RateLimit-Reset": "1700000000.0",
            "X-RateLimit-Reset-After": "0.2",
            "X-RateLimit-Bucket": "fakebucket",
        }
        if request.query.get("wait") == "true":
            return web.json_response({"id": str(self.requests), **body}, headers=headers)
        return web.Response(status=204, headers=headers)


def _unknown_webhook() -> web.Response:
    return web.json_response({"message": "Unknown Webhook", "code": 10015}, status=404)
