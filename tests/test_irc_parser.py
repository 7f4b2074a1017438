from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.lab.loopback import escape_tag
from bot.twitch.irc import IrcParseError, parse_line, unescape_tag_value

REAL_PRIVMSG = (
    "@badge-info=subscriber/8;badges=subscriber/6,premium/1;color=#0000FF;"
    "display-name=Ronni;emotes=25:0-4;first-msg=0;flags=;id=b34ccfc7-4977-403a-8a94-"
    "33c6bac34fb8;mod=0;returning-chatter=0;room-id=1337;subscriber=1;tmi-sent-ts="
    "1507246572675;turbo=1;user-id=1337;user-type=global_mod :ronni!ronni@ronni.tmi.twitch.tv "
    "PRIVMSG #ronni :Kappa Keepo Kappa"
)


def test_real_twitch_privmsg() -> None:
    line = parse_line(REAL_PRIVMSG + "\r\n")
    assert line.command == "PRIVMSG"
    assert line.params == ("#ronni", "Kappa Keepo Kappa")
    assert line.nick == "ronni"
    assert line.tags["display-name"] == "Ronni"
    assert line.tags["flags"] == ""
    assert line.tags["tmi-sent-ts"] == "1507246572675"


def test_real_logged_line_from_data_dir() -> None:
    # A line from twitch_chat_en_madcookie/chat.log, after its logger's timestamp.
    line = parse_line(":parkon88!parkon88@parkon88.tmi.twitch.tv PRIVMSG #saddummy :귀염~~ㅋㅋ")
    assert (line.nick, line.params) == ("parkon88", ("#saddummy", "귀염~~ㅋㅋ"))


def test_numeric_ping_and_trailing_forms() -> None:
    assert parse_line(":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!").params == (
        "justinfan1",
        "Welcome, GLHF!",
    )
    assert parse_line("PING :tmi.twitch.tv").params == ("tmi.twitch.tv",)
    assert parse_line(":tmi.twitch.tv RECONNECT").command == "RECONNECT"
    # a trailing parameter may contain " :" and be empty
    assert parse_line(":a PRIVMSG #c :x :y").params == ("#c", "x :y")
    assert parse_line(":a PRIVMSG #c :").params == ("#c", "")


def test_tag_unescaping() -> None:
    assert unescape_tag_value(r"a\sb\:c\\d\re\nf") == "a b;c\\d\re\nf"
    assert unescape_tag_value("trailing\\") == "trailing"
    assert unescape_tag_value(r"\q") == "q"
    line = parse_line(r"@system-msg=5\sraiders\sfrom\sX;empty= :tmi.twitch.tv USERNOTICE #c")
    assert line.tags == {"system-msg": "5 raiders from X", "empty": ""}


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "@tags-only",
        ":prefix-only",
        ":p",
        "@a=b :p",
        ":p 12 x",
        ":p PRIV;MSG #c :x",
        "PRIVMSG\x00 #c :x",
        "@=v :p PRIVMSG #c :x",
    ],
)
def test_malformed_lines_raise_parse_error(bad: str) -> None:
    with pytest.raises(IrcParseError):
        parse_line(bad)


@given(st.text())
def test_parse_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(IrcParseError):
        parse_line(text)


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_tag_escaping_round_trips(value: str) -> None:
    assert unescape_tag_value(escape_tag(value)) == value


@given(
    st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00"),
        max_size=200,
    ),
    st.from_regex(r"[a-z0-9_]{1,25}", fullmatch=True),
)
def test_privmsg_text_survives_parsing(text: str, channel: str) -> None:
    line = parse_line(f":u!u@u.tmi.twitch.tv PRIVMSG #{channel} :{text}")
    assert line.params == (f"#{channel}", text)
