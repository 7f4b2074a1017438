"""A loopback fake of Twitch's IRC server (TMI), speaking its dialect over plain TCP.

It answers ``CAP REQ`` with ``CAP * ACK``, registers ``PASS``/``NICK`` (anonymous
``justinfan`` nicks or the one accepted token), sends the 001–376 welcome, acknowledges
``JOIN`` with JOIN/ROOMSTATE lines, answers ``PING`` with ``PONG`` and can, on demand,
send tagged PRIVMSGs, raw bytes, ``PING``, ``RECONNECT``, drop every connection or go
silent (stop answering, to exercise keepalive watchdogs).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field


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
                nick = client.nick
                await self._send(client, f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{name}")
                await self._send(
                    client,
                    f"@emote-only=0;followers-only=-1;r9k=0;room-id=1{len(name)};slow=0;"
                    f"subs-only=0 :tmi.twitch.tv ROOMSTATE #{name}",
                )
            async with self.joined:
                self.joined.notify_all()
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

    async def send_ping(self) -> None:
        await self.send_raw(b"PING :tmi.twitch.tv\r\n")

    async def send_reconnect(self) -> None:
        await self.send_raw(b":tmi.twitch.tv RECONNECT\r\n")

    async def drop_all(self) -> None:
        for client in self.clients:
            client.writer.close()
            with contextlib.suppress(Exception):
                await client.writer.wait_closed()
