from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from model import normalize as normalize_module
from model.errors import DataNotFoundError, ModelLoadError
from model.loading import load_scorer
from model.normalize import normalize, normalize_word, skeleton
from model.rules import RuleScorer
from model.scorer import Scorer
from tests.conftest import DATA_DIR, needs_data


def test_normalize_steps() -> None:
    assert normalize("ＦＵＬＬ width") == "full width"
    assert normalize("a\u200bb\u2060c\ufeffd") == "abcd"
    assert normalize("ㅅㅂ ㅈㄴ") == "ㅅㅂ ㅈㄴ"  # compatibility jamo survive NFKC
    assert normalize("guyЅ wЕ nЕЕD") == "guys we need"  # Cyrillic look-alikes in Latin words
    assert normalize("привет") == "привет"  # real Cyrillic is left alone
    assert normalize("nooooo ㅋㅋㅋㅋㅋ") == "noo ㅋㅋ"
    assert normalize("  a \t\n b  ") == "a b"
    assert normalize("Kappa PogChamp") == "kappa pogchamp"


@pytest.mark.parametrize(
    "evasion",
    [
        "ɴɪɢɢᴇʀ",  # small capitals
        "🅽🅸🅶🅶🅴🆁",  # negative squared letters
        "🅝🅘🅖🅖🅔🅡",  # negative circled letters
        "🇳🇮🇬🇬🇪🇷",  # regional indicators
        "nïggër",  # accents
        "n\u0338i\u0338g\u0338g\u0338e\u0338r\u0338",  # combining marks ("zalgo")
        "nıɡɡer",  # dotless i, script g
    ],
)
def test_normalize_folds_latin_lookalikes(evasion: str) -> None:
    assert normalize(evasion) == "nigger"
    assert normalize_word(evasion) == "nigger"


def test_normalize_leaves_other_scripts_and_plain_accented_words_readable() -> None:
    assert normalize("café São Paulo") == "cafe sao paulo"
    assert normalize("привет ПРИВЕТ") == "привет привет"
    assert normalize("시발 ㅅㅂ 개새끼") == "시발 ㅅㅂ 개새끼"
    assert normalize("🇰🇷 GG") == "kr gg"


