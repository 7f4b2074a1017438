"""The ``chatwarden`` command line (also ``python -m bot``).

Each module registers its own commands and names the function that runs each one
(``set_defaults(func=...)``): :mod:`~bot.cli.watch` (run, score, replay, doctor, health),
:mod:`~bot.cli.records` (history, flagged), :mod:`~bot.cli.norms` (norms show, reset,
export), :mod:`~bot.cli.models` (train, evaluate, bundle,
data fetch, models), :mod:`~bot.cli.lab` (bench, evaluate --live-chat) and
:mod:`~bot.cli.verdicts` (evaluate --verdicts, labels export). They parse and
print; the work is done by the modules that own it, imported when the command runs.

Errors that a user can fix (bad settings, a missing data dir or database) print one line
and exit 2; everything else is logged with its traceback and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot import __version__
from bot.cli import lab, models, norms, records, verdicts, watch
from bot.cli._common import Command, CommandError
from bot.logs import setup_logging
from bot.policy.errors import CueListError
from bot.settings import Settings, SettingsError
from bot.twitch.connection import TwitchAuthError
from model.errors import ModelError
from storage.errors import StorageError

__all__ = ["build_parser", "main"]

EPILOG = """\
settings come from the environment or a .env file (see .env.example), e.g.
  CHATWARDEN_CHANNELS=somechannel chatwarden run
  chatwarden run --channel somechannel --channel other
  chatwarden history some_user --channel somechannel
  chatwarden flagged --since 24h --json
  echo '{"text": "you are trash"}' | chatwarden score
  chatwarden replay '../shared/data/twitch_chat_ko_boostcamp/twitch/#yd0821.log.gz'
"""

#: Failures the user can fix: one line on stderr and exit status 2, no traceback.
_USER_ERRORS = (
    SettingsError,
    ModelError,
    StorageError,
    FileNotFoundError,
    TwitchAuthError,
    CommandError,
    CueListError,
    ValueError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatwarden",
        description="Real-time moderation bot for Twitch chat: scores every message, "
        "stores flagged users in SQLite or PostgreSQL and reports them to your moderators' "
        "Discord.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"chatwarden {__version__}")
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(".env"),
        help="settings file read after the environment (default: .env)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # a command that loads the settings itself (doctor) names its function here instead
    parser.set_defaults(before_settings=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (watch, records, norms, models, lab, verdicts):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    args = build_parser().parse_args(argv)
    if args.before_settings is not None:
        before: Callable[[argparse.Namespace], int] = args.before_settings
        return before(args)
    command: Command = args.func
    try:
        settings = Settings.from_env(os.environ, args.env_file)
        setup_logging("DEBUG" if args.verbose else settings.log_level, settings.log_format)
        if getattr(args, "db", None) is not None:
            settings = settings.with_overrides(db=args.db)
        return command(args, settings)
    except _USER_ERRORS as exc:
        print(f"chatwarden: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `chatwarden flagged | head`
        sys.stderr.close()
        return 0
