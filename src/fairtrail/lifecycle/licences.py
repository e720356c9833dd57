"""Licence obligations along a model's lineage, checked against how it will be used.

Every licence is an SPDX expression (parsed by `license-expression`, never by hand).
An expression is turned into its choices (`A OR B` lets the licensee pick one, `A AND B`
imposes both), and a step of the lineage conflicts only when *every* choice does. What
is checked, for each dataset, parent model and training code behind a model:

- **non-commercial**: a `-NC` Creative Commons licence (or any SPDX id naming
  non-commercial use) behind a model whose intended use is commercial;
- **no derivatives**: a `-ND` licence: a trained model is a derivative of its data;
- **share-alike**: a copyleft licence (CC BY-SA, GPL, AGPL, LGPL, EUPL, ODbL,
  CDLA-Sharing, ...) obliges the model to be released under a licence of the same
  family; a model with no licence, or another one, conflicts;
- **attribution**: an attribution licence (CC BY, MIT, Apache, BSD, ODC-By, ...) needs
  the work to be credited: a dataset or parent model is credited when a contribution to
  the model (its own or one flowing from a parent) names its digest (`fairtrail
  contribute --kind data|weights --ref DIGEST`); training code when its commit is recorded;
- **unknown**: `NOASSERTION`, `NONE`, a `LicenseRef-` id or no licence at all cannot be
  judged, and is reported as a conflict (a gate must not pass what nobody can read).

Each conflict names the path from the model to the step that causes it, with the log
entries, so a reviewer can open every statement on it. This is a screening of well-known
licence terms, not legal advice; the report says which rule fired and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fairtrail.errors import InputError

if TYPE_CHECKING:
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Trail

__all__ = ["USES", "LicenceConflict", "check_licences", "licence_choices", "parent_models"]

#: how a model may be used; a Model statement without one is judged as commercial
USES = ("commercial", "non-commercial", "research")

_NC = re.compile(r"(^|-)NC(-|$)|noncommercial|non-commercial", re.IGNORECASE)
_ND = re.compile(r"(^|-)ND(-|$)", re.IGNORECASE)
#: share-alike families: a model deriving from one must be licensed in the same family
_SA_FAMILIES = {
    "CC-BY-SA": re.compile(r"^CC-BY(-NC)?-SA-", re.IGNORECASE),
    "GPL": re.compile(r"^GPL-", re.IGNORECASE),
    "AGPL": re.compile(r"^AGPL-", re.IGNORECASE),
    "LGPL": re.compile(r"^LGPL-", re.IGNORECASE),
    "EUPL": re.compile(r"^EUPL-", re.IGNORECASE),
    "ODbL": re.compile(r"^ODbL-", re.IGNORECASE),
    "CDLA-Sharing": re.compile(r"^CDLA-Sharing-", re.IGNORECASE),
}
_ATTRIBUTION = re.compile(
    r"^(CC-BY(-|$)|ODC-By|ODbL|MIT|Apache-|BSD-|ISC$|Zlib$|CDLA-Permissive|OGL-|Artistic-)",
    re.IGNORECASE,
)
_UNKNOWN = {"NOASSERTION", "NONE"}


@dataclass(frozen=True)
class LicenceConflict:
    """One obligation a model's lineage breaks, with the path that causes it."""

    kind: str  # non-commercial, no-derivatives, share-alike, attribution, unknown
    licence: str
    path: list[dict[str, Any]]  # from the model to the step: kind, name, entry
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "licence": self.licence, "path": self.path,
                "message": self.message}  # fmt: skip


def licence_choices(expression: str) -> list[set[str]]:
    """The sets of licence ids one may choose between (`A OR B` -> [{A}, {B}];
    `A AND (B OR C)` -> [{A, B}, {A, C}]); exceptions are dropped (they only widen)."""
    from license_expression import AND, OR, ExpressionError, LicenseWithExceptionSymbol

    from fairtrail.lifecycle.datasets import spdx_licensing

    try:
        parsed = spdx_licensing().parse(expression, validate=True, strict=True)
    except ExpressionError as exc:
        raise InputError(f"{expression!r} is not a valid SPDX licence expression: {exc}") from None
    if parsed is None:
        return [set()]

    def walk(node: Any) -> list[set[str]]:
        if isinstance(node, OR):
            return [c for arg in node.args for c in walk(arg)]
        if isinstance(node, AND):
            out: list[set[str]] = [set()]
            for arg in node.args:
                out = [a | b for a in out for b in walk(arg)]
            return out[:64]  # bounded: an adversarial expression cannot explode
        if isinstance(node, LicenseWithExceptionSymbol):
            return [{str(node.license_symbol.key)}]
        return [{str(node.key)}]

    return walk(parsed)


def _family(key: str) -> str | None:
    return next((name for name, rx in _SA_FAMILIES.items() if rx.match(key)), None)


