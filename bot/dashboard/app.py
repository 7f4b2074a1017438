"""The dashboard's server: an aiohttp application on its own port, an async context manager.

``chatwarden run`` enters it into the runtime's exit stack, so it starts after the database
and stops before it; it runs no task of its own (aiohttp serves requests on the loop).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.dashboard import actions, views
from bot.dashboard.auth import Sessions, auth_middleware
from bot.dashboard.context import CONTEXT, SESSIONS, DashboardContext
from bot.secret import Secret

__all__ = ["Dashboard", "build_app"]

_log = logging.getLogger(__name__)
_HERE = Path(__file__).parent


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer: no framing, no sniffing, no referrer (URLs may carry the token), no
    caching of chat data, scripts and styles from this site only."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")


def build_app(
    context: DashboardContext, token: Secret, scorer: Callable[[], str] | None = None
) -> web.Application:
    sessions = Sessions(token)
    app = web.Application(
        middlewares=[auth_middleware(sessions, views.login_page)],
        client_max_size=64 * 1024,
    )
    app.on_response_prepare.append(_headers)
    app[CONTEXT] = context
    app[SESSIONS] = sessions
    if scorer is not None:
        app[views.SCORER] = scorer
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    views.add_routes(app)
    actions.add_routes(app)
    app.router.add_static("/static/", _HERE / "static", follow_symlinks=False)
    return app


class Dashboard:
    """``async with Dashboard(context) as dash``: serving on ``dash.url`` until the block ends."""

    def __init__(self, context: DashboardContext, scorer: Callable[[], str] | None = None) -> None:
        self.context = context
        #: names the running bot's scorer on every page (None: not named)
        self._scorer = scorer
        settings = context.settings
        self.generated = settings.dashboard_token is None
        self._token = settings.dashboard_token or Secret(secrets.token_urlsafe(24))
        self._runner: web.AppRunner | None = None
        self.port = settings.dashboard_port or 0

    @property
    def url(self) -> str:
        host = self.context.settings.dashboard_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    async def __aenter__(self) -> Dashboard:
        settings = self.context.settings
        app = build_app(self.context, self._token, self._scorer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.dashboard_host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.port == 0 and runner.addresses:
            self.port = int(runner.addresses[0][1])
        if self.generated:
            # the one place the token is ever written: whoever reads this log may log in
            _log.info("dashboard on %s?token=%s", self.url, self._token.reveal())
        else:
            _log.info("dashboard on %s (log in with CHATWARDEN_DASHBOARD_TOKEN)", self.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
