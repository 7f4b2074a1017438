"""``chatwarden bench --workers``: sharded workers on one PostgreSQL, beside one process on
SQLite, fed real chat over 1,000 loopback channels.

For each worker count, a fresh database (a new PostgreSQL database on the server given by
``--db``, dropped afterwards; a new SQLite file for the SQLite row) and that many real
``chatwarden run`` processes given the same 1,000 channels. Once every channel is read by
exactly one worker, the chat log is sent over the channels (round robin), each line on
the connection of the worker that reads its channel, stamped with the moment it is
written (``tmi-sent-ts``). Figures:

* aggregate rate: lines scored by all workers over the time from the first line sent to
  the last decision stored;
* p50 / p99: line written to decision stored, from the workers' histograms merged;
* database writes/s: committed transactions per second (``pg_stat_database``);
* database CPU: CPU seconds of the server's processes per wall second (PostgreSQL's own
  processes, read from /proc: the server must run on this machine for this figure).

Lines are offered at ``rate`` per second (None: as fast as this process can write them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bot.lab.loadtest import bot_env, latencies, metric_value, scrape
from bot.lab.loopback import FakeClient, FakeDiscord, FakeTwitchServer, free_port
from bot.settings import Settings
from storage.location import PostgresUrl, parse_database

__all__ = ["ShardResult", "merged_latencies", "shard_bench", "shard_table"]

CHANNELS = 1000


@dataclass(frozen=True, slots=True)
class ShardResult:
    backend: str  # sqlite | postgresql
    workers: int
    channels: int
    sent: int
    scored: int
    seconds: float
    p50_ms: float
    p99_ms: float
    db_writes_per_s: float | None
    db_cpu: float | None  # CPU seconds per wall second of the database's processes
    balanced_s: float  # start until every channel had one reader

    @property
    def rate(self) -> float:
        return self.scored / self.seconds if self.seconds else 0.0


def _postgres_cpu() -> float:
    """CPU seconds used so far by every process named ``postgres`` on this machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        if name != "postgres":
            continue
        fields = text[text.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


async def _commits(url: PostgresUrl) -> int:
    conn = await asyncpg.connect(url.url)
    try:
        value = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", url.database
        )
        return int(value or 0)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _fresh_database(server: PostgresUrl, name: str) -> AsyncIterator[PostgresUrl]:
    admin = await asyncpg.connect(server.url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    location = parse_database(server.url.rsplit("/", 1)[0] + "/" + name)
    assert isinstance(location, PostgresUrl)
    try:
        yield location
    finally:
        admin = await asyncpg.connect(server.url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _readers(irc: FakeTwitchServer, channels: Sequence[str]) -> dict[str, list[FakeClient]]:
    out: dict[str, list[FakeClient]] = {c: [] for c in channels}
    for client in irc.live():
        for channel in client.channels:
            if channel in out:
                out[channel].append(client)
    return out


async def _run(
    settings: Settings,
    chat: Sequence[tuple[str, str]],
    workers: int,
    db: Path | PostgresUrl,
    rate: float | None,
    patience: float,
    tmp: Path,
) -> ShardResult:
    channels = [f"bench{i:04d}" for i in range(CHANNELS)]
    async with FakeTwitchServer() as irc, FakeDiscord() as discord:
        ports = [free_port() for _ in range(workers)]
        procs = []
        started = time.monotonic()
        for i in range(workers):
            env = bot_env(
                settings,
                irc,
                discord,
                channels=channels,
                db=db.url if isinstance(db, PostgresUrl) else str(db),
                metrics_port=ports[i],
                CHATWARDEN_JOIN_RATE="2000",  # a verified bot's: 1,000 joins in seconds
            )
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    "run",
                    env=env,
                    cwd=tmp,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )
        try:
            deadline = time.monotonic() + 180
            while True:
                by_channel = _readers(irc, channels)
                owners = {id(c[0]) for c in by_channel.values() if c}
                if all(len(c) == 1 for c in by_channel.values()) and len(owners) == workers:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not divide the channels in 180 s")
                await asyncio.sleep(0.2)
            balanced = time.monotonic() - started
            await asyncio.sleep(1)  # let the hand-overs settle
            by_channel = _readers(irc, channels)
            lines: list[tuple[FakeClient, str, str]] = []
            for n, (login, text) in enumerate(chat):
                channel = channels[n % len(channels)]
                line = irc.privmsg_line(
                    channel,
                    login,
                    text,
                    msg_id=f"sb-{n:09d}",
                    user_id=str(10_000 + n % 5000),
                    sent_ms=999,
                )
                head, _, tail = line.partition("tmi-sent-ts=999;")
                lines.append((by_channel[channel][0], head + "tmi-sent-ts=", ";" + tail + "\r\n"))
            commits = await _commits(db) if isinstance(db, PostgresUrl) else 0
            cpu = _postgres_cpu()
            first = time.perf_counter()
            await _send(lines, rate)
            metrics = await _wait_scored(ports, len(lines), patience)
            seconds = time.perf_counter() - first
            db_cpu = (_postgres_cpu() - cpu) / seconds if isinstance(db, PostgresUrl) else None
            writes = (
                (await _commits(db) - commits) / seconds if isinstance(db, PostgresUrl) else None
            )
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                await asyncio.wait_for(proc.wait(), 60)
    p50, p99, _ = merged_latencies(metrics)
    scored = int(sum(metric_value(m, "chatwarden_messages_scored_total") for m in metrics))
    return ShardResult(
        "postgresql" if isinstance(db, PostgresUrl) else "sqlite",
        workers,
        CHANNELS,
        len(lines),
        scored,
        seconds,
        p50 * 1000,
        p99 * 1000,
        writes,
        db_cpu,
        balanced,
    )


def merged_latencies(
    scrapes: Sequence[dict[str, list[tuple[dict[str, str], float]]]],
) -> tuple[float, ...]:
    """The workers' latency histograms added bucket by bucket, then read as one."""
    buckets: dict[str, float] = {}
    top = 0.0
    for one in scrapes:
        for labels, value in one.get("chatwarden_decision_delay_seconds_bucket", []):
            buckets[labels["le"]] = buckets.get(labels["le"], 0.0) + value
        top = max(top, metric_value(one, "chatwarden_decision_delay_max_seconds"))
    merged: dict[str, list[tuple[dict[str, str], float]]] = {
        "chatwarden_decision_delay_seconds_bucket": [({"le": k}, v) for k, v in buckets.items()],
        "chatwarden_decision_delay_max_seconds": [({}, top)],
    }
    return latencies(merged)


async def _send(lines: Sequence[tuple[FakeClient, str, str]], rate: float | None) -> None:
    """Write the lines, each to the worker reading its channel, stamped when written."""
    started = time.perf_counter()
    sent = 0
    while sent < len(lines):
        if rate is None:
            due = min(len(lines), sent + 512)
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(0.005)
            due = min(len(lines), int((time.perf_counter() - started) * rate))
        stamp = str(int(time.time() * 1000))
        chunks: dict[int, tuple[FakeClient, list[str]]] = {}
        for client, head, tail in lines[sent:due]:
            chunks.setdefault(id(client), (client, []))[1].append(head + stamp + tail)
        for client, parts in chunks.values():
            with contextlib.suppress(ConnectionError):
                client.writer.write("".join(parts).encode())
                await client.writer.drain()
        sent = due


async def _wait_scored(
    ports: Sequence[int], expected: int, patience: float
) -> list[dict[str, list[tuple[dict[str, str], float]]]]:
    last, moved = -1.0, time.monotonic()
    while True:
        try:
            scrapes = [await asyncio.to_thread(scrape, port) for port in ports]
        except OSError:  # a worker too busy to answer within 5 s: ask again
            if time.monotonic() - moved > patience:
                raise
            await asyncio.sleep(0.5)
            continue
        done = sum(metric_value(m, "chatwarden_messages_scored_total") for m in scrapes)
        if done >= expected:
            return scrapes
        if done != last:
            last, moved = done, time.monotonic()
        elif time.monotonic() - moved > patience:
            return scrapes
        await asyncio.sleep(0.05)


def shard_bench(
    settings: Settings,
    chat: Sequence[tuple[str, str]],
    server: PostgresUrl,
    worker_counts: Sequence[int] = (1, 2, 4),
    rate: float | None = None,
    patience: float = 30.0,
) -> list[ShardResult]:
    """One process on SQLite, then each worker count on a fresh database of ``server``."""
    results = []
    with tempfile.TemporaryDirectory(prefix="chatwarden-shardbench-") as tmp:
        folder = Path(tmp)
        results.append(
            asyncio.run(_run(settings, chat, 1, folder / "bench.db", rate, patience, folder))
        )
        print(results[-1], file=sys.stderr, flush=True)

        async def on_postgres(workers: int) -> ShardResult:
            async with _fresh_database(server, f"chatwarden_bench_{workers}") as url:
                return await _run(settings, chat, workers, url, rate, patience, folder)

        for workers in worker_counts:
            results.append(asyncio.run(on_postgres(workers)))
            print(results[-1], file=sys.stderr, flush=True)
    return results


def shard_table(results: Sequence[ShardResult]) -> tuple[list[str], list[list[str]]]:
    return (
        [
            "backend",
            "workers",
            "channels",
            "sent",
            "scored",
            "msgs/s",
            "p50 ms",
            "p99 ms",
            "db commits/s",
            "db CPU",
            "balanced",
        ],
        [
            [
                r.backend,
                str(r.workers),
                f"{r.channels:,}",
                f"{r.sent:,}",
                f"{r.scored:,}",
                f"{r.rate:,.0f}",
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                "-" if r.db_writes_per_s is None else f"{r.db_writes_per_s:,.0f}",
                "-" if r.db_cpu is None else f"{r.db_cpu:.2f} cores",
                f"{r.balanced_s:.1f} s",
            ]
            for r in results
        ],
    )
