"""`fairtrail audit / policy / review / deploy / status` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairtrail.audit.fairness import DISPARITIES, RATES
from tests._credit import CreditTrail, build_credit_trail
from tests.cli.test_cli import assert_user_error, ft


@pytest.fixture(scope="module")
def credit(tmp_path_factory: pytest.TempPathFactory) -> CreditTrail:
    return build_credit_trail(tmp_path_factory.mktemp("cli-credit"))


def log_size(trail: Path) -> int:
    return len(ft(trail, "log", "--json").stdout.splitlines())


def test_audit_json_shape_without_a_trail(credit: CreditTrail, tmp_path: Path) -> None:
    r = ft(tmp_path / "none", "audit", "--data", str(credit.data), "--label", "credit",
           "--prediction", "scored", "--sensitive", "sex", "--sensitive", "age_group",
           "--positive-label", "good", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert set(report["by_group"]) == {"sex", "age_group", "sex × age_group"}
    for groups in report["by_group"].values():
        for g in groups.values():
            assert {"count", *RATES} <= g.keys()
            assert all(g[m] is None or 0 <= g[m] <= 1 for m in RATES)
    assert set(report["disparities"]) == set(DISPARITIES)
    assert {"count", *RATES} <= report["overall"].keys()
    assert not (tmp_path / "none").exists()  # computing only: nothing created


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--label", "nope", "--prediction", "scored", "--sensitive", "sex"], "column 'nope'"),
        (["--label", "credit", "--prediction", "scored", "--sensitive", "zip"], "column 'zip'"),
        (["--label", "income", "--prediction", "scored", "--sensitive", "sex"], "binary"),
        (["--label", "credit", "--prediction", "scored", "--sensitive", "sex"], "--positive-label"),
        (["--label", "credit", "--sensitive", "sex"], "must be the model file itself"),
        (
            [
                "--label",
                "credit",
                "--prediction",
                "scored",
                "--sensitive",
                "sex",
                "--claim",
                "vibes>=1",
            ],
            "unknown metric",
        ),  # fmt: skip
    ],
)
def test_audit_bad_input_exit_2_nothing_recorded(
    credit: CreditTrail, args: list[str], words: str
) -> None:
    before = log_size(credit.path)
    r = ft(credit.path, "audit", "--data", str(credit.data), "--model", "credit-model", *args)
    assert_user_error(r, 2, words)
    assert log_size(credit.path) == before


def test_policy_file_errors_exit_2(credit: CreditTrail, tmp_path: Path) -> None:
    before = log_size(credit.path)
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "name: p\nversion: 1\nrules:\n  - {id: r, message: m, expr: 'evaluation.rows >'}\n"
    )
    assert_user_error(ft(credit.path, "policy", "add", str(bad)), 2, "syntax error")
    bad.write_text("name: p\nversion: 1\nrules:\n  - {id: r, message: m, expr: 'fairness.ok'}\n")
    assert_user_error(
        ft(credit.path, "policy", "add", str(bad)), 2, "unknown fact or function 'fairness'"
    )
    bad.write_text("name: p\nrules: [")
    assert_user_error(ft(credit.path, "policy", "add", str(bad)), 2, "not valid YAML")
    assert_user_error(
        ft(credit.path, "policy", "add", "--pack", "gdpr"), 2, "no policy pack 'gdpr'"
    )
    assert log_size(credit.path) == before


def test_audit_review_check_deploy_refuse(credit: CreditTrail, tmp_path: Path) -> None:
    t, model = credit.path, str(credit.model)
    r = ft(t, "audit", "--data", str(credit.data), "--label", "credit", "--model", model,
           "--sensitive", "sex", "--positive-label", "good", "--as", "mo")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "recorded Evaluation at entry" in r.stdout
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "name: gate\nversion: 1\nparams: {min_dp: 0.5}\nrules:\n"
        "  - id: dp\n    message: selection rates within params.min_dp\n"
        "    cite: EU AI Act Art. 10(2)(g)\n"
        "    expr: evaluation.disparities.demographic_parity_ratio >= params.min_dp\n"
        "  - id: reviewed\n    message: two reviewers\n"
        "    expr: size(reviews.approved.reviewer) >= 2\n"
    )
    assert ft(t, "policy", "add", str(policy)).returncode == 0
    for who in ("rita", "rex"):
        r = ft(t, "review", "credit-model", "--approve", "--comment", "checked", "--as", who)
        assert r.returncode == 0, r.stderr
    r = ft(t, "policy", "check", "credit-model", "--json")
    assert r.returncode == 0, r.stderr
    (decision,) = json.loads(r.stdout)
    assert decision["passed"] is True and decision["facts"]["reviews"]["approvals"] == 2
    r = ft(t, "deploy", model, "--env", "production", "--as", "ops")
    assert r.returncode == 0, r.stderr
    r = ft(t, "status", "credit-model", "--json")
    assert json.loads(r.stdout)["deployments"][0]["environment"] == "production"

    # a stricter version of the policy: the same model is now refused, exit 4, rule named
    policy.write_text(policy.read_text().replace("version: 1", "version: 2")
                      .replace("min_dp: 0.5", "min_dp: 0.9999"))  # fmt: skip
    assert ft(t, "policy", "add", str(policy)).returncode == 0
    r = ft(t, "policy", "check", "credit-model")
    assert r.returncode == 4 and "✗ dp" in r.stdout
    before = log_size(t)
    assert_user_error(
        ft(t, "deploy", model, "--env", "production", "--as", "ops"), 4, "failed rules dp"
    )
    assert log_size(t) == before
    r = ft(t, "status", "credit-model")
    assert "gate:        closed" in r.stdout
