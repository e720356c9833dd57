"""Trails and server processes for the server tests: `fairtrail serve` started for real
on 127.0.0.1 and a free port, stopped (or killed) by the test."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from fairtrail.anchor.devnode import free_port

ROOT = Path(__file__).resolve().parents[2]



@dataclass
class Server:
    trail: Path
    port: int
    proc: subprocess.Popen[bytes]
    args: list[str] = field(default_factory=list)
    log: str = ""  # what it printed on stderr, once it has exited

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=30, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.stderr()

    def stderr(self) -> str:
        """What the server printed on stderr (once it has exited; the pipe is closed)."""
        pipe = self.proc.stderr
        if pipe is None or pipe.closed or self.proc.poll() is None:
            return ""
        self.log += pipe.read().decode(errors="replace")
        pipe.close()
        return self.log


def start_server(trail: Path, *args: str, port: int | None = None) -> Server:
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fairtrail", "--trail", str(trail), "--wait", "20", "serve",
         "--port", str(port), *args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    server = Server(trail, port, proc, list(args))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fairtrail serve exited: {server.stderr()}")
        try:
            if requests.get(server.url + "/api/v1/log", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("fairtrail serve did not start within 60 s")


def copy_trail(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.lock"))
    return dst


def build_rich_trail(root: Path) -> Any:
    """The credit trail, audited, judged by two policies, reviewed, deployed, monitored,
    with a drifting window that opened alerts: every panel of the dashboard has data."""
    from tests.anchor.test_anchoring import _passing_model
    from tests.monitoring.test_monitoring import stream

    from fairtrail import Trail
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.monitoring import Monitor, setup_monitor
    from fairtrail.policy.decisions import check_model, current_policies, record_policy
    from fairtrail.policy.gates import deploy
    from fairtrail.policy.packs import pack_path
    from fairtrail.policy.rules import load_policy

    credit = _passing_model(root)
    with Trail.open(credit.path) as trail:
        admin = trail.actor_key("admin")
        record_policy(trail, load_policy(pack_path("production-monitoring")), admin)
        model = resolve_model(trail, credit.model)
        for recorded in current_policies(trail):
            check_model(trail, model, recorded, admin)
        deploy(trail, model, "production", trail.actor_key("ops"))
        setup_monitor(trail, model, credit.data, admin, window_rows=1000,
                      columns={"id": "id", "prediction": "scored", "label": "credit",
                               "time": "time"})  # fmt: skip
        stream(root / "a.csv", 2000, 1)
        stream(root / "b.csv", 2000, 2, drift=True)
        with Monitor(trail, model, admin) as monitor:
            monitor.feed(root / "a.csv")
            monitor.feed(root / "b.csv")
        trail.checkpoint()
    return credit
