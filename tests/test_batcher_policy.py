from __future__ import annotations

import asyncio

import pytest

from bot.batcher import BatcherClosed, MicroBatcher
from bot.policy.policy import Policy, PolicyConfig
from bot.twitch.events import ChatMessage


async def test_batch_closes_at_max_size() -> None:
    b: MicroBatcher[int] = MicroBatcher(max_batch=3, max_wait=10)
    for i in range(7):
        await b.put(i)
    assert await b.next_batch() == [0, 1, 2]
    assert await b.next_batch() == [3, 4, 5]


async def test_batch_closes_at_max_wait() -> None:
    b: MicroBatcher[int] = MicroBatcher(max_batch=100, max_wait=0.02)
    await b.put(1)

    async def late() -> None:
        await asyncio.sleep(0.3)
        await b.put(2)

    task = asyncio.create_task(late())
    # the batch closes 20 ms after its first item, long before the late one arrives
    assert await asyncio.wait_for(b.next_batch(), 2) == [1]
    assert await asyncio.wait_for(b.next_batch(), 2) == [2]
    await task


async def test_backpressure_blocks_instead_of_dropping() -> None:
    b: MicroBatcher[int] = MicroBatcher(max_batch=10, max_wait=0, maxsize=2)
    await b.put(1)
    await b.put(2)
    blocked = asyncio.create_task(b.put(3))
    await asyncio.sleep(0.01)
    assert not blocked.done()  # the producer waits: nothing is dropped
    assert b.stats.backpressure_waits == 1
    assert await b.next_batch() == [1, 2]
    await asyncio.wait_for(blocked, 1)
    assert await b.next_batch() == [3]


async def test_close_drains_then_ends() -> None:
    b: MicroBatcher[int] = MicroBatcher(max_batch=10, max_wait=1)
    await b.put(1)
    await b.put(2)
    await b.close()
    with pytest.raises(BatcherClosed):
        await b.put(3)
    assert await b.next_batch() == [1, 2]
    assert await b.next_batch() is None
    assert await b.next_batch() is None


def msg(
    t: float, login: str = "u", channel: str = "c", badges: frozenset[str] = frozenset()
) -> ChatMessage:
    return ChatMessage(f"{login}-{t}", channel, login, login, "x", t, user_id=login, badges=badges)


def test_flag_threshold_and_severe_category_report() -> None:
    p = Policy(PolicyConfig(flag_threshold=0.5, report_threshold=0.9))
    assert not p.decide(msg(1), 0.49).flagged
    d = p.decide(msg(2), 0.6)
    assert d.flagged and d.report_reason is None
    # a high score alone is not severe: only a severe category reports at once
    d = p.decide(msg(3, "w"), 0.99)
    assert d.flagged and d.report_reason is None
    d = p.decide(said("@bob x", 4, login="v"), 0.95, (), ("slur",))
    assert d.flagged and d.report_reason and "slur" in d.report_reason
    # the scorer's category counts at the report threshold
    assert p.decide(said("@bob x", 5, login="x"), 0.8, (), ("slur",)).report_reason is None
    # a slur aimed at nobody is flagged, not reported, unless the channel asks for every slur
    d = p.decide(msg(6, "t"), 0.95, (), ("slur",))
    assert d.flagged and d.report_reason is None
    every = Policy(PolicyConfig(flag_threshold=0.5, report_threshold=0.9, every_slur=True))
    assert every.decide(msg(6, "t"), 0.95, (), ("slur",)).report_reason is not None


def test_repeated_flags_within_window_report_once_then_cool_down() -> None:
    p = Policy(PolicyConfig(report_after_flags=3, window=60))
    assert p.decide(msg(0), 0.6).report_reason is None
    assert p.decide(msg(10), 0.6).report_reason is None
    first = p.decide(msg(20), 0.6)
    assert first.report_reason == "3 flagged messages within 1 min"
    # cool-down: flagged, but joins the next report
    for t in (30, 40, 50, 70):
        d = p.decide(msg(t), 0.99)
        assert d.flagged and d.report_reason is None
    # after the window, the next strong flag reports again
    assert p.decide(msg(81), 0.99).report_reason is not None


def test_flags_outside_window_do_not_add_up() -> None:
    p = Policy(PolicyConfig(report_after_flags=3, window=60))
    for t in (0, 61, 122, 183):
        assert p.decide(msg(t), 0.6).report_reason is None


def test_users_and_channels_are_separate() -> None:
    p = Policy(PolicyConfig(report_after_flags=2, window=60))
    assert p.decide(msg(0, "a"), 0.6).report_reason is None
    assert p.decide(msg(1, "b"), 0.6).report_reason is None
    assert p.decide(msg(2, "a", channel="other"), 0.6).report_reason is None
    assert p.decide(msg(3, "a"), 0.6).report_reason is not None


