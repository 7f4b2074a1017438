"""A real PostgreSQL server for the tests: initdb and pg_ctl in a temporary folder, on
loopback, with a password (scram-sha-256 over TCP), fsync off (the tests' data is thrown
away). Debian's ``postgresql`` package puts the binaries in /usr/lib/postgresql/N/bin.

Skipped outside CI when the binaries are missing; in CI (``CI`` set) a missing server is
an error, as the browser test's missing chromium is (.ci/run installs both).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from bot.lab.loopback import free_port
from storage.location import PostgresUrl, parse_database

USER = "chatwarden"
PASSWORD = "pg-test-s3cret"  # a test server's, on loopback: the tests check it never shows


def find_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are (PATH first, then Debian's versioned folders)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    for d in reversed(dirs):
        if (Path(d) / "initdb").is_file():
            return Path(d)
    return None


MISSING = (
    "needs PostgreSQL's server binaries (initdb, pg_ctl): apt-get install postgresql; "
    "CI installs it"
)


class PostgresServer:
    """One server, started on enter and stopped (and its folder removed) on exit."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self._root = Path(tempfile.mkdtemp(prefix="chatwarden-pg-"))
        self.data = self._root / "data"
        self._names = itertools.count(1)
        # PostgreSQL refuses to run as root: run it as an unprivileged user then
        self._user: str | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    continue
                self._user = name
                break

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            user=self._user,
            cwd=self._root,
        )

    def __enter__(self) -> PostgresServer:
        pwfile = self._root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self._root, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        log = str(self._root / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self._root, ignore_errors=True)

    def url(self, database: str = "postgres", password: str = PASSWORD) -> PostgresUrl:
        location = parse_database(
            f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"
        )
        assert isinstance(location, PostgresUrl)
        return location

    async def create_database(self) -> PostgresUrl:
        """A new, empty database on this server."""
        name = f"t{os.getpid()}_{next(self._names)}"
        conn = await asyncpg.connect(self.url().url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)


def started() -> Iterator[PostgresServer]:
    bin_dir = find_bin_dir()
    assert bin_dir is not None
    with PostgresServer(bin_dir) as server:
        yield server
