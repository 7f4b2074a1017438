"""Moderation actions through Twitch's API (Helix), with twitchio 3's HTTP client.

Since February 2023 chat commands (``/ban``, ``/timeout``, ``/delete``) no longer work over
IRC: a bot acts through Helix, with a user token of an account that moderates the
channel. This module wraps the three calls a moderator needs::

    async with HelixModerator.open(settings) as helix:     # validates the token first
        result = await helix.timeout("channel", "login", 600, "spam")
        if not result.ok:
            ...  # result.status, result.message: Helix's own answer

At start-up ``GET {id_url}/oauth2/validate`` gives the token's login, user id and scopes;
an invalid token, a token issued to another client id, or a missing
``moderator:manage:banned_users`` / ``moderator:manage:chat_messages`` scope is a
:class:`HelixError` naming the problem and its fix. Afterwards nothing raises: every
answer, failure or not, is an :class:`ActionResult`, and failures are logged at warning.

Requests go through twitchio's own :class:`twitchio.authentication.OAuth` client
(``validate_token``, ``get_users``, ``post_ban_user``, ``delete_chat_message``) and its
:class:`twitchio.http.Route`. twitchio fixes the base URLs as class attributes
(``Route.BASE = "https://api.twitch.tv/helix/"``, ``Route.ID_BASE = "https://id.twitch.tv/"``
in ``twitchio/http.py``) and builds every route from the module-level ``Route``, so the
client below rebuilds each route, unchanged otherwise, as a subclass of ``Route`` whose two
bases are ``CHATWARDEN_HELIX_URL`` and ``CHATWARDEN_TWITCH_ID_URL``: tests point it at a
loopback fake, and the request code that runs is twitchio's.

Rate limits (https://dev.twitch.tv/docs/api/guide): every answer carries
``Ratelimit-Remaining`` and ``Ratelimit-Reset`` (epoch seconds). When the bucket is empty
the next request waits for the reset; a 429 is retried after the reset, a bounded number
of times and never longer than ``max_wait`` per wait.

The token is a :class:`~bot.secret.Secret` and appears in no message, log line or repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar, Protocol

import aiohttp
from twitchio.authentication import OAuth
from twitchio.exceptions import HTTPException
from twitchio.http import Route

from bot.secret import Secret
from bot.twitch.connection import TwitchAuthError

__all__ = [
    "REQUIRED_SCOPES",
    "ActionResult",
    "HelixError",
    "HelixModerator",
    "HelixSettings",
    "TokenInfo",
    "inspect_token",
]

_log = logging.getLogger(__name__)

BAN_SCOPE = "moderator:manage:banned_users"
DELETE_SCOPE = "moderator:manage:chat_messages"
#: What the three actions need: ban and timeout, then delete.
REQUIRED_SCOPES = (BAN_SCOPE, DELETE_SCOPE)

MAX_TIMEOUT_S = 1_209_600  # two weeks: Helix's limit for a timeout
MAX_REASON = 500  # characters: Helix's limit for a reason
_RETRIES_429 = 3
REVALIDATE_S = 3600.0  # Twitch: validate a kept token at least hourly
_REQUEST_TIMEOUT_S = 10.0
_MAX_MESSAGE = 300  # characters of an error answer kept

_HOW_TO = (
    "create a user access token for the bot account with the scopes "
    "moderator:manage:banned_users and moderator:manage:chat_messages (README.md, "
    '"Actions through Twitch"), and make the account a moderator of each channel'
)


class HelixError(TwitchAuthError):
    """Helix cannot be used: no, an invalid or an under-scoped token. Says how to fix it.

    A :class:`~bot.twitch.connection.TwitchAuthError` (retrying with the same credentials
    cannot help), so the command line prints it as one line and exits 2."""


class HelixSettings(Protocol):
    """What this module reads of :class:`bot.settings.Settings` (which it must not import)."""

    @property
    def twitch_api_token(self) -> Secret | None: ...

    @property
    def twitch_client_id(self) -> str | None: ...

    @property
    def helix_url(self) -> str: ...

    @property
    def twitch_id_url(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ActionResult:
    """Helix's answer to one action."""

    ok: bool
    status: int  # HTTP status from Helix (0 when no answer)
    message: str  # Helix's error message, or "" on success; never contains a token


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What ``/oauth2/validate`` says of the token."""

    login: str
    user_id: str
    client_id: str
    scopes: frozenset[str]
    expires_in: int  # seconds; 0 for a token that does not expire

    @property
    def missing_scopes(self) -> tuple[str, ...]:
        return tuple(scope for scope in REQUIRED_SCOPES if scope not in self.scopes)


@dataclass(slots=True)
class _RateLimit:
    """The last ``Ratelimit-*`` headers seen: Helix's points left and when they refill."""

    max_wait: float
    remaining: int | None = None
    reset: float | None = None  # epoch seconds

    def update(self, headers: Any) -> None:
        remaining, reset = headers.get("Ratelimit-Remaining"), headers.get("Ratelimit-Reset")
        with contextlib.suppress(TypeError, ValueError):
            self.remaining = int(remaining)
        with contextlib.suppress(TypeError, ValueError):
            self.reset = float(reset)

    def until_reset(self) -> float:
        """Seconds to the bucket's refill (bounded by ``max_wait``; 1 s when unknown)."""
        if self.reset is None:
            return min(1.0, self.max_wait)
        return max(0.0, min(self.reset - time.time(), self.max_wait))

    def before_request(self) -> float:
        """Seconds to wait before the next request: until the reset when none are left."""
        if self.remaining is not None and self.remaining <= 0:
            return self.until_reset()
        return 0.0


