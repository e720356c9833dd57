"""Evaluations on a real trail: predictions from a column or a skops model, the signed
statement and its links, pre-registration deviations, the in-toto export."""

from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path

import pytest

from fairtrail import Trail
from fairtrail.audit.evaluations import (
    EVALUATION_PREDICATE,
    AuditRequest,
    latest_evaluation,
    record_evaluation,
    run_audit,
)
from fairtrail.audit.intoto import EVAL_RESULT_PREDICATE, export_eval_result
from fairtrail.audit.preregistration import (
    load_protocol,
    parse_claim,
    record_preregistration,
)
from fairtrail.crypto.dsse import Envelope, verify_envelope
from fairtrail.errors import InputError
from fairtrail.lifecycle.fingerprint import fingerprint
from fairtrail.lifecycle.models import resolve_model
from tests._credit import CreditTrail, build_credit_trail, write_credit_csv


@pytest.fixture(scope="module")
def credit(tmp_path_factory: pytest.TempPathFactory) -> CreditTrail:
    return build_credit_trail(tmp_path_factory.mktemp("credit"))


def _request(credit: CreditTrail, **kw: object) -> AuditRequest:
    base: dict[str, object] = {
        "data": credit.data, "label": "credit", "sensitive": ["sex"], "prediction": "scored",
        "positive_label": "good",
    }  # fmt: skip
    base.update(kw)
    return AuditRequest(**base)  # type: ignore[arg-type]


def test_column_audit_recorded_with_model_and_data_digests(credit: CreditTrail) -> None:
    request = _request(credit)
    report = run_audit(request)
    with Trail.open(credit.path) as trail:
        model = resolve_model(trail, "credit-model")
        receipt = record_evaluation(trail, model, request, report, trail.actor_key("mo"))
        st = receipt.statement
        assert st.predicate_type == EVALUATION_PREDICATE
        data_digest = fingerprint(credit.data).subject_digest
        assert [s.digest for s in st.subject] == [model.digest, data_digest]
        # the evaluation data is the recorded dataset: the statement says which entry
        assert [d["name"] for d in st.predicate["data"]["datasets"]] == ["credit"]
        assert st.predicate["report"]["disparities"] == report["disparities"]
        assert st.predicate["predictions"] == "column:scored"
        assert latest_evaluation(trail, model.digest) == (receipt.index, st.predicate)
        # found from the data's digest too, but it is not the model's evaluation
        alg, value = next(iter(data_digest.items()))
        assert receipt.index in trail.indices_of_subject(alg, value)
        assert latest_evaluation(trail, data_digest) is None


def test_model_predictions_equal_the_pipeline(credit: CreditTrail) -> None:
    from skops.io import load

    report = run_audit(_request(credit, prediction=None, model_file=credit.model))
    pipeline = load(credit.model, trusted=None)
    predicted = pipeline.predict(
        [{"income": float(r["income"]), "purpose": r["purpose"]} for r in credit.rows]
    )
    selected = sum(p == "good" for p in predicted) / len(predicted)
    assert report["overall"]["selection_rate"] == pytest.approx(selected, abs=1e-12)
    assert report["rows"] == len(credit.rows)


def test_pickle_models_are_never_loaded(credit: CreditTrail, tmp_path: Path) -> None:
    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps({"not": "loaded"}))
    with pytest.raises(InputError, match="only loads .skops"):
        run_audit(_request(credit, prediction=None, model_file=evil))


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"label": "nope"}, "column 'nope' is not in"),
        ({"sensitive": ["nope"]}, "column 'nope' is not in"),
        ({"label": "income"}, "the audit's metrics are for binary outcomes"),
        ({"positive_label": "excellent"}, "positive label 'excellent' occurs in neither"),
        ({"sensitive": ["credit"]}, "cannot also be the label"),
        ({"prediction": None}, "--prediction COLUMN or --model"),
    ],
)
def test_bad_audit_input(credit: CreditTrail, kw: dict[str, object], words: str) -> None:
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(".", r"\.")):
        run_audit(_request(credit, **kw))


def test_empty_group_is_refused_unless_allowed(credit: CreditTrail, tmp_path: Path) -> None:
    data = tmp_path / "blank.csv"
    lines = credit.data.read_text().splitlines()
    lines[5] = lines[5].replace(",female,", ",,").replace(",male,", ",,")
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="sensitive column 'sex' has 1 empty values"):
        run_audit(_request(credit, data=data))
    report = run_audit(_request(credit, data=data, allow_missing=True, min_group_size=1))
    assert report["by_group"]["sex"]["(missing)"]["count"] == 1


