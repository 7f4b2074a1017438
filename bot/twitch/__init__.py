"""Our Twitch IRC client (twitchio 3 has no IRC): parsing, events and the connection."""
