"""Logging set-up: one line per event, as text or JSON, never with secrets.

Secrets are :class:`~bot.secret.Secret` values, masked wherever they are formatted; as a
second line of defence, a filter redacts anything shaped like a Twitch OAuth token or a
Discord webhook token from every record before it is written. Chat text is logged only at
DEBUG level.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

__all__ = ["JsonFormatter", "RedactSecrets", "setup_logging"]

_SECRET_SHAPES = (
    (re.compile(r"(?i)oauth:[a-z0-9]+"), "oauth:**********"),
    (re.compile(r"(/api(?:/v\d+)?/webhooks/\d+/)[\w-]+"), r"\1**********"),
)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_SHAPES:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record's message with token-shaped strings masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", ...extra fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def setup_logging(level: str, fmt: str = "text", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level))
    # Libraries' chatter stays out of INFO (mlflow, alembic, matplotlib, httpx…).
    for noisy in ("alembic", "matplotlib", "httpx", "urllib3", "mlflow"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
