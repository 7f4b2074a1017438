"""IRC line parsing (RFC 1459 framing plus IRCv3 message tags), pure and allocation-light.

``parse_line`` turns one line (without CR LF) into an :class:`IrcLine` or raises
:class:`IrcParseError`; it never returns half-parsed data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["MAX_LINE_BYTES", "IrcLine", "IrcParseError", "parse_line", "unescape_tag_value"]

#: Twitch lines are far shorter; anything longer than this is refused (IRCv3 allows 8191
#: bytes of tags plus 512 of message).
MAX_LINE_BYTES = 8192

_EMPTY: Mapping[str, str] = MappingProxyType({})
_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


class IrcParseError(ValueError):
    """A line that is not valid IRC."""


@dataclass(frozen=True, slots=True)
class IrcLine:
    """One parsed IRC line: ``@tags :prefix COMMAND params... :trailing``."""

    command: str
    params: tuple[str, ...] = ()
    prefix: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def nick(self) -> str | None:
        """The nick part of a ``nick!user@host`` prefix."""
        if self.prefix is None:
            return None
        return self.prefix.split("!", 1)[0]

    @property
    def trailing(self) -> str:
        """The last parameter (the message text for PRIVMSG), or ``""``."""
        return self.params[-1] if self.params else ""


def unescape_tag_value(value: str) -> str:
    r"""Undo IRCv3 tag-value escaping: ``\:`` ``\s`` ``\\`` ``\r`` ``\n``.

    An unknown escape ``\x`` stands for ``x``; a trailing lone backslash is dropped.
    """
    if "\\" not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch == "\\":
            if i + 1 < n:
                nxt = value[i + 1]
                out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _parse_tags(raw: str) -> Mapping[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not key:
            raise IrcParseError("empty tag key")
        tags[key] = unescape_tag_value(value) if sep else ""
    return tags


def parse_line(line: str) -> IrcLine:
    """Parse one IRC line (trailing CR/LF allowed)."""
    line = line.rstrip("\r\n")
    if not line:
        raise IrcParseError("empty line")
    if "\x00" in line or "\r" in line or "\n" in line:
        raise IrcParseError("NUL, CR or LF inside the line")
    pos = 0
    tags: Mapping[str, str] = _EMPTY
    if line[0] == "@":
        end = line.find(" ")
        if end < 0:
            raise IrcParseError("tags without a command")
        tags = _parse_tags(line[1:end])
        pos = end + 1
        while pos < len(line) and line[pos] == " ":
            pos += 1
    prefix: str | None = None
    if pos < len(line) and line[pos] == ":":
        end = line.find(" ", pos)
        if end < 0:
            raise IrcParseError("prefix without a command")
        prefix = line[pos + 1 : end]
        if not prefix:
            raise IrcParseError("empty prefix")
        pos = end + 1
        while pos < len(line) and line[pos] == " ":
            pos += 1
    rest = line[pos:]
    trailing: str | None = None
    head, sep, tail = rest.partition(" :")
    if rest.startswith(":"):
        head, trailing = "", rest[1:]
    elif sep:
        trailing = tail
    parts = head.split()
    if not parts:
        raise IrcParseError("no command")
    command = parts[0].upper()
    if not (command.isalpha() or (len(command) == 3 and command.isdigit())):
        raise IrcParseError(f"bad command {parts[0][:20]!r}")
    params = parts[1:]
    if trailing is not None:
        params.append(trailing)
    return IrcLine(command=command, params=tuple(params), prefix=prefix, tags=tags)