@given(st.text())
@example("µÀ")  # Greek beside an accented Latin letter: folded on the first pass, not the second
@example("aμ\u0301")
def test_normalize_is_idempotent_and_total(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert "\u200b" not in once
    once.encode("utf-8")  # no lone surrogates survive


def _every_step(text: str) -> str:
    """The module docstring's steps, all of them, with no shortcut."""
    n = normalize_module
    text = n._SURROGATE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(n._JAMO_BACK)
    text = n._INVISIBLE.sub("", text)
    text = n._CONTROL.sub(" ", text)
    text = n.fold_lookalikes(n.fold_homoglyphs(text.casefold()))
    text = n._REPEAT.sub(r"\1\1", text)
    return n._SPACES.sub(" ", text).strip()


_FOLDED = "aeoxсеоxΑα\x00 ɴïı🅽🇦\u0338"  # homoglyphs, look-alikes, a combining mark


@given(st.text() | st.text(alphabet=st.characters(max_codepoint=127)) | st.text(_FOLDED))
def test_normalize_shortcuts_give_what_every_step_gives(text: str) -> None:
    # ASCII skips the Unicode steps, and text without look-alikes skips the fold
    assert normalize(text) == _every_step(text)


@given(
    st.text()
    | st.text("가각힣ㅋaA0z9 \t.\u200bＡ")
    | st.text("가ㄱㄳㅋㅎㅏㅠㅣㆍㅥ힣Kk!~ ")  # leading/trailing consonants, vowels, archaic jamo
    | st.text(alphabet=st.characters(max_codepoint=127))
)
def test_normalize_word_is_normalize(text: str) -> None:
    for word in text.split():
        assert normalize_word(word) == normalize(word)


def test_normalize_word_on_every_jamo_pair_and_real_chat_words(data_dir: Path) -> None:
    from bot.replay import read_chat_log

    # NFKC composes a leading consonant and a vowel (ㄱㅏ → 가) and a syllable and a
    # trailing consonant (가ㄳ → 갃): the shortcut must not skip either
    jamo = [chr(c) for c in range(0x3131, 0x318F)]
    for a in [*jamo, "가", "각", "A", "!"]:
        for b in [*jamo, "가", "A"]:
            assert normalize_word(a + b) == normalize(a + b), a + b
    assert normalize_word("ㄱㅏ") == "가" and normalize_word("ㅋㅋㅋ") == "ㅋㅋ"
    logs = [
        data_dir / "twitch_chat_ko_boostcamp" / "twitch" / "#yd0821.log.gz",
        data_dir / "twitch_chat_en_madcookie" / "chat.log",
    ]
    words = {w for log in logs for m in read_chat_log(log) for w in m.text.split()}
    assert len(words) > 15_000
    normalize.cache_clear()
    assert [normalize_word(w) for w in words] == [normalize(w) for w in words]


def test_normalize_shortcuts_on_real_chat(data_dir: Path) -> None:
    from bot.replay import read_chat_log

    log = data_dir / "twitch_chat_en_madcookie" / "chat.log"
    texts = [m.text for m in read_chat_log(log)][:20_000]
    assert any(t.isascii() for t in texts) and not all(t.isascii() for t in texts)
    assert [normalize(t) for t in texts] == [_every_step(t) for t in texts]


def test_skeleton_undoes_evasion() -> None:
    assert skeleton("f.u.c.k") == "fuck"
    assert skeleton("sh1t") == "shit"
    assert skeleton("fuuuck") == "fuck"
    assert skeleton("시.발") == "시발"


@pytest.mark.parametrize(
    "text",
    [
        "fuck you",
        "F.U.C.K",
        "sh1t",
        "fuuuuuck",
        "f u c k",
        "ＦＵＣＫ",
        "fu\u200bck",
        "a$$",
        "개새끼야",
        "시.발",
        "씨발ㅋㅋ",
        "이 병신아",
        "nigger",
        "g00k",
        # leetspeak that starts with a digit is not a number
        "5h1t",
        "4sshole",
        "90ok",
        "9 0 0 k",
        "9.0.0.k",
    ],
)
def test_rule_scorer_catches_plain_and_evasive_forms(rule_scorer: RuleScorer, text: str) -> None:
    [score] = rule_scorer.score([text])
    assert score.probability >= rule_scorer.threshold, text
    assert score.labels


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        "it was crazy yeah",
        "lol",
        "gg ez",
        "hell yeah",
        "미친 진짜 ㅋㅋㅋ",
        "보지마",
        "시발점",
        "수박씨발라",
        "Kappa",
        "ㅁㅊ",
        "damn that play",
        # squashed or leet forms of listed words must not turn common words into bad ones
        "as",
        "such as this",
        "x",
        "X",
        "4/5",
        "4-5 ㅋㅋ",
        "glass",
        "class act",
        "bass",
        # flagged on real chat before, harmless there (docs/benchmarks.md, Live chat)
        "I feed on your embarrassment",
        "@johnykaze kk thx",
        "bj vs 스트리머 ㅋㅋ",
        "강아지 귀엽네 ㅋㅋ",
        "용 병 신",
        "소주는 후레쉬",
        "time to hit the sack",
        "why did that spook me",
        "KKona WE COMIN FER YA",
        "형 왜 섹시해",
        "펜션갈때 싸가지고 가",
        # r9: the familiar 임마, 개 alone as an intensifier, homographs inside longer words
        "하지마 임마",
        "너 개 못하자나",
        "천장에 설치",
        "넌 자지마라",
        "구멍난거",
        "배 졸라주실거죠",
        "바나나가 새끼친다",
        "틀딱챔",
        "누나 너무 sexy하세요",
        # numbers are not leetspeak: 900k would read "gook", 455 "ass"
        "i still have 900k not a problem",
        "lost 900K from doubting",
        "455 viewers",
    ],
)
def test_rule_scorer_allows_harmless_chat(rule_scorer: RuleScorer, text: str) -> None:
    [score] = rule_scorer.score([text])
    assert score.probability < rule_scorer.threshold, (text, rule_scorer.matches(text))


