"""Trace one decision back to the model, data, audits and approvals behind it (redress).

`trace(trail, decision_id)` proves the decision first (its record's path to its batch
root, the batch statement's inclusion under the latest checkpoint), then reads what was
in force *when it was recorded*: everything about the model digest that the log holds
before the batch statement's index. Log order is the clock here: it cannot be
back-dated, unlike the timestamps inside statements.

`redress_report` writes a readable HTML report and, next to it, the model's evidence
bundle and the decision's receipt, so every claim in the report can be checked offline.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtrail.audit.evaluations import EVALUATION_PREDICATE
from fairtrail.crypto._files import write_atomic
from fairtrail.decisions import BATCH_PREDICATE, DecisionStore
from fairtrail.errors import InputError, IntegrityError, ProofError
from fairtrail.lifecycle.lineage import lineage
from fairtrail.lifecycle.models import MODEL_PREDICATE, ModelRecord
from fairtrail.log import merkle
from fairtrail.policy.decisions import DECISION_PREDICATE
from fairtrail.policy.facts import ALERT_PREDICATE
from fairtrail.policy.gates import DEPLOYMENT_PREDICATE
from fairtrail.policy.reviews import REVIEW_PREDICATE

if TYPE_CHECKING:
    from fairtrail.trail import Trail

__all__ = ["redress_report", "trace"]


def _before(
    trail: Trail, digest: dict[str, str], ptype: str, entry: int
) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for index in trail.indices_about(digest, ptype):
        if index < entry:
            _, st = trail.statement(index)
            out.append((index, st.predicate))
    return out


def trace(trail: Trail, decision_id: str) -> dict[str, Any]:
    with DecisionStore(trail.paths.root / "decisions.db") as store:
        found = store.find(decision_id)
    if found is None:
        raise InputError(f"no recorded decision {decision_id!r}")
    record, raw, entry, path, pos = found.record, found.raw, found.entry, found.path, found.position
    _, batch = trail.statement(entry)
    if batch.predicate_type != BATCH_PREDICATE:
        raise IntegrityError(f"entry {entry} is not a DecisionBatch statement")
    bp = batch.predicate
    try:
        merkle.verify_inclusion(
            merkle.leaf_hash(raw), pos, int(bp["count"]), path, bytes.fromhex(bp["root"])
        )
    except ProofError as exc:
        raise IntegrityError(f"decision {decision_id} is not in its signed batch: {exc}") from None
    latest = trail.latest_checkpoint()
    proved = latest is not None and entry < latest[0].size
    if proved:
        assert latest is not None
        trail.prove_inclusion(entry, latest[0].size).verify()

    digest = dict(record["model"])
    models = [(i, p) for i, p in _before(trail, digest, MODEL_PREDICATE, entry + 1)]
    if not models:
        raise IntegrityError(
            f"decision {decision_id} names a model that was not recorded before it"
        )
    model_index, model_p = models[-1]
    alg, value = next(iter(digest.items()))
    tree = [n.to_dict() for n in lineage(trail, alg, value) if n.index == model_index]

    evaluations = _before(trail, digest, EVALUATION_PREDICATE, entry)
    reviews = _before(trail, digest, REVIEW_PREDICATE, entry)
    decisions = _before(trail, digest, DECISION_PREDICATE, entry)
    in_force: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, p in decisions:
        in_force[p["policy"]["name"]] = (i, p)
    deployments = _before(trail, digest, DEPLOYMENT_PREDICATE, entry)
    alerts: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, p in _before(trail, digest, ALERT_PREDICATE, entry):
        alerts[str(p.get("alertId", i))] = (i, p)
    open_alerts = [
        {"entry": i, "alertId": k, "rule": p.get("rule"), "message": p.get("message")}
        for k, (i, p) in alerts.items() if p.get("state", "open") == "open"
    ]  # fmt: skip
    evaluation = evaluations[-1] if evaluations else None
    return {
        "decision": {
            "id": decision_id, "output": record["output"], "time": record["time"],
            "inputCommitment": record["input"], "batchEntry": entry, "position": pos,
            "proved": f"under checkpoint {latest[0].size}" if proved and latest else
                      "batch not checkpointed yet",
        },
        "model": {"entry": model_index, "name": model_p.get("name"), "digest": digest,
                  "format": model_p.get("format")},
        "lineage": tree,
        "evaluation": None if evaluation is None else {
            "entry": evaluation[0], "evaluatedAt": evaluation[1].get("evaluatedAt"),
            "sensitive": evaluation[1].get("sensitive"),
            "disparities": evaluation[1].get("report", {}).get("disparities"),
        },
        "reviews": [{"entry": i, "approve": p.get("decision") == "approve",
                     "reviewer": p.get("reviewer"), "roles": p.get("roles"),
                     "comment": p.get("comment")} for i, p in reviews],
        "policyDecisions": [{"entry": i, "policy": p["policy"]["name"],
                             "version": p["policy"]["version"], "passed": p["passed"],
                             "failing": [r["id"] for r in p["results"] if not r["passed"]]}
                            for i, p in in_force.values()],
        "deployment": None if not deployments else {
            "entry": deployments[-1][0], "environment": deployments[-1][1].get("environment")},
        "openAlerts": open_alerts,
    }  # fmt: skip


def decision_receipt(trail: Trail, decision_id: str) -> dict[str, Any]:
    """What a data subject keeps: the record, its path to the batch root, and the batch
    statement's entry with a C2SP tlog-proof (no personal data; the input opens only with
    the salt and value from the vault)."""
    with DecisionStore(trail.paths.root / "decisions.db") as store:
        found = store.find(decision_id)
    if found is None:
        raise InputError(f"no recorded decision {decision_id!r}")
    raw, entry, path, pos = found.raw, found.entry, found.path, found.position
    leaf, tlog_proof = trail.entry_proof(entry, "the decision's batch")
    return {
        "format": "fairtrail-decision-receipt/v1",
        "logVkey": trail.config.log_vkey,
        "record": raw.decode("utf-8"),
        "position": pos,
        "path": [base64.b64encode(h).decode() for h in path],
        "batchEntry": entry,
        "batchLeaf": base64.b64encode(leaf).decode(),
        "tlogProof": tlog_proof.decode(),
    }


def redress_report(trail: Trail, decision_id: str, out: Path) -> list[Path]:
    """Write OUT (HTML), OUT.bundle.json and OUT.receipt.json; return the paths."""
    from fairtrail.evidence import export_bundle
    from fairtrail.lifecycle.models import resolve_model

    info = trace(trail, decision_id)
    digest = info["model"]["digest"]
    alg, value = next(iter(digest.items()))
    model: ModelRecord = resolve_model(trail, f"{alg}:{value}")
    bundle, _ = export_bundle(trail, model)
    receipt = decision_receipt(trail, decision_id)
    bundle_path = out.with_name(out.name + ".bundle.json")
    receipt_path = out.with_name(out.name + ".receipt.json")
    write_atomic(bundle_path, json.dumps(bundle, indent=1).encode() + b"\n")
    write_atomic(receipt_path, json.dumps(receipt, indent=1).encode() + b"\n")
    write_atomic(
        out, _html(info, bundle_path.name, receipt_path.name, trail.config.log_vkey).encode()
    )
    return [out, bundle_path, receipt_path]


def _html(info: dict[str, Any], bundle: str, receipt: str, vkey: str) -> str:
    e = html.escape
    d, m = info["decision"], info["model"]
    rows = []

    def row(claim: str, value: str, entry: Any) -> None:
        ref = "" if entry is None else f"entry {e(str(entry))}"
        rows.append(f"<tr><th>{e(claim)}</th><td>{value}</td><td>{ref}</td></tr>")

    row(
        "Decision",
        f"<b>{e(str(d['output']))}</b> at {e(str(d['time']))} (id {e(d['id'])})",
        d["batchEntry"],
    )
    row("Proved on the log", e(d["proved"]), d["batchEntry"])
    row(
        "Model",
        f"{e(str(m['name']))} <code>{e(next(iter(m['digest'].values()))[:16])}…</code>",
        m["entry"],
    )
    for node in info["lineage"]:
        for run in node.get("children", []):
            row("Trained by", f"run {e(run['name'])}: {e(run['proof'])}", run["index"])
            for ds in run.get("children", []):
                lic = ds.get("details", {}).get("license")
                row(
                    "On data",
                    f"{e(ds['name'])} (licence {e(str(lic))}): {e(ds['proof'])}",
                    ds["index"],
                )
    ev = info["evaluation"]
    if ev:
        dp = (ev.get("disparities") or {}).get("demographic_parity_ratio")
        row("Latest fairness audit", f"by {e(str(ev['sensitive']))}; demographic parity ratio "
            f"{e(str(dp))}", ev["entry"])  # fmt: skip
    else:
        row("Latest fairness audit", "<b>none before this decision</b>", None)
    for r in info["reviews"]:
        row(
            "Review",
            f"{'approve' if r['approve'] else 'reject'}: {e(str(r['comment']))}",
            r["entry"],
        )
    for p in info["policyDecisions"]:
        verdict = "passed" if p["passed"] else "FAILED " + ", ".join(p["failing"])
        row(f"Policy {p['policy']} v{p['version']}", e(verdict), p["entry"])
    dep = info["deployment"]
    row(
        "Deployed",
        e(dep["environment"]) if dep else "<b>no deployment recorded</b>",
        dep and dep["entry"],
    )
    alerts = info["openAlerts"]
    row(
        "Open monitoring alerts",
        e(", ".join(str(a["rule"]) for a in alerts)) if alerts else "none",
        None,
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Decision {e(d["id"])}: redress report</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;width:100%}}
th,td{{text-align:left;padding:.4rem;border-bottom:1px solid #ddd;vertical-align:top}}
th{{width:14rem}}code{{font-size:.9em}}</style></head><body>
<h1>How decision {e(d["id"])} was made</h1>
<p>Every line below is a statement on a tamper-evident log, signed by the person or system
that made it. The last column names the log entry. The files next to this report prove each
claim offline: <code>{e(bundle)}</code> (the model's evidence bundle) and
<code>{e(receipt)}</code> (this decision's receipt). Check them with
<code>fairtrail verify-bundle {e(bundle)} --trusted-key '{e(vkey)}'</code>.</p>
<table>{"".join(rows)}</table>
<p>The input of the decision is not in the log or in this report: only a salted commitment
(<code>{e(str(d["inputCommitment"].get("sha256", ""))[:16])}…</code>). With the salt and the
input held for you, anyone can recompute it.</p>
</body></html>
"""


