"""Policy files: versioned rules in CEL over the facts of a model.

A policy is YAML:

    name: credit-fairness            # letters, digits, '.', '_', '-'
    version: "3"
    description: What this policy is for.
    params: {min_dp_ratio: 0.8}      # named constants, read by rules as params.NAME
    rules:
      - id: dp-ratio
        severity: error              # error blocks deployment; warning is reported only
        message: Selection rates of all groups within 80% of each other
        cite: EU AI Act Art. 15(1)   # optional: the obligation the rule implements
        expr: evaluation.disparities.demographic_parity_ratio >= params.min_dp_ratio

Rules are CEL (Common Expression Language, the language Kubernetes admission policies
and Google IAM conditions use): side-effect free, always terminating, readable by
non-programmers. Each rule is compiled and run against the fact skeleton when the
policy is loaded, so a syntax error, an unknown fact, a type error or a non-boolean
result is refused before anything is recorded. The policy's digest (SHA-256 of its
canonical JSON) is what decisions refer to.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cel
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fairtrail._validation import first_error
from fairtrail.crypto.canonical import canonical_json
from fairtrail.errors import InputError
from fairtrail.policy.facts import SKELETON

__all__ = ["CompiledPolicy", "PolicyDoc", "Rule", "RuleResult", "compile_policy", "load_policy"]

MAX_POLICY_BYTES = 256 << 10
_ID = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_PARAM = re.compile(r"\bparams\.([A-Za-z_][A-Za-z0-9_]*)")
_UNDEFINED = re.compile(r"Undefined variable or function: '([^']+)'")
Param = bool | int | float | str | list[bool | int | float | str]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    severity: Literal["error", "warning"] = "error"
    message: str = Field(min_length=1, max_length=1000)
    cite: str | None = Field(default=None, max_length=500)
    expr: str = Field(min_length=1, max_length=4000)


class PolicyDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_ID)
    version: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=16384)
    params: dict[str, Param] = Field(default_factory=dict, max_length=256)
    rules: list[Rule] = Field(min_length=1, max_length=500)

    @field_validator("version", mode="before")
    @classmethod
    def _text_version(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        )

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return rules


@dataclass(frozen=True)
class RuleResult:
    id: str
    severity: str
    passed: bool
    message: str
    cite: str | None
    error: str | None = None  # why the rule could not be evaluated (it then fails)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "severity": self.severity, "passed": self.passed,
            "message": self.message,
        }  # fmt: skip
        if self.cite:
            out["cite"] = self.cite
        if self.error:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class CompiledPolicy:
    doc: PolicyDoc
    programs: tuple[Any, ...]  # cel.Program per rule, in order
    digest: str  # sha256 hex of the canonical JSON of `doc`

    def evaluate(self, facts: dict[str, Any]) -> list[RuleResult]:
        """Every rule's result on `facts`. An error while evaluating is a failure."""
        params = dict(self.doc.params)
        context = cel.Context({**facts, "params": params})
        results = []
        for rule, program in zip(self.doc.rules, self.programs, strict=True):
            error = None
            try:
                value = program.execute(context)
            except Exception as exc:  # CEL raises several types; each one means "not shown"
                value, error = False, _describe(exc)
            if error is None and not isinstance(value, bool):
                value, error = False, f"gave {type(value).__name__}, not true or false"
            message = _PARAM.sub(lambda m: _show(params.get(m.group(1), m.group(0))), rule.message)
            results.append(RuleResult(rule.id, rule.severity, value, message, rule.cite, error))
        return results


def load_policy(path: Path) -> CompiledPolicy:
    """Read, validate and compile a policy file."""
    try:
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise InputError(f"policy {path} is {size} bytes; the limit is {MAX_POLICY_BYTES}")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read policy {path}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InputError(f"policy {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    return compile_policy(doc, source=str(path))


def compile_policy(doc: Any, *, source: str = "policy") -> CompiledPolicy:
    """Validate a parsed policy document and compile its rules, checked on the skeleton."""
    try:
        parsed = PolicyDoc.model_validate(doc)
    except ValidationError as exc:
        raise InputError(f"{source}: {first_error(exc, 'policy')}") from None
    programs = []
    skeleton = cel.Context({**copy.deepcopy(SKELETON), "params": dict(parsed.params)})
    for rule in parsed.rules:
        try:
            program = cel.compile(rule.expr)
        except Exception as exc:
            raise InputError(f"{source}: rule {rule.id}: syntax error: {_describe(exc)}") from None
        try:
            value = program.execute(skeleton)
        except Exception as exc:
            raise InputError(f"{source}: rule {rule.id}: {_describe(exc)}") from None
        if not isinstance(value, bool):
            raise InputError(
                f"{source}: rule {rule.id} gives {type(value).__name__}, not true or false"
            )
        programs.append(program)
    body = parsed.model_dump(mode="json")
    return CompiledPolicy(parsed, tuple(programs), hashlib.sha256(canonical_json(body)).hexdigest())


def _show(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _describe(exc: Exception) -> str:
    """One line naming what went wrong in a rule, in the policy author's terms."""
    text = " ".join(str(exc).split())
    if isinstance(exc, KeyError):
        return f"unknown fact or field {exc.args[0]!r} (see docs/formats.md, policy facts)"
    if found := _UNDEFINED.search(text):
        return f"unknown fact or function {found.group(1)!r} (see docs/formats.md, policy facts)"
    if isinstance(exc, TypeError) and "No such overload" in text:
        return "no value to compare (the fact is null, e.g. no evaluation yet) or mismatched types"
    if isinstance(exc, ValueError) and "Syntax error" in text:
        return text.split("ERROR: ", 1)[-1].split(" | ")[0]
    return text[:300]
