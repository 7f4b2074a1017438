"""The Twitch IRC connection: connect, register, join, keep alive, reconnect.

The reconnect loop sorts what goes wrong into three kinds:

* **resume now** — Twitch's ``RECONNECT``: reconnect at once and rejoin;
* **back off** — refused or dropped connections, EOF, timeouts, a silent socket caught by
  the keepalive watchdog: retry after a jittered exponential delay;
* **fatal** — a failed login (:class:`TwitchAuthError`): retrying cannot help.

Bad lines never stop the reader: oversized (> 8 KB), invalid UTF-8 and malformed lines are
counted in :class:`IrcStats`, logged and skipped.

The channels read may change while connected (:meth:`IrcClient.join`,
:meth:`IrcClient.part`: a sharded worker gaining or giving up channels); every JOIN, the
first ones and those after a reconnect included, waits for the join limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import aiohttp

from bot.secret import Secret
from bot.twitch.endpoint import IrcEndpoint
from bot.twitch.events import (
    ChatItem,
    ChatMessage,
    ClearChat,
    ClearMsg,
    Event,
    Notice,
    Ping,
    Reconnect,
    Welcome,
    to_event,
)
from bot.twitch.irc import MAX_LINE_BYTES, IrcParseError, parse_line

__all__ = [
    "Backoff",
    "IrcClient",
    "IrcStats",
    "JoinLimiter",
    "LineSplitter",
    "TwitchAuthError",
    "anonymous_nick",
]

_log = logging.getLogger(__name__)

_AUTH_FAILURES = ("login authentication failed", "improperly formatted auth", "invalid nick")


class TwitchAuthError(RuntimeError):
    """Twitch refused the login; retrying with the same credentials cannot help."""


def anonymous_nick(rng: random.Random | None = None) -> str:
    """A read-only anonymous nick, ``justinfan<digits>``."""
    return f"justinfan{(rng or random.Random()).randint(10_000, 99_999_999)}"


@dataclass(slots=True)
class IrcStats:
    lines: int = 0
    malformed: int = 0
    oversized: int = 0
    bad_utf8: int = 0
    messages: int = 0
    connects: int = 0
    reconnects: int = 0
    connected: bool = False


class Backoff:
    """Full-jitter exponential backoff: delay in [0, min(cap, base * 2**n)), reset on success."""

    def __init__(self, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None):
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()
        self.attempts = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempts))
        self.attempts += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempts = 0


class JoinLimiter:
    """At most ``limit`` acquisitions per ``period`` seconds (Twitch: 20 JOINs per 10 s).

    Subclassed by limiters that also share the account's limit with other processes
    (``bot.sharding.SharedJoinLimiter``)."""

    def __init__(self, limit: int = 20, period: float = 10.0) -> None:
        self.limit = limit
        self.period = period
        self._stamps: deque[float] = deque()

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            while self._stamps and self._stamps[0] <= now - self.period:
                self._stamps.popleft()
            if len(self._stamps) < self.limit:
                self._stamps.append(now)
                return
            await asyncio.sleep(self._stamps[0] + self.period - now)


class LineSplitter:
    """Bytes in, complete lines out; a line over ``limit`` bytes is discarded and counted."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._skipping = False
        self.oversized = 0

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        self._buf += data
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end < 0:
                break
            line = bytes(self._buf[start:end]).rstrip(b"\r")
            start = end + 1
            if self._skipping:
                self._skipping = False
                continue
            if len(line) > self.limit:
                self.oversized += 1
                continue
            lines.append(line)
        del self._buf[:start]
        if len(self._buf) > self.limit:
            if not self._skipping:
                self.oversized += 1
            self._skipping = True
            self._buf.clear()
        return lines


class _Transport:
    """Byte stream to the server: TCP (optionally TLS) or a websocket."""

    async def read(self) -> bytes:  # b"" at EOF
        raise NotImplementedError

    async def write_lines(self, lines: Sequence[str]) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _TcpTransport(_Transport):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, endpoint: IrcEndpoint) -> _TcpTransport:
        context = ssl.create_default_context() if endpoint.tls else None
        reader, writer = await asyncio.open_connection(
            endpoint.host, endpoint.port, ssl=context, limit=2**20
        )
        return cls(reader, writer)

    async def read(self) -> bytes:
        return await self._reader.read(65536)

    async def write_lines(self, lines: Sequence[str]) -> None:
        self._writer.write("".join(f"{line}\r\n" for line in lines).encode())
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 2)


