"""Reports to moderators: one Discord embed per reported user, sent from the outbox.

A report is rendered and written to the ``reports`` outbox in the same transaction as the
flags that caused it, and only then sent. The :class:`OutboxWorker` sends pending reports
(several per webhook message, within Discord's limits), honours 429 ``retry_after`` and the
``X-RateLimit-*`` headers, retries 5xx and network errors with backoff, and leaves anything
unsent in the outbox, so a restart sends it. Nothing in a report can ping anyone:
``allowed_mentions.parse`` is empty and chat text is markdown-escaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
from discord_webhook import DiscordEmbed

from bot.settings import Secret
from storage.database import Database
from storage.records import FlaggedMessage, OutboxItem, ReportDraft, UserCounts

__all__ = [
    "DiscordSender",
    "LogSender",
    "OutboxWorker",
    "SendResult",
    "escape_markdown",
    "pack_embeds",
    "render_report",
]

_log = logging.getLogger(__name__)

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-limits).
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
FOOTER_MAX = 2048
EMBEDS_PER_MESSAGE = 10
CHARS_PER_MESSAGE = 6000
#: Messages shown per report; older flags are summarised in the description.
MESSAGES_PER_REPORT = 10

_MARKDOWN = re.compile(r"([\\*_~`|>#\-\[\]()<:@])")


def escape_markdown(text: str) -> str:
    """Escape Discord markdown, mentions and masked links in chat text."""
    return _MARKDOWN.sub(r"\\\1", text)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_report(draft: ReportDraft, flags: Sequence[FlaggedMessage], counts: UserCounts) -> str:
    """The outbox payload: one embed (JSON) describing a reported user."""
    name = (
        draft.display_name
        if draft.display_name.lower() == draft.login
        else (f"{draft.display_name} ({draft.login})")
    )
    shown = list(flags)[-MESSAGES_PER_REPORT:]
    worst = max((f.score for f in flags), default=0.0)
    labels = sorted({label for f in flags for label in f.labels})
    lines = [
        f"**Why:** {clip(escape_markdown(draft.reason), 300)}",
        f"**In #{escape_markdown(draft.channel)}:** {counts.messages_seen} messages seen, "
        f"{counts.messages_flagged} flagged, report #{counts.reports}",
    ]
    if labels:
        lines.append(f"**Categories:** {', '.join(labels)}")
    if len(flags) > len(shown):
        lines.append(f"_{len(flags) - len(shown)} earlier flagged message(s) not shown._")
    embed = DiscordEmbed(
        title=clip(f"Flagged user: {escape_markdown(name)} in #{draft.channel}", TITLE_MAX),
        description=clip("\n".join(lines), DESCRIPTION_MAX),
        url=f"https://www.twitch.tv/{draft.login}",
        color=0xE74C3C if worst >= 0.9 else 0xF39C12,
    )
    for flag in shown[:FIELDS_MAX]:
        when = datetime.fromtimestamp(flag.sent_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        tag = f" · {', '.join(flag.labels)}" if flag.labels else ""
        if flag.evidence:
            # the rules list what they matched; a network, the words that drove its score
            how = "matched" if flag.model_version.startswith("rules") else "driven by"
            tag += f" · {how} " + ", ".join(f"“{escape_markdown(t)}”" for t in flag.evidence)
        embed.add_embed_field(
            name=clip(f"{flag.score:.2f}{tag} · {when}", FIELD_NAME_MAX),
            value=clip(escape_markdown(flag.text) or "(empty)", FIELD_VALUE_MAX),
            inline=False,
        )
    versions = sorted({f.model_version for f in flags})
    embed.set_footer(text=clip(f"chatwarden · model {', '.join(versions)}", FOOTER_MAX))
    payload = {k: v for k, v in embed.__dict__.items() if v is not None}
    payload.pop("footer", None)
    payload["footer"] = {"text": embed.footer["text"]} if embed.footer else {}
    payload["timestamp"] = datetime.fromtimestamp(draft.created_at, UTC).isoformat()
    return json.dumps(payload, ensure_ascii=False)


def embed_chars(embed: dict[str, Any]) -> int:
    """Characters Discord counts towards the 6,000 per message."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += len(embed.get("footer", {}).get("text", ""))
    total += len((embed.get("author") or {}).get("name", ""))
    for item in embed.get("fields", []):
        total += len(item.get("name", "")) + len(item.get("value", ""))
    return total


