"""Access like Jupyter's: a token opens a session; every page and API call needs one.

* ``?token=…`` on any URL (or the login form) checks the token in constant time, starts a
  session and redirects to the same URL without the token. The session cookie holds a
  random session id, never the token: HttpOnly, SameSite=Strict, path ``/``.
* Without a valid session a page answers 401 with the login form, an ``/api/`` call 401
  with a JSON error: no chat data either way. Sessions live in memory and end after
  ``SESSION_IDLE_S`` idle seconds or a restart (the cookie is then just refused).
* Every POST carries the session's CSRF token, as the form field ``csrf`` or the header
  ``X-CSRF-Token``; a POST without the right one is refused (403) before anything changes.
  The login form itself needs none: it needs the access token, which a forger lacks.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.secret import Secret

__all__ = [
    "COOKIE",
    "SESSION_IDLE_S",
    "Session",
    "Sessions",
    "auth_middleware",
    "redirect",
    "session_of",
]

COOKIE = "chatwarden_session"
SESSION_IDLE_S = 12 * 3600.0
_MAX_SESSIONS = 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class Session:
    moderator: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.monotonic)
    #: one message for the next page shown (an action's result)
    flash: list[tuple[str, str]] = field(default_factory=list)


_SESSION_KEY = web.RequestKey("session", Session)


def clean_moderator(raw: str | None) -> str:
    name = " ".join((raw or "").split())[:40]
    return name or "moderator"


class Sessions:
    """The access token and the open sessions."""

    def __init__(self, token: Secret, idle: float = SESSION_IDLE_S) -> None:
        self._token = token
        self._idle = idle
        self._sessions: dict[str, Session] = {}

    def token_ok(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token.reveal().encode())

    def start(self, moderator: str | None = None) -> tuple[str, Session]:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if now - v.last_seen > self._idle]:
            del self._sessions[sid]
        if len(self._sessions) >= _MAX_SESSIONS:  # drop the longest idle
            oldest = min(self._sessions, key=lambda s: self._sessions[s].last_seen)
            del self._sessions[oldest]
        sid = secrets.token_urlsafe(32)
        session = Session(clean_moderator(moderator))
        self._sessions[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.last_seen > self._idle:
            del self._sessions[sid]
            return None
        session.last_seen = now
        return session

    def end(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)


def session_of(request: web.Request) -> Session:
    return request[_SESSION_KEY]


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST, or to drop the token from the address bar."""
    return web.Response(status=303, headers={"Location": location})


def _set_cookie(response: web.StreamResponse, sid: str, secure: bool) -> None:
    response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/", secure=secure)


def _without_token(request: web.Request) -> str:
    query = [(k, v) for k, v in request.query.items() if k != "token"]
    return request.path + (f"?{urlencode(query)}" if query else "")


def _safe_next(raw: str | None) -> str:
    """Only a path on this site (never ``//host`` or a scheme)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    return raw


def auth_middleware(
    sessions: Sessions, login_page: Callable[[web.Request, str, int], Awaitable[web.Response]]
) -> Middleware:
    """The middleware guarding every route but ``/static/`` and ``POST /login``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        secure = request.secure
        if request.path.startswith("/static/"):
            return await handler(request)
        if request.path == "/login" and request.method == "POST":
            form = await request.post()
            token = str(form.get("token", ""))
            target = _safe_next(str(form.get("next", "/")))
            if not sessions.token_ok(token):
                return await login_page(request, "That token is not right.", 401)
            sid, _ = sessions.start(str(form.get("moderator", "")))
            response = redirect(target)
            _set_cookie(response, sid, secure)
            return response
        query_token = request.query.get("token")
        if query_token is not None:
            if not sessions.token_ok(query_token):
                return await _refuse(request, login_page, "That token is not right.")
            sid, _ = sessions.start(request.query.get("moderator"))
            response = redirect(_without_token(request))
            _set_cookie(response, sid, secure)
            return response
        session = sessions.get(request.cookies.get(COOKIE))
        if session is None:
            return await _refuse(request, login_page, "Log in with the dashboard's token.")
        if request.method not in {"GET", "HEAD"}:
            sent = request.headers.get("X-CSRF-Token")
            if sent is None and request.content_type in {
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            }:
                sent = str((await request.post()).get("csrf", ""))
            if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                return _error(request, 403, "The form's security token is missing or wrong.")
        request[_SESSION_KEY] = session
        return await handler(request)

    return middleware


async def _refuse(
    request: web.Request,
    login_page: Callable[[web.Request, str, int], Awaitable[web.Response]],
    why: str,
) -> web.Response:
    if request.path.startswith("/api/"):
        return web.json_response({"error": f"unauthorized: {why}"}, status=401)
    return await login_page(request, why, 401)


def _error(request: web.Request, status: int, why: str) -> web.Response:
    if request.path.startswith("/api/"):
        return web.json_response({"error": why}, status=status)
    return web.Response(text=why, status=status, content_type="text/plain")


def logout(request: web.Request, sessions: Sessions) -> web.StreamResponse:
    sessions.end(request.cookies.get(COOKIE))
    response = redirect("/")
    response.del_cookie(COOKIE, path="/")
    return response