def test_exemptions() -> None:
    p = Policy(PolicyConfig())
    assert p.decide(msg(0, badges=frozenset({"broadcaster"})), 1.0).exempt
    assert p.decide(msg(0, badges=frozenset({"moderator"})), 1.0).exempt
    assert p.decide(msg(0, badges=frozenset({"vip"})), 1.0).flagged
    p = Policy(PolicyConfig(exempt_vips=True, exempt_subscribers=True, exempt_moderators=False))
    assert p.decide(msg(0, badges=frozenset({"vip"})), 1.0).exempt
    assert p.decide(msg(0, badges=frozenset({"founder"})), 1.0).exempt
    assert p.decide(msg(0, badges=frozenset({"moderator"})), 1.0).flagged


def test_idle_users_are_forgotten() -> None:
    p = Policy(PolicyConfig(window=10))
    p.decide(msg(0, "a"), 0.6)
    p.decide(msg(100, "b"), 0.6)
    assert p.forget_idle(100) == 1 and len(p) == 1


def test_restored_policy_keeps_cool_down_and_windows() -> None:
    p = Policy(PolicyConfig(report_after_flags=3, window=60, every_slur=True))
    # before the restart: u was reported at t=20; v had two unreported flags
    p.restore(
        [
            ("c", "u", 0.0, 1),
            ("c", "u", 10.0, 1),
            ("c", "u", 20.0, 1),
            ("c", "v", 30.0, None),
            ("c", "v", 40.0, None),
        ]
    )
    slur = ("slur",)
    assert p.decide(msg(50, "u"), 0.99, (), slur).report_reason is None  # still in cool-down
    assert p.decide(msg(45, "v"), 0.6).report_reason is not None  # third flag in the window
    assert p.decide(msg(81, "u"), 0.99, (), slur).report_reason is not None  # cool-down over


def said(text: str, t: float = 1.0, channel: str = "c", login: str = "u") -> ChatMessage:
    return ChatMessage(f"{login}-{t}", channel, login, login, text, t, user_id=login)


@pytest.mark.parametrize(
    ("text", "directed"),
    [
        ("HOLY SHIT what a play", False),
        ("fucking nailed it", False),
        ("ㅅㅂ ㅋㅋㅋㅋㅋ", False),
        ("말투 개 킹받네", False),
        ("fuck you hbox", True),
        ("ur trash", True),
        ("stfu toph", True),
        # an abusive phrase that names nobody is an outburst at the chat at large, but said
        # alone a second person or an imperative answers whoever was speaking: a reply
        ("fuck you", True),
        ("Fuck you!", True),
        ("꺼져", True),
        ("lol fuck you", False),
        ("stfu already", False),
        ("lol FUCK U ALL", False),
        ("YOOOOO S T F U", False),
        ("@troll fuck off", True),
        # r10: the whole chat is nobody in particular; emotes are interjections
        ("STFU CHAT", False),
        ("chatters shut the fuck up", False),
        ("KEKW stfu", False),
        ("hasREE STFU", False),  # a channel emote: prefix, then the capitalised name
        ("stfu dumb chatter", True),  # insulted
        ("fuck you hbox KEKW", True),
        ("ㄲㅈ ㅋㅋㅋㅋ", False),
        ("아 좀 닥쳐라", False),
        ("ㅡㅡ 벤 ㄲㅈ", True),
        ("좋게 말할때 ㄲㅈ...", True),
        ("상황 닥쳐봐야 알지", False),  # "when faced with it", not "shut up"
        ("폰 꺼져있을듯", False),  # "(the phone) is off"
        ("닥쳐ㅠㅠ", False),  # r9: crying is filler too
        ("생명이 꺼져가는 중", False),  # "fading"
        ("you twat", True),
        ("kys", True),
        ("@someone shit take", True),
        ("빙시야", True),
        ("이게 먼데 씹덕아", True),
        ("개소리하지마", True),
        ("학살맘 ㄲㅈ", True),
        ("뭔 개소리야 형", True),
        ("님이 씹덕이라그럼", True),
        ("", False),
    ],
)
def test_is_directed(text: str, directed: bool) -> None:
    from bot.policy.targeting import is_directed

    assert is_directed(text) is directed