class _WebSocketTransport(_Transport):
    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self._session = session
        self._ws = ws

    @classmethod
    async def open(cls, endpoint: IrcEndpoint) -> _WebSocketTransport:
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(f"{endpoint.scheme}://{endpoint.host}:{endpoint.port}")
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    async def read(self) -> bytes:
        msg = await self._ws.receive()
        if msg.type == aiohttp.WSMsgType.TEXT:
            text: str = msg.data
            return text.encode() + (b"" if text.endswith("\n") else b"\r\n")
        if msg.type == aiohttp.WSMsgType.BINARY:
            data: bytes = msg.data
            return data
        return b""

    async def write_lines(self, lines: Sequence[str]) -> None:
        for line in lines:
            await self._ws.send_str(line + "\r\n")

    async def close(self) -> None:
        await self._ws.close()
        await self._session.close()


class _ReconnectNow(Exception):
    """Twitch asked us to reconnect."""


class IrcClient:
    """Reads Twitch chat; hands every :class:`ChatMessage`, and every moderator's action
    on chat (:class:`ClearChat`, :class:`ClearMsg`), to ``on_message`` in the order chat
    saw them.

    ``on_message`` may block (backpressure): reading then pauses and TCP pushes back.
    """

    def __init__(
        self,
        endpoint: IrcEndpoint,
        channels: Sequence[str],
        on_message: Callable[[ChatItem], Awaitable[None]],
        *,
        login: str | None = None,
        token: Secret | None = None,
        on_event: Callable[[Event], None] | None = None,
        join_limiter: JoinLimiter | None = None,
        backoff: Backoff | None = None,
        idle_timeout: float = 360.0,
        ping_timeout: float = 15.0,
        connect_timeout: float = 15.0,
    ) -> None:
        self.endpoint = endpoint
        #: the channels to read (join and part change it)
        self.wanted: set[str] = set(channels)
        #: the channels JOINed on the current connection
        self.joined: set[str] = set()
        self._membership = asyncio.Event()  # wanted changed: the joiner looks again
        self._on_message = on_message
        self._on_event = on_event
        self._token = token
        self.nick = login if token is not None and login else anonymous_nick()
        self._join_limiter = join_limiter or JoinLimiter()
        self._backoff = backoff or Backoff()
        self.idle_timeout = idle_timeout
        self.ping_timeout = ping_timeout
        self.connect_timeout = connect_timeout
        self.stats = IrcStats()
        self.ready = asyncio.Event()  # set once joined; cleared while disconnected

    def __repr__(self) -> str:
        return f"<IrcClient {self.endpoint} nick={self.nick} channels={len(self.wanted)}>"

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels to read, sorted."""
        return tuple(sorted(self.wanted))

    def join(self, channels: Iterable[str]) -> None:
        """Read these channels too (JOINed as the join limiter allows)."""
        self.wanted.update(channels)
        self._membership.set()

    def part(self, channels: Iterable[str]) -> None:
        """Stop reading these channels (PARTed at once)."""
        self.wanted.difference_update(channels)
        self._membership.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set (or a fatal login error)."""
        while not stop.is_set():
            transport: _Transport | None = None
            try:
                transport = await asyncio.wait_for(self._open(), self.connect_timeout)
                self.stats.connects += 1
                await self._session(transport, stop)
                if stop.is_set():
                    return
                raise ConnectionResetError("server closed the connection")
            except _ReconnectNow:
                _log.info("twitch asked to reconnect; reconnecting now")
                self._backoff.reset()
                self.stats.reconnects += 1
                continue
            except TwitchAuthError:
                raise
            except (OSError, EOFError, TimeoutError, aiohttp.ClientError, ssl.SSLError) as exc:
                delay = self._backoff.next_delay()
                self.stats.reconnects += 1
                _log.warning(
                    # a connection that was never made was not lost
                    "irc connection to %s lost (%s: %s); retrying in %.1f s"
                    if transport is not None
                    else "cannot connect to %s (%s: %s); retrying in %.1f s",
                    self.endpoint,
                    type(exc).__name__,
                    exc or "no detail",
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            finally:
                self.ready.clear()
                self.stats.connected = False
                if transport is not None:
                    await transport.close()

    async def _open(self) -> _Transport:
        if self.endpoint.websocket:
            return await _WebSocketTransport.open(self.endpoint)
        return await _TcpTransport.open(self.endpoint)

    async def _session(self, transport: _Transport, stop: asyncio.Event) -> None:
        password = self._token.reveal() if self._token is not None else "SCHMOOPIIE"
        await transport.write_lines(
            ["CAP REQ :twitch.tv/tags twitch.tv/commands", f"PASS {password}", f"NICK {self.nick}"]
        )
        splitter = LineSplitter()
        joiner: asyncio.Task[None] | None = None
        stopper = asyncio.ensure_future(stop.wait())
        awaiting_pong = False
        try:
            while True:
                reader = asyncio.ensure_future(transport.read())
                timeout = self.ping_timeout if awaiting_pong else self.idle_timeout
                done, _ = await asyncio.wait(
                    {reader, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if stopper in done:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await reader
                    return
                if not done:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await reader
                    if awaiting_pong:
                        raise TimeoutError(
                            f"no data for {self.idle_timeout + self.ping_timeout:.0f} s"
                        )
                    await transport.write_lines(["PING :chatwarden"])
                    awaiting_pong = True
                    continue
                data = reader.result()
                if not data:
                    raise EOFError("connection closed by server")
                awaiting_pong = False
                before = splitter.oversized
                lines = splitter.feed(data)
                if splitter.oversized != before:
                    self.stats.oversized += splitter.oversized - before
                    _log.warning("skipped an IRC line over %d bytes", MAX_LINE_BYTES)
                for raw in lines:
                    event = self._decode(raw)
                    if event is None:
                        continue
                    if isinstance(event, ChatMessage):
                        self.stats.messages += 1
                        await self._on_message(event)
                    elif isinstance(event, ClearChat | ClearMsg):
                        await self._on_message(event)
                    elif isinstance(event, Ping):
                        await transport.write_lines([f"PONG :{event.token}"])
                    elif isinstance(event, Reconnect):
                        raise _ReconnectNow()
                    elif isinstance(event, Welcome):
                        _log.info("connected to %s as %s", self.endpoint, self.nick)
                        self.stats.connected = True
                        self._backoff.reset()
                        self.joined.clear()
                        joiner = asyncio.create_task(self._join_all(transport), name="irc-join")
                    elif isinstance(event, Notice):
                        self._check_notice(event)
                    if self._on_event is not None:
                        self._on_event(event)
        finally:
            stopper.cancel()
            if joiner is not None:
                joiner.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await joiner

    async def _join_all(self, transport: _Transport) -> None:
        """JOIN what is wanted and not joined, PART what is joined and not wanted; then
        wait for the next change, for as long as the connection lasts."""
        while True:
            self._membership.clear()
            leaving = sorted(self.joined - self.wanted)
            if leaving:
                await transport.write_lines([f"PART #{channel}" for channel in leaving])
                self.joined.difference_update(leaving)
                _log.info("left %d channel(s)", len(leaving))
            coming = sorted(self.wanted - self.joined)
            for channel in coming:
                await self._join_limiter.acquire()
                if channel not in self.wanted:  # parted while waiting
                    continue
                await transport.write_lines([f"JOIN #{channel}"])
                self.joined.add(channel)
            if coming:
                shown = ", ".join(coming[:20]) + (" …" if len(coming) > 20 else "")
                _log.info("joined %d channel(s): %s", len(coming), shown)
            self.ready.set()
            await self._membership.wait()

    def _decode(self, raw: bytes) -> Event | None:
        self.stats.lines += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.stats.bad_utf8 += 1
            _log.warning("skipped an IRC line that is not valid UTF-8 (%d bytes)", len(raw))
            return None
        if not text:
            return None
        try:
            return to_event(parse_line(text), received_at=time.time())
        except (IrcParseError, ValueError) as exc:
            self.stats.malformed += 1
            _log.warning("skipped a malformed IRC line (%s)", exc)
            _log.debug("malformed line: %.200r", text)  # chat text: DEBUG only
            return None

    def _check_notice(self, notice: Notice) -> None:
        lowered = notice.text.lower()
        if notice.channel is None and any(marker in lowered for marker in _AUTH_FAILURES):
            raise TwitchAuthError(
                f"Twitch refused the login for {self.nick!r}: {notice.text} (check "
                "CHATWARDEN_TWITCH_LOGIN and CHATWARDEN_TWITCH_TOKEN, or unset both to "
                "read anonymously)"
            )
        _log.info("notice%s: %s", f" in #{notice.channel}" if notice.channel else "", notice.text)
