"""Models: the artifact that ships, pinned by digest, with what is known about its format.

A Model statement's subject is the artifact's fingerprint (a file's plain SHA-256, or
a folder's manifest root). The predicate names the format and framework, a little
metadata read *without executing the artifact* (pickle files are hashed, never
loaded), and the training run that produced it, if known.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtrail.crypto.canonical import parse_json
from fairtrail.errors import InputError
from fairtrail.lifecycle.fingerprint import Fingerprint, fingerprint
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.trail import Receipt, Trail

__all__ = [
    "FORMATS",
    "MODEL_PREDICATE",
    "ModelRecord",
    "detect_format",
    "latest_models",
    "model_statement",
    "record_model",
    "resolve_model",
]

MODEL_PREDICATE = predicate_type("model")

#: suffix -> (format, framework)
FORMATS: dict[str, tuple[str, str]] = {
    ".skops": ("skops", "scikit-learn"),
    ".pkl": ("pickle", "python"),
    ".pickle": ("pickle", "python"),
    ".joblib": ("joblib", "python"),
    ".pt": ("torch", "pytorch"),
    ".pth": ("torch", "pytorch"),
    ".safetensors": ("safetensors", "safetensors"),
    ".onnx": ("onnx", "onnx"),
}
_SAFETENSORS_HEADER_MAX = 100 << 20


@dataclass(frozen=True)
class ModelRecord:
    """A Model statement found on the log."""

    index: int
    name: str
    digest: dict[str, str]
    predicate: dict[str, Any]

    @property
    def ref(self) -> str:
        """`alg:hex` of the model's first digest: what other statements point at."""
        alg, value = next(iter(self.digest.items()))
        return f"{alg}:{value}"


def resolve_model(
    trail: Trail, ref: str | os.PathLike[str], *, files: bool = True
) -> ModelRecord:
    """The latest Model statement for a model file or folder, an `ALG:HEX` digest, or a
    model name. A file is fingerprinted, so a changed artifact never matches. With
    `files=False` (the server: a reference comes from a request) the file system is
    never looked at, only digests and names."""
    text = str(ref)
    path = Path(text)
    if files and path.exists():
        alg, value = next(iter(fingerprint(path).subject_digest.items()))
        what = f"{path.name} ({alg}:{value[:16]}…)"
    elif ":" in text:
        alg, _, value = text.partition(":")
        alg, value = alg.lower(), value.lower()
        what = f"{alg}:{value[:16]}…"
    else:
        named = [
            r for r in _models(trail, trail.indices_of_type(MODEL_PREDICATE)) if r.name == text
        ]
        if not named:
            raise InputError(
                f"no model file, digest or model name {text!r} in this trail "
                "(use a path, ALG:HEX, or a name given to `fairtrail model add`)"
            )
        return named[-1]
    found = _models(trail, trail.indices_about({alg: value}, MODEL_PREDICATE))
    if not found:
        raise InputError(f"model {what} is not recorded in this trail; run `fairtrail model add`")
    return found[-1]


def latest_models(trail: Trail) -> list[ModelRecord]:
    """The latest Model statement of each recorded artifact (by digest), oldest first."""
    by_ref = {r.ref: r for r in _models(trail, trail.indices_of_type(MODEL_PREDICATE))}
    return sorted(by_ref.values(), key=lambda r: r.index)


def _models(trail: Trail, indices: list[int]) -> list[ModelRecord]:
    out = []
    for i in indices:
        _, st = trail.statement(i)
        out.append(ModelRecord(i, st.subject[0].name, dict(st.subject[0].digest), st.predicate))
    return out


def detect_format(path: Path, declared: str | None = None) -> tuple[str, str]:
    """(format, framework) of a model artifact; folders are "directory" models."""
    if declared is not None:
        for fmt, framework in FORMATS.values():
            if fmt == declared:
                return fmt, framework
        if declared == "directory":
            return "directory", "any"
        known = sorted({f for f, _ in FORMATS.values()} | {"directory"})
        raise InputError(f"unknown model format {declared!r}; use one of {', '.join(known)}")
    if path.is_dir():
        return "directory", "any"
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise InputError(
            f"{path.name}: unsupported model format {path.suffix or '(no suffix)'}; supported: "
            f"{', '.join(sorted(FORMATS))} files, or a folder (use --format to say which)"
        )
    return found


def inspect(path: Path, fmt: str) -> dict[str, Any]:
    """Metadata read safely from the artifact (never unpickled or executed)."""
    if fmt == "safetensors":
        return _safetensors_info(path)
    if fmt == "onnx":
        return _onnx_info(path)
    if fmt == "skops":
        return _skops_info(path)
    return {}


