"""Every POST: verdicts on flags, a channel's settings and learned norms, Twitch actions,
logging out.

The auth middleware has already checked the session and its CSRF token. Each handler
validates its form, changes one thing, leaves a one-line result for the next page (a
failure is shown, never silent) and redirects back (303), so a reload never repeats it.
"""

from __future__ import annotations

import time
from dataclasses import replace

from aiohttp import web

from bot.dashboard.auth import redirect, session_of
from bot.dashboard.context import CONTEXT, SESSIONS, DashboardContext
from bot.dashboard.views import DURATIONS, BadRequest, twitch_name
from bot.norms.store import HeldElsewhere
from bot.policy.sensitivity import SENSITIVITIES
from bot.policy.terms import normalize_terms
from storage.records import ChannelSettings

__all__ = ["add_routes"]

_REASON_MAX = 500  # Helix's limit on a ban or timeout reason


def _context(request: web.Request) -> DashboardContext:
    return request.app[CONTEXT]


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _back(request: web.Request, login: str) -> web.Response:
    return redirect(f"/users/{login}")


async def verdict(request: web.Request) -> web.Response:
    try:
        login = twitch_name(request.match_info["login"], "login")
    except BadRequest as exc:
        return web.Response(status=400, text=str(exc))
    session = session_of(request)
    form = await _form(request)
    choice = form.get("verdict")
    # a category fix goes with "correct" (the flag was right, its category not); a message
    # judged wrong is not toxic and has none
    category = " ".join(form.get("category", "").split()).lower()[:40] or None
    if choice == "wrong":
        category = None
    if choice not in {"correct", "wrong"}:
        session.flash.append(("error", "Choose correct or wrong; nothing was stored."))
        return _back(request, login)
    context = _context(request)
    saved = await context.db.record_verdict(
        form.get("msg_id", ""), choice == "correct", category, session.moderator, time.time()
    )
    if saved is not None and context.norms is not None:
        # the channel's learned norms take the verdict too (a flag marked wrong flags less)
        await context.norms.verdict(saved.msg_id, saved.correct, saved.at)
    if saved is None:
        session.flash.append(("error", "That flag is not recorded; nothing was stored."))
    else:
        what = "correct" if saved.correct else "wrong"
        fix = f" (category: {saved.category})" if saved.category else ""
        session.flash.append(("ok", f"Marked {what}{fix} as {saved.moderator}."))
    return _back(request, login)


async def action(request: web.Request) -> web.Response:
    try:
        login = twitch_name(request.match_info["login"], "login")
    except BadRequest as exc:
        return web.Response(status=400, text=str(exc))
    context = _context(request)
    session = session_of(request)
    form = await _form(request)
    kind = form.get("kind", "")
    reason = " ".join(form.get("reason", "").split())[:_REASON_MAX]
    msg_id = form.get("msg_id") or None
    try:
        channel = twitch_name(form.get("channel", ""), "channel")
    except BadRequest as exc:
        session.flash.append(("error", str(exc)))
        return _back(request, login)
    duration: int | None = None
    if kind == "timeout":
        allowed = {seconds for seconds, _ in DURATIONS}
        try:
            duration = int(form.get("duration", ""))
        except ValueError:
            duration = None
        if duration not in allowed:
            session.flash.append(("error", "Choose a timeout length; nothing was done."))
            return _back(request, login)
    elif kind == "delete":
        if msg_id is None:
            session.flash.append(("error", "Which message? Nothing was deleted."))
            return _back(request, login)
    elif kind != "ban":
        session.flash.append(("error", "Unknown action; nothing was done."))
        return _back(request, login)
    if channel not in context.settings.channels:
        session.flash.append(("error", f"This bot does not watch #{channel}; nothing was done."))
        return _back(request, login)
    moderator = context.moderator
    if moderator is None:
        session.flash.append(
            (
                "error",
                "Twitch actions are off: set CHATWARDEN_TWITCH_TOKEN (with the moderator "
                "scopes) and CHATWARDEN_TWITCH_CLIENT_ID. Nothing was done.",
            )
        )
        return _back(request, login)
    if kind == "timeout":
        assert duration is not None
        result = await moderator.timeout(channel, login, duration, reason)
    elif kind == "ban":
        result = await moderator.ban(channel, login, reason)
    else:
        assert msg_id is not None
        result = await moderator.delete_message(channel, msg_id)
    await context.db.record_action(
        channel=channel,
        target_login=login,
        kind=kind,
        duration=duration,
        reason=reason,
        msg_id=msg_id if kind == "delete" else None,
        moderator=session.moderator,
        ok=result.ok,
        status=result.status,
        message=result.message,
        source="dashboard",
    )
    what = {"timeout": f"timed out for {duration} s", "ban": "banned", "delete": "deleted"}
    if result.ok:
        target = "the message" if kind == "delete" else login
        session.flash.append(("ok", f"Twitch: {target} {what[kind]} in #{channel}."))
    else:
        answer = f"HTTP {result.status}" if result.status else "no answer"
        session.flash.append(
            ("error", f"Twitch refused ({answer}): {result.message or 'no reason given'}")
        )
    return _back(request, login)