def _problems(
    choice: set[str], use: str, model_families: set[str], credited: bool
) -> list[tuple[str, str]]:
    """(kind, reason) for every obligation of this choice of licences that breaks."""
    out = []
    for key in sorted(choice):
        if key.upper() in _UNKNOWN or key.startswith("LicenseRef-"):
            out.append(("unknown", f"{key} does not say what is allowed"))
            continue
        if _NC.search(key) and use == "commercial":
            out.append(("non-commercial", f"{key} forbids commercial use"))
        if _ND.search(key):
            out.append(("no-derivatives", f"{key} forbids derivatives, and a trained model is one"))
        family = _family(key)
        if family is not None and family not in model_families:
            out.append(("share-alike", f"{key} requires the model to be shared under {family} "
                                       "too"))  # fmt: skip
        if _ATTRIBUTION.match(key) and not credited:
            out.append(("attribution", f"{key} requires attribution, but no contribution to "
                                       "the model credits it"))  # fmt: skip
    return out


def _judge(
    expression: str | None, path: list[dict[str, Any]], use: str, model_families: set[str],
    credited: bool,
) -> list[LicenceConflict]:  # fmt: skip
    if not expression:
        return [LicenceConflict("unknown", "", path, "no licence is recorded")]
    try:
        choices = licence_choices(expression)
    except InputError:
        return [LicenceConflict("unknown", expression, path, "not a valid SPDX expression")]
    per_choice = [_problems(c, use, model_families, credited) for c in choices]
    if any(not p for p in per_choice):
        return []  # one choice of licences meets every obligation
    best = min(per_choice, key=len)  # report the choice with the fewest problems
    return [LicenceConflict(kind, expression, path, reason) for kind, reason in best]


def check_licences(
    trail: Trail, model: ModelRecord, use: str | None = None
) -> list[LicenceConflict]:
    """Every licence conflict in `model`'s lineage for `use` (default: the model's own
    intended use, else commercial)."""
    use = use or str(model.predicate.get("use") or "commercial")
    if use not in USES:
        raise InputError(f"use must be one of {', '.join(USES)}, not {use!r}")
    from fairtrail.lifecycle.contributions import contributions_of

    model_families = _model_families(model)
    credited = {c.ref for c in contributions_of(trail, model)}
    found: list[LicenceConflict] = []
    _walk(trail, model, [], use, model_families, credited, found, seen=set())
    return found


def _model_families(model: ModelRecord) -> set[str]:
    licence = model.predicate.get("license")
    if not isinstance(licence, str) or not licence:
        return set()
    try:
        return {f for c in licence_choices(licence) for k in c if (f := _family(k))}
    except InputError:
        return set()


def _step(kind: str, name: str, entry: int) -> dict[str, Any]:
    return {"kind": kind, "name": name, "entry": entry}


def _credited(digest: dict[str, str], credited: set[str]) -> bool:
    return any(f"{alg}:{value}" in credited for alg, value in digest.items())


def _walk(
    trail: Trail, model: ModelRecord, path: list[dict[str, Any]], use: str,
    families: set[str], credited: set[str], found: list[LicenceConflict], seen: set[int],
) -> None:  # fmt: skip
    from fairtrail.lifecycle.lineage import lineage

    if model.index in seen or len(path) > 16:  # a cycle, or absurd depth: stop
        return
    seen.add(model.index)
    here = [*path, _step("model", model.name, model.index)]
    if path:  # a parent model: its own licence binds the child
        found += _judge(model.predicate.get("license"), here, use, families,
                        _credited(model.digest, credited))  # fmt: skip
    alg, value = next(iter(model.digest.items()))
    for root in lineage(trail, alg, value):
        if root.index != model.index:
            continue
        for run in root.children:
            at_run = [*here, _step("training-run", run.name, run.index)]
            code = run.details.get("code_license")
            if code:
                found += _judge(str(code), [*at_run, _step("code", "training code", run.index)],
                                use, families, bool(run.details.get("commit")))  # fmt: skip
            for data in run.children:  # a digest mismatch has no details: "no licence"
                at_data = [*at_run, _step("dataset", data.name, data.index)]
                found += _judge(data.details.get("license"), at_data, use, families,
                                _credited(data.digest, credited))  # fmt: skip
    for parent in parent_models(trail, model):
        _walk(trail, parent, here, use, families, credited, found, seen)


def parent_models(trail: Trail, model: ModelRecord) -> list[ModelRecord]:
    """The recorded models `model` was fine-tuned from or merged out of."""
    from fairtrail.lifecycle.models import resolve_model

    out = []
    for p in model.predicate.get("parents") or []:
        if isinstance(p, dict) and isinstance(p.get("digest"), dict) and p["digest"]:
            alg, value = next(iter(p["digest"].items()))
            try:
                out.append(resolve_model(trail, f"{alg}:{value}", files=False))
            except InputError:
                continue  # recorded at add time; cannot vanish from an append-only log
    return out
