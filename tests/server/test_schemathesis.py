"""Schemathesis against the published OpenAPI document: generated requests to every
operation (reads and writes, with and without a valid token) never get a 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.server._fixtures import start_server
from tests.server.test_api import token

from fairtrail import Role

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_no_generated_request_gets_a_5xx(rich_trail: Path) -> None:
    server = start_server(rich_trail, "--rate-limit", "0")
    try:
        secret = token(rich_trail, "admin", Role.ADMIN)[1]
        for headers in ([], ["-H", f"Authorization: Bearer {secret}"]):
            r = subprocess.run(
                [sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json",
                 "--checks", "not_a_server_error", "--max-examples", "25",
                 "--generation-deterministic", "--request-timeout", "30",
                 "--suppress-health-check", "all", *headers],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
            assert "not_a_server_error" in r.stdout and " passed" in r.stdout, r.stdout[-2000:]
    finally:
        server.stop()
    assert "fairtrail serving" in server.log and "Traceback" not in server.log
