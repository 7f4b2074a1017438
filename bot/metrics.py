"""Prometheus metrics and a health endpoint for the running bot (``CHATWARDEN_METRICS_PORT``).

Counters are read from the live stats objects at scrape time, so the hot path pays nothing
for them; only the per-batch histograms are observed as batches are scored.

* ``GET /metrics`` — Prometheus text format.
* ``GET /healthz`` — JSON; 200 when IRC is connected, the database is writable, a model
  is loaded and the Discord webhook accepts reports, else 503 with the failing checks
  (``"reporting": "degraded"`` and how many reports wait when the webhook is gone).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from bot.pipeline import Pipeline, PipelineObserver
from bot.reporting import OutboxWorker
from bot.twitch.connection import IrcClient

if TYPE_CHECKING:
    from bot.sharding import ShardKeeper

__all__ = ["BotMetrics", "MetricsServer"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Decision-delay buckets (seconds): fine where the bot's own latency lives (ms), coarse
#: beyond, where only Twitch's delivery delay or clock skew can take it.
DELAY_BUCKETS = (
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class _LiveCollector(Collector):
    def __init__(self, metrics: BotMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | InfoMetricFamily]:
        m = self._m
        s = m.pipeline.stats

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"chatwarden_{name}", doc, value=value)

        yield counter("messages_received", "Chat messages received.", s.received)
        yield counter("messages_scored", "Chat messages scored (first delivery).", s.scored)
        yield counter("messages_duplicate", "Redelivered messages ignored.", s.duplicates)
        yield counter("messages_flagged", "Messages flagged by the policy.", s.flagged)
        yield counter("score_errors", "Messages the scorer failed on.", s.score_errors)
        yield counter("db_write_retries", "Database writes retried.", s.write_retries)
        yield counter("reports_created", "Reports written to the outbox.", s.reports)
        yield counter("reports_sent", "Reports delivered.", m.outbox.sent)
        yield counter("reports_failed", "Failed delivery attempts.", m.outbox.failed)
        yield counter("reports_rate_limited", "Deliveries deferred by 429.", m.outbox.rate_limited)
        pending = GaugeMetricFamily("chatwarden_reports_pending", "Reports waiting in the outbox.")
        pending.add_metric([], m.pending_reports)
        yield pending
        degraded = GaugeMetricFamily(
            "chatwarden_reporting_degraded",
            "1 while the Discord webhook refuses reports (deleted or wrong URL: 401/403/404).",
        )
        degraded.add_metric([], 1.0 if m.outbox.degraded is not None else 0.0)
        yield degraded
        depth = GaugeMetricFamily("chatwarden_queue_depth", "Messages waiting to be scored.")
        depth.add_metric([], m.pipeline.batcher.depth)
        yield depth
        yield counter(
            "backpressure_waits",
            "Times reading waited for the scorer.",
            m.pipeline.batcher.stats.backpressure_waits,
        )
        if m.irc is not None:
            i = m.irc.stats
            yield counter("irc_reconnects", "IRC reconnections.", i.reconnects)
            yield counter("irc_lines", "IRC lines read.", i.lines)
            bad = CounterMetricFamily(
                "chatwarden_irc_bad_lines", "IRC lines skipped.", labels=["reason"]
            )
            bad.add_metric(["malformed"], i.malformed)
            bad.add_metric(["oversized"], i.oversized)
            bad.add_metric(["bad_utf8"], i.bad_utf8)
            yield bad
            up = GaugeMetricFamily("chatwarden_irc_connected", "1 while connected to Twitch IRC.")
            up.add_metric([], 1.0 if i.connected else 0.0)
            yield up
        if m.shards is not None:
            held = GaugeMetricFamily(
                "chatwarden_channels_held", "Channels this worker reads (its leases)."
            )
            held.add_metric([], len(m.shards.held))
            yield held
            workers = GaugeMetricFamily(
                "chatwarden_workers_live", "Live workers on this database, this one included."
            )
            workers.add_metric([], len(m.shards.workers))
            yield workers
        info = InfoMetricFamily("chatwarden_model", "The scorer in use.")
        scorer = m.pipeline.scorer  # follows hot reloads
        info.add_metric([], {"name": scorer.name, "version": scorer.version})
        yield info


@dataclass
class BotMetrics(PipelineObserver):
    """Everything the endpoints read; it watches the pipeline (one of its observers), which
    feeds the histograms."""

    pipeline: Pipeline
    outbox: OutboxWorker
    irc: IrcClient | None = None
    pending_reports: int = 0
    #: this worker's channel leases (sharded workers on PostgreSQL), else None
    shards: ShardKeeper | None = None

    def __post_init__(self) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_LiveCollector(self))
        self.batch_size = Histogram(
            "chatwarden_batch_size",
            "Messages per scored batch.",
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        )
        self.scoring_seconds = Histogram(
            "chatwarden_scoring_seconds",
            "Scorer time per batch.",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )

        self.write_seconds = Histogram(
            "chatwarden_write_seconds",
            "Write stage time per scored batch: the seen-id check, the policy's decisions "
            "and the SQLite transaction, retries of a locked or failing database included.",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
        )

        self.decision_delay = Histogram(
            "chatwarden_decision_delay_seconds",
            "From a message's Twitch timestamp (tmi-sent-ts) to its stored decision; "
            "includes Twitch's own delivery delay and any clock skew.",
            registry=self.registry,
            buckets=DELAY_BUCKETS,
        )
        self.decision_delay_max = Gauge(
            "chatwarden_decision_delay_max_seconds",
            "Longest decision delay seen.",
            registry=self.registry,
        )
        self._delay_max = 0.0

    def batch_scored(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.scoring_seconds.observe(seconds)

    def batch_written(self, seconds: float, delays: Sequence[float]) -> None:
        self.write_seconds.observe(seconds)
        observe = self.decision_delay.observe
        for delay in delays:
            observe(max(0.0, delay))
        top = max(delays, default=0.0)
        if top > self._delay_max:
            self._delay_max = top
            self.decision_delay_max.set(top)

    def health(self) -> tuple[bool, dict[str, object]]:
        checks: dict[str, object] = {
            "irc_connected": self.irc.stats.connected if self.irc is not None else None,
            "db_writable": not self.pipeline.stats.write_failing,
            "model_loaded": True,
            "model_version": self.pipeline.scorer.version,
            "reporting": "degraded" if self.outbox.degraded is not None else "ok",
            "reporting_error": self.outbox.degraded,
            "reports_pending": self.pending_reports,
        }
        if self.shards is not None:
            checks["channels_held"] = len(self.shards.held)
            checks["workers_live"] = len(self.shards.workers)
        ok = bool(checks["db_writable"]) and checks["irc_connected"] is not False
        ok = ok and self.outbox.degraded is None
        return ok, checks


class MetricsServer:
    """``async with MetricsServer(metrics, host, port):`` serves /metrics and /healthz."""

    def __init__(self, metrics: BotMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> MetricsServer:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        db = self.metrics.pipeline.db
        self.metrics.pending_reports = await db.count_pending()
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _health(self, request: web.Request) -> web.Response:
        self.metrics.pending_reports = await self.metrics.pipeline.db.count_pending()
        ok, checks = self.metrics.health()
        return web.Response(
            text=json.dumps({"ok": ok, **checks}),
            status=200 if ok else 503,
            content_type="application/json",
        )
