from __future__ import annotations

from bot.lab.loopback import FakeTwitchServer
from bot.twitch.events import (
    ChatMessage,
    ClearChat,
    ClearMsg,
    Notice,
    Ping,
    Reconnect,
    UserNotice,
    to_event,
)
from bot.twitch.irc import parse_line


def test_privmsg_becomes_chat_message() -> None:
    raw = FakeTwitchServer().privmsg_line(
        "somechan",
        "bad_guy",
        "hello; world \\ ok",
        msg_id="m-1",
        user_id="42",
        badges="vip/1,subscriber/12",
        display_name="Bad Guy",
        first_msg=True,
        sent_ms=1_700_000_000_123,
    )
    event = to_event(parse_line(raw))
    assert isinstance(event, ChatMessage)
    assert event.msg_id == "m-1"
    assert (event.channel, event.login, event.display_name) == ("somechan", "bad_guy", "Bad Guy")
    assert event.text == "hello; world \\ ok"
    assert event.user_id == "42" and event.user_key == "42"
    assert event.room_id == "12345"
    assert event.is_vip and event.is_subscriber and not event.is_moderator
    assert event.first_msg
    assert event.sent_at == 1_700_000_000.123


def test_badges_moderator_broadcaster_and_action() -> None:
    raw = (
        "@badges=broadcaster/1;id=a;mod=0;user-id=1 :boss!boss@boss.tmi.twitch.tv "
        "PRIVMSG #boss :\x01ACTION waves\x01"
    )
    event = to_event(parse_line(raw))
    assert isinstance(event, ChatMessage)
    assert event.is_broadcaster and event.is_action and event.text == "waves"
    mod = to_event(parse_line("@mod=1;id=b :m!m@m PRIVMSG #c :hi"))
    assert isinstance(mod, ChatMessage) and mod.is_moderator


def test_message_without_tags_gets_a_deterministic_id() -> None:
    line = parse_line(":u!u@u PRIVMSG #c :hi")
    a, b = to_event(line, received_at=5.0), to_event(line, received_at=5.0)
    assert isinstance(a, ChatMessage) and isinstance(b, ChatMessage)
    assert a.msg_id == b.msg_id and a.msg_id.startswith("x-")
    assert a.user_key == "login:u"


def test_moderation_and_server_events() -> None:
    ban = to_event(
        parse_line(
            "@ban-duration=600;target-user-id=9;tmi-sent-ts=1700000000500 "
            ":tmi.twitch.tv CLEARCHAT #c :Troll"
        )
    )
    assert ban == ClearChat("c", "troll", "9", 600, sent_at=1_700_000_000.5)
    cleared = to_event(parse_line(":tmi.twitch.tv CLEARCHAT #c"), received_at=7.0)
    assert cleared == ClearChat("c", None, None, None, sent_at=7.0)  # no tmi-sent-ts: arrival
    deleted = to_event(
        parse_line("@login=u;target-msg-id=abc :tmi.twitch.tv CLEARMSG #c :bad"), received_at=8.0
    )
    assert deleted == ClearMsg("c", "u", "abc", "bad", sent_at=8.0)
    raid = to_event(
        parse_line(
            r"@msg-id=raid;login=r;user-id=5;system-msg=5\sraiders :tmi.twitch.tv USERNOTICE #c"
        )
    )
    assert raid == UserNotice("c", "raid", "r", "5", "5 raiders", "")
    notice = to_event(parse_line("@msg-id=msg_banned :tmi.twitch.tv NOTICE #c :You are banned."))
    assert notice == Notice("c", "msg_banned", "You are banned.")
    assert to_event(parse_line("PING :tmi.twitch.tv")) == Ping("tmi.twitch.tv")
    assert to_event(parse_line(":tmi.twitch.tv RECONNECT")) == Reconnect()
    assert to_event(parse_line(":tmi.twitch.tv 372 me :motd")) is None
