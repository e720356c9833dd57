"""Anchoring and chain approvals as users run them: the CLI on the in-process chain
and on anvil, verification against the chain, faults, and the on-chain quorum gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fairtrail import Trail
from fairtrail.anchor.devnode import ANVIL_CHAIN_ID, ANVIL_DEV_KEYS, Anvil
from fairtrail.anchoring import (
    approve_model,
    chain_approved,
    deploy,
    deploy_contracts,
)
from fairtrail.errors import InputError, PolicyDeniedError
from fairtrail.statements.actors import Role
from tests.cli.test_cli import STATEMENT, assert_user_error, ft

pytestmark = pytest.mark.integration


def _j(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _record(path: Path, text: str) -> None:
    f = path.parent / f"{text}.json"
    f.write_text(json.dumps(STATEMENT | {"predicate": {"text": text}}))
    r = ft(path, "record", str(f))
    assert r.returncode == 0, r.stderr


def _anvil_chain(path: Path, node: Anvil, name: str = "anvil", *extra: str) -> None:
    key = path.parent / f"{name}.eth"
    if not key.exists():
        key.write_text(ANVIL_DEV_KEYS[0] + "\n")
        key.chmod(0o600)
    r = ft(path, "chain", "add", name, "--rpc", node.url, "--chain-id", str(ANVIL_CHAIN_ID),
           "--key", str(key), *extra)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = ft(path, "chain", "deploy", name)
    assert r.returncode == 0, r.stderr


def test_anchor_on_the_in_process_chain_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "trail"
    assert ft(path, "init").returncode == 0
    assert ft(path, "chain", "add", "dev").returncode == 0
    assert_user_error(ft(path, "anchor"), 5, "no FairtrailAnchor address")
    assert ft(path, "chain", "deploy").returncode == 0
    first = _j(ft(path, "anchor", "--json"))
    (row,) = first["chains"][0]["anchors"]
    assert row["state"] == "final" and row["size"] == 1
    assert first["recorded"] == [row["statement"]] == [1]
    again = _j(ft(path, "anchor", "--json"))
    assert again["recorded"] == [] and len(again["chains"][0]["anchors"]) == 1  # no duplicate
    _record(path, "later")
    assert ft(path, "checkpoint").returncode == 0
    second = _j(ft(path, "anchor", "--json"))
    assert [a["size"] for a in second["chains"][0]["anchors"]] == [1, 3]
    report = _j(ft(path, "verify", "--anchors", "--json"))
    assert [a["status"] for a in report["anchors"]] == ["ok", "ok"]

    # an Anchor statement that names a real transaction but the wrong checkpoint
    with Trail.open(path) as trail:
        _, good = trail.statement(second["recorded"][0])
        cp1 = trail.checkpoint_note(1)
        assert cp1 is not None
        forged = good.to_dict()
        forged["predicate"]["checkpoint"] = {
            "origin": trail.config.origin, "size": 1, "root": row["root"],
        }  # fmt: skip
        forged["subject"][0]["digest"] = {"sha256": row["root"]}
        trail.record(forged, trail.actor_key("admin"))
        # and one that points at a contract other than the configured one
        rogue = good.to_dict()
        rogue["predicate"]["contract"] = "0x" + "ab" * 20
        trail.record(rogue, trail.actor_key("admin"))
    r = ft(path, "verify", "--anchors")
    assert r.returncode == 3, r.stderr
    assert "2 anchor(s) do not match the chain" in r.stderr and "on chain: size 3" in r.stderr
    assert "the configured FairtrailAnchor" in r.stderr


def test_anchor_with_no_chain_configured_uses_the_in_process_chain(tmp_path: Path) -> None:
    path = tmp_path / "trail"
    assert ft(path, "init").returncode == 0
    r = ft(path, "anchor", "--json")
    assert r.returncode == 0, r.stderr
    assert "using the in-process development chain 'local'" in r.stderr
    (chain,) = json.loads(r.stdout)["chains"]
    assert chain["chain"] == "local" and chain["anchors"][0]["state"] == "final"
    assert (path / "chains" / "local.db").exists()


def test_rpc_down_never_blocks_appends_and_the_queue_drains_later(
    tmp_path: Path, anvil: Anvil
) -> None:
    path = tmp_path / "trail"
    assert ft(path, "init").returncode == 0
    _anvil_chain(path, anvil)
    with Trail.open(path) as trail:
        chain = trail.config.chain("anvil")
        trail.set_chain(chain.model_copy(update={"rpc": "http://127.0.0.1:9"}))
    r = ft(path, "anchor")
    assert r.returncode == 5 and "unreachable" in r.stderr.splitlines()[-1]
    assert "Traceback" not in r.stderr
    _record(path, "still-appending")  # the log does not wait for the chain
    status = _j(ft(path, "anchor", "status", "--json"))
    (row,) = status["chains"][0]["anchors"]
    assert row["state"] == "pending" and "unreachable" in row["reason"]
    with Trail.open(path) as trail:
        trail.set_chain(chain)  # the RPC is back
    status = _j(ft(path, "anchor", "status", "--json"))
    (row,) = status["chains"][0]["anchors"]
    assert row["state"] in ("included", "final") and row["sends"] == 1
    assert status["recorded"] == [row["statement"]]


def test_reorg_shows_pending_then_resent_then_included(tmp_path: Path, anvil: Anvil) -> None:
    path = tmp_path / "trail"
    assert ft(path, "init").returncode == 0
    _anvil_chain(path, anvil, "anvil", "--confirmations", "3")
    snapshot = anvil.call("evm_snapshot")
    first = _j(ft(path, "anchor", "--json"))
    (row,) = first["chains"][0]["anchors"]
    assert row["state"] == "included"
    anvil.call("evm_revert", snapshot)  # the anchor's block is gone
    anvil.call("evm_setAutomine", False)
    status = _j(ft(path, "anchor", "status", "--json"))
    (row,) = status["chains"][0]["anchors"]
    assert row["state"] == "pending" and row["sends"] == 2  # sent again, not yet mined
    assert "reorged out" in (row["reason"] or "") or row["reason"] is None
    anvil.call("evm_mine")
    anvil.call("evm_setAutomine", True)
    status = _j(ft(path, "anchor", "status", "--json"))
    (row,) = status["chains"][0]["anchors"]
    assert row["state"] == "included" and status["recorded"] == [row["statement"]]
    anvil.call("anvil_mine", 3)
    (row,) = _j(ft(path, "anchor", "status", "--json"))["chains"][0]["anchors"]
    assert row["state"] == "final"
    checks = _j(ft(path, "verify", "--anchors", "--json"))["anchors"]
    assert [c["status"] for c in checks] == ["superseded", "ok"]


def test_one_checkpoint_on_two_chains(tmp_path: Path, anvil: Anvil) -> None:
    path = tmp_path / "trail"
    assert ft(path, "init").returncode == 0
    assert ft(path, "chain", "add", "dev").returncode == 0
    assert ft(path, "chain", "deploy", "dev").returncode == 0
    _anvil_chain(path, anvil)
    out = _j(ft(path, "anchor", "--json"))
    rows = {c["chain"]: c["anchors"] for c in out["chains"]}
    assert {r[0]["root"] for r in rows.values()} == {rows["dev"][0]["root"]}
    assert len(out["recorded"]) == 2
    assert [c["status"] for c in _j(ft(path, "verify", "--anchors", "--json"))["anchors"]] == [
        "ok", "ok",
    ]  # fmt: skip


# ---------------------------------------------------------------- approvals


def _passing_model(root: Path) -> Any:
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.policy.decisions import check_model, current_policies, record_policy
    from fairtrail.policy.reviews import record_review
    from tests._credit import build_credit_trail
    from tests.policy.test_gates import audit, fairness_policy

    credit = build_credit_trail(root)
    with Trail.open(credit.path) as trail:
        admin = trail.actor_key("admin")
        model = resolve_model(trail, credit.model)
        record_policy(trail, fairness_policy(), admin)
        audit(trail, credit, model)
        record_review(trail, model, True, "ok", trail.actor_key("rita"))
        record_review(trail, model, True, "ok", trail.actor_key("rex"))
        check_model(trail, model, current_policies(trail)[0], admin)
        for name in ("aud1", "aud2", "aud3"):
            trail.create_actor(name, [Role.AUDITOR], admin)
        trail.checkpoint()
    return credit


def auditor_chain(path: Path, *add: str) -> list[str]:
    """Add the in-process chain `dev` (with `add` options) and fund the chain keys of
    aud1..aud3; returns their addresses."""
    assert ft(path, "chain", "add", "dev", *add).returncode == 0
    addresses = []
    for name in ("aud1", "aud2", "aud3"):
        r = ft(path, "chain", "key", name, "--fund", "dev")
        assert r.returncode == 0, r.stderr
        addresses.append(r.stdout.strip())
    return addresses


def test_k_of_n_auditors_on_chain_gate_deployment(tmp_path: Path) -> None:
    from fairtrail.lifecycle.models import resolve_model

    credit = _passing_model(tmp_path)
    path = credit.path
    addresses = auditor_chain(path, "--require-approval")
    with Trail.open(path) as trail:
        deploy_contracts(trail, trail.config.chain("dev"), auditors=addresses, threshold=2)
        model = resolve_model(trail, credit.model)
        ops = trail.actor_key("ops")
        with pytest.raises(PolicyDeniedError, match="does not hold a k-of-n approval"):
            deploy(trail, model, "prod", ops)
        chain = trail.config.chain("dev")
        with pytest.raises(InputError, match="needs the role auditor"):
            approve_model(trail, model, chain, trail.actor_key("rita"), trail.paths.eth_key("aud1"))
        one, _ = approve_model(
            trail, model, chain, trail.actor_key("aud1"), trail.paths.eth_key("aud1")
        )
        assert (one["approvals"], one["threshold"], one["isApproved"]) == (1, 2, False)
        assert chain_approved(trail, model)
    r = ft(path, "approve", str(credit.model), "--as", "aud2")
    assert r.returncode == 0, r.stderr
    assert "2 of 2 approvals, isApproved=True" in r.stdout
    r = ft(path, "deploy", str(credit.model), "--env", "prod", "--as", "ops")
    assert r.returncode == 0, r.stderr
    # the model stops passing (a rejection makes the decision stale and fail): an
    # auditor can still withdraw their approval, and only one they actually made
    from fairtrail.policy.reviews import record_review

    with Trail.open(path) as trail:
        model = resolve_model(trail, credit.model)
        record_review(trail, model, False, "found a problem", trail.actor_key("rita"))
    assert_user_error(
        ft(path, "approve", str(credit.model), "--as", "aud3", "--revoke"), 2,
        "aud3 has no approval of",
    )  # fmt: skip
    assert_user_error(ft(path, "approve", str(credit.model), "--as", "aud3"), 4, "does not pass")
    r = ft(path, "approve", str(credit.model), "--as", "aud1", "--revoke")
    assert r.returncode == 0 and "isApproved=False" in r.stdout
    size = Trail.open(path, writable=False).log.size
    r = ft(path, "deploy", str(credit.model), "--env", "prod", "--as", "ops")
    assert_user_error(r, 4, "does not hold a k-of-n approval")
    with Trail.open(path, writable=False) as trail:
        assert trail.log.size == size  # a refusal records nothing
        approvals = trail.indices_about(resolve_model(trail, credit.model).digest,
                                        "https://fairtrail.dev/chain-approval/v1")  # fmt: skip
        assert len(approvals) == 3


def test_approve_refuses_a_model_that_fails_policy(tmp_path: Path) -> None:
    from tests._credit import build_credit_trail

    credit = build_credit_trail(tmp_path)
    with Trail.open(credit.path) as trail:
        trail.create_actor("aud", [Role.AUDITOR], trail.actor_key("admin"))
    assert ft(credit.path, "chain", "add", "dev").returncode == 0
    assert ft(credit.path, "chain", "key", "aud", "--fund", "dev").returncode == 0
    r = ft(credit.path, "approve", str(credit.model), "--as", "aud")
    assert_user_error(r, 2, "no policy is recorded")


def test_a_restored_older_log_refuses_to_sign(tmp_path: Path) -> None:
    """RELIABILITY F9: a chain or witness has seen a larger checkpoint than the trail
    holds after a restore from an old backup; signing again would fork the history."""
    import shutil

    path = tmp_path / "trail"
    assert ft(path, "init").returncode == 0
    assert ft(path, "anchor").returncode == 0  # size 1 anchored on the local chain
    backup = tmp_path / "backup"
    shutil.copytree(path, backup)
    _record(path, "one")
    _record(path, "two")
    assert ft(path, "checkpoint").returncode == 0
    assert ft(path, "anchor").returncode == 0  # a larger size queued and anchored
    for name in ("log.db", "log.db-wal", "log.db-shm", "index.db"):
        (path / name).unlink(missing_ok=True)
        if (backup / name).exists():
            shutil.copy2(backup / name, path / name)
    _record(path, "after the restore")
    r = ft(path, "checkpoint")
    assert_user_error(r, 3, "the log was rolled back")
    assert "chain local has seen checkpoint size" in r.stderr


def test_a_refused_chain_add_leaves_no_key_behind(tmp_path: Path) -> None:
    path = tmp_path / "trail"
    assert ft(path, "init").returncode == 0
    for _ in range(2):  # the retry gets the same clear error, not "key already exists"
        assert_user_error(
            ft(path, "chain", "add", "x", "--rpc", "ftp://a", "--chain-id", "1"), 2, "rpc must be"
        )
    assert not (path / "keys" / "chain-x.eth").exists()
    assert_user_error(ft(path, "chain", "add", "y", "--rpc", "http://127.0.0.1:9"), 2, "--chain-id")
    assert not (path / "keys" / "chain-y.eth").exists()
