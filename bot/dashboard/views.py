"""The pages (server-rendered, autoescaped) and the same data as JSON under ``/api/``.

``/`` flagged users in a period, worst first (channel, since, category; paginated, updated
live by polling ``/api/flagged?after=``); ``/users/<login>`` a user's flags with the chat
before each, verdicts, reports, moderators' and the bot's actions; ``/reports`` the outbox;
``/channels/<name>`` a channel's settings and what its moderators taught (learned norms).
A malformed login or channel is a 400, an unknown one a 404.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.dashboard.auth import Session, session_of
from bot.dashboard.context import CONTEXT

__all__ = ["PER_PAGE", "SCORER", "add_routes", "login_page"]

#: What the running bot scores with (name and version), read at each page: it follows hot
#: reloads. Unset (a dashboard without a pipeline): the pages do not name a scorer.
SCORER: web.AppKey[Callable[[], str]] = web.AppKey("scorer")

PER_PAGE = 50
_NAME = re.compile(r"^[a-z0-9_]{1,25}$")
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_CATEGORY = re.compile(r"^[\w:-]{1,40}$")
_STATUSES = ("pending", "sent", "logged", "failed")


class BadRequest(Exception):
    """A query or path part the dashboard cannot use; the message says why."""


def twitch_name(raw: str, what: str) -> str:
    """A channel or user login as Twitch spells them (lower case, no '#' or '@')."""
    name = raw.strip().lstrip("#@").lower()
    if not _NAME.match(name):
        raise BadRequest(
            f"{what} {raw[:40]!r} is not a Twitch name: 1-25 letters, digits or underscores"
        )
    return name


def since_seconds(raw: str) -> float:
    match = _SINCE.match(raw)
    if not match:
        raise BadRequest(f"'since' {raw[:20]!r} is not a period such as 90m, 24h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _page(raw: str | None) -> int:
    try:
        page = int(raw or "1")
    except ValueError:
        raise BadRequest("'page' must be a whole number") from None
    if page < 1:
        raise BadRequest("'page' must be 1 or more")
    return page


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _common(request: web.Request, session: Session) -> dict[str, Any]:
    context = request.app[CONTEXT]
    flash, session.flash = session.flash, []
    scorer = request.app.get(SCORER)
    running = [f"scorer {scorer()}"] if scorer is not None else []
    running.append(f"sensitivity {context.settings.sensitivity}")
    return {
        "moderator": session.moderator,
        "csrf": session.csrf,
        "flash": flash,
        "channels": context.settings.channels,
        "running": " · ".join(running),
        "when": when,
    }


def _render(
    request: web.Request, template: str, data: dict[str, Any], status: int = 200
) -> web.Response:
    values = {**_common(request, session_of(request)), **data}
    return aiohttp_jinja2.render_template(template, request, values, status=status)


def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    if request.path.startswith("/api/"):
        return web.json_response({"error": message}, status=status)
    return _render(request, "error.html", {"status": status, "message": message}, status)


async def login_page(request: web.Request, why: str, status: int) -> web.Response:
    """The login form (no chat data on it)."""
    target = request.path_qs if request.method == "GET" else "/"
    return aiohttp_jinja2.render_template(
        "login.html", request, {"why": why, "next": target}, status=status
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _handler(func: Handler) -> Handler:
    """Turn :class:`BadRequest` into a 400 page (or JSON under /api/)."""

    @functools.wraps(func)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await func(request)
        except BadRequest as exc:
            return _error_page(request, 400, str(exc))

    return wrapper


# -- flagged users ---------------------------------------------------------------------


async def _flagged_data(request: web.Request) -> dict[str, Any]:
    db = request.app[CONTEXT].reads
    q = request.query
    channel = twitch_name(q["channel"], "channel") if q.get("channel") else None
    since_raw = q.get("since") or "24h"
    since = since_seconds(since_raw)
    category = (q.get("category") or "").strip().lower() or None
    if category is not None and not _CATEGORY.match(category):
        raise BadRequest("'category' must be a label such as insult or threat")
    page = _page(q.get("page"))
    latest = await db.latest_flag_id()
    users, total = await db.flagged_users_page(
        time.time() - since, channel, category, PER_PAGE, (page - 1) * PER_PAGE
    )
    # what the period hides (replayed chat keeps the time it was sent: often years ago)
    older = await db.older_flags(time.time() - since, channel)
    older_since = (
        f"{math.ceil((time.time() - older.newest) / 86400) + 1}d" if older.newest else None
    )
    watched = request.app[CONTEXT].settings.channels
    return {
        # the filter offers every channel with flags, watched now or not (a replay's too)
        "filter_channels": sorted({*watched, *await db.flag_channels()}),
        "older": {**asdict(older), "since": older_since},
        "users": [asdict(u) for u in users],
        "total": total,
        "page": page,
        "pages": max(1, math.ceil(total / PER_PAGE)),
        "latest": latest,
        "filters": {"channel": channel or "", "since": since_raw, "category": category or ""},
    }


@_handler
async def flagged_page(request: web.Request) -> web.Response:
    return _render(request, "flagged.html", await _flagged_data(request))


@_handler
async def flagged_api(request: web.Request) -> web.Response:
    after = request.query.get("after")
    if after is not None:  # live updates: how many flags since the page's cursor
        try:
            cursor = int(after)
        except ValueError:
            raise BadRequest("'after' must be a flag id") from None
        db = request.app[CONTEXT].reads
        new = await db.flags_after(cursor, limit=100)
        latest = new[-1][0] if new else cursor
        return web.json_response({"latest": latest, "new": len(new)})
    return web.json_response(await _flagged_data(request))


# -- one user --------------------------------------------------------------------------


@_handler
async def find_user(request: web.Request) -> web.Response:
    """The header's user search: ``/users?login=NAME`` goes to that user's page."""
    login = twitch_name(request.query.get("login", ""), "login")
    raise web.HTTPSeeOther(f"/users/{login}")


async def _user_data(request: web.Request) -> dict[str, Any] | None:
    context = request.app[CONTEXT]
    login = twitch_name(request.match_info["login"], "login")
    history = await context.reads.history(login)
    if history is None:
        return None
    flags = await context.reads.flag_views(history.flags)
    bot_actions = await context.reads.bot_actions(login=login)
    return {
        "login": history.login,
        "display_name": history.display_name,
        "counts": [asdict(c) for c in history.counts],
        "flags": [
            {
                **asdict(v.flag),
                "context": [asdict(c) for c in v.context],
                "verdict": asdict(v.verdict) if v.verdict else None,
            }
            for v in flags
        ],
        "reports": [asdict(r) for r in history.reports],
        "moderation": [asdict(m) for m in history.moderation],
        "bot_actions": [asdict(a) for a in bot_actions],
        "actions_enabled": context.moderator is not None,
    }


@_handler
async def user_page(request: web.Request) -> web.Response:
    data = await _user_data(request)
    if data is None:
        return _error_page(request, 404, "No messages from this user are recorded.")
    return _render(request, "user.html", {**data, "durations": DURATIONS})


@_handler
async def user_api(request: web.Request) -> web.Response:
    data = await _user_data(request)
    if data is None:
        return _error_page(request, 404, "No messages from this user are recorded.")
    return web.json_response(data)


#: Timeout lengths offered on the user page: (seconds, label).
DURATIONS = ((60, "60 s"), (600, "10 min"), (3600, "1 h"), (86400, "24 h"))


# -- the outbox ------------------------------------------------------------------------


async def _reports_data(request: web.Request) -> dict[str, Any]:
    status = request.query.get("status") or None
    if status is not None and status not in _STATUSES:
        raise BadRequest("'status' must be pending, sent, logged or failed")
    page = _page(request.query.get("page"))
    context = request.app[CONTEXT]
    reports, total = await context.reads.reports_page(status, PER_PAGE, (page - 1) * PER_PAGE)
    return {
        "destination": "Discord" if context.settings.discord_webhook_url else "the log",
        "reports": [asdict(r) for r in reports],
        "total": total,
        "page": page,
        "pages": max(1, math.ceil(total / PER_PAGE)),
        "status": status or "",
    }


@_handler
async def reports_page(request: web.Request) -> web.Response:
    return _render(request, "reports.html", await _reports_data(request))


@_handler
async def reports_api(request: web.Request) -> web.Response:
    return web.json_response(await _reports_data(request))


# -- channels --------------------------------------------------------------------------


async def channel_data(request: web.Request) -> dict[str, Any] | None:
    from bot.policy.sensitivity import SENSITIVITIES
    from bot.runtime import channel_setup

    context = request.app[CONTEXT]
    name = twitch_name(request.match_info["name"], "channel")
    if name not in context.settings.channels:
        return None
    saved = {cs.channel: cs for cs in await context.reads.channel_settings()}.get(name)
    setup = channel_setup(context.settings, name, saved)  # what the live policy applies
    learned = None if context.norms is None else await context.norms.summary(name)
    return {
        "channel": name,
        "presets": list(SENSITIVITIES),
        "sensitivity": setup.sensitivity,
        "filters": sorted(setup.filters),
        "exempt_vips": setup.config.exempt_vips,
        "exempt_subscribers": setup.config.exempt_subscribers,
        "allowed_terms": list(setup.terms.allowed),
        "blocked_terms": list(setup.terms.blocked),
        "updated_by": saved.updated_by if saved else None,
        "updated_at": saved.updated_at if saved else None,
        "learning": context.norms is not None and context.norms.learning,
        "norms": None if learned is None else asdict(learned),
    }


@_handler
async def channel_page(request: web.Request) -> web.Response:
    data = await channel_data(request)
    if data is None:
        return _error_page(request, 404, "This bot does not watch that channel.")
    return _render(request, "channel.html", data)


@_handler
async def channel_api(request: web.Request) -> web.Response:
    data = await channel_data(request)
    if data is None:
        return _error_page(request, 404, "This bot does not watch that channel.")
    return web.json_response(data)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", flagged_page)
    app.router.add_get("/api/flagged", flagged_api)
    app.router.add_get("/users", find_user)
    app.router.add_get("/users/{login}", user_page)
    app.router.add_get("/api/users/{login}", user_api)
    app.router.add_get("/reports", reports_page)
    app.router.add_get("/api/reports", reports_api)
    app.router.add_get("/channels/{name}", channel_page)
    app.router.add_get("/api/channels/{name}", channel_api)
