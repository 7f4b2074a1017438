"""``python -m bot`` is the ``chatwarden`` command."""

from bot.cli import main

raise SystemExit(main())
