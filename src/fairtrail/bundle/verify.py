"""Verify an evidence bundle offline, failing closed with a named reason per claim.

Nothing here touches the network unless `rpc` is given (then only to check anchors on
that chain). Every failure has a kind, and each kind its own exit code, so a pipeline
can tell "the bundle was edited" from "the log key is not the one we pinned":

    malformed 10 · unknown-version 11 · unknown-key 12 · bad-signature 13 ·
    missing-proof 14 · bad-proof 15 · broken-link 16 · policy-chain 17 ·
    witnesses 18 · anchor 19 · zk-proof 20

What a bundle cannot prove: absence. The keyring is replayed from the actor statements
the bundle carries, so a dishonest exporter could leave out a later revocation; pin
the log key and compare with the live log (`fairtrail verify`) when that matters.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from fairtrail._validation import first_error
from fairtrail.bundle.format import FORMAT, MAX_BUNDLE_BYTES, BundleV1
from fairtrail.crypto.canonical import parse_json
from fairtrail.crypto.dsse import Envelope, verify_envelope
from fairtrail.crypto.keys import VerifyingKey
from fairtrail.errors import FairtrailError, InputError, NoteError, ProofError, SignatureError
from fairtrail.log import merkle
from fairtrail.log.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    Ed25519NoteVerifier,
    open_checkpoint,
    parse_cosigner_vkey,
    parse_vkey,
    verify_note,
)
from fairtrail.statements.actors import ACTOR_PREDICATE, Keyring
from fairtrail.statements.statement import PAYLOAD_TYPE, Statement, predicate_type

__all__ = ["EXIT_CODES", "BundleReport", "Claim", "verify_bundle"]

EXIT_CODES = {
    "malformed": 10,
    "unknown-version": 11,
    "unknown-key": 12,
    "bad-signature": 13,
    "missing-proof": 14,
    "bad-proof": 15,
    "broken-link": 16,
    "policy-chain": 17,
    "witnesses": 18,
    "anchor": 19,
    "zk-proof": 20,
}
_P = {
    k: predicate_type(k)
    for k in (
        "model",
        "training-run",
        "dataset",
        "evaluation",
        "preregistration",
        "review",
        "policy",
        "policy-decision",
        "deployment",
        "alert",
        "chain-approval",
        "anchor",
        "zk-circuit",
        "zk-proof",
    )
}


@dataclass(frozen=True)
class Claim:
    name: str
    status: str  # ok | warn | fail
    detail: str = ""
    failure: str | None = None  # a key of EXIT_CODES when status == fail

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.name,
            "status": self.status,
            "detail": self.detail,
            "failure": self.failure,
        }


@dataclass
class BundleReport:
    claims: list[Claim] = field(default_factory=list)
    about: dict[str, Any] = field(default_factory=dict)
    size: int = 0
    statements: int = 0

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.claims)

    @property
    def failure(self) -> str | None:
        return next((c.failure for c in self.claims if c.status == "fail"), None)

    @property
    def exit_code(self) -> int:
        return 0 if self.failure is None else EXIT_CODES[self.failure]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failure": self.failure,
            "exitCode": self.exit_code,
            "about": self.about,
            "checkpointSize": self.size,
            "statements": self.statements,
            "claims": [c.to_dict() for c in self.claims],
        }


class _Stop(Exception):
    """Verification cannot go on (the rest would be built on an unverified base)."""


@dataclass
class _Item:
    index: int
    leaf: bytes
    statement: Statement
    signer: str


def verify_bundle(
    data: bytes,
    *,
    trusted_keys: Sequence[str] = (),
    require_witnesses: int = 0,
    rpc: str | None = None,
) -> BundleReport:
    report = BundleReport()
    try:
        _verify(data, report, list(trusted_keys), require_witnesses, rpc)
    except _Stop:
        pass
    return report


def _fail(report: BundleReport, name: str, failure: str, detail: str) -> _Stop:
    report.claims.append(Claim(name, "fail", detail, failure))
    return _Stop()


def _ok(report: BundleReport, name: str, detail: str = "") -> None:
    report.claims.append(Claim(name, "ok", detail))


def _b64(text: str) -> bytes:
    try:  # strict: standard alphabet, correct padding, nothing after it
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("not standard base64") from None


def _verify(
    data: bytes, report: BundleReport, trusted: list[str], require_witnesses: int, rpc: str | None
) -> None:
    # 1. the document
    if len(data) > MAX_BUNDLE_BYTES:
        raise _fail(
            report, "bundle format", "malformed", f"{len(data)} bytes; limit {MAX_BUNDLE_BYTES}"
        )
    try:
        raw = parse_json(data, what="bundle", max_bytes=MAX_BUNDLE_BYTES)
    except InputError as exc:
        raise _fail(report, "bundle format", "malformed", str(exc)) from None
    version = raw.get("format") if isinstance(raw, dict) else None
    if isinstance(version, str) and version.startswith("fairtrail-bundle/") and version != FORMAT:
        raise _fail(
            report,
            "bundle format",
            "unknown-version",
            f"{version!r}: this verifier knows {FORMAT} only",
        )
    try:
        bundle = BundleV1.model_validate(raw)
    except ValidationError as exc:
        raise _fail(report, "bundle format", "malformed", first_error(exc, "bundle")) from None
    report.about = bundle.about.model_dump()
    _ok(report, "bundle format", FORMAT)

    # 2. keys: the log's, pinned or not; witnesses' only when pinned
    try:
        log_key = parse_vkey(bundle.log.vkey)
    except NoteError as exc:
        raise _fail(report, "log key", "malformed", f"log vkey: {exc}") from None
    if log_key.name != bundle.log.origin:
        raise _fail(report, "log key", "malformed", "the log key's name is not the log's origin")
    pinned_logs: list[Ed25519NoteVerifier] = []
    witnesses: list[CosignatureVerifier] = []
    for text in trusted:
        try:
            pinned_logs.append(parse_vkey(text))
        except NoteError:
            try:
                witnesses.append(parse_cosigner_vkey(text))
            except NoteError as exc:
                raise _fail(report, "trusted keys", "malformed", f"{text[:40]}…: {exc}") from None
    if pinned_logs:
        if log_key not in pinned_logs:
            raise _fail(
                report,
                "log key",
                "unknown-key",
                f"the bundle's log key {bundle.log.vkey[:60]}… is not a trusted key",
            )
        _ok(report, "log key", f"{log_key.name} (pinned)")
    else:
        report.claims.append(
            Claim(
                "log key",
                "warn",
                f"{log_key.name}: not pinned; trusting the key the bundle names "
                "(use --trusted-key)",
            )
        )

    # 3. the checkpoint and its cosignatures
    note_bytes = bundle.checkpoint.encode("utf-8")
    try:
        checkpoint, note = open_checkpoint(note_bytes, [log_key], origin=bundle.log.origin)
    except NoteError as exc:
        raise _fail(report, "checkpoint signature", "bad-signature", str(exc)) from None
    report.size = checkpoint.size
    _ok(report, "checkpoint signature", f"size {checkpoint.size}")
    cosigned = []
    for w in witnesses:
        try:
            verify_note(note, [w])
            cosigned.append(w.name)
        except NoteError as exc:
            if "does not verify" in str(exc):
                raise _fail(report, "witnesses", "bad-signature", f"{w.name}: {exc}") from None
    if len(cosigned) < require_witnesses:
        raise _fail(
            report,
            "witnesses",
            "witnesses",
            f"{len(cosigned)} trusted cosignature(s), {require_witnesses} required",
        )
    if witnesses or require_witnesses:
        _ok(report, "witnesses", f"{len(cosigned)} cosigned: {', '.join(cosigned) or 'none'}")

    # 4. every entry: inclusion, then signature against the keyring as of its index
    items = _entries(report, bundle, checkpoint)
    report.statements = len(items)

    # 5. links between statements, the policy chain, anchors
    _links(report, bundle, items)
    _zk(report, bundle, items)
    _anchors(report, bundle, items, checkpoint, log_key, rpc)


def _entries(report: BundleReport, bundle: BundleV1, checkpoint: Checkpoint) -> dict[int, _Item]:
    seen: set[int] = set()
    ordered = sorted(bundle.entries, key=lambda e: e.index)
    try:
        root_key = VerifyingKey(_b64(bundle.log.rootAdmin.key))
    except (ValueError, FairtrailError) as exc:
        raise _fail(report, "root admin key", "malformed", str(exc)) from None
    keyring = Keyring(bundle.log.rootAdmin.name, root_key)
    parsed: list[tuple[int, bytes, Envelope, Statement]] = []
    candidates: list[VerifyingKey] = [root_key]
    # Signatures are the bulk of the work, and cryptography releases the GIL while it
    # verifies: a thread pool checks chunks of envelopes on every core. (They overlap
    # this thread's parsing less than one would hope: a pool thread back from a check
    # waits for the GIL this thread holds; see docs/benchmarks.md.) An envelope is
    # checked against every key registered by an actor statement *before* it (in index
    # order); which of those keys counted at its index is decided by the keyring replay
    # after.
    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    futures: list[Future[list[list[VerifyingKey]]]] = []
    chunk: list[Envelope] = []
    try:
        for entry in ordered:
            where = f"entry {entry.index}"
            if entry.index in seen:
                raise _fail(report, "inclusion proofs", "malformed", f"{where} appears twice")
            seen.add(entry.index)
            try:
                leaf = _b64(entry.leaf)
                hashes = [_b64(h) for h in entry.proof]
            except ValueError as exc:
                raise _fail(report, "inclusion proofs", "malformed", f"{where}: {exc}") from None
            if entry.index >= checkpoint.size:
                raise _fail(
                    report,
                    "inclusion proofs",
                    "missing-proof",
                    f"{where} is not covered by the checkpoint (size {checkpoint.size})",
                )
            if not hashes and checkpoint.size > 1:
                raise _fail(report, "inclusion proofs", "missing-proof", f"{where} has no proof")
            try:
                merkle.verify_inclusion(
                    merkle.leaf_hash(leaf), entry.index, checkpoint.size, hashes, checkpoint.root
                )
            except ProofError as exc:
                raise _fail(report, "inclusion proofs", "bad-proof", f"{where}: {exc}") from None
            try:
                # parse_json is strict (no duplicate keys, no NaN, bounded): one meaning per leaf
                envelope = Envelope.from_json(leaf)
                if envelope.payload_type != PAYLOAD_TYPE:
                    raise InputError(f"payloadType {envelope.payload_type!r}")
                statement = Statement.from_json(envelope.payload_bytes)
            except FairtrailError as exc:
                raise _fail(report, "statements", "malformed", f"{where}: {exc}") from None
            parsed.append((entry.index, leaf, envelope, statement))
            chunk.append(envelope)
            if len(chunk) == 64:
                futures.append(pool.submit(_signed_by, chunk, list(candidates)))
                chunk = []
            if statement.predicate_type == ACTOR_PREDICATE:
                try:
                    candidates.append(
                        VerifyingKey(_b64(str(statement.predicate.get("public_key", ""))))
                    )
                except (ValueError, FairtrailError):
                    pass  # the keyring replay below reports it

        if chunk:
            futures.append(pool.submit(_signed_by, chunk, list(candidates)))
        verified = [keys for f in futures for keys in f.result()]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    # The root admin the bundle names must be the one the log itself starts with:
    # entry 0 registers it, signed by its own key, and entry 0 is proved above.
    first = parsed[0] if parsed else None
    p0 = first[3].predicate if first is not None and first[0] == 0 else {}
    if (
        first is None
        or first[0] != 0
        or first[3].predicate_type != ACTOR_PREDICATE
        or p0.get("action") != "register"
        or p0.get("name") != bundle.log.rootAdmin.name
        or p0.get("public_key") != bundle.log.rootAdmin.key
    ):
        raise _fail(
            report, "signatures", "unknown-key",
            "entry 0 (the root admin registering itself) is missing or names another admin "
            "than the bundle's rootAdmin",
        )  # fmt: skip
    items: dict[int, _Item] = {}
    trusted = {k.raw for k in keyring.trusted_keys()}
    for (index, leaf, _envelope, statement), keys_ok in zip(parsed, verified, strict=True):
        where = f"entry {index}"
        signers = [k for k in keys_ok if k.raw in trusted]
        if not signers:
            raise _fail(
                report,
                "signatures",
                "unknown-key",
                f"{where} is not signed by an actor of the trail's keyring "
                "(as replayed from the bundle's actor statements)",
            ) from None
        if statement.predicate_type == ACTOR_PREDICATE:
            try:
                keyring.apply(keyring.check_change(statement, signers), index)
            except FairtrailError as exc:
                raise _fail(report, "signatures", "unknown-key", f"{where}: {exc}") from None
            trusted = {k.raw for k in keyring.trusted_keys()}
        actor = next((a for k in signers if (a := keyring.by_key(k)) is not None), None)
        items[index] = _Item(index, leaf, statement, actor.name if actor else "?")
    _ok(report, "inclusion proofs", f"{len(items)} entries under checkpoint {checkpoint.size}")
    _ok(report, "signatures", f"{len(items)} statements by {len(keyring)} known actors")
    return items


def _signed_by(envelopes: list[Envelope], keys: list[VerifyingKey]) -> list[list[VerifyingKey]]:
    out = []
    for envelope in envelopes:
        try:
            out.append(verify_envelope(envelope, keys))
        except (SignatureError, InputError):
            out.append([])
    return out


def _subject_digests(st: Statement) -> list[dict[str, str]]:
    return [dict(s.digest) for s in st.subject]


def _links(report: BundleReport, bundle: BundleV1, items: dict[int, _Item]) -> None:
    about = dict(bundle.about.digest)
    model = items.get(bundle.about.entry)
    if model is None:
        raise _fail(
            report,
            "model",
            "missing-proof",
            f"the model's entry {bundle.about.entry} is not in the bundle",
        )
    if model.statement.predicate_type != _P["model"] or about not in _subject_digests(
        model.statement
    ):
        raise _fail(
            report,
            "model",
            "broken-link",
            f"entry {model.index} is not a Model statement about {_show(about)}",
        )
    _ok(report, "model", f"{bundle.about.name} {_show(about)} (entry {model.index})")

    needed: dict[int, str] = {}  # entries that must be present, and why
    lineage: set[int] = set()
    for item in items.values():
        st, p = item.statement, item.statement.predicate
        kind = st.predicate_type
        if kind in (ACTOR_PREDICATE, _P["anchor"], _P["policy"], _P["dataset"]):
            continue
        if kind == _P["training-run"]:
            if about not in _subject_digests(st):
                raise _fail(
                    report, "lineage", "broken-link", f"run {item.index} did not produce this model"
                )
            for put in p.get("inputs", []):
                i = put.get("datasetIndex") if isinstance(put, dict) else None
                if isinstance(i, int):
                    needed[i] = f"dataset of run {item.index}"
                    ds = items.get(i)
                    if ds is not None and dict(put.get("digest") or {}) not in _subject_digests(
                        ds.statement
                    ):
                        raise _fail(
                            report,
                            "lineage",
                            "broken-link",
                            f"run {item.index} names dataset entry {i} with another digest",
                        )
                    lineage.add(i)
            continue
        if about not in _subject_digests(st):
            raise _fail(
                report,
                "links",
                "broken-link",
                f"entry {item.index} ({kind.rsplit('/', 2)[-2]}) is not about this model",
            )
        if kind == _P["evaluation"]:
            if p.get("model", {}).get("digest") != about:
                raise _fail(
                    report, "links", "broken-link", f"evaluation {item.index} names another model"
                )
            for ds in p.get("data", {}).get("datasets", []):
                needed[int(ds["entry"])] = f"dataset of evaluation {item.index}"
                lineage.add(int(ds["entry"]))
        if kind == _P["policy-decision"]:
            _check_decision(report, items, item, about)
        if kind == _P["deployment"]:
            _check_deployment(report, items, item, about)
    for i, why in sorted(needed.items()):
        if i not in items:
            raise _fail(
                report, "lineage", "missing-proof", f"entry {i} ({why}) is not in the bundle"
            )
        if items[i].statement.predicate_type != _P["dataset"]:
            raise _fail(
                report, "lineage", "broken-link", f"entry {i} ({why}) is not a Dataset statement"
            )
    for item in items.values():
        kind = item.statement.predicate_type
        if kind == _P["dataset"] and item.index not in lineage:
            raise _fail(
                report,
                "lineage",
                "broken-link",
                f"dataset entry {item.index} is not in this model's lineage",
            )
    _ok(report, "lineage", f"{len(lineage)} dataset(s) linked by digest")
    _ok(report, "links", "every statement is about the model or its lineage")
    decisions = [i for i in items.values() if i.statement.predicate_type == _P["policy-decision"]]
    deployments = [i for i in items.values() if i.statement.predicate_type == _P["deployment"]]
    passed = sum(bool(d.statement.predicate.get("passed")) for d in decisions)
    _ok(
        report,
        "policy decisions",
        f"{len(decisions)} decision(s), {passed} passed; "
        f"{len(deployments)} deployment(s), each backed by passing decisions",
    )


def _check_decision(
    report: BundleReport, items: dict[int, _Item], item: _Item, about: dict[str, str]
) -> None:
    p = item.statement.predicate
    if p.get("model", {}).get("digest") != about:
        raise _fail(
            report, "policy decisions", "policy-chain", f"decision {item.index} names another model"
        )
    policy = p.get("policy", {})
    entry = policy.get("entry")
    recorded = items.get(entry) if isinstance(entry, int) else None
    if recorded is None:
        raise _fail(
            report,
            "policy decisions",
            "missing-proof",
            f"decision {item.index}: its policy (entry {entry}) is not in the bundle",
        )
    if (
        recorded.statement.predicate_type != _P["policy"]
        or policy.get("digest") not in _subject_digests(recorded.statement)
        or entry >= item.index
    ):
        raise _fail(
            report,
            "policy decisions",
            "policy-chain",
            f"decision {item.index} does not match the policy at entry {entry}",
        )


def _check_deployment(
    report: BundleReport, items: dict[int, _Item], item: _Item, about: dict[str, str]
) -> None:
    refs = item.statement.predicate.get("decisions", [])
    if not refs:
        raise _fail(
            report, "policy decisions", "policy-chain", f"deployment {item.index} names no decision"
        )
    for ref in refs:
        entry = ref.get("entry") if isinstance(ref, dict) else None
        d = items.get(entry) if isinstance(entry, int) else None
        if d is None:
            raise _fail(
                report,
                "policy decisions",
                "missing-proof",
                f"deployment {item.index}: decision {entry} is not in the bundle",
            )
        dp = d.statement.predicate
        if (
            d.statement.predicate_type != _P["policy-decision"]
            or dp.get("model", {}).get("digest") != about
            or dp.get("passed") is not True
            or d.index >= item.index
        ):
            raise _fail(
                report,
                "policy decisions",
                "policy-chain",
                f"deployment {item.index} rests on decision {entry}, which is not an earlier "
                "passing decision about this model",
            )


def _zk(report: BundleReport, bundle: BundleV1, items: dict[int, _Item]) -> None:
    """Every ZkProof in the bundle verifies offline against its circuit's files, the
    weight commitment its ZkCircuit records, and the Evaluation or decision it names."""
    proofs = [i for i in items.values() if i.statement.predicate_type == _P["zk-proof"]]
    if not proofs:
        return
    from fairtrail.zk.verify import CircuitFiles, ZkVerificationError, verify_batch

    about = dict(bundle.about.digest)
    zk = bundle.zk
    circuit_files = {c.entry: c for c in zk.circuits} if zk else {}
    proof_files = {(p.entry, p.batch): p.proof for p in zk.proofs} if zk else {}
    rows = 0
    for item in proofs:
        p = item.statement.predicate
        entry = p.get("circuit", {}).get("entry")
        circuit = items.get(entry) if isinstance(entry, int) else None
        if circuit is None:
            raise _fail(report, "zk proofs", "missing-proof",
                        f"ZkProof {item.index}: its circuit (entry {entry}) is not in the bundle")
        cp = circuit.statement.predicate
        if (circuit.statement.predicate_type != _P["zk-circuit"] or circuit.index >= item.index
                or cp.get("model", {}).get("digest") != about
                or p.get("model", {}).get("digest") != about):
            raise _fail(report, "zk proofs", "broken-link",
                        f"ZkProof {item.index} does not rest on an earlier circuit of this model")
        if p.get("purpose") == "audit":
            ev = items.get(p.get("evaluation", {}).get("entry", -1))
            if (ev is None or ev.statement.predicate_type != _P["evaluation"]
                    or ev.index >= item.index
                    or ev.statement.predicate.get("report", {}).get("rows") != p.get("rows")
                    or ev.statement.predicate.get("data", {}).get("digest")
                    != p["evaluation"].get("data")):
                raise _fail(report, "zk proofs", "broken-link",
                            f"ZkProof {item.index} does not prove every row of the Evaluation "
                            "it names")  # fmt: skip
        files = circuit_files.get(circuit.index)
        if files is None:
            raise _fail(report, "zk proofs", "missing-proof",
                        f"the bundle lacks the key files of circuit {circuit.index}")
        try:
            decoded = CircuitFiles(_b64(files.settings), _b64(files.vk), _b64(files.srs))
            for k, batch in enumerate(p.get("batches", [])):
                data = proof_files.get((item.index, k))
                if data is None:
                    raise _fail(report, "zk proofs", "missing-proof",
                                f"ZkProof {item.index}: batch {k}'s proof is not in the bundle")
                verify_batch(decoded, cp, p, batch, _b64(data))
        except ValueError as exc:
            raise _fail(report, "zk proofs", "malformed", f"ZkProof {item.index}: {exc}") from None
        except ZkVerificationError as exc:
            raise _fail(report, "zk proofs", "zk-proof",
                        f"ZkProof {item.index} ({exc.kind}): {exc}") from None
        except InputError as exc:  # ezkl missing
            raise _fail(report, "zk proofs", "zk-proof", str(exc)) from None
        except (KeyError, TypeError):
            raise _fail(report, "zk proofs", "malformed",
                        f"ZkProof {item.index} or its circuit is malformed") from None
        rows += int(p.get("rows", 0))
    _ok(report, "zk proofs", f"{len(proofs)} ZkProof(s) of {rows} prediction(s) verify against "
                             "their circuits' keys and weight commitments")  # fmt: skip


def _anchors(
    report: BundleReport,
    bundle: BundleV1,
    items: dict[int, _Item],
    checkpoint: Checkpoint,
    log_key: Ed25519NoteVerifier,
    rpc: str | None,
) -> None:
    anchored: dict[tuple[int, bytes], list[bytes]] = {}
    for a in bundle.anchored:
        try:
            body, _ = open_checkpoint(a.note.encode("utf-8"), [log_key], origin=bundle.log.origin)
            proof = [_b64(h) for h in a.consistency]
        except (NoteError, ValueError) as exc:
            raise _fail(report, "anchors", "bad-signature", f"anchored checkpoint: {exc}") from None
        if body.size > checkpoint.size:
            raise _fail(
                report, "anchors", "malformed",
                f"anchored checkpoint {body.size} is larger than the bundle's {checkpoint.size}",
            )  # fmt: skip
        try:
            if 0 < body.size < checkpoint.size:
                merkle.verify_consistency(
                    body.size, checkpoint.size, proof, body.root, checkpoint.root
                )
            elif body.size == checkpoint.size and body.root != checkpoint.root:
                raise ProofError("same size, different root")
        except ProofError as exc:
            raise _fail(
                report,
                "anchors",
                "bad-proof",
                f"anchored checkpoint {body.size} is not a prefix of checkpoint "
                f"{checkpoint.size}: {exc}",
            ) from None
        anchored[(body.size, body.root)] = proof
    anchors = [i for i in items.values() if i.statement.predicate_type == _P["anchor"]]
    if not anchors:
        report.claims.append(
            Claim("anchors", "warn", "no anchor: the checkpoint is not anchored on any chain yet")
        )
        return
    for item in anchors:
        p = item.statement.predicate
        cp = p.get("checkpoint", {})
        try:
            key = (int(cp["size"]), bytes.fromhex(str(cp["root"])))
        except (KeyError, ValueError, TypeError):
            raise _fail(
                report, "anchors", "malformed", f"anchor {item.index}: bad checkpoint field"
            ) from None
        if cp.get("origin") != bundle.log.origin or key not in anchored:
            raise _fail(
                report,
                "anchors",
                "missing-proof",
                f"anchor {item.index}: its checkpoint {key[0]} is not in the bundle with a "
                "signature and a consistency proof",
            )
    names = ", ".join(_anchor_name(i.statement.predicate) for i in anchors)
    if rpc is None:
        report.claims.append(
            Claim(
                "anchors",
                "warn",
                f"{len(anchors)} anchor(s), checkpoints consistent with this one: {names}; "
                "not checked on chain (offline; pass --rpc URL)",
            )
        )
        return
    from fairtrail.bundle._onchain import check_anchor

    for item in anchors:
        status, detail = check_anchor(rpc, item.statement.predicate, bundle.log.origin)
        if status != "ok":
            raise _fail(report, "anchors", "anchor", f"anchor {item.index}: {detail}")
    _ok(report, "anchors", f"{len(anchors)} anchor(s) match the chain at {rpc}: {names}")


def _anchor_name(p: dict[str, Any]) -> str:
    return f"size {p['checkpoint']['size']} on {p['chain']} (chain id {p['chainId']})"


def _show(digest: dict[str, str]) -> str:
    alg, value = next(iter(digest.items()))
    return f"{alg}:{value[:16]}…"
