"""Delivering to Discord: its limits, packing embeds into webhook messages, and sending.

:func:`pack_embeds` groups embeds into messages of at most 10 embeds and 6,000 characters,
dropping the oldest message fields of an embed too big alone. :class:`DiscordSender` posts
one message and reports how it went: a 429 is a wait (``retry_after``, from the body or
``Retry-After``), not a failure, and an exhausted ``X-RateLimit-*`` bucket is a pause before
the next send. It never retries itself; what to do next is the outbox's decision.
Nothing in a message can ping anyone: ``allowed_mentions.parse`` is empty.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from bot.secret import Secret

__all__ = [
    "CHARS_PER_MESSAGE",
    "EMBEDS_PER_MESSAGE",
    "DiscordSender",
    "LogSender",
    "SendResult",
    "Sender",
    "clip",
    "embed_chars",
    "pack_embeds",
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


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def pack_embeds(
    embeds: Sequence[tuple[int, dict[str, Any]]],
) -> list[tuple[list[int], dict[str, Any]]]:
    """Group ``(report id, embed)`` pairs into webhook messages: ≤10 embeds and ≤6,000
    characters each; return each message's report ids and body."""
    messages: list[tuple[list[int], dict[str, Any]]] = []
    ids: list[int] = []
    packed: list[dict[str, Any]] = []
    used = 0
    for report_id, whole in embeds:
        embed = _shrink(whole, CHARS_PER_MESSAGE)
        size = embed_chars(embed)
        if packed and (len(packed) == EMBEDS_PER_MESSAGE or used + size > CHARS_PER_MESSAGE):
            messages.append((ids, _body(packed)))
            ids, packed, used = [], [], 0
        ids.append(report_id)
        packed.append(embed)
        used += size
    if packed:
        messages.append((ids, _body(packed)))
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
    #: 401/403/404: the webhook was deleted or its token is wrong; no retry can succeed
    #: until the URL is fixed
    webhook_gone: bool = False


class Sender(Protocol):
    #: where what is sent goes, as stored with each sent report: ``discord`` or ``log``
    @property
    def destination(self) -> str: ...

    async def send(self, body: dict[str, Any]) -> SendResult: ...


class LogSender:
    """Writes reports to the log (used when no webhook is configured, and by ``replay``)."""

    destination = "log"

    async def send(self, body: dict[str, Any]) -> SendResult:
        for embed in body["embeds"]:
            # the embed is escaped for Discord's markdown; a log line is plain text
            _log.info(
                "REPORT %s — %s",
                _unescape(embed.get("title", "")),
                _unescape(embed.get("description", "").split("\n", 1)[0]),
            )
            _log.debug("report payload: %s", json.dumps(embed, ensure_ascii=False))
        return SendResult(ok=True)


def _unescape(text: str) -> str:
    """Markdown bold and escapes (``\\(``, ``\\_``) undone, for a plain-text log line."""
    return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)\*\*", "", text))


class DiscordSender:
    """Posts to a Discord webhook with one reused HTTP session."""

    destination = "discord"

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
        return SendResult(
            ok=False,
            error=f"HTTP {status}: {text[:200]}",
            pause=pause,
            webhook_gone=status in _GONE,
        )


#: Discord's answers for a webhook that does not exist (deleted, 404 "Unknown Webhook",
#: code 10015) or whose token is wrong (401 "Invalid Webhook Token", code 50027).
_GONE = {401, 403, 404}


async def check_webhook(url: Secret, within: float = 5.0) -> tuple[bool, str]:
    """GET the webhook (Discord answers its JSON with the token in the URL, no bot token
    needed): ``(exists, what to say)``. The URL and its token never appear in the answer."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as session,
            session.get(url.reveal()) as response,
        ):
            status = response.status
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return False, f"cannot reach Discord: {type(exc).__name__}: {exc or 'timeout'}"
    body: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        loaded = json.loads(text)
        body = loaded if isinstance(loaded, dict) else {}
    if 200 <= status < 300:
        name = body.get("name") or "?"
        return True, f"webhook {name!r} exists (channel {body.get('channel_id', '?')})"
    message = body.get("message") or text[:100]
    if status in _GONE:
        return False, (
            f"Discord answers {status} {message!r}: the webhook was deleted or the URL is "
            "wrong; reports would stay queued and never arrive"
        )
    return False, f"Discord answers HTTP {status} {message!r}"


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
