"""A malformed ``.env`` line never echoes its value: errors name the key and the line only.

Driven through the installed console script (``chatwarden doctor`` and a command that
loads the settings), with a token and a webhook URL in every malformed form.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TOKEN = "s3cr3ttok3nabcdef0123456789"
HOOK = "zzHookSecret_QWERTY-98765"
URL = f"https://discord.com/api/webhooks/123/{HOOK}"

LINES = [
    f"CHATWARDEN_TWITCH_TOKEN {TOKEN}",  # no '='
    f"CHATWARDEN_TWITCH_TOKEN: {TOKEN}",
    f'CHATWARDEN_TWITCH_TOKEN="{TOKEN}',  # unterminated quote
    f"CHATWARDEN_TWITCH_TOKEN='{TOKEN}\"",  # mismatched quotes
    f"export CHATWARDEN_TWITCH_TOKEN {TOKEN}",
    f"chatwarden_twitch_token={TOKEN}",  # lower-case key
    f"CHATWARDEN TWITCH TOKEN={TOKEN}",  # spaces in the key
    f"{TOKEN}",  # the value alone
    f"CHATWARDEN_BATCH_MAX_SIZE={TOKEN}",  # a secret pasted under the wrong key
    f"CHATWARDEN_EXEMPT_VIPS={TOKEN}",
    f"CHATWARDEN_LOG_LEVEL={TOKEN}",
    f"CHATWARDEN_LOG_FORMAT={TOKEN}",
    f"CHATWARDEN_CHANNELS={URL}",
    f"CHATWARDEN_DISCORD_WEBHOOK_URL {URL}",
    f'CHATWARDEN_DISCORD_WEBHOOK_URL="{URL}',
    f"CHATWARDEN_DISCORD_WEBHOOK_URL=http://discord.com/api/webhooks/123/{HOOK}",
    f"CHATWARDEN_DISCORD_WEBHOOK_URL=https://{HOOK}.example.com/api/webhooks/1/x",
    f"CHATWARDEN_DISCORD_WEBHOOK_URL=https://discord.com/api/webhook/123/{HOOK}",
    f"CHATWARDEN_DISCORD_WEBHOOK_URL=discord.com/api/webhooks/123/{HOOK}",
    f"CHATWARDEN_DISCORD_WEBHOOK_URL=https://user:{HOOK}@evil.example/api/webhooks/1/x",
    f"CHATWARDEN_EXEMPT_SUBSCRIBERS={URL}",
]


def _run(tmp_path: Path, line: str, *args: str) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / ".env"
    env_file.write_text(f"# settings\nCHATWARDEN_CHANNELS=somechannel\n{line}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWARDEN_")}
    return subprocess.run(
        [str(Path(sys.executable).with_name("chatwarden")), "--env-file", str(env_file), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("line", LINES)
def test_malformed_env_line_never_shows_the_secret(tmp_path: Path, line: str) -> None:
    done = _run(tmp_path, line, "flagged")
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert TOKEN not in out and HOOK not in out, out
    assert ".env:3" in out, out  # the file and the line
    assert "Traceback" not in out
    doctor = _run(tmp_path, line, "doctor")
    assert doctor.returncode == 1
    assert TOKEN not in doctor.stdout + doctor.stderr and HOOK not in doctor.stdout