def test_preregistration_match_and_deviations(credit: CreditTrail, tmp_path: Path) -> None:
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(
        f"data: {credit.data}\nlabel: credit\npositive_label: good\nsensitive: [sex]\n"
        "seed: 11\nmetrics: [demographic_parity_ratio]\n"
        "claims:\n  - {metric: demographic_parity_ratio, comparator: '>=', threshold: 0.8}\n"
    )
    parsed, digest = load_protocol(protocol)
    other = tmp_path / "other.csv"
    write_credit_csv(other, n=300, seed=9)
    with Trail.open(credit.path) as trail:
        model = resolve_model(trail, "credit-model")
        prereg = record_preregistration(trail, model, parsed, digest, trail.actor_key("mo"))
        signer = trail.actor_key("mo")

        request = _request(credit, seed=11)
        matched = record_evaluation(trail, model, request, run_audit(request), signer)
        pred = matched.statement.predicate
        assert pred["preregistration"] == {"entry": prereg.index, "deviations": []}
        # the pre-registered claim is judged even though the audit did not repeat it
        assert [c["text"] for c in pred["claims"]] == ["demographic_parity_ratio >= 0.8"]
        dpr = pred["report"]["disparities"]["demographic_parity_ratio"]
        assert pred["claims"][0]["passed"] is (dpr >= 0.8)

        request = _request(
            credit, data=other, sensitive=["sex", "age_group"], seed=12,
            claims=[parse_claim("accuracy>=0.5")],
        )  # fmt: skip
        deviated = record_evaluation(trail, model, request, run_audit(request), signer)
        found = deviated.statement.predicate["preregistration"]["deviations"]
        assert "evaluated on other data than pre-registered" in found
        assert any(d.startswith("sensitive attributes") for d in found)
        assert "seed is 12, pre-registered 11" in found
        assert "claim 'accuracy >= 0.5' was not pre-registered" in found


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("label: [unclosed", "not valid YAML"),
        ("data: x.csv\nlabel: y\nsensitive: [s]\nmetrics: [happiness]\n", "unknown metric"),
        ("data: x.csv\nlabel: y\nsensitive: [s]\nextra: 1\n", "extra"),
        ("data: nowhere/file.csv\nlabel: y\nsensitive: [s]\n", "neither a file nor ALG:HEX"),
    ],
)
def test_bad_protocols(tmp_path: Path, text: str, words: str) -> None:
    protocol = tmp_path / "p.yaml"
    protocol.write_text(text)
    with pytest.raises(InputError, match=words):
        load_protocol(protocol)


def test_claims_parse_and_refuse() -> None:
    claim = parse_claim("equalized_odds_difference <= 0.1")
    assert (claim.metric, claim.comparator, claim.threshold) == (
        "equalized_odds_difference",
        "<=",
        0.1,
    )
    for bad in ("accuracy", "happiness>=1", "accuracy>=high"):
        with pytest.raises(InputError):
            parse_claim(bad)


def test_in_toto_eval_result_export(credit: CreditTrail) -> None:
    request = _request(credit, claims=[parse_claim("accuracy>=0.5")])
    with Trail.open(credit.path) as trail:
        model = resolve_model(trail, "credit-model")
        signer = trail.actor_key("mo")
        receipt = record_evaluation(trail, model, request, run_audit(request), signer)
        exported, ours = export_eval_result(trail, receipt.index, signer)
        assert ours == trail.store.entries(receipt.index, receipt.index + 1)[0]
        with pytest.raises(InputError, match="not an Evaluation"):
            export_eval_result(trail, 0, signer)
    envelope = Envelope.from_json(exported)
    assert verify_envelope(envelope, [signer.public])
    statement = json.loads(base64.b64decode(envelope.payload))
    assert statement["predicateType"] == EVAL_RESULT_PREDICATE
    assert statement["subject"][0]["digest"] == model.digest
    pred = statement["predicate"]
    accuracy = receipt.statement.predicate["report"]["overall"]["accuracy"]
    assert {"metric": "accuracy", "comparator": ">=", "threshold": "0.5",
            "passed": accuracy >= 0.5} in pred["claims"]  # fmt: skip
    assert pred["sampleSize"] == len(credit.rows)
    assert pred["commitments"]["model"] == {
        "alg": "sha256",
        "value": model.digest["sha256"],
        "salted": False,
    }
