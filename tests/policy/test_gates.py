"""Facts, decisions, reviews and the deployment gate on a real trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fairtrail import Trail
from fairtrail.audit.evaluations import AuditRequest, record_evaluation, run_audit
from fairtrail.errors import InputError, PolicyDeniedError
from fairtrail.lifecycle.models import ModelRecord, record_model, resolve_model
from fairtrail.policy import gates
from fairtrail.policy.decisions import check_model, current_policies, record_policy
from fairtrail.policy.facts import SKELETON, gather_facts
from fairtrail.policy.reviews import record_review
from fairtrail.policy.rules import compile_policy
from fairtrail.statements.actors import Role
from tests._credit import CreditTrail, build_credit_trail

RULES = [
    {"id": "audited", "message": "audited", "expr": "evaluation.exists"},
    {"id": "dp", "message": "dp",
     "expr": "evaluation.disparities.demographic_parity_ratio >= params.dp"},
    {"id": "two-reviewers", "message": "k of n",
     "expr": "size(reviews.approved.reviewer) >= 2 && reviews.rejections == 0"},
    {"id": "licensed", "message": "lic", "expr": "datasets.all(d, d.license != '')"},
]  # fmt: skip


def fairness_policy(version: str = "1", dp: float = 0.5) -> Any:
    return compile_policy(
        {"name": "fair", "version": version, "params": {"dp": dp}, "rules": RULES}
    )


@pytest.fixture
def credit(tmp_path: Path) -> CreditTrail:
    return build_credit_trail(tmp_path)


def audit(
    trail: Trail, credit: CreditTrail, model: ModelRecord, prediction: str = "scored"
) -> None:
    request = AuditRequest(
        credit.data, "credit", ["sex"], prediction=prediction, positive_label="good"
    )
    record_evaluation(trail, model, request, run_audit(request), trail.actor_key("mo"))


def shape(value: Any) -> Any:
    """Keys and value kinds of a fact tree (list elements by their first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return (
        "number"
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else type(value).__name__
    )


def test_facts_have_the_skeleton_shape(credit: CreditTrail) -> None:
    with Trail.open(credit.path) as trail:
        model = resolve_model(trail, credit.model)
        empty = gather_facts(trail, model)
        assert empty["evaluation"]["exists"] is False
        assert empty["training"]["recorded"] is True and empty["model"]["from_run"] is True
        audit(trail, credit, model)
        record_review(trail, model, True, "fine", trail.actor_key("rita"))
        facts = gather_facts(trail, model)
    expected = shape(SKELETON)
    got = shape(facts)
    # the same keys everywhere, and the same value kinds (ratios may be None only when undefined)
    assert got.keys() == expected.keys()
    for section in expected:
        if isinstance(expected[section], dict):
            assert got[section].keys() == expected[section].keys(), section
    assert got["evaluation"]["groups"] == expected["evaluation"]["groups"]
    assert got["datasets"] == expected["datasets"]
    assert [d["role"] for d in facts["datasets"]] == ["training", "evaluation"]
    assert facts["datasets"][0]["sensitive"] == ["age_group", "sex"]
    assert facts["reviews"]["approved"]["reviewer"] == ["rita"]


def test_gate_from_refusal_to_deployment(credit: CreditTrail) -> None:
    with Trail.open(credit.path) as trail:
        admin = trail.actor_key("admin")
        model = resolve_model(trail, credit.model)
        ops = trail.actor_key("ops")
        with pytest.raises(InputError, match="no policy is recorded"):
            gates.deploy(trail, model, "prod", ops)
        record_policy(trail, fairness_policy(), admin)
        with pytest.raises(InputError, match="already recorded"):
            record_policy(trail, fairness_policy(), admin)
        (recorded,) = current_policies(trail)
        with pytest.raises(PolicyDeniedError, match="no decision for this model"):
            gates.deploy(trail, model, "prod", ops)

        receipt, results = check_model(trail, model, recorded, admin)
        assert receipt.statement.predicate["passed"] is False
        failing = {r.id for r in results if not r.passed}
        assert failing == {"audited", "dp", "two-reviewers"}  # dp: no evaluation, no value
        size = trail.log.size
        with pytest.raises(PolicyDeniedError, match="failed rules audited, dp, two-reviewers"):
            gates.deploy(trail, model, "prod", ops)
        assert trail.log.size == size  # a refusal records nothing

        audit(trail, credit, model)
        record_review(trail, model, True, "checked the audit", trail.actor_key("rita"))
        record_review(trail, model, True, "checked again", trail.actor_key("rita"))  # same actor
        check_model(trail, model, recorded, admin)
        with pytest.raises(PolicyDeniedError, match="two-reviewers"):
            gates.deploy(trail, model, "prod", ops)  # one distinct reviewer is not two

        record_review(trail, model, True, "agree", trail.actor_key("rex"))
        with pytest.raises(PolicyDeniedError, match="predates new evidence \\(review"):
            gates.deploy(trail, model, "prod", ops)  # stale: a review arrived after it
        receipt, _ = check_model(trail, model, recorded, admin)
        assert receipt.statement.predicate["passed"] is True
        with pytest.raises(InputError, match="may not deploy"):
            gates.deploy(trail, model, "prod", trail.actor_key("mo"))
        deployed = gates.deploy(trail, model, "prod", ops)
        assert deployed.statement.predicate["decisions"] == [
            {"entry": receipt.index, "policy": "fair", "version": "1"}
        ]
        info = gates.status(trail, model)
        assert info["deployable"] is True
        assert [d["environment"] for d in info["deployments"]] == ["prod"]

        # a new version of the policy voids the old decision
        record_policy(trail, fairness_policy("2", dp=0.999), admin)
        with pytest.raises(PolicyDeniedError, match="another version of the policy"):
            gates.deploy(trail, model, "prod", ops)
        check_model(trail, model, current_policies(trail)[0], admin)
        with pytest.raises(PolicyDeniedError, match="failed rules dp"):
            gates.deploy(trail, model, "prod", ops)


def test_reviews_follow_the_keyring(credit: CreditTrail) -> None:
    with Trail.open(credit.path) as trail:
        admin = trail.actor_key("admin")
        model = resolve_model(trail, credit.model)
        with pytest.raises(InputError, match="mo may not review"):
            record_review(trail, model, True, "mine", trail.actor_key("mo"))
        with pytest.raises(InputError, match="needs --comment"):
            record_review(trail, model, True, "  ", trail.actor_key("rita"))
        record_review(trail, model, True, "ok", trail.actor_key("rita"))
        record_review(trail, model, False, "group sizes too small", trail.actor_key("rex"))
        facts = gather_facts(trail, model)["reviews"]
        assert facts["approved"]["reviewer"] == ["rita"] and facts["rejections"] == 1
        record_review(trail, model, True, "resolved", trail.actor_key("rex"))  # changed mind
        assert gather_facts(trail, model)["reviews"]["rejections"] == 0
        trail.revoke_role("rita", [Role.REVIEWER], admin)  # withdrawn with the role
        assert gather_facts(trail, model)["reviews"]["approved"]["reviewer"] == ["rex"]


def test_decisions_bind_exactly_one_model_digest(credit: CreditTrail, tmp_path: Path) -> None:
    other = tmp_path / "other.skops"
    other.write_bytes(credit.model.read_bytes() + b"\0")  # any other bytes: another model
    with Trail.open(credit.path) as trail:
        admin = trail.actor_key("admin")
        record_policy(trail, compile_policy(
            {"name": "open", "version": "1", "rules": [{"id": "t", "message": "m", "expr": "true"}]}
        ), admin)  # fmt: skip
        model = resolve_model(trail, credit.model)
        check_model(trail, model, current_policies(trail)[0], admin)
        record_model(trail, other, admin, name="credit-model")
        newer = resolve_model(trail, "credit-model")  # the name now means the newer artifact
        assert newer.digest != model.digest
        with pytest.raises(PolicyDeniedError, match="no decision for this model"):
            gates.deploy(trail, newer, "prod", trail.actor_key("ops"))
        gates.deploy(trail, model, "prod", trail.actor_key("ops"))
