"""The README's two commands are what CI runs: ``.ci/run`` installs exactly as the first
says (without its final live ``run``) and runs the second, the test command."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", readme, re.S)[:2]


def test_the_readme_starts_with_setting_up_the_bot_then_the_tests() -> None:
    setup, tests = _commands()
    assert setup.startswith("python3 -m venv .venv && .venv/bin/pip install . && ")
    assert setup.endswith(" && .venv/bin/chatwarden run --channel twitchdev")
    assert "[dev]" not in setup  # running the bot needs the runtime only
    assert tests.endswith(".venv/bin/python -m pytest -q")


def test_ci_installs_and_tests_as_the_readme_says() -> None:
    setup, tests = _commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    install = setup.removesuffix(" && .venv/bin/chatwarden run --channel twitchdev")
    assert install in ci
    steps = tests.split(" && ")
    for step in steps:
        assert step in ci, step
    assert [ci.index(step) for step in steps] == sorted(ci.index(step) for step in steps)
    assert ci.index(install) < ci.index(steps[0])
    assert ci[-1] == steps[-1]  # the tests run last
