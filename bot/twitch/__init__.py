"""Our Twitch IRC client (twitchio 3 has no IRC): parsing, events, endpoint and connection;
and :mod:`bot.twitch.helix`, moderation actions through Twitch's API with twitchio 3.

It imports nothing of ``bot`` but :mod:`bot.secret`, so it stands alone (a test checks).
"""
