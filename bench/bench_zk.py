"""Zero-knowledge proof benchmark: fairtrail's zk setup, prove-audit and verification on the
demo dataset (UCI German Credit, 1,000 rows), for a logistic regression and a small MLP,
with raw ezkl on the same circuit files side by side.

    .venv/bin/python -W ignore bench/bench_zk.py [--rows 1000] [--mlp-rows 200]

Reported: setup time, proof time, proof size and verification time per batch of 100 and
per prediction. The peer is ezkl called directly (gen_witness, prove, verify on one
batch), so the ratio is fairtrail's overhead around the prover. Not a test.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "german-credit" / "german_credit.csv"
sys.path.insert(0, str(ROOT / "scripts"))


def build(work: Path, name: str, estimator: object, rows: int) -> Path:
    """A trail with the model trained, recorded and audited on the first `rows` rows."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from train_german_credit import LEFT_OUT, NUMERIC

    from fairtrail import Trail
    from fairtrail.audit.evaluations import AuditRequest, record_evaluation, run_audit_rows
    from fairtrail.lifecycle.integrations.sklearn import train_and_record
    from fairtrail.lifecycle.models import resolve_model

    with DATA.open(newline="") as f:
        table = list(csv.DictReader(f))
    audit = work / f"{name}-audit.csv"
    with audit.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table[:rows])
    features = [{k: float(v) if k in NUMERIC else v for k, v in r.items() if k not in LEFT_OUT}
                for r in table]  # fmt: skip
    target = [r["credit"] for r in table]
    xtr, xte, ytr, yte = train_test_split(features, target, test_size=0.3, random_state=1,
                                          stratify=target)  # fmt: skip
    path = work / f"{name}-trail"
    with Trail.init(path) as trail, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        admin = trail.actor_key("admin")
        pipeline = make_pipeline(DictVectorizer(sparse=False), StandardScaler(), estimator)
        train_and_record(trail, pipeline, xtr, ytr, xte, yte, name=name, datasets=[],
                         seed=1, artifact_dir=work / name, model_name=name, signer=admin)
        model_file = work / name / f"{name}.skops"
        model = resolve_model(trail, model_file)
        request = AuditRequest(audit, "credit", ["sex"], model_file=model_file,
                               positive_label="good", trusted_types=trusted(model_file))
        # fmt: skip
        report, evidence = run_audit_rows(request)
        record_evaluation(trail, model, request, report, admin, evidence)
    return path


def trusted(model_file: Path) -> tuple[str, ...]:
    """The benchmark wrote the file itself, so it trusts its types (an MLP's optimizer)."""
    from skops.io import get_untrusted_types

    return tuple(get_untrusted_types(file=model_file))


def run(work: Path, name: str, estimator: object, rows: int) -> dict[str, float]:
    from fairtrail import Trail
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.zk.circuits import setup_circuit
    from fairtrail.zk.local import verify_entry
    from fairtrail.zk.proofs import prove_audit

    path = build(work, name, estimator, rows)
    model_file = work / name / f"{name}.skops"
    with Trail.open(path) as trail:
        model = resolve_model(trail, model_file)
        admin = trail.actor_key("admin")
        t = time.perf_counter()
        _, circuit = setup_circuit(trail, model, model_file, DATA, admin, batch=100,
                                   trusted_types=trusted(model_file))
        setup = time.perf_counter() - t
        t = time.perf_counter()
        receipt, p = prove_audit(trail, model, work / f"{name}-audit.csv", admin,
                                 model_file=model_file, trusted_types=trusted(model_file))
        prove = time.perf_counter() - t
        _, verify = verify_entry(trail, receipt.index)
    batches = len(p["batches"])
    peer = raw_ezkl(circuit.folder)
    return {
        "logrows": circuit.predicate["settings"]["logrows"],
        "features": len(circuit.featurizer.names),
        "setup": setup, "rows": p["rows"], "batches": batches, "prove": prove,
        "prove_batch": prove / batches, "proof_kib": p["proving"]["proofBytes"] / batches / 1024,
        "verify_batch": verify / batches,
        "pk_mib": circuit.predicate["provingKey"]["bytes"] / 2**20,
        "peer_prove": peer[0], "peer_verify": peer[1],
        "max_error": p["fidelity"]["maxAbsError"], "flips": p["fidelity"]["flips"],
    }  # fmt: skip


def raw_ezkl(folder: Path) -> tuple[float, float]:
    """ezkl alone on one batch of the same circuit: witness + prove, then verify."""
    import json

    import ezkl
    import onnx

    dims = onnx.load(str(folder / "model.onnx")).graph.input[0].type.tensor_type.shape.dim
    n, width = dims[0].dim_value, dims[1].dim_value
    x = np.random.default_rng(3).uniform(0, 1, (n, width)) * 0.5
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "in.json").write_text(json.dumps({"input_data": [x.reshape(-1).tolist()]}))
        t = time.perf_counter()
        ezkl.gen_witness(str(d / "in.json"), str(folder / "circuit.ezkl"), str(d / "w.json"),
                         str(folder / "vk.key"), str(folder / "kzg.srs"))
        ezkl.prove(str(d / "w.json"), str(folder / "circuit.ezkl"), str(folder / "pk.key"),
                   str(d / "p.json"), str(folder / "kzg.srs"))
        prove = time.perf_counter() - t
        t = time.perf_counter()
        assert ezkl.verify(str(d / "p.json"), str(folder / "settings.json"), str(folder / "vk.key"),
                           str(folder / "kzg.srs"))
        return prove, time.perf_counter() - t


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--mlp-rows", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="bench-zk-"))
    models = {
        "logistic regression": ("lr", LogisticRegression(max_iter=1000), args.rows),
        "MLP (16 relu)": ("mlp", MLPClassifier(hidden_layer_sizes=(16,), max_iter=500,
                                               random_state=0), args.mlp_rows),
    }  # fmt: skip
    try:
        for name, (short, estimator, rows) in models.items():
            report(name, run(work, short, estimator, rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(name: str, r: dict[str, float]) -> None:
    print(f"\n{name}: {r['features']} features, batch 100, 2^{r['logrows']} rows, "
          f"proving key {r['pk_mib']:.0f} MiB; fidelity max error {r['max_error']:.2e}, "
          f"{r['flips']} flipped")  # fmt: skip
    print(f"  setup (calibrate, compile, SRS, keys):  {r['setup']:.1f} s")
    print(f"  prove {r['rows']} predictions in {r['batches']} proofs: {r['prove']:.1f} s "
          f"({r['prove_batch']:.1f} s per proof, {r['prove'] / r['rows'] * 1000:.0f} ms per "
          f"prediction); raw ezkl {r['peer_prove']:.1f} s per proof "
          f"(ratio {r['prove_batch'] / r['peer_prove']:.2f})")  # fmt: skip
    print(f"  proof size {r['proof_kib']:.1f} KiB per proof "
          f"({r['proof_kib'] * 1024 / 100:.0f} bytes per prediction)")
    print(f"  verify {r['verify_batch'] * 1000:.0f} ms per proof (fairtrail: digests, "
          f"commitments, outputs, ezkl verify); raw ezkl verify "
          f"{r['peer_verify'] * 1000:.0f} ms (ratio {r['verify_batch'] / r['peer_verify']:.2f})")


if __name__ == "__main__":
    main()
