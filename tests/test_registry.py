"""Model lifecycle: CPU loading of GPU-saved weights, and a real `mlflow server` on loopback
with registration, aliases and a running bot that switches versions without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from bot.lab.loopback import FakeTwitchServer, free_port
from model.bundle import Bundle, load_bundle, save_bundle
from model.networks import NetworkConfig, build_network
from model.neural import TorchScorer
from model.normalize import normalize
from model.tokenizer import train_tokenizer
from tests.conftest import DATA_DIR, ROOT, needs_data
from tests.test_end_to_end import fetch, poll, rows, start_bot, stop, wait_for


def as_if_saved_on_cuda(path: Path) -> None:
    """Rewrite a torch checkpoint so its storages say they live on ``cuda:0``, exactly as
    ``torch.save`` writes them on a GPU machine (the location string in data.pkl)."""
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    cpu, cuda = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zout:
        for info, data in entries:
            if info.filename.endswith("data.pkl"):
                assert cpu in data
                data = data.replace(cpu, cuda)
            zout.writestr(info, data)


def test_weights_saved_on_a_gpu_load_and_score_on_this_cpu(tmp_path: Path) -> None:
    assert not torch.cuda.is_available()
    texts = [normalize(t) for t in ["you idiot", "hello friend", "시발 뭐야"] * 10]
    tokenizer = train_tokenizer(texts, vocab_size=100, min_frequency=1)
    cfg = NetworkConfig("bilstm", tokenizer.get_vocab_size(), emb_dim=8, hidden=8, channels=8)
    net = build_network(cfg).eval()
    folder = save_bundle(Bundle(net, cfg, tokenizer, {"en": 0.5, "ko": 0.5}), tmp_path / "gpu")
    as_if_saved_on_cuda(folder / "weights.pt")
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(folder / "weights.pt", weights_only=True)  # what a naive loader does
    loaded = load_bundle(folder)  # map_location="cpu", weights_only=True
    assert all(p.device.type == "cpu" for p in loaded.network.parameters())
    expected = TorchScorer(Bundle(net, cfg, tokenizer, {"en": 0.5, "ko": 0.5})).score(texts[:3])
    assert TorchScorer(loaded).score(texts[:3]) == expected


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    mlflow = Path(sys.executable).parent / "mlflow"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{work}/mlflow.db",
            "--artifacts-destination",
            str(work / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,  # its uvicorn, job runner and huey consumers die with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((work / "server.log").read_text()[-2000:])
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)  # reaped: an unwaited child is a ResourceWarning, an error here
        log.close()


def cli_env(tracking: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWARDEN_", "MLFLOW_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        CHATWARDEN_DATA_DIR=str(DATA_DIR),
        MLFLOW_TRACKING_URI=tracking,
        MLFLOW_DISABLE_TELEMETRY="true",
        **extra,
    )
    return env


def cli(
    env: dict[str, str], cwd: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )


@needs_data
async def test_registry_alias_and_hot_reload_in_a_running_bot(
    mlflow_server: str, tmp_path: Path
) -> None:
    env = cli_env(mlflow_server)
    small = [
        "--epochs",
        "1",
        "--max-examples",
        "1500",
        "--chat-lines",
        "3000",
        "--vocab-size",
        "3000",
        "--out",
        str(tmp_path / "models"),
    ]
    trained = cli(
        env,
        tmp_path,
        "train",
        "--arch",
        "cnn",
        *small,
        "--register",
        "--alias",
        "champion",
        "--json",
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    run_id = json.loads(trained.stdout)["run_id"]
    assert json.loads(trained.stdout)["registered_version"] == 1
    listed = json.loads(cli(env, tmp_path, "models", "--json").stdout)
    assert [(v["version"], v["aliases"]) for v in listed] == [(1, ["champion"])]

    # a missing alias is a clear error naming the model and the alias
    bad = cli(
        {**env, "CHATWARDEN_MODEL_URI": "models:/chatwarden-toxicity@nope"},
        tmp_path,
        "score",
        stdin='{"text": "x"}\n',
    )
    assert bad.returncode == 2
    assert "no alias 'nope' on the registered model 'chatwarden-toxicity'" in bad.stderr

    port = free_port()
    db = tmp_path / "cw.db"
    async with FakeTwitchServer() as irc:
        bot_env = cli_env(
            mlflow_server,
            CHATWARDEN_CHANNELS="chan",
            CHATWARDEN_IRC_URL=irc.url,
            CHATWARDEN_DB=str(db),
            CHATWARDEN_METRICS_PORT=str(port),
            CHATWARDEN_MODEL_URI="models:/chatwarden-toxicity@champion",
            CHATWARDEN_MODEL_REFRESH_S="0.5",
        )
        proc = await start_bot(bot_env, tmp_path, "run")
        try:
            await irc.wait_joined({"chan"}, within=60)
            health = json.loads((await poll(f"http://127.0.0.1:{port}/healthz"))[1])
            assert health["model_version"] == "chatwarden-toxicity/1"
            sent = 0
            for i in range(50):
                await irc.send_privmsg("chan", f"u{i}", f"message {i}")
                sent += 1

            # register version 2 and move the alias; the running bot follows
            os.environ["MLFLOW_TRACKING_URI"] = mlflow_server
            try:
                from model.registry import register, set_alias

                assert register(run_id) == 2
                moved = time.monotonic()
                set_alias("champion", 2)
            finally:
                del os.environ["MLFLOW_TRACKING_URI"]

            async def version() -> str:
                return str(
                    json.loads((await fetch(f"http://127.0.0.1:{port}/healthz"))[1])[
                        "model_version"
                    ]
                )

            while await version() != "chatwarden-toxicity/2":
                assert time.monotonic() - moved < 30, "the bot did not switch versions"
                await irc.send_privmsg("chan", f"w{sent}", f"during the switch {sent}")
                sent += 1
                await asyncio.sleep(0.1)
            latency = time.monotonic() - moved
            for i in range(50):
                await irc.send_privmsg("chan", f"v{i}", f"after {i}")
                sent += 1
            await wait_for(lambda: rows(db, "SELECT count(*) FROM seen_messages") == [(sent,)])

            # a version whose files are gone is refused; the bot keeps version 2
            os.environ["MLFLOW_TRACKING_URI"] = mlflow_server
            try:
                from model.registry import _client

                client = _client()
                gone = f"{client.get_run(run_id).info.artifact_uri}/deleted-model"
                client.create_model_version("chatwarden-toxicity", source=gone, run_id=run_id)
                set_alias("champion", 3)
            finally:
                del os.environ["MLFLOW_TRACKING_URI"]
            await asyncio.sleep(2)
            assert await version() == "chatwarden-toxicity/2"
        finally:
            code, err = await stop(proc)
        assert code == 0, err
    assert "switched model chatwarden-toxicity/1 → chatwarden-toxicity/2" in err
    assert "refused model chatwarden-toxicity/3" in err
    print(f"reload latency after the alias moved: {latency:.2f} s (refresh 0.5 s)")
    assert rows(db, "SELECT count(*) FROM seen_messages") == [(sent,)]  # none lost or doubled

    # tracking server unreachable at start-up: the bot starts with the model it had last
    dead = cli_env(
        "http://127.0.0.1:9",
        CHATWARDEN_CHANNELS="chan",
        CHATWARDEN_DB=str(db),
        CHATWARDEN_IRC_URL="irc://127.0.0.1:9",
        CHATWARDEN_METRICS_PORT=str(port),
        CHATWARDEN_MODEL_URI="models:/chatwarden-toxicity@champion",
    )
    proc = await start_bot(dead, tmp_path, "run")
    try:
        health = json.loads((await poll(f"http://127.0.0.1:{port}/healthz"))[1])
        assert health["model_version"] == "chatwarden-toxicity/2"
    finally:
        code, err = await stop(proc)
    assert code == 0, err
    assert "tracking server unreachable" in err and "model last fetched from MLflow" in err
