"""Zero-knowledge proofs with the real ezkl prover: setup, audit and decision proofs,
offline verification in bundles, and the forgeries it must catch."""

from __future__ import annotations

import base64
import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fairtrail import Trail
from fairtrail.audit.evaluations import AuditRequest, record_evaluation, run_audit_rows
from fairtrail.bundle.verify import verify_bundle
from fairtrail.decisions import record_decisions
from fairtrail.errors import FairtrailError, InputError, VerificationError
from fairtrail.evidence import export_bundle
from fairtrail.lifecycle.models import resolve_model
from fairtrail.zk.circuits import circuit_at, setup_circuit
from fairtrail.zk.facts import zk_facts
from fairtrail.zk.local import verify_entry
from fairtrail.zk.proofs import PROOF_PREDICATE, prove_audit, prove_decision
from fairtrail.zk.subject import check_subject_input
from fairtrail.zk.verify import ZkVerificationError
from tests._credit import build_credit_trail
from tests.cli.test_cli import assert_user_error, ft

pytestmark = pytest.mark.integration
BATCH = 20


@pytest.fixture(scope="module")
def proven(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("zk")
    credit = build_credit_trail(root)
    audit_data = root / "audit.csv"  # 50 rows: three batches, the last one padded
    with credit.data.open() as f, audit_data.open("w") as out:
        out.writelines(line for i, line in enumerate(f) if i <= 50)
    with Trail.open(credit.path) as trail:
        model = resolve_model(trail, credit.model)
        request = AuditRequest(audit_data, "credit", ["sex"], model_file=credit.model,
                               positive_label="good")  # fmt: skip
        report, rows = run_audit_rows(request)
        evaluation = record_evaluation(trail, model, request, report, trail.actor_key("mo"), rows)
        _, circuit = setup_circuit(trail, model, credit.model, credit.data,
                                   trail.actor_key("mo"), batch=BATCH)  # fmt: skip
        receipt, proof = prove_audit(trail, model, audit_data, trail.actor_key("mo"),
                                     model_file=credit.model)  # fmt: skip
        trail.checkpoint()
    return credit, audit_data, evaluation.index, circuit, receipt.index, proof, report


def test_circuit_commits_to_the_weights_and_reports_fidelity(proven: Any) -> None:
    credit, _, _, circuit, _, _, _ = proven
    p = circuit.predicate
    assert p["model"]["name"] == "credit-model"
    assert p["settings"]["visibility"] == {"input": "polycommit", "params": "hashed",
                                           "output": "public"}  # fmt: skip
    assert len(p["weightCommitment"]["poseidon"]) == 64
    assert p["featurizer"]["features"] == ["income", "purpose=car", "purpose=home",
                                           "purpose=study"]  # fmt: skip
    assert p["srs"]["source"].startswith("generated locally")
    assert p["fidelity"]["rows"] > 0 and p["fidelity"]["maxAbsError"] < 0.01
    assert "pk.key" not in json.dumps(p["featurizer"])  # nothing learned is public
    weights = circuit.folder / "model.onnx"
    assert weights.is_file()  # the weights stay with the owner


def test_audit_proof_covers_every_row_and_recomputes_the_report(proven: Any) -> None:
    credit, _, eval_entry, circuit, entry, p, report = proven
    assert p["evaluation"]["entry"] == eval_entry and p["rows"] == 50
    assert [b["count"] for b in p["batches"]] == [20, 20, 10]
    assert p["agreement"]["same"] + p["agreement"]["differ"] == 50
    assert p["fidelity"]["maxAbsError"] < 0.01
    if p["fidelity"]["flips"] == 0:
        assert p["agreement"]["differ"] == 0
        assert p["report"]["disparities"] == pytest.approx(report["disparities"])
    with Trail.open(credit.path, writable=False) as trail:
        proved, seconds = verify_entry(trail, entry)
        facts = zk_facts(trail, resolve_model(trail, credit.model))
    assert proved["rows"] == 50 and seconds < 5
    assert facts["proven"] and facts["coverage"] == 1.0 and facts["proof_entry"] == entry
    assert facts["max_abs_error"] == p["fidelity"]["maxAbsError"]


def _bundle(trail_path: Path, model: Path) -> dict[str, Any]:
    with Trail.open(trail_path, writable=False) as trail:
        document, _ = export_bundle(trail, resolve_model(trail, model))
    return document


def test_bundle_verifies_offline_and_catches_swapped_files(proven: Any) -> None:
    credit, *_ = proven
    document = _bundle(credit.path, credit.model)
    assert {c["entry"] for c in document["zk"]["circuits"]} == {proven[3].entry}
    report = verify_bundle(json.dumps(document).encode())
    assert report.ok, report.to_dict()
    assert any(c.name == "zk proofs" and c.status == "ok" for c in report.claims)

    def failure(doc: dict[str, Any]) -> str:
        r = verify_bundle(json.dumps(doc).encode())
        assert not r.ok
        return next(c.detail for c in r.claims if c.status == "fail")

    swapped = json.loads(json.dumps(document))  # another key
    vk = bytearray(base64.b64decode(swapped["zk"]["circuits"][0]["vk"]))
    vk[-40] ^= 1
    swapped["zk"]["circuits"][0]["vk"] = base64.b64encode(bytes(vk)).decode()
    assert "(key)" in failure(swapped)
    assert verify_bundle(json.dumps(swapped).encode()).exit_code == 20
    missing = json.loads(json.dumps(document))
    missing["zk"]["proofs"].pop()
    assert "is not in the bundle" in failure(missing)
    other = json.loads(json.dumps(document))  # batch 0's proof in place of batch 1's
    other["zk"]["proofs"][1]["proof"] = other["zk"]["proofs"][0]["proof"]
    assert "not the one its ZkProof names" in failure(other)


def _forge(trail_path: Path, entry: int, change: Any) -> None:
    """Record a copy of ZkProof `entry` changed by `change` (signed: only the maths can
    tell it from the real one)."""
    with Trail.open(trail_path) as trail:
        _, st = trail.statement(entry)
        doc = st.to_dict()
        change(doc["predicate"], trail)
        trail.record(doc, trail.actor_key("mo"))
        trail.checkpoint()


def _tampered_proof(p: dict[str, Any], trail: Trail, new_output: int) -> None:
    """Edit batch 0's proof file so its first output is `new_output`, and the statement
    to match: a consistent lie that only the proof's verification can catch."""
    import ezkl

    from fairtrail.zk.proofs import proof_file

    batch = p["batches"][0]
    path = proof_file(trail, batch["proof"]["sha256"])
    doc = json.loads(path.read_bytes())
    doc["instances"][0][1] = ezkl.float_to_felt(new_output / 2**10, 10)
    data = json.dumps(doc).encode()
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    path.with_name(f"{digest}.json").write_bytes(data)
    batch["proof"] = {"sha256": digest, "bytes": len(data)}
    batch["outputs"][0] = int(ezkl.felt_to_int(doc["instances"][0][1]))


@pytest.mark.parametrize("forgery,kind", [
    ("outputs", "outputs"),  # the statement claims outputs the proof does not show
    ("proof", "proof"),  # the proof file shows other outputs than it proves
    ("input", "proof"),  # the statement names another input commitment
    ("weights", "model"),  # the statement claims another model's weight commitment
])  # fmt: skip
def test_forged_proof_statements_fail(proven: Any, tmp_path: Path, forgery: str, kind: str) -> None:
    credit, _, _, circuit, entry, p, _ = proven
    copy = tmp_path / "trail"
    shutil.copytree(credit.path, copy, ignore=shutil.ignore_patterns("*.lock"))

    def change(pred: dict[str, Any], trail: Trail) -> None:
        if forgery == "outputs":
            pred["batches"][0]["outputs"][0] ^= 1
        elif forgery == "proof":
            _tampered_proof(pred, trail, pred["batches"][0]["outputs"][0] ^ 64)
        elif forgery == "input":
            pred["batches"][0]["inputCommitment"] = pred["batches"][1]["inputCommitment"]
        else:
            pred["weightCommitment"] = "00" * 32

    _forge(copy, entry, change)
    with Trail.open(copy, writable=False) as trail:
        forged = trail.log.size - 1
        assert trail.statement(forged)[1].predicate_type == PROOF_PREDICATE
        with pytest.raises(ZkVerificationError) as caught:
            verify_entry(trail, forged)
        assert caught.value.kind == kind, caught.value
        document, _ = export_bundle(trail, resolve_model(trail, credit.model))
    report = verify_bundle(json.dumps(document).encode())
    assert report.failure == "zk-proof", report.to_dict()


def test_proof_for_another_models_circuit_fails(proven: Any, tmp_path: Path) -> None:
    """A ZkProof that names this model but carries a proof made with the circuit of the
    same network with other weights (a second, retrained model)."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from fairtrail.lifecycle.integrations.sklearn import train_and_record

    credit, audit_data, _, _, entry, _, _ = proven
    copy = tmp_path / "trail"
    shutil.copytree(credit.path, copy, ignore=shutil.ignore_patterns("*.lock"))
    rows = credit.rows
    features = [{"income": float(r["income"]), "purpose": r["purpose"]} for r in rows]
    target = [r["credit"] for r in rows]
    with Trail.open(copy) as trail:
        train_and_record(
            trail, make_pipeline(DictVectorizer(sparse=False), LogisticRegression(C=0.01)),
            features[:300], target[:300], features[300:], target[300:], name="other",
            datasets=["credit"], seed=4, artifact_dir=tmp_path / "other", model_name="other",
            signer=trail.actor_key("mo"),
        )  # fmt: skip
        other_file = tmp_path / "other" / "other.skops"
        other = resolve_model(trail, other_file)
        _, other_circuit = setup_circuit(trail, other, other_file, credit.data,
                                         trail.actor_key("mo"), batch=BATCH)  # fmt: skip
        request = AuditRequest(audit_data, "credit", ["sex"], model_file=other_file,
                               positive_label="good")  # fmt: skip
        report, evidence = run_audit_rows(request)
        record_evaluation(trail, other, request, report, trail.actor_key("mo"), evidence)
        receipt, other_p = prove_audit(trail, other, audit_data, trail.actor_key("mo"),
                                       model_file=other_file)  # fmt: skip
        assert other_circuit.weight_commitment != proven[3].weight_commitment
    # the owner of credit-model passes the other model's proofs off as its own
    _forge(copy, entry, lambda pred, _: pred.update(
        batches=other_p["batches"], circuit=pred["circuit"]))  # fmt: skip
    with Trail.open(copy, writable=False) as trail:
        # the second circuit left the first one's files alone (their digests still match)
        assert other_circuit.folder != circuit_at(trail, proven[3].entry).folder
        with pytest.raises(ZkVerificationError) as caught:
            verify_entry(trail, trail.log.size - 1)
    assert caught.value.kind == "model"


@pytest.fixture(scope="module")
def decided(proven: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    credit = proven[0]
    root = tmp_path_factory.mktemp("zk-decision")
    path = root / "trail"
    shutil.copytree(credit.path, path, ignore=shutil.ignore_patterns("*.lock"))
    with Trail.open(path) as trail:
        from fairtrail.audit._predict import _load_skops

        model = _load_skops(credit.model, ())
        applicant = {"income": 61.5, "purpose": "home"}
        said = str(model.predict([applicant])[0])
        wrong = "bad" if said == "good" else "good"
        record_decisions(trail, [
            {"id": "loan-1", "model": str(credit.model), "output": said,
             "time": "2026-12-01T10:00:00Z", "subject": "ann", "input": applicant},
            {"id": "loan-2", "model": str(credit.model), "output": wrong,
             "time": "2026-12-01T10:01:00Z", "subject": "bob", "input": applicant},
            {"id": "loan-3", "model": str(credit.model), "output": said,
             "time": "2026-12-01T10:02:00Z", "subject": "cy", "input": applicant},
        ], trail.actor_key("admin"))  # fmt: skip
        receipt, p = prove_decision(trail, "loan-1", trail.actor_key("mo"),
                                    model_file=credit.model)  # fmt: skip
        trail.checkpoint()
    return path, credit, receipt.index, p, said


def test_decision_proof_proves_the_recorded_output(decided: Any) -> None:
    path, credit, entry, p, said = decided
    assert p["purpose"] == "decision" and p["decision"]["proven"] == said
    assert p["rows"] == 1 and p["fidelity"]["maxAbsError"] < 0.01
    assert "61.5" not in json.dumps(p)  # the input is committed, never shown
    with Trail.open(path, writable=False) as trail:
        verify_entry(trail, entry)
        assert zk_facts(trail, resolve_model(trail, credit.model))["decisions_proven"] == 1


def test_wrong_output_or_erased_input_records_nothing(decided: Any) -> None:
    path, *_ = decided
    with Trail.open(path) as trail:
        size = trail.log.size
        with pytest.raises(FairtrailError, match="recorded as"):
            prove_decision(trail, "loan-2", trail.actor_key("mo"))
        assert trail.log.size == size
    assert ft(path, "erase", "cy", "--as", "admin").returncode == 0
    result = ft(path, "zk", "prove-decision", "loan-3", "--as", "mo")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    with Trail.open(path, writable=False) as trail:
        assert trail.log.size == size + 1  # the Erasure only


def test_data_subject_checks_the_proof_was_made_on_their_input(
    decided: Any, tmp_path: Path
) -> None:
    path, credit, entry, _, said = decided
    mine = tmp_path / "mine.json"
    got = ft(path, "decisions", "receipt", "loan-1", "-o", str(mine), "--with-input")
    assert got.returncode == 0, got.stderr
    bundle = tmp_path / "bundle.json"
    assert ft(path, "export", str(credit.model), "-o", str(bundle)).returncode == 0, "export"
    result = check_subject_input(mine.read_bytes(), bundle.read_bytes())
    assert result["entry"] == entry and result["proven"] == said
    cli = ft(path, "zk", "check-input", str(mine), "--bundle", str(bundle))
    assert cli.returncode == 0 and "made on your input" in cli.stdout, cli.stderr
    # someone else's input (or a changed one) does not open the commitment
    doc = json.loads(mine.read_text())
    doc["input"] = json.dumps({"income": 20.0, "purpose": "home"})
    with pytest.raises(VerificationError, match="not made on your input"):
        check_subject_input(json.dumps(doc).encode(), bundle.read_bytes())


def test_cli_errors_are_one_line(proven: Any, tmp_path: Path) -> None:
    credit, audit_data, *_ = proven
    assert_user_error(ft(credit.path, "zk", "setup", "credit-model", "--data", str(audit_data),
                         "--as", "mo"), 2, "give the model's file")  # fmt: skip
    assert_user_error(ft(credit.path, "zk", "prove-audit", str(credit.model), "--data",
                         str(credit.data), "--as", "mo"), 2, "is not the data of Evaluation")
    assert_user_error(ft(credit.path, "zk", "prove-decision", "nope", "--as", "mo"), 2,
                      "no recorded decision")  # fmt: skip
    assert_user_error(ft(credit.path, "zk", "verify", "0"), 2, "not a ZkProof statement")
    assert_user_error(ft(credit.path, "zk", "setup", str(credit.model), "--data",
                         str(tmp_path / "none.csv"), "--as", "mo"), 2, "no such data file")
    status = ft(credit.path, "zk", "status", "credit-model", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["proven"] is True


def test_cli_proves_an_audit_with_clean_output(proven: Any, tmp_path: Path) -> None:
    """Proving runs outside the writer lock; ezkl's own printing never reaches stdout, so
    --json output parses."""
    credit, audit_data, *_ = proven
    copy = tmp_path / "trail"
    shutil.copytree(credit.path, copy, ignore=shutil.ignore_patterns("*.lock"))
    from fairtrail.crypto import SigningKey

    stranger = tmp_path / "stranger.key"
    SigningKey.generate().save(stranger)
    assert_user_error(ft(copy, "zk", "prove-audit", str(credit.model), "--data",
                         str(audit_data), "--key", str(stranger)), 2, "not an actor")
    result = ft(copy, "zk", "prove-audit", str(credit.model), "--data", str(audit_data),
                "--as", "mo", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["rows"] == 50 and doc["agreement"]["rows"] == 50
    assert "Numerical Fidelity" not in result.stderr + result.stdout
    # what the command prints without --json, from the very predicate it recorded
    from fairtrail.cli.zk_cmds import audit_summary

    compared = doc["report"]["groups_compared"]
    assert compared == ["male"]  # the 50 audit rows hold too few women to compare
    head, fairness = audit_summary(doc["entry"], doc)
    assert head.startswith(f"recorded ZkProof at entry {doc['entry']}: 50 predictions")
    assert "fewer than two groups" in fairness
    two = doc | {"report": doc["report"] | {"groups_compared": ["female", "male"]}}
    assert "(2 groups compared: female, male)" in audit_summary(doc["entry"], two)[1]
    checked = ft(copy, "zk", "verify", str(doc["entry"]))
    assert checked.returncode == 0 and "verify" in checked.stdout, checked.stderr


def test_policy_can_require_a_fidelity_bound(proven: Any, tmp_path: Path) -> None:
    credit, *_ = proven
    copy = tmp_path / "trail"
    shutil.copytree(credit.path, copy, ignore=shutil.ignore_patterns("*.lock"))
    for bound, code in (("0.05", 0), ("0.0000001", 4)):
        policy = tmp_path / f"zk-{bound}.yaml"
        policy.write_text(
            f"name: zk-{bound.replace('.', '-')}\nversion: '1'\nparams: {{max_error: {bound}}}\n"
            "rules:\n  - id: proven\n    severity: error\n    message: audited predictions proven\n"
            "    expr: zk.proven && zk.coverage == 1.0 && zk.max_abs_error >= 0.0 &&"
            " zk.max_abs_error <= params.max_error\n"
        )  # fmt: skip
        assert ft(copy, "policy", "add", str(policy), "--as", "admin").returncode == 0
        result = ft(copy, "policy", "check", str(credit.model), "--policy",
                    f"zk-{bound.replace('.', '-')}", "--as", "admin")  # fmt: skip
        assert result.returncode == code, (result.stdout, result.stderr)


def test_csv_rows_are_what_the_featurizer_reads(proven: Any) -> None:
    _, audit_data, *_ = proven
    with audit_data.open() as f:
        assert len(list(csv.DictReader(f))) == 50
    with pytest.raises(InputError):
        from fairtrail.zk.export import Featurizer

        Featurizer.from_dict({"kind": "tree"})


def test_setup_takes_an_srs_file_of_the_circuits_size_only(proven: Any, tmp_path: Path) -> None:
    """Production passes a ceremony's SRS for the circuit's size: that one is used as it is
    (and proofs verify); one for more rows (ezkl would shrink it on every proof), fewer
    rows, or a file that is no SRS is refused in one line and nothing is recorded."""
    import ezkl

    credit, audit_data, _, circuit, *_ = proven
    copy = tmp_path / "trail"
    shutil.copytree(credit.path, copy, ignore=shutil.ignore_patterns("*.lock"))
    logrows = int(circuit.predicate["settings"]["logrows"])
    for name, k in (("ceremony.srs", logrows), ("big.srs", logrows + 1),
                    ("small.srs", logrows - 1)):  # fmt: skip
        ezkl.gen_srs(str(tmp_path / name), k)
    truncated = tmp_path / "truncated.srs"
    truncated.write_bytes((tmp_path / "ceremony.srs").read_bytes()[:-1])
    setup = ["zk", "setup", str(credit.model), "--data", str(credit.data), "--batch",
             str(BATCH), "--as", "mo", "--srs"]  # fmt: skip
    with Trail.open(copy, writable=False) as trail:
        size = trail.log.size
    for name, words in (("big.srs", f"SRS for 2^{logrows + 1} rows; this circuit needs"),
                        ("small.srs", f"exactly 2^{logrows}"),
                        ("truncated.srs", "is not a KZG SRS file")):  # fmt: skip
        assert_user_error(ft(copy, *setup, str(tmp_path / name)), 2, words)
    with Trail.open(copy, writable=False) as trail:
        assert trail.log.size == size
    result = ft(copy, *setup, str(tmp_path / "ceremony.srs"))
    assert result.returncode == 0, result.stderr
    assert "for testing only" not in result.stdout
    with Trail.open(copy, writable=False) as trail:
        model = resolve_model(trail, credit.model)
        assert zk_facts(trail, model)["circuit_entry"] == size
        assert zk_facts(trail, model)["srs_local"] is False
        assert circuit_at(trail, size).predicate["srs"]["source"] == "file ceremony.srs"
    with Trail.open(copy) as trail:
        receipt, _ = prove_audit(trail, model, audit_data, trail.actor_key("mo"),
                                 model_file=credit.model)  # fmt: skip
    with Trail.open(copy, writable=False) as trail:
        proved, seconds = verify_entry(trail, receipt.index)
    assert proved["circuit"]["entry"] == size and seconds < 5
