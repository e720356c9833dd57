"""Schemathesis against the published OpenAPI document: generated requests to every
operation (reads and writes, with and without a valid token) never get a 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.server._fixtures import start_server
from tests.server.test_api import token

from fairtrail import Role

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPERATIONS = 15  # every operation in /openapi.json


def test_no_generated_request_gets_a_5xx(rich_trail: Path, tmp_path: Path) -> None:
    server = start_server(rich_trail, "--rate-limit", "0")
    try:
        secret = token(rich_trail, "admin", Role.ADMIN)[1]
        for headers in ([], ["-H", f"Authorization: Bearer {secret}"]):
            r = subprocess.run(
                [sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json",
                 "--checks", "not_a_server_error", "--max-examples", "25",
                 "--generation-deterministic", "--request-timeout", "30",
                 "--suppress-health-check", "all", *headers],
                capture_output=True, text=True, timeout=600, cwd=tmp_path,  # its cache goes there
            )  # fmt: skip
            assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
            ran = re.search(r"(\d+) generated, (\d+) passed", r.stdout)
            assert ran and ran[1] == ran[2] and int(ran[1]) >= 100, r.stdout[-2000:]
            assert re.search(r"Tested: (\d+)", r.stdout)[1] == str(OPERATIONS)  # type: ignore[index]
    finally:
        server.stop()
    assert "fairtrail serving" in server.log and "Traceback" not in server.log
