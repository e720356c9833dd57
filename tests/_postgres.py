"""A real PostgreSQL server for the tests: Debian's binaries, initdb into a temporary
folder, listening on 127.0.0.1 only (and a private socket folder), stopped at the end.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the
`postgres` user that Debian's package creates, through `runuser`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fairtrail.anchor.devnode import free_port


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None



@dataclass
class PostgresServer:
    port: int
    user: str

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def run_postgres() -> Iterator[PostgresServer]:
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (make test installs Debian's postgresql)")
    root = Path(tempfile.mkdtemp(prefix="fairtrail-pg-"))
    data, sockets = root / "data", root / "sock"
    as_user: list[str] = []
    user = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        user = "postgres"
        as_user = ["runuser", "-u", user, "--"]
        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust",
         "--no-instructions", "-E", "UTF8"],
        check=True, capture_output=True,
    )  # fmt: skip
    if as_user:
        sockets.mkdir()
        os.chown(sockets, pwd.getpwnam(user).pw_uid, -1)
    else:
        sockets.mkdir()
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {sockets} -c max_connections=200 -c fsync=on"
    try:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
             "-o", options, "-w", "-t", "60", "start"],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            yield PostgresServer(port, user)
        finally:
            subprocess.run(
                [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                 "stop"],
                capture_output=True,
            )  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