def _route_class(helix_url: str, id_url: str) -> type[Route]:
    class _Route(Route):
        __slots__ = ()
        BASE: ClassVar[str] = helix_url.rstrip("/") + "/"
        ID_BASE: ClassVar[str] = id_url.rstrip("/") + "/"

    return _Route


class _HelixHttp(OAuth):
    """twitchio's client, sending our token, to our base URLs, within Helix's rate limit."""

    def __init__(
        self,
        *,
        client_id: str,
        token: Secret,
        session: aiohttp.ClientSession,
        route_class: type[Route],
        limit: _RateLimit,
    ) -> None:
        super().__init__(client_id=client_id, session=session)
        self._token = token
        self._route_class = route_class
        self._limit = limit

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.client_id!r})"

    async def request(self, route: Route) -> Any:
        rebased = self._route_class(
            route.method,
            route.path,
            use_id=route.use_id,
            params=dict(route.params),
            json=route.json,
            headers=dict(route.headers),
            token_for=route.token_for,
        )
        # validate_token sends its own "OAuth <token>"; Helix calls take the bearer token.
        rebased.headers.setdefault("Authorization", f"Bearer {self._token.reveal()}")
        for attempt in range(_RETRIES_429 + 1):
            wait = self._limit.before_request()
            if wait > 0:
                _log.info("Helix rate limit reached; waiting %.1f s for its reset", wait)
                await asyncio.sleep(wait)
            try:
                return await super().request(rebased)
            except HTTPException as exc:
                if exc.status != 429 or attempt == _RETRIES_429:
                    raise
                wait = self._limit.until_reset()
                _log.warning(
                    "Helix answered 429 (too many requests) to %s %s; retrying in %.1f s "
                    "(%d of %d)",
                    rebased.method,
                    rebased.path,
                    wait,
                    attempt + 1,
                    _RETRIES_429,
                )
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def _helix_message(exc: HTTPException) -> str:
    extra = exc.extra if isinstance(exc.extra, dict) else {}
    message = " ".join(str(extra.get("message") or extra.get("error") or "").split())
    if len(message) > _MAX_MESSAGE:  # e.g. a proxy's HTML error page
        message = message[: _MAX_MESSAGE - 1] + "…"
    return message or f"HTTP {exc.status}"


@contextlib.asynccontextmanager
async def _session(limit: _RateLimit) -> AsyncIterator[aiohttp.ClientSession]:
    async def on_request_end(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any
    ) -> None:
        limit.update(params.response.headers)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    timeout = aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout, trace_configs=[trace]) as session:
        yield session


def _credentials(settings: HelixSettings) -> tuple[Secret, str]:
    token, client_id = settings.twitch_api_token, settings.twitch_client_id
    if token is None or not client_id:
        raise HelixError(
            "actions through Twitch need CHATWARDEN_TWITCH_TOKEN and "
            "CHATWARDEN_TWITCH_CLIENT_ID (the client id of the app the token was issued to)"
        )
    return token, client_id


