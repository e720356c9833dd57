"""Policy files: refused at load when wrong, and a rule that cannot be evaluated fails."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from fairtrail.errors import InputError
from fairtrail.policy.facts import SKELETON
from fairtrail.policy.packs import pack_path, packs
from fairtrail.policy.rules import compile_policy, load_policy


def policy(*rules: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": "p", "version": "1", "params": params or {}, "rules": list(rules)}


def rule(expr: str, rid: str = "r", severity: str = "error") -> dict[str, Any]:
    return {"id": rid, "severity": severity, "message": "m", "expr": expr}


def test_packs_load_and_every_rule_cites() -> None:
    assert packs() == [
        "eu-ai-act-high-risk", "licensing", "nist-ai-rmf-measure", "production-monitoring",
        "zero-knowledge",
    ]  # fmt: skip
    eu = load_policy(pack_path("eu-ai-act-high-risk")).doc
    cited = " ".join(r.cite or "" for r in eu.rules)
    for article in ("Art. 10", "Art. 12", "Art. 14", "Art. 15", "Annex IV"):
        assert article in cited
    nist = load_policy(pack_path("nist-ai-rmf-measure")).doc
    assert all(r.cite and r.cite.startswith("NIST AI RMF MEASURE") for r in nist.rules)
    assert all(r.cite for r in eu.rules)
    monitoring = load_policy(pack_path("production-monitoring")).doc
    assert all(r.cite and "monitoring.latest" in r.expr for r in monitoring.rules)
    licensing = load_policy(pack_path("licensing")).doc
    assert all(r.cite and "licences." in r.expr for r in licensing.rules)
    zk = load_policy(pack_path("zero-knowledge")).doc
    assert all(r.cite and "zk." in r.expr for r in zk.rules)


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (policy(rule("evaluation.disparities.demographic_parity_ratio >= ")), "syntax error"),
        (policy(rule("evaluaton.exists")), "unknown fact or function 'evaluaton'"),
        (
            policy(rule("evaluation.disparities.dp_ratio >= 0.8")),
            "unknown fact or field 'dp_ratio'",
        ),
        (policy(rule("evaluation.groups.all(g, g.tpx > 0.5)")), "unknown fact or field 'tpx'"),
        (policy(rule("reviews.approved.janitor == []")), "unknown fact or field 'janitor'"),
        (policy(rule("params.missing > 1")), "unknown fact or field 'missing'"),
        (policy(rule("evaluation.rows")), "gives int, not true or false"),
        (policy(rule("true"), rule("true")), "used twice"),
        (policy(rule("true", severity="fatal")), "severity"),
        ({"name": "p", "version": "1", "rules": []}, "rules"),
        ({"name": "Bad Name", "version": "1", "rules": [rule("true")]}, "name"),
    ],
)
def test_bad_policies_are_refused(doc: dict[str, Any], words: str) -> None:
    with pytest.raises(InputError, match=words.replace("(", r"\(")):
        compile_policy(doc)


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: p\nrules: [\n")
    with pytest.raises(InputError, match="bad.yaml is not valid YAML"):
        load_policy(bad)
    with pytest.raises(InputError, match="cannot read policy"):
        load_policy(tmp_path / "missing.yaml")


def test_results_and_failure_to_evaluate_is_failure() -> None:
    compiled = compile_policy(
        policy(
            rule("evaluation.disparities.demographic_parity_ratio >= params.min", "dp"),
            rule("size(evaluation.small_groups) == 0", "small", severity="warning"),
            rule("evaluation.overall.accuracy > 0.9", "acc"),
            params={"min": 0.8},
        )
    )
    facts = copy.deepcopy(SKELETON)
    facts["evaluation"]["disparities"]["demographic_parity_ratio"] = 0.85
    facts["evaluation"]["overall"]["accuracy"] = 0.5
    facts["evaluation"]["small_groups"] = []
    got = {r.id: (r.passed, r.error) for r in compiled.evaluate(facts)}
    assert got == {"dp": (True, None), "small": (True, None), "acc": (False, None)}

    facts["evaluation"]["disparities"]["demographic_parity_ratio"] = None  # 0/0: undefined
    dp = compiled.evaluate(facts)[0]
    assert dp.passed is False and dp.error is not None and "no value" in dp.error


def test_messages_show_param_values() -> None:
    compiled = compile_policy(
        {"name": "p", "version": "1", "params": {"min": 0.8},
         "rules": [{"id": "r", "message": "at least params.min", "expr": "true"}]}
    )  # fmt: skip
    assert compiled.evaluate(copy.deepcopy(SKELETON))[0].message == "at least 0.8"


def test_digest_ignores_yaml_layout(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("name: p\nversion: '1'\nrules:\n  - {id: r, message: m, expr: 'true'}\n")
    b.write_text(
        "# same policy\nversion: '1'\nname: p\nrules:\n- id: r\n  expr: 'true'\n  message: m\n"
    )
    assert load_policy(a).digest == load_policy(b).digest
    b.write_text("version: '1'\nname: p\nrules:\n- {id: r, expr: 'false', message: m}\n")
    assert load_policy(a).digest != load_policy(b).digest