@pytest.mark.parametrize(
    ("text", "terms", "directed"),
    [
        ("Holy shit they give you SO much!", ["shit"], False),
        ("Holy shit they give you SO much!", [], True),  # nothing to anchor on: cue anywhere
        ("mel you ass", ["ass"], True),
        ("Listen here you little shit", ["shit"], True),
        ("mel i want your ass", ["ass"], True),
        ("chat, this ass of a level; thank you all", ["ass"], False),
        ("@pitlicker69 soundbanks for vstis can be a bitch on ram", ["bitch"], False),
        ("@troll stfu", ["stfu"], True),
        ("학살맘 ㄲㅈ", ["ㄲㅈ"], True),  # Korean cues are not distance-bound
        # expletives beside "you" are exclamations; abusive phrases are not
        ("DuckerZ you fuckin better pick me", ["fuckin"], False),
        ("chat you fucked it", ["fucked"], False),
        ("@Hexer Oh shiiiiiiiiit", ["shit"], False),
        ("you are a piece of shit", ["shit"], True),
        ("you're such a fucking shit", ["fucking", "shit"], True),
        ("fuck you mel", ["fuck"], True),
        ("you fucking idiot", ["fucking", "idiot"], True),
        # r10: phrases of expletives are exclamations too
        ("@mel what the fuck are you wearing", ["fuck", "what the fuck"], False),
        ("kinda fucked up of them @mel", ["fucked", "fucked up"], False),
        ("god damn it you missed", ["god damn", "god damn it"], False),
        ("what the fuck is wrong with you, you idiot", ["fuck", "what the fuck", "idiot"], True),
        # `ass` after a possessive is a pronoun or intensifier, unless something sexual is said
        ("he got your ass", ["ass"], False),
        ("no way your clumsy ass could throw straight", ["ass"], False),
        ("ray they're beating your ass in the comments", ["ass"], False),
        ("grab your ass", ["ass"], True),
        ("put it up your ass", ["ass"], True),
        # r9: `kick ass` is praise (the sexual-cue exception still holds)
        ("i see you kick ass!", ["ass"], False),
        ("You're kicking ass though man", ["ass"], False),
        ("you ass", ["ass"], True),
        # r11: a sexual topic is talk about content unless something sexual is said
        ("did you see the yaoi", ["yaoi"], False),
        ("check your character sheet", ["sheet"], False),
        ("@mel so horny you cant type", ["horny"], False),
        ("i want your cum", ["cum"], True),
        ("show me your penis", ["penis"], True),
        ("your boobs are tiny", ["boobs"], True),  # a body word, not a topic
        # an addressee named as evidence is whom it speaks to, not what offends
        ("@forsen use the coin", ["@forsen"], False),
        ("@bob forsenMODS @bob forsenMODS", ["forsenMODS"], False),
        ("@bob you idiot", ["@bob", "idiot"], True),
        # glue words and expletives do not count toward the distance
        ("@zed you are a fucking idiot", ["idiot", "fucking"], True),
        ("you are such a total idiot", ["idiot"], True),
        ("@bob gg", ["gg"], False),  # chat's own words
    ],
)
def test_an_english_addressee_must_be_near_what_offends(
    text: str, terms: list[str], directed: bool
) -> None:
    from bot.policy.targeting import is_directed

    assert is_directed(text, terms) is directed


def test_sensitivity_presets_gate_swearing_not_abuse() -> None:
    from bot.policy.sensitivity import Sensitivity
    from bot.runtime import build_policy
    from bot.settings import Settings

    def preset(name: str) -> Policy:
        return build_policy(Settings(sensitivity=Sensitivity(name)), scorer_threshold=0.5)

    medium, high, low = preset("medium"), preset("high"), preset("low")
    swearing, abuse, slur = said("holy shit"), said("fuck you hbox", 2), said("n-word here", 3)
    assert high.decide(swearing, 0.6).flagged and not medium.decide(swearing, 0.6).flagged
    assert medium.decide(abuse, 0.6).flagged
    assert medium.decide(slur, 0.95, (), ("slur",)).flagged  # severe on its own: no target
    # a high score is not a category: undirected swearing stays unflagged at medium
    assert not medium.decide(said("holy shit that was insane", 6), 0.96).flagged
    assert not low.decide(said("fuck you hbox", 4), 0.7).flagged  # low: directed and >= 0.8
    assert low.decide(said("fuck you hbox", 5), 0.8).flagged


def test_per_channel_sensitivity() -> None:
    from bot.policy.sensitivity import Sensitivity
    from bot.runtime import build_policy
    from bot.settings import Settings

    settings = Settings(sensitivity=Sensitivity.parse("medium,filtered=high"))
    policy = build_policy(settings, scorer_threshold=0.5)
    assert policy.decide(said("holy shit", channel="filtered"), 0.6).flagged
    assert not policy.decide(said("holy shit", channel="other"), 0.6).flagged
    assert policy.config_for("filtered").require_target is False
