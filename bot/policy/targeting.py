"""Is a message aimed at someone? The cue that separates abuse from chat's swearing.

In Twitch chat most profanity is an intensifier or an exclamation (``holy shit``,
``fucking nailed it``, ``ㅅㅂ ㅋㅋㅋ``, ``개 잘하네``): nobody is hurt and moderators do not
want it reported (docs/labelling.md). Harassment has an addressee: a second person
(``you``, ``너``, ``님``), an @mention, a vocative (``병신아``, ``새끼야``), an imperative
aimed at someone (``stfu``, ``kys``, ``꺼져``, ``닥쳐``) or the streamer addressed as ``형`` /
``누나``. :func:`is_directed` looks for those cues on normalised text; the bot's policy uses
it, at the default sensitivity, to flag toxic-scored messages only when they are aimed at
someone (or severe on their own, like slurs).

It is deliberately simple and language-aware, not a parser: a cue anywhere in the message
counts. Quoting (``"you knobs!"``) and banter between regulars still pass as directed.

English expletives (``fuck``, ``shit``, ``damn`` and their forms) are exclamations even
beside a ``you`` (``you fuckin better pick me``, ``chat you fucked it``, ``@mel oh
shiiit``): when they are all that offended, only an abusive phrase counts as a target
(``fuck you``, ``stfu``, ``you little shit``, ``piece of shit`` said to someone).

An abusive phrase with nobody named is an outburst at the chat at large, not harassment
of a person: a message that is only ``STFU``, ``lol fuck you``, ``fuck off``, ``s t f u``,
``ㄲㅈ ㅋㅋ`` or ``닥쳐 제발`` (with interjections like ``lol``, ``yo``, ``bro``, ``ㅋㅋ``) is
not aimed at anyone identifiable.
Named, @mentioned or insulted addressees still are (``stfu hbox``, ``@x fuck you``,
``you twat``), and so are threats (``kys``). The whole chat is nobody in particular
(``STFU CHAT``, ``chatters shut the fuck up``, ``oh fuck off chatter``), and emotes are
interjections (``KEKW STFU``, ``hasREE STFU``: a channel emote's lower-case prefix and
capitalised name, or a common global one).

Sexual *topics* (``hentai``, ``yaoi``, ``cum``, ``horny``, ``penis``…, and listed words
that are mostly plain English in chat: ``sheet``, ``peters``) are talk about content, not
about the person addressed: alone they count as aimed only beside a sexual cue, as ``ass``
does (``did you see the yaoi`` is not aimed, ``i want your cum`` is). Body words
(``boobs``, ``tits``, ``ass``) and anything about minors are not topics.

A bare ``fuck you`` (``fuck u``, ``screw you``) or ``꺼져`` said on its own is not an
outburst but a reply: the second person (or the imperative) is whoever was just speaking.
With an interjection or the chat named (``lol fuck you``, ``fuck u all``, ``ㄲㅈ ㅋㅋ``) it
stays an outburst.

An English addressee is measured to what offended in words that carry meaning: copulas,
articles and intensifiers (``you are a fucking idiot``: ``glue.txt`` and the expletives)
do not count toward the distance. What the scorer names as evidence must offend: when it
is only chat's own words (``gg``, ``wp``, emotes, ``insane``: ``harmless.txt`` and the
interjections), nobody is insulted (``@bob gg``); nor when it is only whom the message
speaks to: a network that learned a streamer's name or emote as toxic names ``@forsen`` or
``forsenMODS``, an addressee, not an insult.

``what the fuck``, ``god damn it`` and ``fucked up`` are exclamations too (``@streamer
what the fuck are you wearing``, ``kinda fucked up``), like the expletives they are
made of.

``ass`` after a possessive is mostly a pronoun or an intensifier in chat (``he got your
ass``, ``your clumsy ass``, ``beat ur ass``): when that is all that offended, it counts as
aimed at someone only beside a sexual cue (``i want your ass``, ``grab your ass``).
``kick ass`` is praise (``you kick ass!``) and is treated the same way. ``you ass`` (an
insult) is unaffected.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path

from bot.policy.errors import CueListError
from model.normalize import normalize, skeleton

__all__ = ["CUES_DIR", "NEAR", "CueListError", "is_directed", "read_cues"]

#: The word sets the grammar below uses, one plain file each (``entry  # why``); their
#: history is in ``cues/CHANGES.md`` and their content is part of the policy's version.
CUES_DIR = Path(__file__).resolve().parent / "cues"


def read_cues(name: str) -> frozenset[str]:
    """The entries of ``cues/<name>.txt``: ``#`` starts a comment, blank lines are skipped.

    Read once, at import (start-up): a broken installation fails before any chat is read."""
    path = CUES_DIR / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CueListError(f"cue list missing or unreadable: {path} ({exc})") from exc
    entries = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return frozenset(entry for entry in entries if entry)


#: How many words apart an English addressee and an offending term may be.
NEAR = 2

_MENTION = re.compile(r"@\w")
_EN_SECOND_PERSON = read_cues("second_person")
_EN_PHRASES = re.compile(
    r"\b(stfu|gtfo|kys|shut up|shut the fuck up|fuck (you|u|off|ya)|screw (you|u)|"
    r"go die|kill yourself|neck yourself|get lost|piss off|eat shit|"
    # an expletive used as an insult noun for the addressee: "you little shit"
    r"(you|u|ur|youre)( are| r|'re|re)?( such| a| an| little| lil| piece of| stupid| dumb| fucking|"
    r" fuckin| fkn| total| absolute)* (shit|fuck|fucker|shithead|shitter)s?)\b"
)
_EN_OUTBURST = re.compile(
    r"\b(stfu|gtfo|shut up|shut the fuck up|fuck (you|u|off|ya)( all)?|screw (you|u)|get lost|"
    r"piss off)\b"
)
#: Interjections that name nobody (their :func:`skeleton`): an outburst may carry them.
_FILLER = frozenset(skeleton(w) for w in read_cues("fillers_emotes"))
#: A channel emote: the channel's lower-case prefix, then the capitalised name (``hasREE``,
#: ``nepuHeh``, ``alices18Kekw``); matched on the message as sent, before lower-casing.
_CHANNEL_EMOTE = re.compile(r"[a-z][a-z0-9]{1,11}[A-Z][A-Za-z0-9]*")
#: Words that make an exclamation of expletives (``what the fuck``, ``god damn it``).
_EXCLAMATION_WORDS = read_cues("exclamation_words")
_EXCLAMATIONS = read_cues("exclamations")  # an adjective: ``kinda fucked up``, ``you fucked up``
_ASS = read_cues("ass")
_KICK = read_cues("kick")  # "you kick ass": praise
_POSSESSIVE = read_cues("possessives")
#: Sexual topics and mostly-harmless listed words (see the module docstring): matched terms.
_TOPICS = read_cues("topics")
#: Words that make a remark about someone's ``ass`` sexual (their :func:`skeleton`).
_SEXUAL_CUES = frozenset(skeleton(w) for w in read_cues("sexual_cues"))
_LETTERS = re.compile(r"\b\w( \w)+\b")  # "s t f u"
#: Exclamation words (their :func:`skeleton`), not insults: see the module docstring.
_EN_EXPLETIVES = frozenset(skeleton(w) for w in read_cues("expletives"))
_KO_SECOND_PERSON = re.compile(
    r"(^|\s)(너|니가|니네|너네|니들|너희|느그|늬|당신|님|님이|님은|님아|님들|니|너는|너도|"
    r"네가|넌|널|니까짓|형|형이|형은|형아|누나|누나는|언니|언니는|방장|스트리머)(\s|$)"
)
_KO_VOCATIVE = re.compile(
    r"(새끼|새꺄|쌔꺄|새기|색기|쉐끼|병신|븅신|빙신|빙시|ㅄ|ㅂㅅ|등신|찐따|씹덕|멍청|놈|년|충|"
    r"개새|씨발|시발|ㅅㅂ|미친|또라이|돌아이|틀딱|한남|냄져|도라이)(아|야|들아|이야|ㅇㅏ)(\s|$|[~!?.ㅋ])"
)
_KO_IMPERATIVE = re.compile(
    # not the homographs "turned off" (꺼져있다, 꺼져서), "fading" (꺼져가는) and "come upon"
    # (닥쳐봐야, 닥쳐오다)
    r"(꺼져(?!있|서|가)|꺼지라|꺼지셈|ㄲㅈ|닥쳐(?!봐야|오|올|온)|닥치|ㄷㅊ|입닥|뒤져|뒤지|디져|디지셈|"
    r"죽어라|죽어|자살해|나가라|나가죽|하지마라|하지마|하지좀마|말라고|ㅗ먹어|엿먹어)"
)
# "Get lost" / "shut up" alone (with laughter or filler) names nobody: an outburst.
_KO_OUTBURST = re.compile(r"(ㄲㅈ|꺼져라|꺼져|닥쳐라|닥쳐|ㄷㅊ|입닥쳐|입닥)")
_KO_FILLER = re.compile(r"^([ㅋㅎㅠㅜ]+|ㅡㅡ|ㅗ+|좀|아|봐|제발|젭알|진짜|그냥|걍)?$")
#: Said alone, these answer whoever was just speaking: a reply, not an outburst.
_BARE_REPLY = re.compile(r"^(fuck (you|u|ya)|screw (you|u)|꺼져|꺼져라)[.!?~]*$")
#: Words between an addressee and an insult that carry no meaning of their own
#: (``you are a fucking idiot``): skipped when measuring the distance (their skeleton).
_GLUE = frozenset(skeleton(w) for w in read_cues("glue"))
#: Chat's own words: evidence made only of them (and interjections) insults nobody.
_HARMLESS = frozenset(skeleton(w) for w in read_cues("harmless"))


def is_directed(text: str, terms: Sequence[str] = ()) -> bool:
    """True when the message addresses or targets someone (see the module docstring).

    ``terms`` are what made the message score as toxic (the rules' matched terms, or a
    network's occlusion words). When given, an English addressee (``you``, ``ur``, an
    @mention) counts only within ``NEAR`` words of one of them: ``mel you ass`` and
    ``you little shit`` are aimed at someone, ``holy shit they give you so much`` is not.
    """
    norm = normalize(text)
    if not norm:
        return False
    if _BARE_REPLY.match(norm):
        return True
    if _is_outburst(normalize(_without_channel_emotes(text))):
        return False
    if any(p.search(norm) for p in (_EN_PHRASES, _KO_SECOND_PERSON, _KO_VOCATIVE, _KO_IMPERATIVE)):
        return True
    words = [w.strip(".,!?~*\"'()[]") for w in norm.split(" ")]
    cues = [i for i, w in enumerate(words) if w in _EN_SECOND_PERSON or _MENTION.match(w)]
    if not cues:
        return False
    # an addressee (`@forsen`, `you`) is whom a message speaks to, not what offends
    offending = [t for t in terms if not _is_addressee(t)]
    if terms and not offending:
        return False
    terms = offending
    if terms and all(_is_exclamation(t) or _is_harmless(t) for t in terms):
        return False  # exclamations and chat's own words only, and no abusive phrase
    if terms and all(t in _ASS for t in terms) and _ass_idiom(words):
        return False
    if terms and all(t in _TOPICS for t in terms) and not _sexual_cue(words):
        return False
    keys = {skeleton(t.split(" ")[0]) for t in terms} - {""}
    hits = [i for i, w in enumerate(words) if any(k in skeleton(w) for k in keys)]
    if not hits:  # no term to anchor on (none given, or spread over joined letters)
        return True
    # the distance in words that carry meaning: glue and expletives between do not count
    place = list(itertools.accumulate(0 if _is_glue(w) else 1 for w in words))
    return any(abs(place[i] - place[j]) <= NEAR for i in cues for j in hits)


def _is_glue(word: str) -> bool:
    key = skeleton(word)
    return key in _GLUE or key in _EN_EXPLETIVES


def _is_addressee(term: str) -> bool:
    """An @mention, a second-person word or a channel emote named as evidence: a network
    that learned a streamer's name or emote as toxic names it, but it insults nobody."""
    word = term.strip(".,!?~*\"'()[]:")
    return (
        bool(_MENTION.match(word))
        or word.lower() in _EN_SECOND_PERSON
        or bool(_CHANNEL_EMOTE.fullmatch(word))
    )