def model_statement(
    fp: Fingerprint,
    *,
    name: str,
    fmt: str,
    framework: str,
    metadata: dict[str, Any],
    run: dict[str, Any] | None = None,
    openssf: dict[str, Any] | None = None,
    terms: dict[str, Any] | None = None,
) -> Statement:
    predicate: dict[str, Any] = {
        "name": name,
        "format": fmt,
        "framework": framework,
        "fingerprint": fp.describe(),
        "metadata": metadata,
        "recordedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if run is not None:
        predicate["run"] = run
    if openssf is not None:
        predicate["openssfSignature"] = openssf
    predicate.update(terms or {})
    return Statement(
        subject=[Subject(name=name, digest=fp.subject_digest)],
        predicate_type=MODEL_PREDICATE,
        predicate=predicate,
    )


def record_model(
    trail: Trail,
    path: str | os.PathLike[str],
    signer: SigningKey,
    *,
    name: str | None = None,
    fmt: str | None = None,
    run: dict[str, Any] | None = None,
    openssf: dict[str, Any] | None = None,
    license: str | None = None,
    use: str | None = None,
    parents: Sequence[str] = (),
) -> Receipt:
    """Fingerprint and record a model artifact (with `openssf`: the OpenSSF signature
    made by `openssf.sign_model`, recorded alongside). `license` is the model's SPDX
    expression, `use` its intended use (commercial, non-commercial, research) and
    `parents` the recorded models it was fine-tuned from or merged out of (names or
    ALG:HEX): licence obligations and contributions flow from them."""
    from fairtrail.lifecycle.datasets import check_license
    from fairtrail.lifecycle.licences import USES

    artifact = Path(path)
    if not artifact.exists():
        raise InputError(f"no such model file or folder: {artifact}")
    terms: dict[str, Any] = {}
    if license is not None:
        terms["license"] = check_license(license)
    if use is not None:
        if use not in USES:
            raise InputError(f"--use must be one of {', '.join(USES)}, not {use!r}")
        terms["use"] = use
    if parents:
        found = [resolve_model(trail, p, files=False) for p in parents]
        terms["parents"] = [{"name": m.name, "digest": m.digest, "entry": m.index} for m in found]
    found_fmt, framework = detect_format(artifact, fmt)
    metadata = inspect(artifact, found_fmt) if artifact.is_file() else {}
    fp = fingerprint(artifact)
    statement = model_statement(
        fp,
        name=name or artifact.name,
        fmt=found_fmt,
        framework=framework,
        metadata=metadata,
        run=run,
        openssf=openssf,
        terms=terms,
    )
    if any(dict(p["digest"]) == fp.subject_digest for p in terms.get("parents", [])):
        raise InputError("a model cannot be its own parent")
    return trail.record(statement, signer)


def _safetensors_info(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise InputError(f"{path.name} is not a safetensors file (too short)")
            (length,) = struct.unpack("<Q", head)
            if length > _SAFETENSORS_HEADER_MAX:
                raise InputError(f"{path.name}: safetensors header of {length} bytes is too large")
            header = parse_json(
                f.read(length), what=f"{path.name} header", max_bytes=_SAFETENSORS_HEADER_MAX
            )
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} is not a readable safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise InputError(f"{path.name} is not a safetensors file (bad header)")
    tensors = {k: v for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
    params = 0
    for info in tensors.values():
        n = 1
        for dim in info.get("shape", []):
            n *= int(dim)
        params += n
    return {"tensors": len(tensors), "parameters": params}


def _onnx_info(path: Path) -> dict[str, Any]:
    try:
        import onnx
    except ImportError:
        return {}
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise InputError(f"{path.name} is not a readable ONNX model ({exc})") from None
    return {
        "irVersion": int(model.ir_version),
        "opsets": {op.domain or "ai.onnx": int(op.version) for op in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [i.name for i in model.graph.input][:64],
        "outputs": [o.name for o in model.graph.output][:64],
    }


def _skops_info(path: Path) -> dict[str, Any]:
    try:
        from skops.io import get_untrusted_types
    except ImportError:
        return {}
    try:
        untrusted = get_untrusted_types(file=path)
    except Exception as exc:
        raise InputError(f"{path.name} is not a readable skops file ({exc})") from None
    # types skops would refuse to load by default: an auditor wants to know them
    return {"untrustedTypes": sorted(untrusted)[:64]}