async def save_channel(request: web.Request) -> web.Response:
    try:
        name = twitch_name(request.match_info["name"], "channel")
    except BadRequest as exc:
        return web.Response(status=400, text=str(exc))
    context = _context(request)
    session = session_of(request)
    if name not in context.settings.channels:
        return web.Response(status=404, text="This bot does not watch that channel.")
    form = await _form(request)
    preset = form.get("sensitivity", "")
    if preset not in SENSITIVITIES:
        session.flash.append(("error", "Unknown sensitivity; nothing was changed."))
        return redirect(f"/channels/{name}")
    settings = ChannelSettings(
        channel=name,
        sensitivity=preset,
        exempt_vips=form.get("exempt_vips") == "on",
        exempt_subscribers=form.get("exempt_subscribers") == "on",
        allowed_terms=normalize_terms(form.get("allowed_terms", "")),
        blocked_terms=normalize_terms(form.get("blocked_terms", "")),
        updated_by=session.moderator,
        updated_at=time.time(),
    )
    await context.db.save_channel_settings(settings)
    context.apply_channel(settings)
    session.flash.append(("ok", f"#{name}: saved and applied."))
    return redirect(f"/channels/{name}")


async def channel_norms(request: web.Request) -> web.Response:
    """Reset, freeze or thaw a channel's learned norms, or block a learned term."""
    try:
        name = twitch_name(request.match_info["name"], "channel")
    except BadRequest as exc:
        return web.Response(status=400, text=str(exc))
    context = _context(request)
    session = session_of(request)
    if name not in context.settings.channels:
        return web.Response(status=404, text="This bot does not watch that channel.")
    norms = context.norms
    if norms is None or not norms.learning:
        session.flash.append(("error", "Learned norms are off (CHATWARDEN_LEARN_NORMS=false)."))
        return redirect(f"/channels/{name}")
    form = await _form(request)
    what = form.get("do", "")
    if what == "reset":
        await norms.reset(name)
        session.flash.append(("ok", f"#{name}: what its moderators taught is forgotten."))
    elif what in ("freeze", "thaw"):
        try:
            await norms.freeze(name, what == "freeze")
        except HeldElsewhere as exc:
            session.flash.append(("error", f"{exc}."))
            return redirect(f"/channels/{name}")
        state = (
            "frozen: it judges by what it learned and learns no more"
            if what == "freeze"
            else "learning again"
        )
        session.flash.append(("ok", f"#{name}: learned norms {state}."))
    elif what == "block":
        term = " ".join(form.get("term", "").split()).lower()
        if not term or term.startswith("[") or len(term) > 100:
            session.flash.append(("error", "Only a learned word can be blocked; nothing changed."))
            return redirect(f"/channels/{name}")
        saved = {cs.channel: cs for cs in await context.db.channel_settings()}.get(name)
        settings = replace(
            saved or ChannelSettings(channel=name),
            blocked_terms=normalize_terms([*(saved.blocked_terms if saved else ()), term]),
            updated_by=session.moderator,
            updated_at=time.time(),
        )
        await context.db.save_channel_settings(settings)
        context.apply_channel(settings)
        session.flash.append(
            ("ok", f"#{name}: '{term}' is a blocked term now (flagged and reported).")
        )
    else:
        session.flash.append(("error", "Unknown request; nothing changed."))
    return redirect(f"/channels/{name}")


async def logout(request: web.Request) -> web.StreamResponse:
    from bot.dashboard.auth import logout as end

    return end(request, request.app[SESSIONS])


def add_routes(app: web.Application) -> None:
    app.router.add_post("/users/{login}/verdicts", verdict)
    app.router.add_post("/users/{login}/actions", action)
    app.router.add_post("/channels/{name}", save_channel)
    app.router.add_post("/channels/{name}/norms", channel_norms)
    app.router.add_post("/logout", logout)
