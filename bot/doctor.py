"""``chatwarden doctor``: check the set-up and say what is wrong and how to fix it."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.settings import Settings, SettingsError
from storage.location import DatabaseLocation

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


async def _database(location: DatabaseLocation) -> Check:
    from storage.database import Database
    from storage.errors import StorageError

    async def counts() -> tuple[int, int]:
        """Open it as the bot does (migrated): its flags and pending reports."""
        async with Database.open(location) as db:
            return await db.count("flagged_messages"), await db.count_pending()

    if not isinstance(location, Path):  # PostgreSQL: connect, migrate, count
        try:
            flags, pending = await counts()
        except StorageError as exc:
            return Check("database", False, str(exc), "fix CHATWARDEN_DB or start the server")
        return Check(
            "database", True, f"{location} reachable; {flags} flags, {pending} reports pending"
        )
    path = location

    if not path.exists():
        folder = path.parent.resolve()
        if folder.is_dir() and os.access(folder, os.W_OK):
            return Check(
                "database", True, f"{path} will be created at the first run (folder writable)"
            )
        return Check(
            "database",
            False,
            f"cannot create {path}: {folder} is missing or read-only",
            "create the folder or point CHATWARDEN_DB elsewhere",
        )
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        # read-only (a file, or a mount): read it as the read commands do, write nothing
        try:
            async with Database.open_readonly(path) as db:
                flags = await db.count("flagged_messages")
        except StorageError as exc:
            return Check("database", False, str(exc), "fix the file's permissions")
        return Check(
            "database",
            False,
            f"{path} is read-only: {flags} flags can be read (flagged, history, the "
            "dashboard), but the bot cannot write it",
            "give the bot a writable file (permissions, a read-write mount) or point "
            "CHATWARDEN_DB (or --db) elsewhere",
        )
    try:
        flags, pending = await counts()
    except StorageError as exc:
        return Check("database", False, str(exc), "fix the file's permissions or free the lock")
    return Check("database", True, f"{path} writable; {flags} flags, {pending} reports pending")


async def _webhook(settings: Settings) -> Check:
    """A GET on the webhook: Discord answers 404 for a deleted one, 401 for a wrong token."""
    from bot.reporting.discord import check_webhook

    if settings.discord_webhook_url is None:
        return Check("discord webhook", True, "not set: reports go to the log")
    exists, detail = await check_webhook(settings.discord_webhook_url)
    fix = (
        "create a webhook in the Discord channel's settings (Integrations) and set "
        "CHATWARDEN_DISCORD_WEBHOOK_URL to its URL"
    )
    return Check("discord webhook", exists, detail, "" if exists else fix)


async def _helix(settings: Settings) -> Check:
    """What Twitch says of the token: its account and which moderation scopes it has."""
    from bot.twitch.helix import REQUIRED_SCOPES, HelixError, inspect_token

    if settings.twitch_token is None or not settings.twitch_client_id:
        return Check(
            "twitch api",
            True,
            "not set: no actions from the dashboard, no auto-deletes "
            "(CHATWARDEN_TWITCH_TOKEN and CHATWARDEN_TWITCH_CLIENT_ID enable them)",
        )
    try:
        info = await inspect_token(settings, max_wait=5.0)
    except HelixError as exc:
        return Check("twitch api", False, str(exc), 'see README.md, "Actions through Twitch"')
    scopes = "; ".join(
        f"{scope} {'present' if scope in info.scopes else 'MISSING'}" for scope in REQUIRED_SCOPES
    )
    detail = f"token (**********) of {info.login}, user id {info.user_id}: {scopes}"
    if info.missing_scopes:
        return Check(
            "twitch api",
            False,
            detail,
            'create a token with the missing scope(s) (README.md, "Actions through Twitch")',
        )
    return Check("twitch api", True, detail)


def _model(settings: Settings) -> Check:
    from model.errors import ModelError
    from model.loading import load_scorer
    from model.scorer import scorer_label

    # what loading says (e.g. that it fell back to the bundled model) belongs in this
    # check's row, not in a log line printed beside the table
    notes = _Notes()
    root = logging.getLogger()
    handlers, root.handlers = root.handlers, [notes]
    try:
        scorer = load_scorer(settings.model_uri, settings.data_dir, settings.model_cache_dir)
    except ModelError as exc:
        fix = "set CHATWARDEN_MODEL_URI to 'bundled', 'rules' or a trained model folder"
        return Check("model", False, str(exc), fix)
    finally:
        root.handlers = handlers
    said = "".join(f" ({note})" for note in notes.messages)
    return Check("model", True, f"scorer {scorer_label(scorer)}{said}")


def _policy(settings: Settings) -> Check:
    """What decides on the scores: the sensitivity, the filters and the policy's revision."""
    from bot.policy.version import POLICY_VERSION

    sensitivity = settings.sensitivity
    detail = (
        f"sensitivity {sensitivity}, filters {settings.filters}, {POLICY_VERSION}"
        f"{', learning norms' if settings.learn_norms else ''}"
    )
    return Check("policy", True, detail)


