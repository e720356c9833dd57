"""Export an Evaluation as an in-toto `eval-result` attestation (in-toto/attestation#575).

The proposed predicate carries threshold claims (`metric comparator threshold` and
whether it passed), the sample size, and commitments to the model and the dataset.
fairtrail's models and evaluation data are identified by their real digests (the
`public-model` subject profile, `salted: false`); claims come from the Evaluation
(the pre-registered ones and any given to `fairtrail audit --claim`). The export is an
in-toto JSON Lines bundle: the eval-result envelope, then the Evaluation's own
envelope exactly as it is on the log, so a consumer can check both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fairtrail import __version__
from fairtrail.audit.evaluations import EVALUATION_PREDICATE
from fairtrail.crypto.canonical import canonical_json
from fairtrail.crypto.dsse import sign_envelope
from fairtrail.errors import InputError
from fairtrail.statements.statement import PAYLOAD_TYPE, STATEMENT_TYPE

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.trail import Trail

__all__ = ["EVAL_RESULT_PREDICATE", "eval_result_statement", "export_eval_result"]

EVAL_RESULT_PREDICATE = "https://in-toto.io/attestation/eval-result/v0.1"


def eval_result_statement(
    evaluation: dict[str, Any], subject: dict[str, Any], prereg: dict[str, Any] | None
) -> dict[str, Any]:
    """The eval-result statement for an Evaluation predicate (and its pre-registration)."""
    report = evaluation["report"]
    model_alg, model_value = next(iter(evaluation["model"]["digest"].items()))
    data_alg, data_value = next(iter(evaluation["data"]["digest"].items()))
    predicate: dict[str, Any] = {
        "verifier": {"id": "https://fairtrail.dev/evaluation/v1"},
        "evaluatedAt": evaluation["evaluatedAt"].replace("+00:00", "Z"),
        "suite": {"name": "fairtrail-fairness", "version": __version__},
        "claims": [
            {
                "metric": c["metric"],
                "comparator": c["comparator"],
                "threshold": format(c["threshold"], "g"),  # a decimal string, as the spec says
                "passed": c["passed"] is True,  # an undefined metric did not pass
            }
            for c in evaluation["claims"]
        ],
        "sampleSize": report["rows"],
        "commitments": {
            "model": {"alg": model_alg, "value": model_value, "salted": False},
            "dataset": {"alg": data_alg, "value": data_value, "salted": False},
        },
        "assuranceLevel": "self_attested",
        "subjectProfile": "public-model",
        "harness": {"name": "fairtrail", "version": __version__},
    }
    if prereg is not None:  # the digest recorded with the protocol, not recomputed here
        predicate["preRegistration"] = {
            "alg": "sha256",
            "value": prereg["protocolDigest"]["sha256"],
        }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject],
        "predicateType": EVAL_RESULT_PREDICATE,
        "predicate": predicate,
    }


def export_eval_result(trail: Trail, entry: int, signer: SigningKey) -> list[bytes]:
    """Two JSON lines: the signed eval-result envelope and the logged Evaluation envelope."""
    if not 0 <= entry < trail.log.size:
        raise InputError(f"entry {entry} does not exist (the log has {trail.log.size} entries)")
    envelope, statement = trail.statement(entry)
    if statement.predicate_type != EVALUATION_PREDICATE:
        raise InputError(f"entry {entry} is not an Evaluation statement")
    evaluation = statement.predicate
    if not evaluation["claims"]:
        raise InputError(
            f"Evaluation {entry} judged no claims; eval-result needs at least one "
            "(pre-register claims, or audit again with --claim METRIC>=NUMBER)"
        )
    prereg = None
    if evaluation.get("preregistration"):
        _, st = trail.statement(evaluation["preregistration"]["entry"])
        prereg = st.predicate
    doc = eval_result_statement(evaluation, statement.subject[0].model_dump(mode="json"), prereg)
    exported = sign_envelope(PAYLOAD_TYPE, canonical_json(doc), [signer])
    return [exported.to_json(), envelope.to_json()]
