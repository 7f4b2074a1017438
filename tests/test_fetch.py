"""`chatwarden data fetch` against a loopback HTTP server that serves the data dir's files
at their upstream paths (the real source is GitHub; only the URL template differs)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.cli import main
from model.data import load_examples
from model.rules import RuleScorer
from model.training.fetch import SOURCES, fetch
from tests.conftest import DATA_DIR, needs_data

pytestmark = needs_data  # the fetched files are checked against the data dir's copies

UPSTREAM = {
    f"/{s.repo}/{s.commit}/{upstream}": DATA_DIR / local
    for s in SOURCES
    for upstream, local, _ in s.files
}


class Upstream:
    def __init__(self) -> None:
        self.corrupt: set[str] = set()
        self.requests: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.requests.append(self.path)
                local = UPSTREAM.get(self.path)
                if local is None:
                    self.send_error(404)
                    return
                body = local.read_bytes()
                if self.path in upstream.corrupt:
                    body = body[: len(body) // 2] + b"tampered"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.template = (
            f"http://127.0.0.1:{self.server.server_address[1]}/{{repo}}/{{commit}}/{{path}}"
        )


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    thread = threading.Thread(target=up.server.serve_forever, daemon=True)
    thread.start()
    yield up
    up.server.shutdown()
    up.server.server_close()


def test_fetch_downloads_verifies_and_is_usable(
    tmp_path: Path, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    results = fetch(tmp_path, url_template=upstream.template)
    assert {r.status for r in results} == {"downloaded"}
    for s in SOURCES:
        for _, local, _ in s.files:
            assert (tmp_path / local).read_bytes() == (DATA_DIR / local).read_bytes()
    # the fetched folder is a working data dir for training and the rule scorer
    with caplog.at_level(logging.WARNING, logger="model.data"):
        examples = load_examples(tmp_path)
    assert {e.source for e in examples} >= {"beep", "curse", "tweeteval_hate", "davidson"}
    # the sets fetch cannot download yet are left out, and the log says which
    assert "training without convabuse, toxichat" in caplog.text
    assert RuleScorer.from_data_dir(tmp_path).score(["fuck you"])[0].probability >= 0.5
    # a second run downloads nothing
    count = len(upstream.requests)
    assert {r.status for r in fetch(tmp_path, url_template=upstream.template)} == {"present"}
    assert len(upstream.requests) == count


def test_checksum_mismatch_deletes_the_partial_file(
    tmp_path: Path,
    upstream: Upstream,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    curse = next(s for s in SOURCES if s.name == "curse")
    upstream.corrupt.add(f"/{curse.repo}/{curse.commit}/dataset.txt")
    monkeypatch.setenv("CHATWARDEN_DATA_DIR", str(tmp_path))
    code = main(
        [
            "--env-file",
            "/nonexistent",
            "data",
            "fetch",
            "curse",
            "--url-template",
            upstream.template,
        ]
    )
    out = capsys.readouterr()
    assert code == 1
    assert "checksum mismatch" in out.out and "partial file was deleted" in out.out
    assert not (tmp_path / "curse_detection_ko" / "dataset.txt").exists()
    assert not list(tmp_path.rglob("*.part"))
    assert (tmp_path / "curse_detection_ko" / "LICENSE").exists()
    assert "MIT" in out.out and "2runo" in out.out  # licences and attribution printed
    # unknown sets and unreachable servers are clear errors
    results = fetch(tmp_path, ["curse"], url_template="http://127.0.0.1:9/{repo}/{path}")
    by_name = {r.path.name: r for r in results}
    assert by_name["dataset.txt"].status == "failed"
    assert "download failed" in by_name["dataset.txt"].detail
    assert by_name["LICENSE"].status == "present"  # verified earlier: not fetched again