class _Notes(logging.Handler):
    """Keeps the warnings logged during a check, to show them in its row."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _data_dir(data: Path | None) -> Check:
    """The data dir is optional: say so, and check only that a configured one exists."""
    optional = (
        "optional: the rule scorer's word lists (wordlists/), training and evaluation; "
        "without it the bot scores with the bundled model"
    )
    if data is None:
        return Check("data dir", True, f"not set ({optional})")
    # a relative CHATWARDEN_DATA_DIR is relative to the working folder: say where it points
    shown = str(data) if data.is_absolute() else f"{data} (= {data.resolve()})"
    if not data.is_dir():
        return Check(
            "data dir",
            False,
            f"{shown}: no such folder",
            f"fix or unset CHATWARDEN_DATA_DIR ({optional})",
        )
    return Check("data dir", True, f"{shown} is a folder ({optional}; its content not checked)")


def _packaged() -> Check:
    """The lexicons and the bundled model ship in the package: a missing one is a broken
    installation, named here (the cue lists of the policy are read when it is imported, so
    a missing one stops every command, doctor included, with its name)."""
    from model.loading import BUNDLED_DIR
    from model.wordlists import lexicon_files

    wanted = [*lexicon_files(), *(BUNDLED_DIR / n for n in ("config.json", "tokenizer.json"))]
    wanted.append(BUNDLED_DIR / "weights.pt")
    missing = [str(path) for path in wanted if not path.is_file()]
    if missing:
        return Check(
            "packaged files",
            False,
            "missing: " + ", ".join(missing),
            "reinstall chatwarden: the package is incomplete",
        )
    return Check("packaged files", True, f"all {len(wanted)} present (lexicons, bundled model)")


async def run_checks(load: Callable[[], Settings], irc_timeout: float = 5.0) -> list[Check]:
    try:
        settings = load()
    except SettingsError as exc:
        return [Check("settings", False, str(exc), "see .env.example for every key")]
    checks = [Check("settings", True, "environment and .env parse")]
    if settings.channels:
        names = ", ".join(f"#{c}" for c in settings.channels)
        checks.append(Check("channels", True, f"{names} set (not looked up on Twitch)"))
    else:
        checks.append(
            Check(
                "channels",
                False,
                "no channel to watch",
                "set CHATWARDEN_CHANNELS, or give the channels run will watch to doctor too: "
                "chatwarden doctor --channel NAME",
            )
        )
    checks.append(
        Check(
            "twitch login",
            True,
            "anonymous, read-only (justinfan)"
            if settings.anonymous
            else f"bot account {settings.twitch_login} set (token not tried here)",
        )
    )
    checks.append(await _webhook(settings))
    checks.append(await _helix(settings))
    checks.append(_data_dir(settings.data_dir))
    checks.append(_packaged())
    checks.append(_model(settings))
    checks.append(_policy(settings))
    checks.append(await _database(settings.db))
    checks.append(await _irc(settings, irc_timeout))
    return checks
