"""chatwarden's asyncio runtime: Twitch IRC in, micro-batched scoring, SQLite, Discord out."""

__version__ = "0.1.0"
