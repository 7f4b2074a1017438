"""The loopback Twitch IRC server lives in :mod:`bot.loopback` (the bench uses it too)."""

from bot.loopback import FakeClient, FakeTwitchServer, escape_tag

__all__ = ["FakeClient", "FakeTwitchServer", "escape_tag"]
