"""Learned norms in a real `chatwarden run` process, fed over the loopback Twitch IRC fake:
a channel whose moderators time out a term's users gets the next user with that term
flagged, a channel whose moderators do not, does not; a restart keeps what was learned;
`chatwarden norms reset` forgets it. The bundled model scores (no data dir needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.lab.loopback import FakeTwitchServer
from tests.conftest import ROOT
from tests.test_end_to_end import rows, start_bot, stop, wait_for

CHAT = ("good game everyone", "nice play", "what a save", "lol that was close", "gg wp")


def _env(db: Path, irc: FakeTwitchServer, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    env.update(
        CHATWARDEN_CHANNELS="strict,lenient",
        CHATWARDEN_IRC_URL=irc.url,
        CHATWARDEN_DB=str(db),
        CHATWARDEN_DATA_DIR=str(data),  # empty: the bundled model, no word lists
        CHATWARDEN_MODEL_URI="bundled",
        CHATWARDEN_BATCH_MAX_WAIT_MS="10",
        PYTHONPATH=str(ROOT),
    )
    return env


async def _teach(irc: FakeTwitchServer, base_ms: int) -> int:
    """Chat in both channels; four users say the term, timed out only in #strict."""
    ms = base_ms
    for n in range(4):
        for channel in ("strict", "lenient"):
            for i, text in enumerate(CHAT * 3):
                await irc.send_privmsg(channel, f"viewer{i}", text, sent_ms=ms + i)
            await irc.send_privmsg(
                channel, f"fan{n}", "hyde is the best streamer", user_id=f"9{n}", sent_ms=ms + 20
            )
        await irc.send_raw(
            f"@ban-duration=600;room-id=1;target-user-id=9{n};tmi-sent-ts={ms + 23} "
            f":tmi.twitch.tv CLEARCHAT #strict :fan{n}\r\n".encode()
        )
        ms += 30_000
    return ms


def _flagged(db: Path, login: str) -> list[tuple[object, ...]]:
    return rows(
        db,
        f"SELECT channel, labels, evidence FROM flagged_messages WHERE login = '{login}' "
        "ORDER BY channel",
    )


def _seen(db: Path, login: str) -> bool:
    return rows(db, f"SELECT count(*) FROM users WHERE login = '{login}'") == [(1,)]


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_running_bot_learns_a_channels_norm_keeps_it_and_forgets_it_on_reset(
    tmp_path: Path,
) -> None:
    db, data = tmp_path / "cw.db", tmp_path / "no-data"
    data.mkdir()
    base = int(time.time() * 1000) - 3_600_000
    async with FakeTwitchServer() as irc:
        env = _env(db, irc, data)
        proc = await start_bot(env, tmp_path, "run")
        try:
            await irc.wait_joined({"strict", "lenient"}, within=60)
            ms = await _teach(irc, base)
            await wait_for(lambda: rows(db, "SELECT count(*) FROM moderation_events") == [(4,)])
            for channel in ("strict", "lenient"):
                await irc.send_privmsg(channel, "newcomer", "hyde lol", sent_ms=ms)
            await irc.send_privmsg("strict", "regular", "what a save", sent_ms=ms + 1)
            await wait_for(lambda: _seen(db, "regular"))
        finally:
            code, err = await stop(proc)
        assert code == 0, err
        # the fourth fan was already flagged in #strict (three removals taught it), the
        # newcomer too; nothing in #lenient, and ordinary chat never
        assert _flagged(db, "newcomer") == [("strict", '["learned term"]', '["hyde"]')]
        assert [r[0] for r in _flagged(db, "fan3")] == ["strict"]
        assert _flagged(db, "regular") == []
        note = rows(db, "SELECT note FROM flagged_messages WHERE login = 'newcomer'")[0][0]
        assert isinstance(note, str) and "your moderators removed" in note

        shown = _cli(env, tmp_path, "norms", "show", "--channel", "strict", "--json")
        assert shown.returncode == 0, shown.stderr
        summary = json.loads(shown.stdout)
        assert summary["actions"] == 4
        assert any(k["key"] == "hyde" and k["active"] for k in summary["keys"])

        # a restart takes up what was learned
        proc = await start_bot(env, tmp_path, "run")
        try:
            await irc.wait_joined({"strict", "lenient"}, within=60)
            await irc.send_privmsg("strict", "later", "hyde again", sent_ms=ms + 10_000)
            await wait_for(lambda: _flagged(db, "later") != [])
        finally:
            code, err = await stop(proc)
        assert code == 0, err
        assert _flagged(db, "later") == [("strict", '["learned term"]', '["hyde"]')]

        # reset: forgotten (the bot is stopped here; a running one follows at its next save)
        reset = _cli(env, tmp_path, "norms", "reset", "--channel", "strict")
        assert reset.returncode == 0 and "forgotten" in reset.stdout
        proc = await start_bot(env, tmp_path, "run")
        try:
            await irc.wait_joined({"strict", "lenient"}, within=60)
            await irc.send_privmsg("strict", "after_reset", "hyde once more", sent_ms=ms + 20_000)
            await irc.send_privmsg("strict", "marker", "gg", sent_ms=ms + 20_001)
            await wait_for(lambda: _seen(db, "marker"))
        finally:
            code, err = await stop(proc)
        assert code == 0, err
        assert _flagged(db, "after_reset") == []
        empty = _cli(env, tmp_path, "norms", "show", "--channel", "strict", "--json")
        assert json.loads(empty.stdout)["keys"] == []
