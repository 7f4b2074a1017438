"""Where the database is: a SQLite file (a path) or a PostgreSQL server (a URL).

``CHATWARDEN_DB`` and every ``--db`` take either. A value that starts with
``postgresql://`` or ``postgres://`` is a PostgreSQL URL
(``postgresql://user:password@host:5432/chatwarden``); anything else is a file path.
A URL's password never shows: ``str``, ``repr`` and every error print it as ``***``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from storage.errors import DatabaseUrlError

__all__ = ["DatabaseLocation", "PostgresUrl", "parse_database"]

_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class PostgresUrl:
    """A PostgreSQL server and database; ``url`` holds the password, so it is kept out of
    ``repr`` and ``str`` (which show :attr:`redacted`)."""

    url: str = field(repr=False)
    host: str
    port: int
    database: str
    user: str | None

    @property
    def redacted(self) -> str:
        """The URL with its password replaced by ``***``."""
        return _redact(urlsplit(self.url))

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"PostgresUrl({self.redacted!r})"


#: What ``CHATWARDEN_DB`` and ``--db`` name: a SQLite file or a PostgreSQL database.
DatabaseLocation = Path | PostgresUrl


def parse_database(raw: str | Path | PostgresUrl) -> DatabaseLocation:
    """A path (SQLite) or a ``postgresql://`` URL; a malformed URL is a
    :class:`DatabaseUrlError` that shows the URL without its password."""
    if isinstance(raw, Path | PostgresUrl):
        return raw
    text = raw.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if not scheme:
        return Path(text).expanduser()
    if scheme not in _SCHEMES:
        raise DatabaseUrlError(
            f"{scheme}:// is not a database chatwarden can use: give a SQLite file path "
            "(e.g. chatwarden.db) or a URL postgresql://user:password@host:5432/database"
        )
    try:
        parts = urlsplit(text)
        port = parts.port or 5432
    except ValueError as exc:
        shown = _redact(urlsplit(text)) if "@" not in text else f"{scheme}://***"
        raise DatabaseUrlError(f"{shown} is not a valid PostgreSQL URL ({exc})") from None
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database:
        raise DatabaseUrlError(
            f"{_redact(parts)} must name a host and a database: "
            "postgresql://user:password@host:5432/database"
        )
    user = unquote(parts.username) if parts.username else None
    return PostgresUrl(text, parts.hostname, port, database, user)


def _redact(parts: SplitResult) -> str:
    if parts.password is None:
        return parts.geturl()
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()
