"""Trace and redress: a decision back to model, data, audits and approvals in force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fairtrail import Trail
from fairtrail.decisions import record_decisions
from fairtrail.errors import InputError, IntegrityError, VerificationError
from fairtrail.statements.statement import predicate_type
from fairtrail.trace import check_receipt, decision_receipt, redress_report, subject_copy, trace
from tests.cli.test_cli import ft


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.anchor.test_anchoring import _passing_model

    credit = _passing_model(tmp_path_factory.mktemp("trace"))
    assert (
        ft(credit.path, "deploy", str(credit.model), "--env", "prod", "--as", "ops").returncode == 0
    )
    with Trail.open(credit.path) as trail:
        row = {
            "id": "loan-1",
            "model": str(credit.model),
            "output": "deny",
            "time": "2026-11-25T10:00:00Z",
            "subject": "cust-9",
            "input": {"income": 31000},
        }
        record_decisions(trail, [row], trail.actor_key("admin"))
        # an alert raised after the decision must not show up in its trace
        from fairtrail.lifecycle.models import resolve_model

        model = resolve_model(trail, credit.model)
        trail.record({"_type": "https://in-toto.io/Statement/v1",
                      "subject": [{"name": model.name, "digest": model.digest}],
                      "predicateType": predicate_type("alert"),
                      "predicate": {"alertId": "a1", "state": "open", "rule": "dp"}},
                     trail.actor_key("admin"))  # fmt: skip
        trail.checkpoint()
    return credit


def test_trace_shows_what_was_in_force(deployed: Any) -> None:
    with Trail.open(deployed.path, writable=False) as trail:
        info = trace(trail, "loan-1")
        assert (
            info["decision"]["output"] == "deny"
            and "under checkpoint" in info["decision"]["proved"]
        )
        assert info["model"]["name"] == "credit-model"
        (tree,) = info["lineage"]
        assert tree["children"][0]["kind"] == "training-run"
        assert tree["children"][0]["children"][0]["kind"] == "dataset"
        assert info["evaluation"] is not None and info["evaluation"]["sensitive"] == ["sex"]
        assert [r["approve"] for r in info["reviews"]] == [True, True]
        assert [p["passed"] for p in info["policyDecisions"]] == [True]
        assert info["deployment"]["environment"] == "prod"
        assert info["openAlerts"] == []  # the alert came after the decision
        with pytest.raises(InputError, match="no recorded decision"):
            trace(trail, "loan-404")


def test_redress_report_and_receipts(deployed: Any, tmp_path: Path) -> None:
    with Trail.open(deployed.path, writable=False) as trail:
        written = redress_report(trail, "loan-1", tmp_path / "loan-1.html")
        receipt = decision_receipt(trail, "loan-1")
        mine = subject_copy(trail, "loan-1")
        vkey = trail.config.log_vkey
    page = written[0].read_text()
    assert "deny" in page and "credit-model" in page and "31000" not in page
    from fairtrail.bundle.verify import verify_bundle

    assert verify_bundle(written[1].read_bytes(), trusted_keys=[vkey]).ok
    ok = check_receipt(json.dumps(receipt).encode(), vkey)
    assert ok["record"]["id"] == "loan-1" and ok["input"] is None
    opened = check_receipt(json.dumps(mine).encode(), vkey)
    assert opened["input"] == {"income": 31000}
    with pytest.raises(VerificationError, match="do not open"):
        check_receipt(json.dumps(mine | {"input": '{"income":99000}'}).encode(), vkey)
    with pytest.raises(VerificationError):
        check_receipt(
            json.dumps(receipt | {"record": receipt["record"].replace("deny", "approve")}).encode()
        )
    assert "31000" not in json.dumps(receipt)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ("'\"deny\"', '\"okay\"'", "not in its signed batch"),  # same length: parses
        ("'\"deny\"', '\"approve\"'", "damaged"),  # breaks the chunk's framing
    ],
)
def test_tampered_decisions_db_is_caught(
    deployed: Any, tmp_path: Path, edit: str, words: str
) -> None:
    import shutil
    import sqlite3

    path = tmp_path / "trail"
    shutil.copytree(deployed.path, path)
    db = sqlite3.connect(path / "decisions.db")
    db.execute(f"UPDATE chunks SET records = CAST(replace(records, {edit}) AS BLOB)")
    db.commit()
    db.close()
    with Trail.open(path, writable=False) as trail, pytest.raises(IntegrityError, match=words):
        trace(trail, "loan-1")


def test_cli_trace(deployed: Any, tmp_path: Path) -> None:
    r = ft(deployed.path, "trace", "loan-1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["decision"]["id"] == "loan-1"
    report = tmp_path / "r.html"
    r = ft(deployed.path, "trace", "loan-1", "--report", str(report))
    assert r.returncode == 0 and report.exists() and "policy fair v1: passed" in r.stdout
    out = tmp_path / "mine.json"
    assert (
        ft(
            deployed.path, "decisions", "receipt", "loan-1", "-o", str(out), "--with-input"
        ).returncode
        == 0
    )
    assert out.stat().st_mode & 0o777 == 0o600
    r = ft(tmp_path, "decisions", "check", str(out))
    assert r.returncode == 0 and "opens its commitment" in r.stdout
