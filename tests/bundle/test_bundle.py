"""Evidence bundles: export, offline verification, and every named failure."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrail import Trail
from fairtrail.bundle.verify import EXIT_CODES, verify_bundle
from fairtrail.evidence import export_bundle
from fairtrail.lifecycle.models import resolve_model
from fairtrail.statements.statement import predicate_type
from tests.cli.test_cli import STATEMENT, ft

GOLDEN = Path(__file__).parent.parent / "data" / "bundles"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A credit model audited, reviewed, judged, deployed and anchored (local chain)."""
    from tests.anchor.test_anchoring import _passing_model

    root = tmp_path_factory.mktemp("bundle")
    credit = _passing_model(root)
    r = ft(credit.path, "deploy", str(credit.model), "--env", "prod", "--as", "ops")
    assert r.returncode == 0, r.stderr
    assert ft(credit.path, "anchor").returncode == 0
    assert ft(credit.path, "checkpoint").returncode == 0
    return credit


def _bundle(credit: Any) -> dict[str, Any]:
    with Trail.open(credit.path, writable=False) as trail:
        document, pending = export_bundle(trail, resolve_model(trail, credit.model))
    assert pending == []
    return document


def _check(document: dict[str, Any], **kw: Any) -> Any:
    return verify_bundle(json.dumps(document).encode(), **kw)


def _vkey(credit: Any) -> str:
    return ft(credit.path, "log", "vkey").stdout.strip()


def test_export_and_verify_offline(deployed: Any, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    r = ft(deployed.path, "export", str(deployed.model), "-o", str(out))
    assert r.returncode == 0, r.stderr
    document = json.loads(out.read_text())
    kinds = set()
    for e in document["entries"]:
        env = json.loads(base64.b64decode(e["leaf"]))
        kinds.add(json.loads(base64.b64decode(env["payload"]))["predicateType"].split("/")[-2])
    assert {"model", "training-run", "dataset", "evaluation", "review", "policy",
            "policy-decision", "deployment", "actor", "anchor"} <= kinds  # fmt: skip
    # no network at all: a fresh network namespace with only a down loopback
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "fairtrail", "verify-bundle",
         str(out), "--trusted-key", _vkey(deployed), "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and {c["claim"] for c in report["claims"]} >= {
        "checkpoint signature", "inclusion proofs", "signatures", "model", "lineage", "links",
        "policy decisions", "anchors",
    }  # fmt: skip


def _entry_of(document: dict[str, Any], kind: str) -> dict[str, Any]:
    for e in document["entries"]:
        env = json.loads(base64.b64decode(e["leaf"]))
        if json.loads(base64.b64decode(env["payload"]))["predicateType"] == predicate_type(kind):
            return e
    raise AssertionError(kind)


def test_every_failure_is_named(deployed: Any) -> None:
    good = _bundle(deployed)
    vkey = _vkey(deployed)
    assert _check(good, trusted_keys=[vkey]).ok

    def expect(document: Any, failure: str, **kw: Any) -> None:
        data = document if isinstance(document, bytes) else json.dumps(document).encode()
        report = verify_bundle(data, **kw)
        assert report.failure == failure, [c.to_dict() for c in report.claims]
        assert report.exit_code == EXIT_CODES[failure]

    expect(json.dumps(good).encode()[:-20], "malformed")  # truncated
    expect(b"[" * 5000 + b"]" * 5000, "malformed")  # nesting bomb
    expect(good | {"extra": 1}, "malformed")
    expect(good | {"format": "fairtrail-bundle/v2"}, "unknown-version")
    other = Trail.init(deployed.path.parent / "other-trail")
    expect(good, "unknown-key", trusted_keys=[other.config.log_vkey])  # a bundle of another trail
    other.close()
    bad_sig = copy.deepcopy(good)
    bad_sig["checkpoint"] = bad_sig["checkpoint"].replace("\n— ", "\n— ", 1)[:-6] + "AAAA=\n"
    expect(bad_sig, "bad-signature")
    no_proof = copy.deepcopy(good)
    _entry_of(no_proof, "review")["proof"] = []
    expect(no_proof, "missing-proof")
    swapped = copy.deepcopy(good)
    a, b = _entry_of(swapped, "review"), _entry_of(swapped, "evaluation")
    a["proof"], b["proof"] = b["proof"], a["proof"]
    expect(swapped, "bad-proof")
    edited = copy.deepcopy(good)
    e = _entry_of(edited, "evaluation")
    e["leaf"] = base64.b64encode(
        base64.b64decode(e["leaf"]).replace(b'"payload":"', b'"payload":"e', 1)
    ).decode()
    expect(edited, "bad-proof")
    no_policy = copy.deepcopy(good)
    no_policy["entries"].remove(_entry_of(no_policy, "policy"))
    expect(no_policy, "missing-proof")
    elsewhere = copy.deepcopy(good)
    elsewhere["about"]["digest"] = {"sha256": "ab" * 32}
    expect(elsewhere, "broken-link")
    expect(good, "witnesses", require_witnesses=1)
    unanchored = copy.deepcopy(good)
    unanchored["anchored"] = []
    expect(unanchored, "missing-proof")
    # the root admin must be the one entry 0 registers: a swapped or missing root is refused
    swapped_root = copy.deepcopy(good)
    swapped_root["log"]["rootAdmin"]["key"] = base64.b64encode(b"\x01" * 32).decode()
    expect(swapped_root, "unknown-key")
    no_root = copy.deepcopy(good)
    no_root["entries"] = [e for e in no_root["entries"] if e["index"] != 0]
    expect(no_root, "unknown-key")


