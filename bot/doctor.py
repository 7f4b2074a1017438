"""``chatwarden doctor``: check the set-up and say what is wrong and how to fix it."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.settings import Settings, SettingsError

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def _irc(settings: Settings, within: float) -> Check:
    endpoint = settings.irc_url
    try:
        context = ssl.create_default_context() if endpoint.tls else None
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port, ssl=context), within
        )
        writer.close()
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return Check(
            "twitch irc",
            False,
            f"cannot reach {endpoint}: {exc or 'timeout'}",
            "check the network and CHATWARDEN_IRC_URL",
        )
    return Check("twitch irc", True, f"{endpoint} reachable")


async def _database(path: Path) -> Check:
    from storage.database import Database
    from storage.errors import StorageError

    if not path.exists():
        folder = path.parent.resolve()
        if folder.is_dir() and os.access(folder, os.W_OK):
            return Check("database", True, f"{path} will be created at the first run")
        return Check(
            "database",
            False,
            f"cannot create {path}: {folder} is missing or read-only",
            "create the folder or point CHATWARDEN_DB elsewhere",
        )
    try:
        async with Database.open(path) as db:
            flags = await db.count("flagged_messages")
            pending = await db.count_pending()
    except StorageError as exc:
        return Check("database", False, str(exc), "fix the file's permissions or free the lock")
    return Check("database", True, f"{path} writable; {flags} flags, {pending} reports pending")


def _model(settings: Settings) -> Check:
    from model.errors import ModelError
    from model.scorer import load_scorer

    try:
        scorer = load_scorer(settings.model_uri, settings.data_dir, settings.model_cache_dir)
    except ModelError as exc:
        fix = "set CHATWARDEN_MODEL_URI to 'bundled', 'rules' or a trained model folder"
        return Check("model", False, str(exc), fix)
    return Check("model", True, f"{scorer.name} {scorer.version}")


async def run_checks(load: Callable[[], Settings], irc_timeout: float = 5.0) -> list[Check]:
    try:
        settings = load()
    except SettingsError as exc:
        return [Check("settings", False, str(exc), "see .env.example for every key")]
    checks = [Check("settings", True, "environment and .env parse")]
    if settings.channels:
        checks.append(Check("channels", True, ", ".join(f"#{c}" for c in settings.channels)))
    else:
        checks.append(
            Check(
                "channels",
                False,
                "no channel to watch",
                "set CHATWARDEN_CHANNELS or pass run --channel NAME",
            )
        )
    checks.append(
        Check(
            "twitch login",
            True,
            "anonymous, read-only (justinfan)"
            if settings.anonymous
            else f"bot account {settings.twitch_login}",
        )
    )
    checks.append(
        Check(
            "discord webhook",
            True,
            "configured (Discord webhook URL)"
            if settings.discord_webhook_url
            else "not set: reports go to the log",
        )
    )
    data = settings.data_dir
    if data is not None and (data / "wordlists").is_dir():
        checks.append(Check("data dir", True, str(data)))
    else:
        checks.append(
            Check(
                "data dir",
                data is not None,
                f"{data}: no wordlists/ inside" if data else "not set",
                "set CHATWARDEN_DATA_DIR (needed by the rule "
                "scorer, training and replay of the sample logs)",
            )
        )
    checks.append(_model(settings))
    checks.append(await _database(settings.db))
    checks.append(await _irc(settings, irc_timeout))
    return checks