def subject_copy(trail: Trail, decision_id: str) -> dict[str, Any]:
    """The receipt plus the salt and input from the vault: the data subject's own copy,
    with which they (or anyone they show it to) can recompute the commitment."""
    from fairtrail.privacy.vault import Vault

    receipt = decision_receipt(trail, decision_id)
    with DecisionStore(trail.paths.root / "decisions.db") as store:
        found = store.find(decision_id)
    assert found is not None  # the receipt was just made from it
    with Vault(trail.paths.secrets / "vault.db") as vault:
        _, sealed = vault.open_sealed(found.batch, found.position, f"decision-input:{decision_id}")
    return receipt | {"salt": sealed[:16].hex(), "input": sealed[16:].decode("utf-8"),
                      "decision": found.record["id"]}  # fmt: skip


def check_receipt(data: bytes, trusted_vkey: str | None = None) -> dict[str, Any]:
    """Check a decision receipt offline: the batch statement is on the log, the record is
    in the batch, and, when the receipt carries them, the salt and input open the
    record's commitment."""
    from fairtrail.crypto.canonical import parse_json
    from fairtrail.crypto.dsse import Envelope
    from fairtrail.decisions import commit_input
    from fairtrail.errors import NoteError, VerificationError
    from fairtrail.log.tlog_proof import open_entry
    from fairtrail.statements.statement import Statement

    doc = parse_json(data, what="receipt", max_bytes=4 << 20)
    if not isinstance(doc, dict) or doc.get("format") != "fairtrail-decision-receipt/v1":
        raise InputError("not a fairtrail-decision-receipt/v1 document")
    try:
        leaf, checkpoint = open_entry(
            str(doc["logVkey"]), str(doc["batchLeaf"]), str(doc["tlogProof"]),
            doc["batchEntry"], trusted_vkey=trusted_vkey, what="receipt",
        )  # fmt: skip
        batch = Statement.from_json(Envelope.from_json(leaf).payload_bytes)
        raw = str(doc["record"]).encode("utf-8")
        path = [base64.b64decode(h, validate=True) for h in doc["path"]]
        bp = batch.predicate
        if batch.predicate_type != BATCH_PREDICATE:
            raise VerificationError("the proved entry is not a DecisionBatch")
        merkle.verify_inclusion(
            merkle.leaf_hash(raw), int(doc["position"]), int(bp["count"]), path,
            bytes.fromhex(bp["root"]),
        )  # fmt: skip
        record = json.loads(raw)
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"malformed receipt: {exc}") from None
    except (NoteError, ProofError) as exc:
        raise VerificationError(f"the decision is not proved on the log: {exc}") from None
    opened = None
    if "salt" in doc and "input" in doc:
        salt = bytes.fromhex(str(doc["salt"]))
        if commit_input(salt, str(doc["input"]).encode("utf-8")) != record["input"]["sha256"]:
            raise VerificationError("the salt and input do not open the decision's commitment")
        opened = json.loads(str(doc["input"]))
    return {"record": record, "batchEntry": doc["batchEntry"], "checkpoint": checkpoint.size,
            "input": opened, "pinned": trusted_vkey is not None}  # fmt: skip
