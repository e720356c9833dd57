"""Contributions: who gave what to a model, and for what share.

A Contribution statement is signed by the contributor (any actor of the trail) and
names the model, the kind of contribution, the digest of what was contributed and,
optionally, a share of the model's licence income in percent. A model's shares may add
up to at most 100 %: a contribution that would pass 100 % is refused. The same
contributor cannot contribute the same digest to the same model twice.

For kinds that point at things the trail records, the digest must be one it holds:
`data` a Dataset statement's digest, `weights` a Model statement's. `code` is a commit
or archive digest, `evaluation` and `review` the digest of the report or review they
gave; those are recorded as given.

Contributions flow through lineage: a model fine-tuned from, or merged out of, parent
models (`model add --parent`) lists its parents' contributors too, marked with the path
they come through. Only a model's own contributions hold shares of its income.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from fairtrail.errors import InputError
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Receipt, Trail

__all__ = ["CONTRIBUTION_PREDICATE", "KINDS", "Contribution", "contribute", "contributions_of"]

CONTRIBUTION_PREDICATE = predicate_type("contribution")
KINDS = ("data", "code", "weights", "evaluation", "review")
_REF = re.compile(r"^(sha256|sha512|blake3|sha1|sha256-manifest|blake3-manifest):([0-9a-f]+)$")
#: digest lengths in hex; `-manifest` digests are fairtrail's folder fingerprints
_LENGTHS = {"sha256": 64, "sha512": 128, "blake3": 64, "sha1": 40, "sha256-manifest": 64,
            "blake3-manifest": 64}  # fmt: skip
#: shares are kept in basis points (1/100 of a percent): no float ever adds them up
_BASIS = 10_000


@dataclass(frozen=True)
class Contribution:
    index: int
    contributor: str
    kind: str
    ref: str
    share_bp: int  # basis points of the model's income; 0: credited, no share
    via: list[str]  # the parent models it came through ([] for the model's own)

    @property
    def share(self) -> str:
        return f"{Decimal(self.share_bp) / 100:.2f}"

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.index, "contributor": self.contributor, "kind": self.kind,
                "ref": self.ref, "share": self.share, "share_bp": self.share_bp,
                "via": self.via}  # fmt: skip


def _share_bp(share: str | float | int | None) -> int:
    if share is None:
        return 0
    try:
        value = Decimal(str(share))
    except InvalidOperation:
        raise InputError(f"--share must be a percentage such as 25 or 12.5, not {share!r}") \
            from None
    bp = value * 100
    if not value.is_finite() or bp != bp.to_integral_value() or not 0 < value <= 100:
        raise InputError(f"--share is a percentage above 0 and at most 100 with at most two "
                         f"decimals, not {share}")  # fmt: skip
    return int(bp)


def _ref(trail: Trail, kind: str, ref: str) -> str:
    text = ref.strip().lower()
    m = _REF.match(text)
    if m is None or len(m[2]) != _LENGTHS[m[1]]:
        raise InputError(f"--ref must be ALG:HEX (sha256, sha512, blake3, a git sha1, or a "
                         f"folder's sha256-manifest), not {ref[:80]!r}")  # fmt: skip
    if kind in ("data", "weights"):
        from fairtrail.lifecycle.datasets import DATASET_PREDICATE
        from fairtrail.lifecycle.models import MODEL_PREDICATE

        ptype = DATASET_PREDICATE if kind == "data" else MODEL_PREDICATE
        if not trail.indices_about({m[1]: m[2]}, ptype):
            what = "dataset" if kind == "data" else "model"
            raise InputError(f"no {what} with {text[:24]}… is recorded in this trail; "
                             f"record it before crediting it")  # fmt: skip
    return text


def contributions_of(trail: Trail, model: ModelRecord, *, inherited: bool = True,
                     _via: tuple[str, ...] = (), _seen: frozenset[int] = frozenset()
                     ) -> list[Contribution]:  # fmt: skip
    """The model's own contributions, oldest first, then (with `inherited`) those of its
    parent models, each marked with the path of parents it came through."""
    out = []
    for index in trail.indices_about(model.digest, CONTRIBUTION_PREDICATE):
        _, st = trail.statement(index)
        p = st.predicate
        if p.get("model", {}).get("digest") != model.digest:
            continue
        out.append(Contribution(index, str(trail.signer_of(index)), str(p["kind"]),
                                str(p["ref"]), int(p.get("share_bp", 0)), list(_via)))  # fmt: skip
    if inherited and len(_via) < 16:
        from fairtrail.lifecycle.licences import parent_models

        for parent in parent_models(trail, model):
            if parent.index in _seen or parent.index == model.index:
                continue
            out += contributions_of(trail, parent, _via=(*_via, parent.name),
                                    _seen=_seen | {model.index})  # fmt: skip
    return out


def contribute(
    trail: Trail, model: ModelRecord, kind: str, ref: str, share: str | float | int | None,
    signer: SigningKey,
) -> Receipt:  # fmt: skip
    """Record a signed Contribution to `model` by the actor whose key `signer` is."""
    if kind not in KINDS:
        raise InputError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    actor = trail.keyring.by_key(signer.public)
    if actor is None:
        raise InputError("the contributor must be an actor of this trail (fairtrail keys create)")
    bp = _share_bp(share)
    digest = _ref(trail, kind, ref)
    own = contributions_of(trail, model, inherited=False)
    if any(c.contributor == actor.name and c.ref == digest for c in own):
        raise InputError(f"{actor.name} has already contributed {digest[:24]}… to {model.name}")
    total = sum(c.share_bp for c in own) + bp
    if total > _BASIS:
        raise InputError(f"shares of {model.name} would add up to {Decimal(total) / 100}% "
                         f"(over 100%); {Decimal(_BASIS - total + bp) / 100}% is left")  # fmt: skip
    statement = Statement(
        subject=[Subject(name=model.name, digest=model.digest)],
        predicate_type=CONTRIBUTION_PREDICATE,
        predicate={
            "model": {"name": model.name, "entry": model.index, "digest": model.digest},
            "kind": kind, "ref": digest, "share_bp": bp,
        },
    )  # fmt: skip
    return trail.record(statement, signer)