def _shrink(embed: dict[str, Any], budget: int) -> dict[str, Any]:
    """Drop the oldest message fields until the embed fits ``budget`` characters."""
    embed = dict(embed)
    fields = list(embed.get("fields", []))
    while fields and embed_chars({**embed, "fields": fields}) > budget:
        fields.pop(0)
    embed["fields"] = fields
    if embed_chars(embed) > budget:
        embed["description"] = clip(embed.get("description", ""), max(1, budget // 2))
    return embed


def pack_embeds(items: Sequence[OutboxItem]) -> list[tuple[list[int], dict[str, Any]]]:
    """Group reports into webhook messages: ≤10 embeds and ≤6,000 characters each."""
    messages: list[tuple[list[int], dict[str, Any]]] = []
    ids: list[int] = []
    embeds: list[dict[str, Any]] = []
    used = 0
    for item in items:
        embed = _shrink(json.loads(item.payload), CHARS_PER_MESSAGE)
        size = embed_chars(embed)
        if embeds and (len(embeds) == EMBEDS_PER_MESSAGE or used + size > CHARS_PER_MESSAGE):
            messages.append((ids, _body(embeds)))
            ids, embeds, used = [], [], 0
        ids.append(item.id)
        embeds.append(embed)
        used += size
    if embeds:
        messages.append((ids, _body(embeds)))
    return messages


def _body(embeds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"username": "chatwarden", "embeds": embeds, "allowed_mentions": {"parse": []}}


@dataclass(frozen=True, slots=True)
class SendResult:
    """How one webhook message went."""

    ok: bool
    retry_after: float | None = None  # rate limited: wait this long, not a failure
    error: str | None = None
    pause: float = 0.0  # bucket exhausted: wait this long before the next send


class Sender(Protocol):
    async def send(self, body: dict[str, Any]) -> SendResult: ...


class LogSender:
    """Writes reports to the log (used when no webhook is configured, and by ``replay``)."""

    async def send(self, body: dict[str, Any]) -> SendResult:
        for embed in body["embeds"]:
            _log.info(
                "REPORT %s — %s",
                embed.get("title", ""),
                embed.get("description", "").split("\n", 1)[0],
            )
            _log.debug("report payload: %s", json.dumps(embed, ensure_ascii=False))
        return SendResult(ok=True)


class DiscordSender:
    """Posts to a Discord webhook with one reused HTTP session."""

    def __init__(self, url: Secret, timeout: float = 10.0) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return "<DiscordSender url=Secret('**********')>"

    async def __aenter__(self) -> DiscordSender:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, body: dict[str, Any]) -> SendResult:
        assert self._session is not None, "use DiscordSender as an async context manager"
        url = self._url.reveal()
        url += ("&" if "?" in url else "?") + "wait=true"
        try:
            async with self._session.post(url, json=body) as response:
                text = await response.text()
                status = response.status
                headers = response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc or 'timeout'}")
        pause = 0.0
        if headers.get("X-RateLimit-Remaining") == "0":
            pause = _float(headers.get("X-RateLimit-Reset-After")) or 1.0
        if 200 <= status < 300:
            return SendResult(ok=True, pause=pause)
        if status == 429:
            retry_after = None
            with contextlib.suppress(ValueError, AttributeError):
                retry_after = _float(json.loads(text).get("retry_after"))
            if retry_after is None:
                retry_after = _float(headers.get("Retry-After"))
            return SendResult(ok=False, retry_after=max(retry_after or 1.0, pause))
        return SendResult(ok=False, error=f"HTTP {status}: {text[:200]}", pause=pause)


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


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
    ) -> None:
        self._db = db
        self._sender = sender
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._idle_poll = idle_poll
        self.wake = asyncio.Event()
        self.sent = 0
        self.failed = 0
        self.rate_limited = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            items = await self._db.pending_reports(time.time(), limit=50)
            if not items:
                await self._sleep(stop, await self._until_due())
                continue
            for ids, body in pack_embeds(items):
                if stop.is_set():
                    return
                result = await self._sender.send(body)
                now = time.time()
                if result.ok:
                    await self._db.mark_reports_sent(ids, now)
                    self.sent += len(ids)
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
                if result.pause:
                    await self._sleep(stop, result.pause)

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