def test_a_statement_about_something_else_is_a_broken_link(deployed: Any, tmp_path: Path) -> None:
    path = tmp_path / "trail"
    shutil.copytree(deployed.path, path)
    with Trail.open(path) as trail:
        receipt = trail.record(STATEMENT, trail.actor_key("admin"))  # about another digest
        trail.checkpoint()
        model = resolve_model(trail, deployed.model)
        document, _ = export_bundle(trail, model)
        proof = trail.prove_inclusion(receipt.index)
        leaf = trail.store.entries(receipt.index, receipt.index + 1)[0]
    document["entries"].append({
        "index": receipt.index, "leaf": base64.b64encode(leaf).decode(),
        "proof": [base64.b64encode(h).decode() for h in proof.hashes],
    })  # fmt: skip
    report = _check(document)
    assert report.failure == "broken-link" and "is not about this model" in str(
        [c.detail for c in report.claims]
    )


def test_the_verifier_does_not_trust_the_gate(deployed: Any, tmp_path: Path) -> None:
    """A Deployment recorded around the gate (signed by a real operator) is caught."""
    path = tmp_path / "trail"
    shutil.copytree(deployed.path, path)
    with Trail.open(path) as trail:
        model = resolve_model(trail, deployed.model)
        policy_entry = trail.indices_of_type(predicate_type("policy"))[0]
        trail.record({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": model.name, "digest": model.digest}],
            "predicateType": predicate_type("deployment"),
            "predicate": {"environment": "prod", "decisions": [{"entry": policy_entry}]},
        }, trail.actor_key("ops"))  # fmt: skip
        trail.checkpoint()
        document, _ = export_bundle(trail, model)
    report = _check(document)
    assert report.failure == "policy-chain", [c.to_dict() for c in report.claims]


@pytest.mark.integration
def test_rpc_on_the_wrong_chain_is_an_anchor_failure(deployed: Any) -> None:
    from fairtrail.anchor.devnode import run_anvil

    with run_anvil() as node:
        report = _check(_bundle(deployed), rpc=node.url)
    assert report.failure == "anchor"
    assert "the RPC is chain 31337" in [c.detail for c in report.claims][-1]


def test_golden_bundles_still_verify() -> None:
    found = sorted(GOLDEN.glob("*.json"))
    assert found, "golden bundles are missing"
    for path in found:
        vkey = path.with_suffix(".vkey").read_text().strip()
        report = verify_bundle(path.read_bytes(), trusted_keys=[vkey])
        assert report.ok, (path.name, [c.to_dict() for c in report.claims])


@settings(max_examples=40)
@given(st.data())
def test_mutated_bundles_never_crash_the_verifier(data: st.DataObject) -> None:
    golden = sorted(GOLDEN.glob("*.json"))[0].read_bytes()
    pos = data.draw(st.integers(0, len(golden) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=8))
    mutated = golden[:pos] + junk + golden[pos + len(junk) :]
    report = verify_bundle(mutated)
    assert report.claims  # a report, never an exception


def test_documented_schema_is_the_one_the_verifier_uses() -> None:
    from fairtrail.bundle.format import BundleV1

    documented = json.loads((Path(__file__).parents[2] / "docs" / "bundle-schema.json").read_text())
    assert documented == BundleV1.model_json_schema(), "regenerate docs/bundle-schema.json"


def test_export_needs_the_model_under_a_checkpoint(tmp_path: Path) -> None:
    from tests.cli.test_cli import assert_user_error

    model = tmp_path / "m.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    model.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    path = tmp_path / "trail"
    assert ft(path, "init").returncode == 0
    assert ft(path, "model", "add", str(model)).returncode == 0
    out = tmp_path / "b.json"
    assert_user_error(
        ft(path, "export", str(model), "-o", str(out)), 2, "run `fairtrail checkpoint`"
    )
    assert not out.exists()
    assert ft(path, "checkpoint").returncode == 0
    assert ft(path, "export", str(model), "-o", str(out)).returncode == 0
    assert verify_bundle(out.read_bytes()).ok