@contextlib.asynccontextmanager
async def _connected(
    settings: HelixSettings, max_wait: float
) -> AsyncIterator[tuple[_HelixHttp, Secret, TokenInfo]]:
    """An HTTP client on Helix for the settings' token, and what validating it said."""
    token, client_id = _credentials(settings)
    limit = _RateLimit(max_wait)
    async with _session(limit) as session:
        http = _HelixHttp(
            client_id=client_id,
            token=token,
            session=session,
            route_class=_route_class(settings.helix_url, settings.twitch_id_url),
            limit=limit,
        )
        yield http, token, await _validate(http, token, client_id, settings.twitch_id_url)


async def _validate(http: _HelixHttp, token: Secret, client_id: str, id_url: str) -> TokenInfo:
    try:
        payload = await http.validate_token(token.reveal())
    except HTTPException as exc:
        if exc.status == 401:
            raise HelixError(
                "CHATWARDEN_TWITCH_TOKEN was refused by Twitch "
                f"({_scrub(_helix_message(exc), token)}): it is invalid, expired or revoked; "
                + _HOW_TO
            ) from None
        raise HelixError(
            f"could not validate CHATWARDEN_TWITCH_TOKEN at {id_url}: Twitch answered "
            f"{exc.status} ({_scrub(_helix_message(exc), token)})"
        ) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HelixError(
            f"could not reach {id_url} to validate CHATWARDEN_TWITCH_TOKEN ({type(exc).__name__})"
        ) from None
    if not payload.login or not payload.user_id:
        raise HelixError(
            "CHATWARDEN_TWITCH_TOKEN is an app access token; moderation needs a user access "
            "token of the bot account: " + _HOW_TO
        )
    if payload.client_id != client_id:
        raise HelixError(
            "CHATWARDEN_TWITCH_TOKEN was issued to another app than CHATWARDEN_TWITCH_CLIENT_ID "
            f"({client_id}); set the client id of the app that created the token"
        )
    return TokenInfo(
        login=payload.login,
        user_id=payload.user_id,
        client_id=payload.client_id,
        scopes=frozenset(payload.scopes),
        expires_in=int(payload.expires_in or 0),
    )


def _scrub(text: str, token: Secret) -> str:
    secret = token.reveal()
    return text.replace(secret, "**********") if secret else text


async def inspect_token(settings: HelixSettings, *, max_wait: float = 60.0) -> TokenInfo:
    """Validate the token and return what Twitch says of it, missing scopes or not
    (``chatwarden doctor`` shows them). Raises :class:`HelixError` for a bad token."""
    async with _connected(settings, max_wait) as (_, _, info):
        return info


