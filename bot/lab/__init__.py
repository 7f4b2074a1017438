"""Measuring the bot: benchmarks, the load test, loopback Twitch IRC and Discord fakes,
live-chat evaluation and its hand labels. The runtime never imports this package."""