def test_rule_scorer_says_what_matched(rule_scorer: RuleScorer) -> None:
    score, clean = rule_scorer.score(["what the f.u.c.k is this sh1t", "good game"])
    assert set(score.evidence) >= {"fuck", "sh1t"}
    assert clean.evidence == ()


def test_only_slurs_are_severe(rule_scorer: RuleScorer) -> None:
    # severe (>= 0.95) flags with no target at the default sensitivity: slurs only, not
    # the lists' "severe" profanity, which chat uses as an exclamation
    slur, profanity = rule_scorer.score(["nigger", "motherfucker"])
    assert slur.probability >= 0.95 and "slur" in slur.labels
    assert 0.5 <= profanity.probability < 0.95 and "slur" not in profanity.labels
    # the list's severity is its description: "faggot" is rated 2.8, described "Severe"
    for text in ("faggot", "my nigga", "tranny", "짱깨"):
        [score] = rule_scorer.score([text])
        assert score.probability >= 0.95 and "slur" in score.labels, text
    # the disability slur is flagged when aimed (game chat says "this bracket is retarded")
    [score] = rule_scorer.score(["this bracket is retarded"])
    assert 0.5 <= score.probability < 0.95 and "hate" in score.labels
    # "jiggs" is listed as a slur but is Jigglypuff in Smash chat
    assert rule_scorer.score(["jiggs is so good"])[0].probability == 0.0


def test_rule_scorer_categories(rule_scorer: RuleScorer) -> None:
    hate, sexual = rule_scorer.score(["nigger", "blowjob"])
    assert "slur" in hate.labels and hate.probability >= 0.9
    assert "sexual" in sexual.labels
    # `ass` is an intensifier or an insult in chat, not sexual (before: `sexual`, and an
    # `old ass nigga` was reported at once as sexual harassment); a sex act keeps its label
    lame, asshole, licking = rule_scorer.score(["lame ass dude", "asshole", "ass licking"])
    assert lame.labels == ("profanity",) and lame.probability == 0.8
    assert asshole.labels == ("profanity",)
    assert "sexual" in licking.labels
    # nor are `shit` and `bitch`: Surge files `shitass` as sexual for its `ass`
    shitass, bitchasses, tits = rule_scorer.score(["shitass", "bitchasses", "bitchtits"])
    assert shitass.labels == ("profanity",) and bitchasses.labels == ("profanity",)
    assert "sexual" in tits.labels


def test_rule_scorer_takes_any_input(rule_scorer: RuleScorer) -> None:
    weird = ["", "   ", "😀" * 500, "\x00\x07\x1b[31m", "\ud800\udfff broken", "a" * 10_000]
    scores = rule_scorer.score(weird)
    assert len(scores) == len(weird)
    assert all(0.0 <= s.probability <= 1.0 for s in scores)


@needs_data
def test_the_rules_read_the_data_dir_and_without_one_the_default_is_bundled(
    tmp_path: Path,
) -> None:
    scorer = load_scorer("rules", DATA_DIR)
    assert isinstance(scorer, Scorer) and scorer.name == "rules"
    assert scorer.version == RuleScorer.licensed(DATA_DIR).version
    assert load_scorer(None, DATA_DIR).version == scorer.version  # the default
    # the word lists are never shipped: without them the unset URI means the bundled model
    bundled = load_scorer("bundled", None).version
    assert load_scorer(None, None).version == load_scorer(None, tmp_path).version == bundled
    with pytest.raises(DataNotFoundError, match="CHATWARDEN_DATA_DIR"):
        load_scorer("rules", None)
    with pytest.raises(ModelLoadError, match="unknown model URI"):
        load_scorer("nope://x", None)
    with pytest.raises(DataNotFoundError, match=str(tmp_path / "wordlists")):
        RuleScorer.from_data_dir(tmp_path)
