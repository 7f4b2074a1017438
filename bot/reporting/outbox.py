"""The delivery loop: pending reports from the outbox table to a sender, until stopped.

A report is written to the ``reports`` outbox as plain rows in the same transaction as the
flags that caused it, and only then sent. :class:`OutboxWorker` renders each due report
from those rows, sends them (several per webhook message), keeps what was sent on record
in ``reports.payload``, waits out rate limits without counting them as failures, retries
errors with exponential backoff, and leaves anything unsent in the outbox, so a restart
sends it. A report written before migration 0004 was rendered then: its stored payload is
sent as it is.

Several workers may share one outbox (sharded workers on one PostgreSQL): each claims
the reports it sends (:meth:`Database.claim_reports <storage.database.Database.
claim_reports>`, ``FOR UPDATE SKIP LOCKED``), so a report is sent by one of them, once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from bot.identity import WORKER_ID
from bot.reporting.discord import LogSender, Sender, pack_embeds
from bot.reporting.render import render_report
from storage.database import Database
from storage.records import OutboxItem

__all__ = ["OutboxWorker", "log_pending"]

_log = logging.getLogger(__name__)


class OutboxWorker:
    """Sends pending reports until stopped; unsent ones stay in the outbox."""

    def __init__(
        self,
        db: Database,
        sender: Sender,
        *,
        retry_base: float = 2.0,
        retry_cap: float = 300.0,
        idle_poll: float = 5.0,
        dashboard_url: str | None = None,
        degrade_after: int = 3,
        worker_id: str = WORKER_ID,
    ) -> None:
        self._db = db
        #: whose claim this outbox's reports are sent under (one per process by default)
        self.worker_id = worker_id
        #: reports link to the user's page on the dashboard at this address (None: no link)
        self._dashboard_url = dashboard_url
        self._sender = sender
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._idle_poll = idle_poll
        self.wake = asyncio.Event()
        self.sent = 0
        self.failed = 0
        self.rate_limited = 0
        #: Why reporting is degraded, None while it works: the webhook answered 401/403/404,
        #: or ``degrade_after`` deliveries in a row failed (no connection, DNS, 5xx: about
        #: 6 s of retries at the default backoff, a short grace for a passing blip)
        self.degraded: str | None = None
        self._degrade_after = degrade_after
        self._failing = 0  # deliveries failed in a row

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            items = await self._db.claim_reports(time.time(), self.worker_id, limit=50)
            if not items:
                await self._sleep(stop, await self._until_due())
                continue
            payloads = await self._render(items)
            if not payloads:
                continue
            embeds = [(report_id, json.loads(p)) for report_id, p in payloads.items()]
            for ids, body in pack_embeds(embeds):
                if stop.is_set():
                    return
                result = await self._sender.send(body)
                now = time.time()
                if result.ok:
                    was_sent = {report_id: payloads[report_id] for report_id in ids}
                    await self._db.mark_reports_sent(ids, now, was_sent, self._sender.destination)
                    self.sent += len(ids)
                    self._failing = 0
                    if self.degraded is not None:
                        self.degraded = None
                        _log.info("discord webhook works again: reporting resumed")
                elif result.webhook_gone:
                    await self._webhook_gone(ids, result.error or "", now)
                    break
                elif result.retry_after is not None:
                    self.rate_limited += 1
                    _log.warning("discord rate limit: waiting %.1f s", result.retry_after)
                    await self._db.defer_reports(ids, now + result.retry_after)
                    await self._sleep(stop, result.retry_after)
                    break
                else:
                    self.failed += 1
                    attempts = max(i.attempts for i in items if i.id in ids) + 1
                    delay = min(self._retry_cap, self._retry_base * 2 ** (attempts - 1))
                    _log.warning(
                        "report delivery failed (%s); %d report(s) stay in the outbox, "
                        "retry %d in %.0f s",
                        result.error,
                        len(ids),
                        attempts,
                        delay,
                    )
                    await self._db.mark_reports_retry(ids, now + delay, result.error or "")
                    await self._failed_in_a_row(result.error or "unknown error")
                if result.pause:
                    await self._sleep(stop, result.pause)

    async def _failed_in_a_row(self, error: str) -> None:
        """Past the grace, a delivery that keeps failing degrades reporting, said once."""
        self._failing += 1
        if self._failing < self._degrade_after or self.degraded is not None:
            return
        pending = await self._db.count_pending()
        self.degraded = (
            f"{error}; {self._failing} deliveries failed in a row, "
            f"{pending} report(s) wait in the outbox"
        )
        _log.error(
            "reports cannot be delivered to Discord (%s): they stay queued in the outbox and "
            "are retried with backoff (check the network, or: chatwarden doctor)",
            self.degraded,
        )

    async def _webhook_gone(self, ids: list[int], error: str, now: float) -> None:
        """The webhook is deleted or refused: keep the reports queued, retry rarely, and
        say so once (not once per retry)."""
        self.failed += 1
        await self._db.mark_reports_retry(ids, now + self._retry_cap, error)
        if self.degraded is None:
            self.degraded = error
            _log.error(
                "discord webhook refused the reports (%s): it was deleted or "
                "CHATWARDEN_DISCORD_WEBHOOK_URL is wrong; %d report(s) stay queued in the "
                "outbox and are retried every %.0f s (check: chatwarden doctor)",
                error,
                await self._db.count_pending(),
                self._retry_cap,
            )
        else:
            _log.debug("discord webhook still refused (%s)", error)

    async def _render(self, items: list[OutboxItem]) -> dict[int, str]:
        """Each due report's payload; one that cannot be rendered stays in the outbox, is
        retried later like a failed send, and does not hold up the others."""
        payloads: dict[int, str] = {}
        for item in items:
            try:
                payloads[item.id] = _payload(item, self._dashboard_url)
            except Exception as exc:  # a bug in rendering must not stop the delivery loop
                self.failed += 1
                delay = min(self._retry_cap, self._retry_base * 2**item.attempts)
                _log.error(
                    "report %d could not be rendered (%r); retry in %.0f s", item.id, exc, delay
                )
                await self._db.mark_reports_retry([item.id], time.time() + delay, repr(exc))
        return payloads

    async def _until_due(self) -> float:
        due = await self._db.next_report_due()
        if due is None:
            return self._idle_poll
        return max(0.05, min(self._idle_poll, due - time.time()))

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        self.wake.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


async def log_pending(db: Database, dashboard_url: str | None = None, within: float = 10.0) -> int:
    """Write every report still pending in ``db``'s outbox (the live one, or a replay's
    own) to the log now, whatever its next attempt, and mark it logged; how many.

    How a replay ends that could not send all its reports (interrupted, or held back by
    Discord): nothing else ever sends a replay's reports, so none may stay pending."""
    await db.make_reports_due()
    worker = OutboxWorker(db, LogSender(), dashboard_url=dashboard_url, idle_poll=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="outbox-to-log")
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not await db.count_pending():
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    return worker.sent


def _payload(item: OutboxItem, dashboard_url: str | None = None) -> str:
    """The report's embed JSON: rendered now from its rows, or as stored before 0004."""
    if item.counts is None:
        assert item.payload is not None, "a report without a counts snapshot has a payload"
        return item.payload
    embed = render_report(item.report, item.flags, item.counts, dashboard_url=dashboard_url)
    return json.dumps(embed, ensure_ascii=False)
