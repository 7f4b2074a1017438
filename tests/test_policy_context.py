"""The policy's context: severe categories at once, repeated harassment of one person,
the spam and link filters, and bounded memory."""

from __future__ import annotations

import pytest

from bot.policy import policy as policy_module
from bot.policy.context import RECENT, addressee, has_link, is_flood
from bot.policy.policy import Policy, PolicyConfig
from bot.policy.sensitivity import Filters
from bot.runtime import build_policy
from bot.settings import Settings, SettingsError
from bot.twitch.events import ChatMessage

_n = 0


def msg(
    text: str, at: float, login: str = "u", channel: str = "chan", reply_to: str | None = None
) -> ChatMessage:
    global _n
    _n += 1
    return ChatMessage(f"m{_n}", channel, login, login, text, at, reply_to=reply_to)


def test_one_severe_message_reports_at_once_a_mild_one_waits() -> None:
    policy = Policy(PolicyConfig())
    slur = policy.decide(msg("@bob slur text", 0, "a"), 0.97, (), ("slur",))
    assert slur.flagged and slur.report_reason is not None
    insult = policy.decide(msg("you are dumb", 0, "b"), 0.97, (), ("insult",))
    assert insult.flagged and insult.report_reason is None
    # no category, or a network's noisy `hate`: a high score alone is not severe
    unknown = policy.decide(msg("whatever", 0, "c"), 0.97)
    assert unknown.report_reason is None
    hate = policy.decide(msg("whatever", 0, "d"), 0.97, (), ("hate",))
    assert hate.report_reason is None


def test_repeated_flags_at_one_person_report() -> None:
    policy = Policy(PolicyConfig(report_after_flags=5))
    first = policy.decide(msg("@bob you suck", 0), 0.7, (), ("insult",))
    other = policy.decide(msg("@carl you suck", 10), 0.7, (), ("insult",))
    assert first.report_reason is None and other.report_reason is None
    second = policy.decide(msg("@bob you really suck", 20), 0.7, (), ("insult",))
    assert second.report_reason is not None and "same person" in second.report_reason


def test_addressee_reads_reply_mention_and_streamer() -> None:
    assert addressee(msg("agreed", 0, reply_to="bob")) == "bob"
    assert addressee(msg("@Bob_2 lol", 0)) == "bob_2"
    assert addressee(msg("@chan hi", 0)) == "#chan"
    assert addressee(msg("you are so bad at this", 0)) is None  # names nobody
    assert addressee(msg("hasan is late", 0, channel="hasanabi")) == "#hasanabi"
    assert addressee(msg("nice play", 0)) is None


def test_spam_and_link_filters_are_per_channel_switches() -> None:
    filters = Filters.parse("none,loud=spam+links")
    policy = build_policy(Settings(filters=filters), scorer_threshold=0.5)
    for channel, expected in (("quiet", False), ("loud", True)):
        decisions = [
            policy.decide(msg("buy now", t, "s", channel), 0.0).flagged for t in (0, 5, 10)
        ]
        assert decisions == [False, False, expected]
        link = policy.decide(msg("see www.example.com", 20, "l", channel), 0.0)
        assert link.flagged is expected
        assert link.labels == (("link",) if expected else ())
    wall = " ".join(["KEKW"] * 60)
    assert is_flood(wall) and not is_flood("KEKW KEKW good game")
    assert has_link("https://x.io/a") and has_link("go to cheap.tv now")
    assert not has_link("i.e. this") and not has_link("ok.")


def test_filters_parse_and_bad_values() -> None:
    assert str(Filters.parse("links,a=spam+links,b=none")) == "links,a=links+spam,b=none"
    with pytest.raises(ValueError, match="unknown filter 'ads'"):
        Filters.parse("ads")
    with pytest.raises(SettingsError, match="CHATWARDEN_FILTERS"):
        Settings.from_env({"CHATWARDEN_FILTERS": "spam,chan=caps"}, None)
    assert Settings.from_env({"CHATWARDEN_FILTERS": "spam"}, None).filters.default == {"spam"}


def test_memory_is_bounded_per_user_and_in_users(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = Policy(PolicyConfig(spam=True, report_after_flags=10_000, window=1e9))
    for t in range(3 * RECENT):
        policy.decide(msg(f"@bob line {t}", float(t)), 0.6, (), ("insult",))
    state = next(iter(policy._users.values()))
    assert len(state.recent.lines) == RECENT and len(state.recent.targets) == RECENT
    monkeypatch.setattr(policy_module, "MAX_USERS", 50)
    for n in range(200):
        policy.decide(msg("hello", float(n), f"user{n}"), 0.0)
    assert len(policy) == 50
    assert policy.forget_idle(1e12) == 50 and len(policy) == 0


def test_a_slur_aimed_at_nobody_is_flagged_and_reported_only_where_every_slur_is() -> None:
    from bot.policy.sensitivity import Filters
    from bot.runtime import build_policy
    from bot.settings import Settings

    settings = Settings(filters=Filters.parse("none,strict=slurs"))
    policy = build_policy(settings, scorer_threshold=0.5)
    friendly = policy.decide(msg("this slur text is wild", 0, "a"), 0.97, (), ("slur",))
    assert friendly.flagged and friendly.report_reason is None  # on the dashboard, not in Discord
    aimed = policy.decide(msg("you slur text", 0, "b"), 0.97, ("slur",), ("slur",))
    assert aimed.report_reason is not None
    strict = policy.decide(
        msg("this slur text is wild", 0, "c", channel="strict"), 0.97, (), ("slur",)
    )
    assert strict.report_reason is not None and "slur" in strict.report_reason
