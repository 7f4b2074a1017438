from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.settings import SETTINGS_KEYS, Settings, SettingsError, read_env_file
from tests.conftest import ROOT

WEBHOOK = "https://discord.com/api/webhooks/123456/abcDEF_token-xyz"


def test_env_example_lists_exactly_the_settings() -> None:
    keys = set(read_env_file(ROOT / ".env.example"))
    assert keys == set(SETTINGS_KEYS)


def test_env_example_values_parse(tmp_path: Path) -> None:
    # the example file, as shipped, is a valid configuration
    Settings.from_env({}, ROOT / ".env.example")


def test_defaults(tmp_path: Path) -> None:
    s = Settings.from_env({}, None)
    assert str(s.irc_url) == "ircs://irc.chat.twitch.tv:6697" and s.irc_url.tls
    assert s.anonymous and s.discord_webhook_url is None
    assert s.db == Path("chatwarden.db")
    assert (s.batch_max_size, s.batch_max_wait_ms) == (128, 25.0)


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# comment\nCHATWARDEN_CHANNELS=from_file\nexport CHATWARDEN_DB='x.db'\n")
    s = Settings.from_env({"CHATWARDEN_CHANNELS": "#One, two"}, env)
    assert s.channels == ("one", "two")
    assert s.db == Path("x.db")


