"""Replay real chat into a running ``chatwarden run`` over loopback sockets.

Part of ``chatwarden bench``. The bot runs as its own process, exactly as deployed; this
process plays Twitch (a loopback IRC server, :class:`bot.lab.loopback.FakeTwitchServer`) and
Discord (:class:`bot.lab.loopback.FakeDiscord`). Every chat line carries a unique message id
and ``tmi-sent-ts`` = the moment it is written to the socket, so the bot's
``chatwarden_decision_delay_seconds`` histogram measures line-to-stored-decision latency
(to within the timestamp's 1 ms resolution). Figures:

* time to ready — process start until it has joined the channel (model loaded, database
  open);
* sustained rate — first line sent until the last decision is stored;
* p50 / p99 (interpolated within histogram buckets) and max latency;
* peak RSS of the bot process (``VmHWM``);
* messages stored in its SQLite file against lines sent (nothing may be lost).

The chat is dealt round-robin over :data:`CHANNELS` channels, and every
:data:`ACTION_EVERY`-th message is followed by a moderator's timeout of its sender
(CLEARCHAT), so learned channel norms (on unless ``CHATWARDEN_LEARN_NORMS=false``) learn,
judge and save as they would in a deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bot.lab.loopback import FakeDiscord, FakeTwitchServer, free_port
from bot.settings import Settings

__all__ = ["LoadResult", "latencies", "load_test", "metric_value", "scrape"]

#: channels the chat is spread over
CHANNELS = 100
#: a timeout after every this many messages (about one per channel every 10 s at 5,000/s;
#: prime, so the timeouts go round every channel instead of always falling in one)
ACTION_EVERY = 499


@dataclass(frozen=True, slots=True)
class LoadResult:
    target_rate: float | None  # lines per second offered; None = as fast as possible
    sent: int
    stored: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    ready_s: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    @property
    def lost(self) -> int:
        return self.sent - self.stored


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def metric_value(metrics: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(v for _, v in metrics.get(name, []))


def quantile(buckets: Sequence[tuple[float, float]], q: float) -> float:
    """``q``-quantile from cumulative ``(upper bound, count)`` buckets, interpolating
    linearly inside the bucket (as Prometheus' ``histogram_quantile`` does)."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return 0.0
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def latencies(metrics: dict[str, list[tuple[dict[str, str], float]]]) -> tuple[float, ...]:
    raw = metrics.get("chatwarden_decision_delay_seconds_bucket", [])
    buckets = sorted((float(labels["le"]), value) for labels, value in raw)
    top = metric_value(metrics, "chatwarden_decision_delay_max_seconds")
    return min(quantile(buckets, 0.5), top), min(quantile(buckets, 0.99), top), top


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def bot_env(
    settings: Settings,
    irc: FakeTwitchServer,
    discord: FakeDiscord,
    *,
    channels: Sequence[str],
    db: str,
    metrics_port: int,
    **extra: str,
) -> dict[str, str]:
    """The environment of a benchmarked ``chatwarden run``: this process's, with every
    ``CHATWARDEN_*`` replaced by the loopback Twitch and Discord, ``db``, the scorer,
    batching, cache and learning of ``settings``, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env.update(
        CHATWARDEN_CHANNELS=",".join(channels),
        CHATWARDEN_LEARN_NORMS=str(settings.learn_norms).lower(),
        CHATWARDEN_IRC_URL=irc.url,
        CHATWARDEN_DB=db,
        CHATWARDEN_DISCORD_WEBHOOK_URL=discord.webhook_url,
        CHATWARDEN_METRICS_HOST="127.0.0.1",
        CHATWARDEN_METRICS_PORT=str(metrics_port),
        CHATWARDEN_MODEL_URI=settings.model_uri or "",
        CHATWARDEN_DATA_DIR=str(settings.data_dir or ""),
        CHATWARDEN_BATCH_MAX_SIZE=str(settings.batch_max_size),
        CHATWARDEN_BATCH_MAX_WAIT_MS=str(settings.batch_max_wait_ms),
        CHATWARDEN_SCORE_CACHE=str(settings.score_cache),
        CHATWARDEN_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def channel_names(count: int) -> tuple[str, ...]:
    return tuple(f"bench{i:03d}" for i in range(count))


def _templates(
    server: FakeTwitchServer, chat: Sequence[tuple[str, str]], channels: Sequence[str]
) -> list[tuple[str, str]]:
    """Each line split around its tmi-sent-ts value, filled in when it is sent: the chat
    over ``channels`` in turn, a timeout after every :data:`ACTION_EVERY` messages."""
    out = []
    for i, (login, text) in enumerate(chat):
        channel = channels[i % len(channels)]
        user_id = str(10_000 + sum(login.encode()) * 7919 % 10**7)
        line = server.privmsg_line(
            channel, login, text, msg_id=f"bench-{i:09d}", user_id=user_id, sent_ms=999
        )
        head, _, tail = line.partition("tmi-sent-ts=999;")
        out.append((head + "tmi-sent-ts=", ";" + tail + "\r\n"))
        if i % ACTION_EVERY == ACTION_EVERY - 1:
            out.append(
                (
                    f"@ban-duration=600;room-id=1;target-user-id={user_id};tmi-sent-ts=",
                    f" :tmi.twitch.tv CLEARCHAT #{channel} :{login}\r\n",
                )
            )
    return out


async def _send(server: FakeTwitchServer, lines: list[tuple[str, str]], rate: float | None) -> None:
    started = time.perf_counter()
    sent = 0
    while sent < len(lines):
        if rate is None:
            due = min(len(lines), sent + 256)
        else:
            await asyncio.sleep(0.005)
            due = min(len(lines), int((time.perf_counter() - started) * rate))
        stamp = str(int(time.time() * 1000))
        data = "".join(head + stamp + tail for head, tail in lines[sent:due]).encode()
        await server.send_raw(data)
        sent = due


async def load_test(
    settings: Settings,
    chat: Sequence[tuple[str, str]],
    rate: float | None,
    patience: float = 30.0,
    channels: int = CHANNELS,
) -> LoadResult:
    """Replay ``chat`` (login, text) at ``rate`` lines/s (None: flat out) over ``channels``
    channels into a fresh ``chatwarden run`` process and measure it."""
    names = channel_names(channels)
    with tempfile.TemporaryDirectory(prefix="chatwarden-bench-") as tmp:
        async with FakeTwitchServer() as irc, FakeDiscord() as discord:
            port = free_port()
            env = bot_env(
                settings,
                irc,
                discord,
                channels=names,
                db=str(Path(tmp) / "bench.db"),
                metrics_port=port,
            )
            lines = _templates(irc, chat, names)
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                env=env,
                cwd=tmp,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                await irc.wait_joined(set(names), within=120)
                ready = time.monotonic() - started
                first = time.perf_counter()
                await _send(irc, lines, rate)
                metrics = await _wait_scored(port, len(chat), patience)
                seconds = time.perf_counter() - first
                p50, p99, top = latencies(metrics)
                rss = _peak_rss_mb(proc.pid)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                _, err = await asyncio.wait_for(proc.communicate(), 60)
            if proc.returncode != 0:
                raise RuntimeError(f"the bot exited with {proc.returncode}: {err.decode()[-2000:]}")
            with sqlite3.connect(Path(tmp) / "bench.db") as conn:
                (stored,) = conn.execute("SELECT count(*) FROM seen_messages").fetchone()
    return LoadResult(
        rate, len(chat), int(stored), seconds, p50 * 1000, p99 * 1000, top * 1000, ready, rss
    )


async def _wait_scored(
    port: int, expected: int, patience: float
) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Scrape until every line is scored (or nothing moved for ``patience`` seconds)."""
    last, moved = -1.0, time.monotonic()
    while True:
        metrics = await asyncio.to_thread(scrape, port)
        done = metric_value(metrics, "chatwarden_messages_scored_total")
        if done >= expected:
            return metrics
        if done != last:
            last, moved = done, time.monotonic()
        elif time.monotonic() - moved > patience:
            return metrics
        await asyncio.sleep(0.02)