class HelixModerator:
    """Deletes, times out and bans through Helix as the token's account. Open with
    :meth:`open`; one instance serves every channel the account moderates."""

    def __init__(self, http: _HelixHttp, token: Secret, info: TokenInfo) -> None:
        self._http = http
        self._token = token
        self.info = info
        #: False once a revalidation found the token refused or short of a scope
        self.valid = True
        self._ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"HelixModerator(login={self.info.login!r}, user_id={self.info.user_id!r})"

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        settings: HelixSettings,
        *,
        max_wait: float = 60.0,
        revalidate_every: float = REVALIDATE_S,
    ) -> AsyncIterator[HelixModerator]:
        """Validate the token, then yield a moderator; raises :class:`HelixError` when the
        token is missing, invalid, issued to another client id or lacks a scope. While
        open, the token is validated again every ``revalidate_every`` seconds, as Twitch
        asks of apps that keep a token (https://dev.twitch.tv/docs/authentication/validate-tokens)."""
        async with _connected(settings, max_wait) as (http, token, info):
            if info.missing_scopes:
                missing = " and ".join(info.missing_scopes)
                raise HelixError(
                    f"CHATWARDEN_TWITCH_TOKEN (account {info.login}) lacks the scope "
                    f"{missing}; {_HOW_TO}"
                )
            _log.info(
                "Helix actions enabled as %s (user id %s, scopes %s)",
                info.login,
                info.user_id,
                ", ".join(sorted(info.scopes)),
            )
            moderator = cls(http, token, info)
            task = asyncio.create_task(
                moderator._revalidate_loop(revalidate_every, settings.twitch_id_url),
                name="helix-revalidate",
            )
            try:
                yield moderator
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def revalidate(self, id_url: str) -> bool:
        """Validate the token again; a refused token or a lost scope sets :attr:`valid`
        False (and is logged as an error). No answer keeps the last state."""
        try:
            info = await _validate(self._http, self._token, self.info.client_id, id_url)
        except HelixError as exc:
            if "could not reach" in str(exc):
                _log.warning("Helix token not revalidated: %s", exc)
                return self.valid
            self.valid = False
            _log.error("%s; actions through Twitch will fail until it is replaced", exc)
            return False
        if info.missing_scopes:
            self.valid = False
            _log.error(
                "CHATWARDEN_TWITCH_TOKEN lost the scope %s; actions through Twitch will fail",
                " and ".join(info.missing_scopes),
            )
            return False
        if not self.valid:
            _log.info("CHATWARDEN_TWITCH_TOKEN is valid again")
        self.valid = True
        return True

    async def _revalidate_loop(self, every: float, id_url: str) -> None:
        while True:
            await asyncio.sleep(every)
            await self.revalidate(id_url)

    # -- actions -----------------------------------------------------------------------

    async def timeout(self, channel: str, login: str, seconds: int, reason: str) -> ActionResult:
        """Time ``login`` out of ``channel`` for ``seconds`` (1 s to two weeks)."""
        if not 1 <= seconds <= MAX_TIMEOUT_S:
            return self._failed(
                "timeout", channel, login, 0, f"a timeout lasts 1 to {MAX_TIMEOUT_S} seconds"
            )
        return await self._ban("timeout", channel, login, seconds, reason)

    async def ban(self, channel: str, login: str, reason: str) -> ActionResult:
        """Ban ``login`` from ``channel``."""
        return await self._ban("ban", channel, login, None, reason)

    async def delete_message(self, channel: str, msg_id: str) -> ActionResult:
        """Delete one chat message (its IRC ``id`` tag) from ``channel``."""
        if not msg_id.strip():
            return self._failed("delete", channel, msg_id, 0, "no message id")

        async def call(broadcaster_id: str) -> int:
            await self._http.delete_chat_message(
                broadcaster_id=broadcaster_id,
                moderator_id=self.info.user_id,
                token_for=None,
                message_id=msg_id,
            )
            return 204  # Helix's answer to a deletion: No Content

        return await self._act("delete", channel, msg_id, call)

    async def user_id(self, login: str) -> str | None:
        """The Twitch user id of ``login`` (cached), None when there is no such user.
        Raises twitchio's ``HTTPException`` or aiohttp's errors when Helix fails."""
        login = login.strip().lower().lstrip("@#")
        if login in self._ids:
            return self._ids[login]
        answer = await self._http.get_users(logins=[login])
        for user in answer.get("data", []):
            self._ids[str(user["login"]).lower()] = str(user["id"])
        return self._ids.get(login)

    async def _ban(
        self, kind: str, channel: str, login: str, seconds: int | None, reason: str
    ) -> ActionResult:
        target = login.strip().lower().lstrip("@")

        async def call(broadcaster_id: str) -> int:
            user_id = await self.user_id(target)
            if user_id is None:
                raise _Unknown(f"no Twitch user is named {target!r}")
            await self._http.post_ban_user(
                broadcaster_id=broadcaster_id,
                moderator_id=self.info.user_id,
                token_for=None,
                user_id=user_id,
                duration=seconds,
                reason=reason[:MAX_REASON],
            )
            return 200  # Helix's answer to a ban or timeout: the ban's data

        return await self._act(kind, channel, target, call)

    async def _act(
        self,
        kind: str,
        channel: str,
        target: str,
        call: Callable[[str], Awaitable[int]],
    ) -> ActionResult:
        channel = channel.strip().lower().lstrip("#")
        try:
            broadcaster_id = await self.user_id(channel)
            if broadcaster_id is None:
                raise _Unknown(f"no Twitch channel is named {channel!r}")
            status = await call(broadcaster_id)
        except _Unknown as exc:
            return self._failed(kind, channel, target, 404, str(exc))
        except HTTPException as exc:
            return self._failed(kind, channel, target, exc.status, _helix_message(exc))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._failed(
                kind, channel, target, 0, f"no answer from Twitch's API ({type(exc).__name__})"
            )
        _log.info("Helix %s in #%s of %s: done", kind, channel, target)
        return ActionResult(True, status, "")

    def _failed(
        self, kind: str, channel: str, target: str, status: int, message: str
    ) -> ActionResult:
        message = _scrub(message, self._token)
        _log.warning(
            "Helix %s in #%s of %s failed: %s%s",
            kind,
            channel,
            target,
            f"{status} " if status else "",
            message,
        )
        return ActionResult(False, status, message)


class _Unknown(Exception):
    """A login Helix does not know (its users lookup answered no one)."""
