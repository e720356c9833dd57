"""Reputation scores from verifiable facts (each component with its entries), team
scores, a leaderboard that refuses apples-to-oranges comparisons, and scores awarded
on chain as AuditRegistry points only where a quorum of auditors approves."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from fairtrail import Trail
from fairtrail.anchoring import approve_model, deploy_contracts
from fairtrail.errors import InputError
from fairtrail.lifecycle.models import record_model, resolve_model
from fairtrail.monitoring import resolve_alert
from fairtrail.reputation import WEIGHTS, leaderboard, model_score, publish_points, team_scores
from tests.cli.test_cli import ft

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.server._fixtures import build_rich_trail

    return build_rich_trail(tmp_path_factory.mktemp("rep"))


@pytest.fixture
def trail_path(rich: Any, tmp_path: Path) -> Path:
    return Path(shutil.copytree(rich.path, tmp_path / "trail"))


def test_score_is_the_weighted_sum_of_linked_components(trail_path: Path) -> None:
    with Trail.open(trail_path) as trail:
        model = resolve_model(trail, "credit-model")
        s = model_score(trail, model)
        parts = s["components"]
        assert set(parts) == set(WEIGHTS)
        assert s["score"] == pytest.approx(sum(WEIGHTS[k] * parts[k]["value"] for k in WEIGHTS),
                                           abs=0.01)  # fmt: skip
        for name, c in parts.items():
            assert 0 <= c["value"] <= 1, name
        for i in parts["policy"]["entries"]:  # every input is a statement of the right kind
            assert trail.statement(i)[1].predicate_type.endswith("/policy-decision/v1")
        assert trail.statement(parts["fairness"]["entries"][0])[1].predicate_type.endswith(
            "/evaluation/v1")  # fmt: skip
        assert parts["reviews"]["value"] == 1.0  # two approvals, no rejection
        assert parts["monitoring"]["value"] == 0.0  # every alert still open
        # resolving the alerts raises the monitoring component, and the score with it
        for a in [trail.statement(i)[1].predicate for i in parts["monitoring"]["entries"]]:
            resolve_alert(trail, model, a["alertId"], "checked", trail.actor_key("admin"))
        after = model_score(trail, model)
        assert after["components"]["monitoring"]["value"] > 0.9
        assert after["score"] > s["score"]
        assert [t["team"] for t in team_scores(trail)] == ["mo"]


def test_leaderboard_ranks_like_with_like_only(trail_path: Path, rich: Any, tmp_path: Path) -> None:
    from tests.policy.test_gates import audit

    with Trail.open(trail_path) as trail:
        first = resolve_model(trail, "credit-model")
        other = tmp_path / "other.skops"
        shutil.copy(rich.model, other)
        other.write_bytes(other.read_bytes() + b"\0")  # another artifact, same predictions
        record_model(trail, other, trail.actor_key("mo"), name="credit-model-2", fmt="skops")
        second = resolve_model(trail, "credit-model-2")
        audit(trail, rich, second, prediction="credit")  # a perfect predictor of the label
        board = leaderboard(trail, [first, second], "accuracy")
        assert [r["model"] for r in board["rows"]] == ["credit-model-2", "credit-model"]
        assert board["rows"][0]["accuracy"] == 1.0
        eo = leaderboard(trail, [first, second], "equalized_odds_difference")
        assert eo["rows"][0]["equalized_odds_difference"] <= eo["rows"][1][
            "equalized_odds_difference"]  # fmt: skip
        # the same model audited by another attribute is another comparison
        from fairtrail.audit.evaluations import AuditRequest, record_evaluation, run_audit

        request = AuditRequest(rich.data, "credit", ["age_group"], prediction="scored",
                               positive_label="good")  # fmt: skip
        record_evaluation(trail, second, request, run_audit(request), trail.actor_key("mo"))
        with pytest.raises(InputError, match="cannot be ranked together"):
            leaderboard(trail, [first, second])
        with pytest.raises(InputError, match="--metric"):
            leaderboard(trail, [first], "vibes")
    r = ft(trail_path, "leaderboard", "--model", "credit-model", "--metric", "accuracy")
    assert r.returncode == 0 and "1. credit-model" in r.stdout, r.stderr
    r = ft(trail_path, "leaderboard")
    assert r.returncode == 2 and "cannot be ranked together" in r.stderr


def test_points_on_chain_follow_a_quorum(tmp_path: Path) -> None:
    from tests.anchor.test_anchoring import _passing_model, auditor_chain

    credit = _passing_model(tmp_path)  # judged by a passing policy, three auditors
    path = credit.path
    addresses = auditor_chain(path)
    with Trail.open(path) as trail:
        model = resolve_model(trail, credit.model)
        chain = deploy_contracts(trail, trail.config.chain("dev"), auditors=addresses,
                                 threshold=2)  # fmt: skip
        wallet = trail.paths.eth_key("aud1")
        with pytest.raises(InputError, match="has no approval"):
            publish_points(trail, model, chain, trail.actor_key("aud1"), wallet)
        with pytest.raises(InputError, match="auditor"):
            publish_points(trail, model, chain, trail.actor_key("rita"), wallet)

        def approve(name: str) -> None:
            approve_model(trail, model, chain, trail.actor_key(name), trail.paths.eth_key(name))

        approve("aud1")
        with pytest.raises(InputError, match="no quorum"):  # 1 of 2: refused before signing
            publish_points(trail, model, chain, trail.actor_key("aud1"), wallet)
        approve("aud2")
        trail.checkpoint()
        done = publish_points(trail, model, chain, trail.actor_key("aud1"), wallet)
        expected = round(model_score(trail, model)["score"] * 100)
        assert done["points"] == expected > 0
    r = ft(path, "leaderboard", "--publish", "dev", "--as", "aud2", "--json")
    assert r.returncode == 0, r.stderr
    import json

    assert json.loads(r.stdout)["published"][0]["points"] == expected
