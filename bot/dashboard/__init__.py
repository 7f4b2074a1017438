"""The moderators' web dashboard, served by ``chatwarden run`` when
``CHATWARDEN_DASHBOARD_PORT`` is set.

:mod:`~bot.dashboard.auth` (the access token, sessions, CSRF), :mod:`~bot.dashboard.views`
(pages and their JSON under ``/api/``), :mod:`~bot.dashboard.actions` (verdicts, channel
settings, Twitch actions: every POST) and :mod:`~bot.dashboard.app` (the server, an async
context manager). Templates and static files ship inside the package; no CDN.
"""

from bot.dashboard.app import Dashboard
from bot.dashboard.context import DashboardContext

__all__ = ["Dashboard", "DashboardContext"]
