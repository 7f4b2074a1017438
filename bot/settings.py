"""The one Settings object, read from the environment and an optional ``.env`` file.

Precedence: process environment, then ``.env``, then the default. Every key is listed in
``.env.example`` (a test keeps the two in step). Secrets (the Twitch token, the Discord
webhook URL, which embeds its own token) are :class:`~bot.secret.Secret` values whose
``repr`` and ``str`` are masked, so they cannot leak into logs. The IRC URL is parsed by
:mod:`bot.twitch.endpoint`, the client's own module: settings import the client's types,
never the reverse.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.policy.sensitivity import Filters, Sensitivity
from bot.secret import Secret
from bot.twitch.endpoint import EndpointError, IrcEndpoint, parse_irc_url
from storage.errors import DatabaseUrlError
from storage.location import DatabaseLocation, parse_database

__all__ = ["SETTINGS_KEYS", "Settings", "SettingsError"]

_log = logging.getLogger(__name__)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the key and the expected form."""


_CHANNEL = re.compile(r"^[a-z0-9_]{1,25}$")
_WEBHOOK_PATH = re.compile(r"^/api(/v\d+)?/webhooks/\d+/[\w-]+/?$")
_DISCORD_HOSTS = {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_ENV_KEY = re.compile(r"[A-Z_][A-Z0-9_]*")


def parse_channels(raw: str, given_as: str | None = None) -> tuple[str, ...]:
    """Channel logins, comma- or space-separated. An error names the bad entry when the
    user typed it on the command line (``given_as``, e.g. ``--channel``), else only its
    position: a setting may hold anything, a token pasted in the wrong place included."""
    channels: list[str] = []
    items = [item.strip() for item in raw.replace(" ", ",").split(",") if item.strip()]
    for number, item in enumerate(items, 1):
        name = item.lstrip("#").lower()
        if not _CHANNEL.match(name):
            which = (
                f"{given_as} {item[:40]!r}"
                if given_as
                else f"CHATWARDEN_CHANNELS: entry {number} of {len(items)}"
            )
            raise SettingsError(
                f"{which} is not a Twitch channel login "
                "(expected 1-25 letters, digits or underscores, e.g. 'shroud,pokimane')"
            )
        if name not in channels:
            channels.append(name)
    return tuple(channels)


def _irc_url(raw: str) -> IrcEndpoint:
    try:
        return parse_irc_url(raw)
    except EndpointError as exc:
        raise SettingsError(f"CHATWARDEN_IRC_URL: {exc}") from exc


def parse_webhook(raw: str) -> Secret:
    """Accept only Discord webhook URLs (or a loopback test server speaking their API)."""
    parts = urlsplit(raw.strip())
    host = parts.hostname or ""
    discord = parts.scheme == "https" and host in _DISCORD_HOSTS
    loopback = parts.scheme in {"http", "https"} and host in _LOOPBACK
    if not (discord or loopback) or not _WEBHOOK_PATH.match(parts.path):
        raise SettingsError(
            "CHATWARDEN_DISCORD_WEBHOOK_URL: not a Discord webhook URL "
            "(expected https://discord.com/api/webhooks/<id>/<token>)"
        )
    return Secret(raw.strip())


def parse_token(raw: str) -> Secret:
    token = raw.strip()
    if token.lower().startswith("oauth:"):
        token = token[6:]
    if not re.fullmatch(r"[A-Za-z0-9]{10,64}", token):
        raise SettingsError(
            "CHATWARDEN_TWITCH_TOKEN: not a Twitch user access token (expected 'oauth:' "
            "followed by letters and digits, or the bare token)"
        )
    return Secret("oauth:" + token)


def _api_url(key: str) -> Callable[[str], str]:
    """An https URL, or http on a loopback host (a test fake speaking Twitch's API)."""

    def parse(raw: str) -> str:
        url = raw.strip().rstrip("/")
        parts = urlsplit(url)
        host = parts.hostname or ""
        if (
            not (
                (parts.scheme == "https" and host) or (parts.scheme == "http" and host in _LOOPBACK)
            )
            or parts.query
            or parts.fragment
        ):
            raise SettingsError(
                f"{key}: expected an https URL (or http on 127.0.0.1 for a test server), "
                "e.g. https://api.twitch.tv/helix"
            )
        return url

    return parse


def _client_id(raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[A-Za-z0-9]{10,64}", value):
        raise SettingsError(
            "CHATWARDEN_TWITCH_CLIENT_ID: not a Twitch client id (letters and digits, from "
            "your application at https://dev.twitch.tv/console/apps)"
        )
    return value


def parse_auto_delete(raw: str) -> tuple[tuple[str, float], ...]:
    """``channel:0.98,other:0.99``: delete slurs and threats scoring at least that."""
    out: dict[str, float] = {}
    for item in raw.replace(" ", ",").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition(":")
        try:
            channel = parse_channels(name)
            threshold = float(value) if sep else -1.0
        except (SettingsError, ValueError):
            channel, threshold = (), -1.0
        if len(channel) != 1 or not 0.5 <= threshold <= 1.0:
            raise SettingsError(
                "CHATWARDEN_AUTO_DELETE: expected channel:threshold pairs with a threshold "
                "from 0.5 to 1, e.g. 'mychannel:0.98,other:0.99'"
            )
        out[channel[0]] = threshold
    return tuple(out.items())


def _bool(key: str) -> Callable[[str], bool]:
    def parse(raw: str) -> bool:
        value = raw.strip().lower()
        if value in {"1", "true", "yes", "on"}:
            return True
        if value in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{key}: expected true or false")

    return parse


def _number(
    key: str, kind: type[int] | type[float], low: float, high: float
) -> Callable[[str], Any]:
    def parse(raw: str) -> int | float:
        try:
            value = kind(raw.strip())
        except ValueError as exc:
            what = "a whole number" if kind is int else "a number"
            raise SettingsError(f"{key}: expected {what}") from exc
        if not low <= value <= high:
            raise SettingsError(f"{key}: {value} is outside {low}..{high}")
        return value

    return parse


def _optional_number(key: str, low: float, high: float) -> Callable[[str], float | None]:
    inner = _number(key, float, low, high)
    return lambda raw: None if not raw.strip() else float(inner(raw))


def _sensitivity(raw: str) -> Sensitivity:
    try:
        return Sensitivity.parse(raw)
    except ValueError as exc:
        raise SettingsError(f"CHATWARDEN_SENSITIVITY: {exc}") from None


def _filters(raw: str) -> Filters:
    try:
        return Filters.parse(raw)
    except ValueError as exc:
        raise SettingsError(f"CHATWARDEN_FILTERS: {exc}") from None


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError("CHATWARDEN_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR")
    return level


def _log_format(raw: str) -> str:
    fmt = raw.strip().lower()
    if fmt not in {"text", "json"}:
        raise SettingsError("CHATWARDEN_LOG_FORMAT: expected text or json")
    return fmt


def _dashboard_token(raw: str) -> Secret:
    token = raw.strip()
    if len(token) < 16 or not token.isprintable() or " " in token:
        raise SettingsError(
            "CHATWARDEN_DASHBOARD_TOKEN: too short or not one word (use 16 or more "
            "characters, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    return Secret(token)


def _dashboard_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError(
            "CHATWARDEN_DASHBOARD_URL: expected the dashboard's address, "
            "e.g. https://mod.example.org"
        )
    return url


#: The source checkout this code runs from (``pyproject.toml`` beside ``bot/``), if any.
_CHECKOUT = Path(__file__).resolve().parents[1]


def _default_data_dir() -> Path | None:
    """``shared/data`` beside the source checkout (its ``../shared/data``), when there.

    Anchored to the checkout, not the working folder, so every command finds the same data
    dir wherever it is run from. The rules read their word lists from it (never shipped);
    without one the bot scores with the bundled model. An installed package (no checkout)
    has no default.
    """
    if not (_CHECKOUT / "pyproject.toml").is_file():
        return None
    candidate = _CHECKOUT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@dataclass(frozen=True)
class Settings:
    """Everything the bot and CLI are configured by. Build with :meth:`from_env`."""

    channels: tuple[str, ...] = ()
    irc_url: IrcEndpoint = field(
        default_factory=lambda: parse_irc_url("ircs://irc.chat.twitch.tv:6697")
    )
    twitch_login: str | None = None
    twitch_token: Secret | None = None
    discord_webhook_url: Secret | None = None
    #: a SQLite file, or a PostgreSQL URL (``postgresql://…``) shared by sharded workers
    db: DatabaseLocation = Path("chatwarden.db")
    model_uri: str | None = None
    model_refresh_s: float = 60.0
    model_cache: Path | None = None
    #: Optional: the rules' word lists, training and evaluation read it (without it the
    #: default scorer is the bundled model, which ships in the package).
    data_dir: Path | None = None
    batch_max_size: int = 128
    batch_max_wait_ms: float = 25.0
    queue_size: int = 10_000
    score_cache: int = 65_536
    torch_threads: int = 1
    flag_threshold: float | None = None
    report_threshold: float = 0.9
    report_after_flags: int = 3
    report_window_s: float = 600.0
    sensitivity: Sensitivity = field(default_factory=Sensitivity)
    filters: Filters = field(default_factory=Filters)
    exempt_vips: bool = False
    exempt_subscribers: bool = False
    #: learn each channel's norms from what its moderators remove (bot.norms)
    learn_norms: bool = True
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    dashboard_port: int | None = None
    dashboard_host: str = "127.0.0.1"
    #: None: a random one is made at start-up and its login URL logged once
    dashboard_token: Secret | None = None
    #: the dashboard's public address, for links in Discord reports (None: no links)
    dashboard_url: str | None = None
    #: Actions through Twitch's API (Helix): the app's client id the token was issued to.
    twitch_client_id: str | None = None
    helix_url: str = "https://api.twitch.tv/helix"
    twitch_id_url: str = "https://id.twitch.tv"
    #: Per-channel auto-delete thresholds (off unless a channel is listed).
    auto_delete: tuple[tuple[str, float], ...] = ()
    #: Twitch's JOIN limit per account, per 10 s (20; 2,000 for a verified bot); sharded
    #: workers chatting as one account share it through the database
    join_rate: int = 20
    #: Sharded workers (a PostgreSQL CHATWARDEN_DB): a worker silent this long has its
    #: channels taken over; heartbeats every third of it
    lease_ttl_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str], env_file: Path | None = Path(".env")) -> Settings:
        """Read settings; raise :class:`SettingsError` naming the first bad key."""
        values: dict[str, str] = {}
        lines: dict[str, int] = {}
        if env_file is not None and env_file.is_file():
            values.update(read_env_file(env_file, lines))
        from_environ = {k: v for k, v in environ.items() if k.startswith("CHATWARDEN_")}
        values.update(from_environ)
        for key in from_environ:
            lines.pop(key, None)
        _warn_unknown(
            {
                key: f"{env_file}:{lines[key]}" if key in lines else "in the environment"
                for key in values
                if key.startswith("CHATWARDEN_")
            }
        )
        kwargs: dict[str, Any] = {}
        for key, (attr, parse) in _PARSERS.items():
            raw = values.get(key)
            if raw is None or (raw.strip() == "" and attr not in {"flag_threshold"}):
                continue
            try:
                kwargs[attr] = parse(raw)
            except SettingsError as exc:
                if key in lines and env_file is not None:
                    # the messages name the key and what was expected, never the value
                    raise SettingsError(f"{env_file}:{lines[key]}: {exc}") from None
                raise SettingsError(str(exc)) from None
        if "data_dir" not in kwargs:
            kwargs["data_dir"] = _default_data_dir()
        settings = cls(**kwargs)
        settings.validate()
        return settings

    def validate(self) -> None:
        if (self.twitch_login is None) != (self.twitch_token is None):
            raise SettingsError(
                "CHATWARDEN_TWITCH_LOGIN and CHATWARDEN_TWITCH_TOKEN go together: set both "
                "to chat as a bot account, or neither to read anonymously"
            )
        if self.auto_delete and (self.twitch_token is None or not self.twitch_client_id):
            raise SettingsError(
                "CHATWARDEN_AUTO_DELETE needs CHATWARDEN_TWITCH_TOKEN and "
                "CHATWARDEN_TWITCH_CLIENT_ID: the bot deletes through Twitch's API"
            )
        if self.flag_threshold is not None and self.flag_threshold > self.report_threshold:
            raise SettingsError(
                "CHATWARDEN_FLAG_THRESHOLD must not exceed CHATWARDEN_REPORT_THRESHOLD"
            )

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with CLI overrides applied (and validated)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        updated = replace(self, **changes)
        updated.validate()
        return updated

    @property
    def model_cache_dir(self) -> Path:
        """Where models fetched from MLflow are kept (default: beside the database)."""
        if self.model_cache is not None:
            return self.model_cache
        return self.db.parent / "model-cache" if isinstance(self.db, Path) else Path("model-cache")

    @property
    def anonymous(self) -> bool:
        return self.twitch_token is None

    @property
    def twitch_api_token(self) -> Secret | None:
        """``CHATWARDEN_TWITCH_TOKEN`` as Twitch's API takes it: the bare token, no 'oauth:'."""
        if self.twitch_token is None:
            return None
        return Secret(self.twitch_token.reveal().removeprefix("oauth:"))

    def auto_delete_threshold(self, channel: str) -> float | None:
        """The score at or above which the bot deletes a slur or threat in ``channel``."""
        return dict(self.auto_delete).get(channel)


def read_env_file(path: Path, lines: dict[str, int] | None = None) -> dict[str, str]:
    """Parse a ``.env`` file as python-dotenv does (the convention): ``KEY=value`` lines,
    ``export``, single or double quotes, ``#`` comments on their own line or after a value
    (``CHATWARDEN_CHANNELS=twitchdev # my channel``). Variables are not expanded: a
    ``$`` in a value is kept as written.

    ``lines`` receives each key's line number. An error names the file, the line and the
    key when there is one, never the line's text: it may hold a token.
    """
    from dotenv.parser import parse_stream

    out: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for binding in parse_stream(handle):
            key = binding.key
            if key is None and not binding.error:  # blank or comment lines
                continue
            # an entry's text starts with the blank lines before it: count from its first word
            text = binding.original.string
            number = binding.original.line + text[: len(text) - len(text.lstrip())].count("\n")
            # a bare word without '=' is a key without a value to python-dotenv: here, a typo
            value = binding.value
            if binding.error or key is None or value is None or not _ENV_KEY.fullmatch(key):
                raise SettingsError(
                    f"{path}:{number}: expected KEY=value (a key of capitals, digits and "
                    "underscores); the line is not shown, it may hold a secret"
                )
            out[key] = value
            if lines is not None:
                lines[key] = number
    return out


def _warn_unknown(keys: Mapping[str, str]) -> None:
    """Warn about each ``CHATWARDEN_*`` name that is no setting (a typo is otherwise
    ignored in silence), naming the closest known one. ``keys``: name → where it was set."""
    for key, where in keys.items():
        if key in _PARSERS:
            continue
        # compared without the shared prefix, which would make every name look close
        names = {k.removeprefix("CHATWARDEN_"): k for k in SETTINGS_KEYS}
        close = difflib.get_close_matches(key.removeprefix("CHATWARDEN_"), names, n=1)
        hint = f"did you mean {names[close[0]]}?" if close else "see .env.example for every setting"
        _log.warning("%s is not a chatwarden setting (%s), ignored: %s", key, where, hint)


def _database(raw: str) -> DatabaseLocation:
    try:
        return parse_database(raw)
    except DatabaseUrlError as exc:  # the message shows the URL without its password
        raise SettingsError(f"CHATWARDEN_DB: {exc}") from None


_PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "CHATWARDEN_CHANNELS": ("channels", parse_channels),
    "CHATWARDEN_IRC_URL": ("irc_url", _irc_url),
    "CHATWARDEN_TWITCH_LOGIN": ("twitch_login", lambda raw: parse_channels(raw)[0]),
    "CHATWARDEN_TWITCH_TOKEN": ("twitch_token", parse_token),
    "CHATWARDEN_DISCORD_WEBHOOK_URL": ("discord_webhook_url", parse_webhook),
    "CHATWARDEN_DB": ("db", _database),
    "CHATWARDEN_MODEL_URI": ("model_uri", str.strip),
    "CHATWARDEN_DATA_DIR": ("data_dir", lambda raw: Path(raw.strip()).expanduser()),
    "CHATWARDEN_MODEL_REFRESH_S": (
        "model_refresh_s",
        _number("CHATWARDEN_MODEL_REFRESH_S", float, 0, 86400),
    ),
    "CHATWARDEN_MODEL_CACHE": ("model_cache", lambda raw: Path(raw.strip()).expanduser()),
    "CHATWARDEN_BATCH_MAX_SIZE": (
        "batch_max_size",
        _number("CHATWARDEN_BATCH_MAX_SIZE", int, 1, 4096),
    ),
    "CHATWARDEN_BATCH_MAX_WAIT_MS": (
        "batch_max_wait_ms",
        _number("CHATWARDEN_BATCH_MAX_WAIT_MS", float, 0, 5000),
    ),
    "CHATWARDEN_SENSITIVITY": ("sensitivity", _sensitivity),
    "CHATWARDEN_FILTERS": ("filters", _filters),
    "CHATWARDEN_QUEUE_SIZE": ("queue_size", _number("CHATWARDEN_QUEUE_SIZE", int, 1, 10_000_000)),
    "CHATWARDEN_SCORE_CACHE": (
        "score_cache",
        _number("CHATWARDEN_SCORE_CACHE", int, 0, 10_000_000),
    ),
    "CHATWARDEN_TORCH_THREADS": (
        "torch_threads",
        _number("CHATWARDEN_TORCH_THREADS", int, 1, 256),
    ),
    "CHATWARDEN_FLAG_THRESHOLD": (
        "flag_threshold",
        _optional_number("CHATWARDEN_FLAG_THRESHOLD", 0, 1),
    ),
    "CHATWARDEN_REPORT_THRESHOLD": (
        "report_threshold",
        _number("CHATWARDEN_REPORT_THRESHOLD", float, 0, 1),
    ),
    "CHATWARDEN_REPORT_AFTER_FLAGS": (
        "report_after_flags",
        _number("CHATWARDEN_REPORT_AFTER_FLAGS", int, 1, 1000),
    ),
    "CHATWARDEN_REPORT_WINDOW_S": (
        "report_window_s",
        _number("CHATWARDEN_REPORT_WINDOW_S", float, 1, 30 * 86400),
    ),
    "CHATWARDEN_EXEMPT_VIPS": ("exempt_vips", _bool("CHATWARDEN_EXEMPT_VIPS")),
    "CHATWARDEN_EXEMPT_SUBSCRIBERS": ("exempt_subscribers", _bool("CHATWARDEN_EXEMPT_SUBSCRIBERS")),
    "CHATWARDEN_LEARN_NORMS": ("learn_norms", _bool("CHATWARDEN_LEARN_NORMS")),
    "CHATWARDEN_LOG_LEVEL": ("log_level", _log_level),
    "CHATWARDEN_LOG_FORMAT": ("log_format", _log_format),
    "CHATWARDEN_METRICS_PORT": ("metrics_port", _number("CHATWARDEN_METRICS_PORT", int, 1, 65535)),
    "CHATWARDEN_METRICS_HOST": ("metrics_host", str.strip),
    "CHATWARDEN_DASHBOARD_PORT": (
        "dashboard_port",
        _number("CHATWARDEN_DASHBOARD_PORT", int, 1, 65535),
    ),
    "CHATWARDEN_DASHBOARD_HOST": ("dashboard_host", str.strip),
    "CHATWARDEN_DASHBOARD_TOKEN": ("dashboard_token", _dashboard_token),
    "CHATWARDEN_DASHBOARD_URL": ("dashboard_url", _dashboard_url),
    "CHATWARDEN_TWITCH_CLIENT_ID": ("twitch_client_id", _client_id),
    "CHATWARDEN_HELIX_URL": ("helix_url", _api_url("CHATWARDEN_HELIX_URL")),
    "CHATWARDEN_TWITCH_ID_URL": ("twitch_id_url", _api_url("CHATWARDEN_TWITCH_ID_URL")),
    "CHATWARDEN_AUTO_DELETE": ("auto_delete", parse_auto_delete),
    "CHATWARDEN_JOIN_RATE": ("join_rate", _number("CHATWARDEN_JOIN_RATE", int, 2, 10_000)),
    "CHATWARDEN_LEASE_TTL_S": ("lease_ttl_s", _number("CHATWARDEN_LEASE_TTL_S", float, 3, 600)),
}

#: Every environment key the Settings read (``.env.example`` must list exactly these).
SETTINGS_KEYS = tuple(_PARSERS)

assert {attr for attr, _ in _PARSERS.values()} == {f.name for f in fields(Settings)}
