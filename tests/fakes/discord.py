"""A loopback fake of Discord's Execute Webhook endpoint (aiohttp).

``POST /api/webhooks/{id}/{token}`` validates the body like Discord does (embed limits,
10 embeds, 6,000 characters) and answers 400 when it breaks them; otherwise it answers
with the next scripted response (429 with ``retry_after``, 500, …) or 200 with the
message, plus ``X-RateLimit-*`` headers. Every accepted body is kept in ``received``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Scripted:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def rate_limited(retry_after: float) -> Scripted:
    return Scripted(
        429,
        {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
        {"Retry-After": str(max(1, int(retry_after))), "X-RateLimit-Scope": "user",
         "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
         "X-RateLimit-Reset-After": str(retry_after), "Via": "1.1 google"},
    )  # fmt: skip


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
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/webhooks/123456789/fake-token_ABC"

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_post("/api/webhooks/{id}/{token}", self._execute)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return [embed for body in self.received for embed in body.get("embeds", [])]

    async def _execute(self, request: web.Request) -> web.Response:
        self.requests += 1
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
