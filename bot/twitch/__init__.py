"""Our Twitch IRC client (twitchio 3 has no IRC): parsing, events, endpoint and connection.

It imports nothing of ``bot`` but :mod:`bot.secret`, so it stands alone (a test checks).
"""
