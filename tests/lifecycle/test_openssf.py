"""A model signed by fairtrail verifies with the stock `model_signing` CLI, and a changed
model does not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_user_error, ft


def _verify(model: Path, sig: Path, pub: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_signing", "verify", "key", str(model),
         "--signature", str(sig), "--public_key", str(pub)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["file", "folder"])
def test_model_signing_cli_accepts_a_fairtrail_signature(tmp_path: Path, kind: str) -> None:
    t = tmp_path / "trail"
    assert ft(t, "init").returncode == 0
    assert ft(t, "keys", "create", "mo", "--role", "ml-engineer").returncode == 0
    if kind == "file":
        model = tmp_path / "model.safetensors"
        header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})
        model.write_bytes(len(header).to_bytes(8, "little") + header.encode() + bytes(16))
    else:
        model = tmp_path / "model"
        model.mkdir()
        (model / "config.json").write_text("{}")
        (model / "weights.bin").write_bytes(bytes(range(256)) * 64)
    r = ft(t, "model", "add", str(model), "--sign", "--as", "mo")
    assert r.returncode == 0, r.stderr
    sig = model.with_name(model.name + ".sig")
    pub = t / "keys" / "mo.p256.pub"
    assert (t / "keys" / "mo.p256.key").stat().st_mode & 0o777 == 0o600
    ok = _verify(model, sig, pub)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    target = model if kind == "file" else model / "weights.bin"
    target.write_bytes(target.read_bytes()[:-1] + b"\x01")
    assert _verify(model, sig, pub).returncode != 0
    # the Model statement binds the signature file and the key to the actor's log entry
    r = ft(t, "log", "--json", "--tail", "1")
    assert json.loads(r.stdout.splitlines()[-1])["signer"] == "mo"
    assert_user_error(
        ft(t, "model", "add", str(model), "--sign", "--as", "mo"), 2, "already exists"
    )
