"""A loopback stand-in for Twitch's API (Helix) and its token validation (id.twitch.tv).

One aiohttp server on 127.0.0.1 answers what :mod:`bot.twitch.helix` calls, with Twitch's
paths, query parameters, bodies, status codes and error bodies
(https://dev.twitch.tv/docs/api/reference, https://dev.twitch.tv/docs/authentication/validate-tokens):

- ``GET /oauth2/validate`` (``Authorization: OAuth <token>``, Bearer accepted too):
  the token's ``client_id``, ``login``, ``user_id``, ``scopes`` and ``expires_in``, or
  401 ``invalid access token``;
- ``GET /helix/users?login=…`` (repeatable): the known users among them;
- ``POST /helix/moderation/bans?broadcaster_id=…&moderator_id=…`` with
  ``{"data": {"user_id", "duration"?, "reason"?}}``: a ban (no duration) or a timeout;
- ``DELETE /helix/moderation/chat?broadcaster_id=…&moderator_id=…&message_id=…``: 204.

Every ``/helix`` call needs ``Authorization: Bearer <token>`` and the token's
``Client-Id`` (401 with Twitch's messages otherwise), the scope its endpoint needs, and a
``moderator_id`` equal to the token's user; every answer carries ``Ratelimit-Limit``,
``Ratelimit-Remaining`` and ``Ratelimit-Reset``. ``script`` holds failures the next
moderation calls answer with (:func:`helix_failure`, :func:`helix_rate_limited`). Every
request received is kept in ``requests``, in order.

Point the bot at it with ``CHATWARDEN_HELIX_URL={fake.helix_url}`` and
``CHATWARDEN_TWITCH_ID_URL={fake.id_url}``.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.lab.loopback import runner_port

__all__ = [
    "ALL_SCOPES",
    "FakeHelix",
    "HelixRequest",
    "HelixScripted",
    "helix_failure",
    "helix_rate_limited",
]

ALL_SCOPES = ("moderator:manage:banned_users", "moderator:manage:chat_messages")
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
_REASONS |= {409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error"}


@dataclass(frozen=True)
class HelixRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    client_id: str | None
    body: Any = None
    at: float = 0.0  # epoch seconds of arrival

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class HelixScripted:
    """The answer the next moderation call gets instead of the normal one."""

    status: int
    message: str
    reset_in: float | None = None  # for a 429: seconds until Ratelimit-Reset


def helix_failure(status: int, message: str) -> HelixScripted:
    return HelixScripted(status, message)


def helix_rate_limited(reset_in: float = 1.0) -> HelixScripted:
    return HelixScripted(429, "Too Many Requests", reset_in)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": _REASONS.get(status, "Error"), "status": status, "message": message}
    return web.json_response(body, status=status, headers=headers)


@dataclass
class FakeHelix:
    """``async with FakeHelix(token=…, client_id=…) as helix: helix.helix_url``."""

    token: str = "helixtoken0123456789"
    client_id: str = "fakeclientid0123456789"
    login: str = "wardenbot"
    user_id: str = "900001"
    scopes: tuple[str, ...] = ALL_SCOPES
    #: the validation answers 401 for every token, as for a revoked one
    revoked: bool = False
    #: channels whose moderators include the token's user (None: every channel)
    moderates: set[str] | None = None
    rate_limit: int = 800
    remaining: int = 799
    script: list[HelixScripted] = field(default_factory=list)
    requests: list[HelixRequest] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # login -> id
    bans: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    port: int = 0
    _refill_at: float = 0.0
    _runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100001))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def helix_url(self) -> str:
        return f"{self.base_url}/helix"

    @property
    def id_url(self) -> str:
        return self.base_url

    def add_user(self, login: str) -> str:
        """Make ``login`` a Twitch user (a chatter or a channel); return its id."""
        login = login.lower()
        if login not in self.users:
            self.users[login] = str(next(self._ids))
        return self.users[login]

    def helix_requests(self, method: str, path: str) -> list[HelixRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    async def __aenter__(self) -> FakeHelix:
        self.users.setdefault(self.login, self.user_id)
        app = web.Application()
        app.router.add_get("/oauth2/validate", self._validate)
        app.router.add_get("/helix/users", self._users)
        app.router.add_post("/helix/moderation/bans", self._ban)
        app.router.add_delete("/helix/moderation/chat", self._delete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner_port(self._runner)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    # -- the endpoints -----------------------------------------------------------------

    async def _record(self, request: web.Request) -> HelixRequest:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        query: dict[str, list[str]] = {}
        for key, value in request.query.items():
            query.setdefault(key, []).append(value)
        seen = HelixRequest(
            request.method,
            request.path,
            query,
            request.headers.get("Authorization"),
            request.headers.get("Client-Id"),
            body,
            time.time(),
        )
        self.requests.append(seen)
        return seen

    def _limits(self) -> dict[str, str]:
        """Helix's rate-limit headers: the bucket refills at ``Ratelimit-Reset``."""
        now = time.time()
        if self._refill_at <= now:
            self._refill_at = now + 60.0
        return {
            "Ratelimit-Limit": str(self.rate_limit),
            "Ratelimit-Remaining": str(max(0, self.remaining)),
            "Ratelimit-Reset": str(math.ceil(self._refill_at)),
        }

    async def _validate(self, request: web.Request) -> web.Response:
        seen = await self._record(request)
        auth = seen.authorization or ""
        scheme, _, token = auth.partition(" ")
        if self.revoked or scheme.lower() not in {"oauth", "bearer"} or token != self.token:
            return web.json_response({"status": 401, "message": "invalid access token"}, status=401)
        return web.json_response(
            {
                "client_id": self.client_id,
                "login": self.login,
                "scopes": list(self.scopes),
                "user_id": self.user_id,
                "expires_in": 5_520_838,
            }
        )

    def _auth(self, seen: HelixRequest, scope: str | None) -> web.Response | None:
        """Twitch's answers to a request without the right token, client id or scope."""
        auth = seen.authorization or ""
        if not auth:
            return _error(401, "OAuth token is missing", self._limits())
        scheme, _, token = auth.partition(" ")
        if scheme != "Bearer" or self.revoked or token != self.token:
            return _error(401, "Invalid OAuth token", self._limits())
        if not seen.client_id:
            return _error(401, "Client-Id header required", self._limits())
        if seen.client_id != self.client_id:
            return _error(401, "Client ID and OAuth token do not match", self._limits())
        if scope is not None and scope not in self.scopes:
            return _error(401, f"Missing scope: {scope}", self._limits())
        if self.remaining <= 0 and time.time() >= self._refill_at:
            self.remaining = self.rate_limit
        self.remaining -= 1
        return None

    def _moderation(self, seen: HelixRequest) -> web.Response | None:
        broadcaster, moderator = seen.param("broadcaster_id"), seen.param("moderator_id")
        if not broadcaster:
            return _error(400, 'Missing required parameter "broadcaster_id"', self._limits())
        if not moderator:
            return _error(400, 'Missing required parameter "moderator_id"', self._limits())
        if moderator != self.user_id:
            return _error(
                401,
                "The ID in moderator_id must match the user ID found in the request's OAuth token.",
                self._limits(),
            )
        channel = next((login for login, uid in self.users.items() if uid == broadcaster), None)
        if channel is None:
            return _error(400, "Invalid broadcaster_id", self._limits())
        if self.moderates is not None and channel not in self.moderates and channel != self.login:
            return _error(
                403,
                "The user in moderator_id is not one of the broadcaster's moderators.",
                self._limits(),
            )
        if self.script:
            step = self.script.pop(0)
            if step.status == 429:
                self.remaining = 0
                self._refill_at = time.time() + (step.reset_in or 1.0)
                return _error(429, step.message, self._limits())
            return _error(step.status, step.message, self._limits())
        return None

    async def _users(self, request: web.Request) -> web.Response:
        seen = await self._record(request)
        refused = self._auth(seen, None)
        if refused is not None:
            return refused
        logins = [login.lower() for login in seen.query.get("login", [])]
        ids = seen.query.get("id", [])
        if len(logins) + len(ids) > 100:
            return _error(400, "The maximum number of ids and logins is 100", self._limits())
        found = [
            {
                "id": uid,
                "login": login,
                "display_name": login,
                "type": "",
                "broadcaster_type": "",
                "description": "",
                "profile_image_url": "",
                "offline_image_url": "",
                "view_count": 0,
                "created_at": "2020-01-01T00:00:00Z",
            }
            for login, uid in self.users.items()
            if login in logins or uid in ids
        ]
        return web.json_response({"data": found}, headers=self._limits())

    async def _ban(self, request: web.Request) -> web.Response:
        seen = await self._record(request)
        refused = self._auth(seen, "moderator:manage:banned_users") or self._moderation(seen)
        if refused is not None:
            return refused
        data = seen.body.get("data") if isinstance(seen.body, dict) else None
        if not isinstance(data, dict) or not data.get("user_id"):
            return _error(400, 'Missing required field "user_id"', self._limits())
        duration = data.get("duration")
        if duration is not None and (
            not isinstance(duration, int) or not 1 <= duration <= 1_209_600
        ):
            return _error(400, "The value in the duration field is not valid.", self._limits())
        if len(str(data.get("reason", ""))) > 500:
            return _error(400, "The text in the reason field is too long.", self._limits())
        if data["user_id"] not in self.users.values():
            return _error(400, "The user specified in the user_id field does not exist.")
        if any(
            b["user_id"] == data["user_id"]
            and b["broadcaster_id"] == seen.param("broadcaster_id")
            and b["end_time"] is None
            for b in self.bans
        ):
            return _error(
                400, "The user specified in the user_id field is already banned.", self._limits()
            )
        now = time.time()
        ban = {
            "broadcaster_id": seen.param("broadcaster_id"),
            "moderator_id": seen.param("moderator_id"),
            "user_id": data["user_id"],
            "created_at": _rfc3339(now),
            "end_time": _rfc3339(now + duration) if duration else None,
        }
        self.bans.append(ban)
        return web.json_response({"data": [ban]}, headers=self._limits())

    async def _delete(self, request: web.Request) -> web.Response:
        seen = await self._record(request)
        refused = self._auth(seen, "moderator:manage:chat_messages") or self._moderation(seen)
        if refused is not None:
            return refused
        message_id = seen.param("message_id")
        if message_id:
            self.deleted.append(message_id)
        return web.Response(status=204, headers=self._limits())


def _rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