def _is_harmless(term: str) -> bool:
    """Chat's own words (``gg``, ``insane``) or interjections and emotes, not insults."""
    return all(skeleton(w) in _HARMLESS or skeleton(w) in _FILLER for w in term.split())


def _is_exclamation(term: str) -> bool:
    """An expletive, or a phrase of expletives (``what the fuck``, ``fucked up``)."""
    words = term.split()
    return term in _EXCLAMATIONS or (
        any(skeleton(w) in _EN_EXPLETIVES for w in words)
        and all(skeleton(w) in _EN_EXPLETIVES or w in _EXCLAMATION_WORDS for w in words)
    )


def _without_channel_emotes(text: str) -> str:
    return " ".join(w for w in text.split() if not _CHANNEL_EMOTE.fullmatch(w.strip(".,!?:")))


def _is_outburst(norm: str) -> bool:
    """Only an abusive phrase and interjections, nobody named (see the module docstring)."""
    if _KO_OUTBURST.search(norm):
        return all(_KO_FILLER.match(w.strip(".,!?~;")) for w in _KO_OUTBURST.sub(" ", norm).split())
    joined = _LETTERS.sub(lambda m: m.group(0).replace(" ", ""), norm)
    rest = _EN_OUTBURST.sub(" ", joined)
    if rest == joined:
        return False
    words = (w.strip(".,!?~*\"'()[]:") for w in rest.split())
    return all(not w or skeleton(w) in _FILLER for w in words)


def _sexual_cue(words: list[str]) -> bool:
    return any(skeleton(w) in _SEXUAL_CUES for w in words)


def _ass_idiom(words: list[str]) -> bool:
    """Every ``ass`` follows a possessive (``your ass``, ``yo clumsy ass``) or ``kick``,
    and nothing sexual is said (see the module docstring)."""
    spots = [i for i, w in enumerate(words) if w in _ASS]
    if not spots or _sexual_cue(words):
        return False
    return all(
        any(w in _POSSESSIVE for w in words[max(0, i - 2) : i]) or (i > 0 and words[i - 1] in _KICK)
        for i in spots
    )
