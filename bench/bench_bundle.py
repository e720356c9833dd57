"""Bundle benchmark: export and offline verification of a bundle of N statements,
next to the floor of the same work (the Ed25519 signature checks and RFC 9162
inclusion proofs alone, with nothing else).

    .venv/bin/python -W ignore bench/bench_bundle.py [--statements 10000]

The trail: a model, then N-1 reviews of it (each a signed statement about the model),
one checkpoint. Not a test: nothing fails when slow.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from _timing import timed
from fairtrail import Role, Trail
from fairtrail.bundle.verify import verify_bundle
from fairtrail.crypto.dsse import Envelope, pae
from fairtrail.crypto.keys import VerifyingKey
from fairtrail.evidence import export_bundle
from fairtrail.lifecycle.models import resolve_model
from fairtrail.log import merkle
from fairtrail.log.checkpoint import Checkpoint, SignedNote


def build(root: Path, n: int) -> Path:
    model = root / "model.safetensors"
    tensor = {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}
    header = json.dumps({"w": tensor}).encode()
    model.write_bytes(len(header).to_bytes(8, "little") + header + os.urandom(4096))
    path = root / "trail"
    with Trail.init(path) as trail:
        admin = trail.actor_key("admin")
        trail.create_actor("rita", [Role.REVIEWER], admin)
        from fairtrail.lifecycle.models import record_model

        record_model(trail, model, signer=admin, name="bench-model")
        record = resolve_model(trail, model)
        rita = trail.actor_key("rita")
        from fairtrail.policy.reviews import record_review

        for i in range(n - 3):
            record_review(trail, record, i % 2 == 0, f"review {i}", rita)
        trail.checkpoint()
    return path


def floor(document: dict, keys: dict[str, VerifyingKey]) -> None:
    """Only the cryptography, on one thread: one Ed25519 check (with the key its keyid
    names) and one inclusion proof per entry, after decoding the envelope."""
    body = Checkpoint.parse_text(SignedNote.parse(document["checkpoint"].encode()).text)
    for e in document["entries"]:
        leaf = base64.b64decode(e["leaf"])
        merkle.verify_inclusion(merkle.leaf_hash(leaf), e["index"], body.size,
                                [base64.b64decode(h) for h in e["proof"]], body.root)  # fmt: skip
        env = Envelope.from_json(leaf)
        msg = pae(env.payload_type, env.payload_bytes)
        sig = base64.b64decode(env.signatures[0].sig)
        key = keys.get(env.signatures[0].keyid)  # the key the keyid names: one check
        assert key is not None and key.verify(sig, msg)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statements", type=int, default=10_000)
    args = parser.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = build(Path(tmp), args.statements)
        print(f"built a trail of {args.statements:,} statements in {time.perf_counter() - t:.1f} s")
        with Trail.open(path, writable=False) as trail:
            record = resolve_model(trail, Path(tmp) / "model.safetensors")
            t = time.perf_counter()
            document, _ = export_bundle(trail, record)
            export_s = time.perf_counter() - t
            keys = {a.key.key_id: a.key for a in trail.keyring.actors}
        data = json.dumps(document).encode()
        n = len(document["entries"])
        report = verify_bundle(data)
        assert report.ok, report.to_dict()
        verify_s = timed(lambda: verify_bundle(data))
        floor_s = timed(lambda: floor(document, keys))
        print(f"bundle: {n:,} statements, {len(data):,} bytes; export {export_s:.2f} s")
        print(f"verify-bundle (all checks): {verify_s:.3f} s ({n / verify_s:,.0f} statements/s)")
        print(f"floor (Ed25519 + inclusion proofs only): {floor_s:.3f} s; "
              f"ratio {verify_s / floor_s:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
