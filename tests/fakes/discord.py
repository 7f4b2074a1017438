"""The loopback Discord webhook lives in :mod:`bot.loopback` (the bench uses it too)."""

from bot.loopback import FakeDiscord, Scripted, embed_problems, rate_limited, server_error

__all__ = ["FakeDiscord", "Scripted", "embed_problems", "rate_limited", "server_error"]
