"""Per-sample audit challenges: the seed picks the rows, the owner opens them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fairtrail import Trail
from fairtrail.audit.challenges import answer_challenge, check_challenge
from fairtrail.audit.evaluations import AuditRequest, record_evaluation, run_audit, run_audit_rows
from fairtrail.audit.rows import challenge_indices
from fairtrail.errors import InputError, VerificationError
from fairtrail.lifecycle.models import resolve_model
from tests._credit import build_credit_trail
from tests.cli.test_cli import ft


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Any:
    credit = build_credit_trail(tmp_path_factory.mktemp("challenge"))
    with Trail.open(credit.path) as trail:
        model = resolve_model(trail, credit.model)
        request = AuditRequest(credit.data, "credit", ["sex", "age_group"],
                               model_file=credit.model, positive_label="good")  # fmt: skip
        report, evidence = run_audit_rows(request)
        with_rows = record_evaluation(
            trail, model, request, report, trail.actor_key("mo"), evidence
        )
        without = record_evaluation(
            trail, model, request, run_audit(request), trail.actor_key("mo")
        )
        trail.checkpoint()
        vkey = trail.config.log_vkey
    return credit, with_rows.index, without.index, vkey


def test_challenge_opens_the_rows_the_seed_selects(audited: Any) -> None:
    credit, entry, _, vkey = audited
    with Trail.open(credit.path, writable=False) as trail:
        doc = answer_challenge(trail, entry, "public-beacon-1234", 40)
        rows = trail.statement(entry)[1].predicate["rowCommitments"]
    assert rows["count"] == 600 and len(doc["rows"]) == 40
    result = check_challenge(json.dumps(doc).encode(), vkey)
    assert result["opened"] == 40 and result["count"] == 600
    assert abs(result["sample"]["accuracy"] - result["reported"]["accuracy"]) < 0.25
    record = json.loads(doc["rows"][0]["record"])
    assert set(record) == {"i", "input", "prediction", "label", "group"}
    assert set(record["group"]) == {"sex", "age_group"}
    assert "income" not in doc["rows"][0]["record"]  # inputs are committed, not revealed
    # another seed selects other rows; the selection does not depend on the owner
    assert challenge_indices("other", rows["root"], 600, 40) != [r["index"] for r in doc["rows"]]


def test_cheating_responses_fail(audited: Any) -> None:
    credit, entry, _, vkey = audited
    with Trail.open(credit.path, writable=False) as trail:
        doc = answer_challenge(trail, entry, "s", 10)
    edited = copy.deepcopy(doc)
    first = edited["rows"][0]
    flipped = json.loads(first["record"])
    flipped["prediction"] = not flipped["prediction"]
    first["record"] = json.dumps(flipped, sort_keys=True, separators=(",", ":"))
    with pytest.raises(VerificationError):
        check_challenge(json.dumps(edited).encode(), vkey)
    chosen = copy.deepcopy(doc)
    chosen["rows"] = chosen["rows"][1:] + chosen["rows"][:1]  # the owner picks the order/rows
    with pytest.raises(VerificationError, match="not the ones the seed selects"):
        check_challenge(json.dumps(chosen).encode(), vkey)
    other_seed = dict(doc, seed="t")
    with pytest.raises(VerificationError, match="not the ones the seed selects"):
        check_challenge(json.dumps(other_seed).encode(), vkey)
    with pytest.raises(VerificationError, match="another log key"):
        check_challenge(json.dumps(doc).encode(), "x+00000000+AAAA")


def test_evaluations_without_commitments_and_cli(audited: Any, tmp_path: Path) -> None:
    credit, entry, plain, _ = audited
    with (
        Trail.open(credit.path, writable=False) as trail,
        pytest.raises(InputError, match="no row commitments"),
    ):
        answer_challenge(trail, plain, "s", 5)
    out = tmp_path / "c.json"
    r = ft(
        credit.path,
        "audit",
        "challenge",
        str(entry),
        "--seed",
        "beacon",
        "--k",
        "5",
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    r = ft(tmp_path, "audit", "check-challenge", str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["opened"] == 5