def test_secrets_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    s = Settings.from_env(
        {
            "CHATWARDEN_TWITCH_LOGIN": "mybot",
            "CHATWARDEN_TWITCH_TOKEN": "oauth:abcdef1234567890",
            "CHATWARDEN_DISCORD_WEBHOOK_URL": WEBHOOK,
        },
        None,
    )
    assert s.twitch_token is not None and s.twitch_token.reveal() == "oauth:abcdef1234567890"
    text = repr(s) + str(s)
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("settings: %s %s", s, s.discord_webhook_url)
    for secret in ("abcdef1234567890", "abcDEF_token-xyz", "123456"):
        assert secret not in text
        assert secret not in caplog.text


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("CHATWARDEN_CHANNELS", "bad channel!", "CHATWARDEN_CHANNELS"),
        ("CHATWARDEN_IRC_URL", "http://x", "CHATWARDEN_IRC_URL"),
        (
            "CHATWARDEN_DISCORD_WEBHOOK_URL",
            "https://evil.example/api/webhooks/1/x",
            "not a Discord webhook URL",
        ),
        (
            "CHATWARDEN_DISCORD_WEBHOOK_URL",
            "https://discord.com/channels/1/2",
            "not a Discord webhook URL",
        ),
        ("CHATWARDEN_BATCH_MAX_SIZE", "lots", "CHATWARDEN_BATCH_MAX_SIZE: expected a whole number"),
        ("CHATWARDEN_BATCH_MAX_SIZE", "0", "outside"),
        ("CHATWARDEN_REPORT_THRESHOLD", "1.5", "CHATWARDEN_REPORT_THRESHOLD"),
        ("CHATWARDEN_EXEMPT_VIPS", "maybe", "CHATWARDEN_EXEMPT_VIPS: expected true or false"),
        ("CHATWARDEN_TWITCH_TOKEN", "oauth:short", "CHATWARDEN_TWITCH_TOKEN"),
        ("CHATWARDEN_LOG_LEVEL", "LOUD", "CHATWARDEN_LOG_LEVEL"),
        ("CHATWARDEN_SENSITIVITY", "extreme", "CHATWARDEN_SENSITIVITY: unknown sensitivity"),
        ("CHATWARDEN_SENSITIVITY", "medium,loud=max", "unknown sensitivity 'max'"),
    ],
)
def test_bad_values_name_the_key(key: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        Settings.from_env({key: value}, None)


def test_bad_webhook_error_does_not_echo_the_token() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(
            {"CHATWARDEN_DISCORD_WEBHOOK_URL": "https://evil.example/secret-tok"}, None
        )
    assert "secret-tok" not in str(info.value)


def test_login_and_token_go_together() -> None:
    with pytest.raises(SettingsError, match="go together"):
        Settings.from_env({"CHATWARDEN_TWITCH_LOGIN": "bot"}, None)


def test_malformed_env_file_names_the_line(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("CHATWARDEN_CHANNELS=a\nthis is not a setting\n")
    with pytest.raises(SettingsError, match=r"\.env:2: expected KEY=value"):
        Settings.from_env({}, env)


def test_loopback_webhook_and_irc_urls_for_tests() -> None:
    s = Settings.from_env(
        {
            "CHATWARDEN_DISCORD_WEBHOOK_URL": "http://127.0.0.1:8080/api/webhooks/1/tok",
            "CHATWARDEN_IRC_URL": "irc://127.0.0.1:6667",
        },
        None,
    )
    assert not s.irc_url.tls and s.irc_url.port == 6667


def test_json_logs_are_one_line_per_event_and_redact_token_shapes() -> None:
    import io
    import json

    from bot.logs import setup_logging

    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging("INFO", "json", stream)
    try:
        log = logging.getLogger("chatwarden.test")
        log.info("posting to %s", "https://discord.com/api/webhooks/123/abcDEF-tok_en")
        log.warning("login with oauth:abcdef1234567890 failed", extra={"channel": "c"})
        try:
            raise RuntimeError("PASS oauth:zzzz9999zzzz")
        except RuntimeError:
            log.exception("crash")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["level"] for e in events] == ["info", "warning", "error"]
    assert events[1]["channel"] == "c" and events[0]["logger"] == "chatwarden.test"
    text = stream.getvalue()
    for secret in ("abcDEF-tok_en", "abcdef1234567890", "zzzz9999zzzz"):
        assert secret not in text
    assert "/api/webhooks/123/**********" in events[0]["event"]


def test_sensitivity_preset_and_per_channel_overrides() -> None:
    assert str(Settings.from_env({}, None).sensitivity) == "medium"
    s = Settings.from_env({"CHATWARDEN_SENSITIVITY": "low, #LoudChan=high ,tiny=medium"}, None)
    assert s.sensitivity.default == "low"
    assert s.sensitivity.channels == (("loudchan", "high"), ("tiny", "medium"))


def test_env_file_as_people_write_it(tmp_path: Path) -> None:
    """Inline comments, quotes and ``export`` are read the way python-dotenv reads them."""
    env = tmp_path / ".env"
    env.write_text(
        "CHATWARDEN_CHANNELS=twitchdev # my channel\n"
        "CHATWARDEN_DB=chat.db # db\n"
        'export CHATWARDEN_SENSITIVITY="low"  # quiet\n'
        "CHATWARDEN_LOG_LEVEL='WARNING'\n"
        "CHATWARDEN_DASHBOARD_TOKEN=abc#defghijklmnopq\n"
    )
    s = Settings.from_env({}, env)
    assert s.channels == ("twitchdev",)
    assert s.db == Path("chat.db")
    assert s.sensitivity.default == "low"
    assert s.log_level == "WARNING"
    # a '#' inside a value (no space before it) is part of the value, as in python-dotenv
    assert s.dashboard_token is not None
    assert s.dashboard_token.reveal() == "abc#defghijklmnopq"


def test_env_file_value_error_names_the_line_not_the_value(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# settings\nCHATWARDEN_CHANNELS=a\n\nCHATWARDEN_BATCH_MAX_SIZE=seekrit # x\n")
    with pytest.raises(SettingsError, match=r"\.env:4: CHATWARDEN_BATCH_MAX_SIZE") as info:
        Settings.from_env({}, env)
    assert "seekrit" not in str(info.value)


@pytest.mark.parametrize("where", ["env_file", "environment"])
def test_a_misspelt_setting_is_a_warning_naming_the_closest(
    where: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = tmp_path / ".env"
    environ: dict[str, str] = {}
    if where == "env_file":
        env.write_text("CHATWARDEN_CHANNELS=a\nCHATWARDEN_SENSITIVTY=low\n")
    else:
        env.write_text("")
        environ["CHATWARDEN_SENSITIVTY"] = "low"
    with caplog.at_level(logging.WARNING, logger="bot.settings"):
        s = Settings.from_env(environ, env)
    assert s.sensitivity.default == "medium"  # not applied: it is not a setting
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "CHATWARDEN_SENSITIVTY" in warnings[0]
    assert "did you mean CHATWARDEN_SENSITIVITY" in warnings[0]
    if where == "env_file":
        assert ".env:2" in warnings[0]


def test_a_setting_far_from_any_known_one_is_still_named(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.settings"):
        Settings.from_env({"CHATWARDEN_QQQQQQ": "1"}, None)
    assert "CHATWARDEN_QQQQQQ is not a chatwarden setting" in caplog.text
    assert ".env.example" in caplog.text


@pytest.mark.parametrize("line", ["CHATWARDEN_CHANNELS", "this is not a setting", "A='open"])
def test_an_env_line_that_is_no_setting_is_an_error_naming_its_line(
    line: str, tmp_path: Path
) -> None:
    env = tmp_path / ".env"
    env.write_text(f"# settings\n\nCHATWARDEN_DB=x.db\n\n{line}\n")
    with pytest.raises(SettingsError, match=r"\.env:5: expected KEY=value") as info:
        Settings.from_env({}, env)
    assert line not in str(info.value)
