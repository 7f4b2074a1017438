"""A report as Discord sees it: one embed per reported user, built from stored rows.

Chat text is markdown-escaped (so nothing in a report can format itself, mention anyone or
hide a link) and every part is clipped to Discord's limits. It runs in the outbox at send time, not
inside storage's write transaction. The embed is built with ``discord-webhook``'s
:class:`DiscordEmbed`; serialised with ``json.dumps(embed, ensure_ascii=False)``, its keys
and their order are those of every payload the bot has ever stored (pinned by a test).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from discord_webhook import DiscordEmbed

from bot.reporting.discord import (
    DESCRIPTION_MAX,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    FOOTER_MAX,
    TITLE_MAX,
    clip,
)
from storage.records import FlaggedMessage, ReportDraft, UserCounts

__all__ = ["MESSAGES_PER_REPORT", "escape_markdown", "render_report"]

#: Messages shown per report; older flags are summarised in the description.
MESSAGES_PER_REPORT = 10

_MARKDOWN = re.compile(r"([\\*_~`|>#\-\[\]()<:@])")


def escape_markdown(text: str) -> str:
    """Escape Discord markdown, mentions and masked links in chat text."""
    return _MARKDOWN.sub(r"\\\1", text)


def render_report(
    draft: ReportDraft,
    flags: Sequence[FlaggedMessage],
    counts: UserCounts,
    *,
    dashboard_url: str | None = None,
) -> dict[str, Any]:
    """One embed describing a reported user, from the report's row, its flags (oldest
    first) and the counts it states (``counts.reports`` is this report's number). With
    ``dashboard_url`` it links to the user's page there (history, verdicts, actions)."""
    name = (
        draft.display_name
        if draft.display_name.lower() == draft.login
        else (f"{draft.display_name} ({draft.login})")
    )
    shown = list(flags)[-MESSAGES_PER_REPORT:]
    worst = max((f.score for f in flags), default=0.0)
    labels = sorted({label for f in flags for label in f.labels})
    lines = [
        f"**Why:** {clip(escape_markdown(draft.reason), 300)}",
        f"**In #{escape_markdown(draft.channel)}:** {counts.messages_seen} messages seen, "
        f"{counts.messages_flagged} flagged, report #{counts.reports}",
    ]
    if labels:
        lines.append(f"**Categories:** {', '.join(labels)}")
    if len(flags) > len(shown):
        lines.append(f"_{len(flags) - len(shown)} earlier flagged message(s) not shown._")
    if dashboard_url:
        # a login is [a-z0-9_]: nothing in it can break out of the link
        lines.append(f"[History, verdicts and actions]({dashboard_url}/users/{draft.login})")
    embed = DiscordEmbed(
        title=clip(f"Flagged user: {escape_markdown(name)} in #{draft.channel}", TITLE_MAX),
        description=clip("\n".join(lines), DESCRIPTION_MAX),
        url=f"https://www.twitch.tv/{draft.login}",
        color=0xE74C3C if worst >= 0.9 else 0xF39C12,
    )
    for flag in shown[:FIELDS_MAX]:
        when = datetime.fromtimestamp(flag.sent_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        tag = f" · {', '.join(flag.labels)}" if flag.labels else ""
        if flag.evidence:
            # the rules list what they matched; a network, the words that drove its score
            how = "matched" if flag.model_version.startswith("rules") else "driven by"
            tag += f" · {how} " + ", ".join(f"“{escape_markdown(t)}”" for t in flag.evidence)
        if flag.note:  # a learned channel norm's reason, in the moderators' terms
            tag += f" · {escape_markdown(flag.note)}"
        embed.add_embed_field(
            name=clip(f"{flag.score:.2f}{tag} · {when}", FIELD_NAME_MAX),
            value=clip(escape_markdown(flag.text) or "(empty)", FIELD_VALUE_MAX),
            inline=False,
        )
    versions = sorted({f.model_version for f in flags})
    embed.set_footer(text=clip(f"chatwarden · model {', '.join(versions)}", FOOTER_MAX))
    # An ISO string is stored as given; a float would lose its "+00:00" on the way.
    embed.set_timestamp(datetime.fromtimestamp(draft.created_at, UTC).isoformat())
    return _embed_dict(embed)


def _embed_dict(embed: DiscordEmbed) -> dict[str, Any]:
    """The embed's JSON object, read from DiscordEmbed's documented attributes.

    discord-webhook has no public "embed as dict": its own ``DiscordWebhook.add_embed``
    and ``json`` read ``embed.__dict__``, which holds unset parts as ``None`` and the
    footer's unset icon URLs. So the object is assembled here from the public attributes
    and ``get_embed_fields()``, in the key order stored payloads have always had.
    """
    return {
        "title": embed.title,
        "description": embed.description,
        "url": embed.url,
        "fields": embed.get_embed_fields(),
        "color": embed.color,
        "footer": {"text": embed.footer["text"]},
        "timestamp": embed.timestamp,
    }
