"""Moderators' actions seen in chat (CLEARCHAT and CLEARMSG), as stored records.

Timeouts, bans and deleted messages travel through the pipeline in the order chat saw them,
between the messages around them (:data:`bot.twitch.events.ChatItem`): the policy learns
from each one exactly when it happened, in ``run`` as in ``replay``, and each is written in
its batch's transaction. They land in ``moderation_events`` and show up in
``chatwarden history`` beside the bot's flags.
"""

from __future__ import annotations

from bot.twitch.events import ClearChat, ClearMsg, synthetic_msg_id
from storage.records import ModerationEvent

__all__ = ["to_moderation_event"]


def to_moderation_event(event: ClearChat | ClearMsg) -> ModerationEvent:
    """The stored record of ``event``, with an id derived from what it says, so that an
    action replayed or redelivered is stored (and learned from) once."""
    if isinstance(event, ClearChat):
        if event.target_login is None:
            kind = "clear"
        else:
            kind = "ban" if event.ban_duration is None else "timeout"
        return ModerationEvent(
            event.channel,
            kind,
            event.sent_at,
            event.target_login,
            event.target_user_id,
            duration=event.ban_duration,
            event_id=synthetic_msg_id(
                "clearchat", event.channel, event.target_login, event.ban_duration, event.sent_at
            ),
        )
    return ModerationEvent(
        event.channel,
        "delete",
        event.sent_at,
        event.login,
        None,
        event.target_msg_id,
        text=event.text,
        event_id=synthetic_msg_id("clearmsg", event.channel, event.target_msg_id, event.sent_at),
    )
