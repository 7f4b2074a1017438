"""What makes a flag severe: its category, never its score.

A score says how sure a scorer is that a message is toxic, not how bad it is: the bundled
network gives ``holy shit that was insane`` 0.96 and ``kys`` 0.11. Moderators act at the
first message on a few kinds of abuse, and those are named here:

* ``slur``: a slur of race, religion, sexual orientation or gender (the rules' severe list
  entries, and the policy's own ``cues/slurs.txt`` whatever the scorer; a network's
  ``hate`` output is not one: it fires on ``gg wp`` and ``women``);
* ``threat``: the scorer's ``threat``, or a threat the policy reads (``i will kill you``,
  ``죽여버린다``);
* ``self-harm``: encouraging someone to hurt themselves (``kys``, ``kill yourself``,
  ``자살해``);
* ``sexual``: sexual harassment, a sexual remark aimed at someone (the scorer's ``sexual``,
  or a sexual body word: ``@alice show me your boobs``). Read by the policy, it reports at
  once only when the message names its addressee (an @mention, a reply, the streamer):
  ``if you have tits they'll favourite you`` speaks to nobody in particular.

Slurs, threats and self-harm encouragement are flagged with no addressee
(:data:`SEVERE_ALONE`); sexual remarks only when aimed at someone. Besides those, the policy
reads one insult a scorer may miss: a Korean insult said as a vocative (``빙시야``,
``병신아``), category ``insult``, which reports after repeats like any mild flag.

The words and phrases the policy reads (:func:`phrase_categories`) flag a message whatever
the score: they are unambiguous in chat, and a scorer that misses them (``kys`` 0.11,
``kike`` 0.12) is what they are for. Their word sets are in ``cues/`` (``slurs.txt``,
``sexual_terms.txt``); like the rest of the package they are part of the policy's version.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bot.policy.targeting import read_cues
from bot.policy.terms import BLOCKED
from model.normalize import is_number, normalize, skeleton

__all__ = [
    "AT_ONCE",
    "INSULT",
    "SELF_HARM",
    "SEVERE_ALONE",
    "SEXUAL",
    "SLUR",
    "THREAT",
    "phrase_categories",
    "sexual_remark",
]

SLUR = "slur"
THREAT = "threat"
SELF_HARM = "self-harm"
SEXUAL = "sexual"
INSULT = "insult"

#: Flagged with no addressee, at every sensitivity (``blocked``: the channel's own call).
SEVERE_ALONE = frozenset({SLUR, THREAT, SELF_HARM, BLOCKED})
#: One message of these reports its user at once (``blocked``: a term the channel blocked).
AT_ONCE = frozenset({SLUR, THREAT, SELF_HARM, SEXUAL, BLOCKED})

_SELF_HARM = re.compile(
    r"\b(kys|kill (yo)?urself|kill ur ?self|kill yourselves|neck yourself|hang yourself)\b|"
    r"(자살해|자살하셈|자살하세요|자살해라)"
)
_THREAT = re.compile(
    r"\b(i|ill|i'll|im|i'm|imma|ima)( will| am| ll| going to| gonna| gon| ma)* "
    r"(kill|murder|stab|rape) (you|u|ur family|your family)\b|"
    r"(죽여버린다|죽여버릴|죽여 버린다|찾아가서 죽|칼로 찔러)"
)
_KO_INSULT_VOCATIVE = re.compile(
    r"(병신|븅신|빙신|빙시|ㅄ|ㅂㅅ|등신|찐따|개새끼|개새|새끼|새꺄|쌔꺄|또라이|돌아이|도라이|멍청)"
    r"(아|야|들아|이야)(\s|$|[~!?.ㅋ])"
)


_SLURS = read_cues("slurs")
_EN_SLURS = frozenset(skeleton(w, squash=False) for w in _SLURS if w.isascii())
_KO_SLURS = tuple(w for w in _SLURS if not w.isascii())
_HANGUL = re.compile("[\uac00-\ud7a3]")
#: compared unsquashed (leetspeak undone, doubled letters kept): `boob` is not `bob`
_SEXUAL_TERMS = frozenset(skeleton(w, squash=False) for w in read_cues("sexual_terms"))
_ASS = frozenset(skeleton(w, squash=False) for w in read_cues("ass"))
#: the cues that make an `ass` a body (`nice ass`, `show me your ass`); the expletives,
#: `kiss` and `up` (`fucking boring ass game`, `kiss my ass`, `head up his ass`) do not,
#: except `fuck` with only a possessive or `that` between (`fuck that ass`)
_ASS_CUES = frozenset(skeleton(w) for w in read_cues("sexual_cues")) - {
    skeleton(w) for w in ("fuck", "fucking", "kiss", "up")
}
_FUCK = skeleton("fuck")
_ASS_OWNERS = frozenset(
    skeleton(w) for w in ("your", "ur", "yo", "yer", "his", "her", "my", "their", "that", "dat")
)
#: how many words before an `ass` its cue may stand (`show me your ass`)
_ASS_REACH = 3
#: words that may follow an `ass` that is a body (`nice ass lol`, an emoji, punctuation);
#: any other word makes it an intensifier (`hot ass california`, `sexy ass dude`): the
#: interjections of the fillers, not the vocatives (`bro`, `dude`, `man`)
_ASS_AFTER = frozenset(skeleton(w) for w in read_cues("fillers_emotes")) - {
    skeleton(w) for w in ("bro", "brah", "bruh", "dude", "man", "yo")
}
_LETTER = re.compile(r"[^\W\d_]")
#: the cues said of someone's ass after it; `cheeks` and `booty` there mean bad at
#: something (`your ass is cheeks`)
_ASS_SAID = _ASS_CUES - {skeleton(w) for w in ("cheeks", "booty")}


#: words between an owned ``ass`` and the cue said of it (`your ass is so hot`): the
#: targeting's copulas and intensifiers (``glue.txt``) and a few more
_ASS_LINK = frozenset(skeleton(w) for w in read_cues("glue")) | {
    skeleton(w) for w in ("s", "looks", "look", "was", "very", "damn", "mad")
}


def _fillers(words: list[str]) -> bool:
    """Only interjections, emoji or punctuation (see :data:`_ASS_AFTER`)."""
    return all(skeleton(w) in _ASS_AFTER or not _LETTER.search(w) for w in words)


def _ass_is_a_body(words: list[str], i: int) -> bool:
    """``words[i]`` is an ``ass`` (see :func:`sexual_remark`)."""
    if i > 0 and skeleton(words[i - 1]) in _ASS_OWNERS:
        # said of someone's ass: `your ass is so hot`, `her ass looks thicc lol`
        j = i + 1
        while j < len(words) and skeleton(words[j]) in _ASS_LINK:
            j += 1
        cue = j > i + 1 and j < len(words) and skeleton(words[j]) in _ASS_SAID
        if cue and _fillers(words[j + 1 :]):
            return True
    if not _fillers(words[i + 1 :]):
        return False
    before = [skeleton(c) for c in words[max(0, i - _ASS_REACH) : i]]
    if any(c in _ASS_CUES for c in before):
        return True
    return len(before) >= 2 and before[-2] == _FUCK and before[-1] in _ASS_OWNERS


#: Texts whose categories are remembered: chat repeats itself, and every message is read.
READ_MEMO = 1 << 15


@lru_cache(maxsize=READ_MEMO)
def phrase_categories(text: str) -> tuple[str, ...]:
    """The categories of the abusive words and phrases the policy reads in ``text`` itself:
    ``slur`` (``cues/slurs.txt``), ``self-harm``, ``threat``, ``insult`` (a Korean vocative
    insult)."""
    norm = normalize(text)
    if not norm:
        return ()
    found: list[str] = []
    if _has_slur(norm):
        found.append(SLUR)
    if _SELF_HARM.search(norm):
        found.append(SELF_HARM)
    if _THREAT.search(norm):
        found.append(THREAT)
    if _KO_INSULT_VOCATIVE.search(norm):
        found.append(INSULT)
    return tuple(found)


def _has_slur(norm: str) -> bool:
    """A listed slur (``cues/slurs.txt``): an English one as a whole word (plural ``s``
    too), a Korean one at the start of a word (a particle may follow)."""
    for word in norm.split(" "):
        word = word.strip(".,!?~*\"'()[]:")
        if not word:
            continue
        if _HANGUL.search(word):
            if word.startswith(_KO_SLURS):
                return True
            continue
        if _is_en_slur(word):
            return True
    return False


@lru_cache(maxsize=READ_MEMO)
def _is_en_slur(word: str) -> bool:
    if is_number(word):
        return False  # `900k` is a number, not leetspeak for a slur
    key = skeleton(word, squash=False)
    return key in _EN_SLURS or (key.endswith("s") and key[:-1] in _EN_SLURS)


def sexual_remark(text: str) -> bool:
    """Whether ``text`` names a sexual body part or act (``boobs``, ``nudes``), or an ``ass``
    as a body: a sexual cue just before it and nothing but fillers after it (``nice ass``,
    ``show me your ass lol``), or a cue said of someone's ass after it (``your ass is so
    hot``). In chat ``ass`` is mostly an intensifier or an insult (``lame ass dude``, ``hot
    ass california``, ``sucks ass``). Sexual harassment when the message is aimed at
    someone."""
    words = [w.strip(".,!?~*\"'()[]") for w in normalize(text).split(" ")]
    words = [w for w in words if w]
    for i, w in enumerate(words):
        bare = skeleton(w, squash=False)
        if bare in _SEXUAL_TERMS:
            return True
        if bare in _ASS and _ass_is_a_body(words, i):
            return True
    return False
