"""Where the IRC client connects: scheme, host and port parsed from one URL.

It lives with the client, not in the settings, so that ``bot.twitch`` can be imported (and
tested) without the whole configuration module. The settings parse ``CHATWARDEN_IRC_URL``
with :func:`parse_irc_url` and name the key in their own error.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["EndpointError", "IrcEndpoint", "parse_irc_url"]

_DEFAULT_PORTS = {"ircs": 6697, "irc": 6667, "wss": 443, "ws": 80}


class EndpointError(ValueError):
    """A URL the client cannot connect to; the message says which forms it accepts."""


@dataclass(frozen=True, slots=True)
class IrcEndpoint:
    """A parsed IRC URL."""

    scheme: str  # ircs | irc | wss | ws
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme in {"ircs", "wss"}

    @property
    def websocket(self) -> bool:
        return self.scheme in {"ws", "wss"}

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def _shown(raw: str) -> str:
    """``raw`` as an error may show it: any ``user:password@`` before the host is masked."""
    scheme, sep, rest = raw.strip().partition("://")
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}{sep}{netloc}{slash}{path}" if sep else "***" if "@" in raw else raw


def parse_irc_url(raw: str) -> IrcEndpoint:
    """``ircs://``, ``irc://``, ``wss://`` or ``ws://`` HOST[:PORT]; the port defaults by scheme."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise EndpointError(
            f"{_shown(raw)!r} is not supported (expected "
            "ircs://HOST:PORT for TLS, irc://HOST:PORT for plain TCP, or wss:// / ws://)"
        )
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise EndpointError(f"bad port in {_shown(raw)!r}") from None
    return IrcEndpoint(parts.scheme, parts.hostname, port)
