"""Datasets: a signed record of what data a model learned from, and under which licence.

A Dataset statement's subject is the data's fingerprint; its predicate holds the
datasheet fields (source, licence, collection date, description), how the digest was
made, and for tabular data a profile: columns and inferred types, row count, missing
values per column, the group counts of declared sensitive columns, and the root of the
salted row-level tree (so single rows can later be proved, see `rows.py`).

Versioning: recording a dataset under a name that already exists with other content
makes version N+1, linked to the previous statement by index and digest. Recording the
same content again is refused (it is already on the log).
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtrail.crypto._files import write_private
from fairtrail.errors import InputError
from fairtrail.lifecycle import rows
from fairtrail.lifecycle.fingerprint import Fingerprint, SymlinkPolicy, fingerprint
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.trail import Receipt, Trail

__all__ = [
    "DATASET_PREDICATE",
    "DatasetRecord",
    "check_license",
    "dataset_at",
    "datasets_with_digest",
    "find_datasets",
    "profile_csv",
    "PreparedDataset",
    "prepare_dataset",
    "record_dataset",
    "resolve_dataset",
]

DATASET_PREDICATE = predicate_type("dataset")
MISSING = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"})
MAX_GROUPS = 1000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TABULAR = (".csv", ".parquet")


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset statement found on the log."""

    index: int
    name: str
    version: int
    digest: dict[str, str]
    predicate: dict[str, Any]


def check_license(expression: str) -> str:
    """Validate an SPDX licence expression offline; return its normalised form."""
    if not expression.strip() or len(expression) > 512:
        raise InputError("--license needs an SPDX licence id or expression, e.g. CC-BY-4.0")
    info = spdx_licensing().validate(expression, strict=True)
    if info.errors or info.invalid_symbols:
        detail = "; ".join([*info.errors, *(f"unknown id {s}" for s in info.invalid_symbols)])
        raise InputError(f"{expression!r} is not a valid SPDX licence expression ({detail})")
    return str(info.normalized_expression)


_LICENSING: Any = None


def spdx_licensing() -> Any:
    """The SPDX licence index of `license-expression`, built once (it takes a while)."""
    global _LICENSING
    if _LICENSING is None:
        from license_expression import get_spdx_licensing

        _LICENSING = get_spdx_licensing()
    return _LICENSING


def profile_csv(path: Path, sensitive: Sequence[str]) -> dict[str, Any]:
    """Columns with inferred types, rows, missing values, sensitive group counts (one pass)."""
    try:
        f = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        reader = csv.reader(f, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{path}: empty file, no header") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not valid UTF-8 CSV ({exc})") from None
        return _profile(path, header, reader, sensitive)


def _profile(
    path: Path, header: list[str], reader: Any, sensitive: Sequence[str]
) -> dict[str, Any]:
    if len(set(header)) != len(header):
        raise InputError(f"{path}: duplicate column names in the header")
    unknown = [c for c in sensitive if c not in header]
    if unknown:
        raise InputError(f"{path}: no column named {unknown[0]!r} (columns: {', '.join(header)})")
    width = len(header)
    missing = [0] * width
    kinds = ["integer"] * width  # narrowed as values are seen: integer > number > string
    seen_value = [False] * width
    groups = {header.index(c): Counter[str]() for c in sensitive}
    count = 0
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise InputError(
                    f"{path}: row {count + 1} has {len(row)} fields, the header has {width}"
                )
            count += 1
            for i, value in enumerate(row):
                if value in MISSING:
                    missing[i] += 1
                    continue
                seen_value[i] = True
                if kinds[i] != "string":
                    kinds[i] = _narrow(kinds[i], value)
            for i, counter in groups.items():
                counter[row[i]] += 1
                if len(counter) > MAX_GROUPS:
                    raise InputError(
                        f"{path}: sensitive column {header[i]!r} has more than {MAX_GROUPS} "
                        "values; declare categorical columns (bin ages first)"
                    )
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid UTF-8 CSV near row {count + 1} ({exc})") from None
    if count == 0:
        raise InputError(f"{path} has a header but no rows")
    return {
        "format": "csv",
        "rows": count,
        "columns": [
            {"name": name, "type": kinds[i] if seen_value[i] else "empty"}
            for i, name in enumerate(header)
        ],
        "missing": {header[i]: n for i, n in enumerate(missing) if n},
        "sensitive": {header[i]: dict(sorted(counter.items())) for i, counter in groups.items()},
    }


def _narrow(kind: str, value: str) -> str:
    if kind == "integer":
        try:
            int(value)
            return "integer"
        except ValueError:
            pass  # not an integer: maybe a number
    try:
        float(value)
        return "number"
    except ValueError:
        return "string"


def profile_parquet(path: Path, sensitive: Sequence[str]) -> dict[str, Any]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    header = list(pf.schema_arrow.names)
    unknown = [c for c in sensitive if c not in header]
    if unknown:
        raise InputError(f"{path}: no column named {unknown[0]!r} (columns: {', '.join(header)})")
    missing = Counter[str]()
    groups = {c: Counter[str]() for c in sensitive}
    count = 0
    for batch in pf.iter_batches(batch_size=65536):
        count += batch.num_rows
        for name in header:
            missing[name] += batch.column(header.index(name)).null_count
        for c in sensitive:
            for value in batch.column(header.index(c)).to_pylist():
                groups[c]["" if value is None else str(value)] += 1
                if len(groups[c]) > MAX_GROUPS:
                    raise InputError(f"{path}: sensitive column {c!r} has over {MAX_GROUPS} values")
    return {
        "format": "parquet",
        "rows": count,
        "columns": [{"name": f.name, "type": str(f.type)} for f in pf.schema_arrow],
        "missing": {k: v for k, v in missing.items() if v},
        "sensitive": {c: dict(sorted(g.items())) for c, g in groups.items()},
    }


def dataset_at(trail: Trail, index: int) -> DatasetRecord | None:
    """The dataset statement at log entry `index`, or None if that entry is something else."""
    if not 0 <= index < trail.log.size:
        return None
    _, statement = trail.statement(index)
    if statement.predicate_type != DATASET_PREDICATE:
        return None
    pred = statement.predicate
    return DatasetRecord(
        index,
        str(pred.get("name")),
        int(pred.get("version", 1)),
        dict(statement.subject[0].digest),
        pred,
    )


def find_datasets(trail: Trail, name: str | None = None) -> list[DatasetRecord]:
    """Dataset statements on the log (all, or every version of `name`), oldest first."""
    found = (dataset_at(trail, i) for i in trail.indices_of_type(DATASET_PREDICATE))
    return [r for r in found if r is not None and (name is None or r.name == name)]


def datasets_with_digest(trail: Trail, algorithm: str, value: str) -> list[DatasetRecord]:
    """Dataset statements whose subject has this digest (an index lookup, not a scan)."""
    found = (dataset_at(trail, i) for i in trail.indices_of_subject(algorithm, value))
    return [r for r in found if r is not None]


def resolve_dataset(trail: Trail, ref: str) -> DatasetRecord:
    """A dataset by `NAME` (latest version), `NAME@VERSION`, or log index `#N`."""
    if ref.startswith("#") and ref[1:].isdigit():
        index = int(ref[1:])
        record = dataset_at(trail, index)
        if record is None:
            raise InputError(f"entry {index} is not a dataset statement")
        return record
    name, _, version = ref.partition("@")
    found = find_datasets(trail, name)
    if version:
        found = [r for r in found if str(r.version) == version]
    if not found:
        raise InputError(f"no dataset {ref!r} in this trail")
    return found[-1]


@dataclass(frozen=True)
class PreparedDataset:
    """A dataset fingerprinted and profiled, not yet recorded (no trail lock is held
    while the slow part runs)."""

    name: str
    source: str
    license: str
    description: str
    collected: str | None
    fingerprint: Fingerprint
    tabular: dict[str, Any] | None
    secret: bytes | None = field(repr=False, default=None)


def prepare_dataset(
    path: str | os.PathLike[str],
    *,
    name: str,
    source: str,
    license: str,
    sensitive: Sequence[str] = (),
    description: str = "",
    collected: str | None = None,
    ignore: Sequence[str] = (),
    algorithm: str = "sha256",
    symlinks: SymlinkPolicy = "refuse",
    progress: Callable[[int, int, int, int], None] | None = None,
) -> PreparedDataset:
    """Validate the datasheet fields, then fingerprint and profile the data."""
    data = Path(path)
    if not _NAME.fullmatch(name):
        raise InputError(f"dataset name {name!r}: use letters, digits, '.', '_' or '-'")
    if not source.strip() or len(source) > 2048:
        raise InputError("--source must say where the data came from (at most 2048 characters)")
    licence = check_license(license)
    if collected is not None:
        try:
            collected = date.fromisoformat(collected).isoformat()
        except ValueError:
            raise InputError(f"collection date {collected!r} is not YYYY-MM-DD") from None
    if len(description) > 16384:
        raise InputError("the description is longer than 16384 characters")
    fp = fingerprint(data, algorithm=algorithm, ignore=ignore, symlinks=symlinks, progress=progress)
    tabular: dict[str, Any] | None = None
    secret: bytes | None = None
    if fp.kind == "file" and data.suffix.lower() in TABULAR:
        tabular = (
            profile_parquet(data, sensitive)
            if data.suffix.lower() == ".parquet"
            else profile_csv(data, sensitive)
        )
        secret = rows.new_secret()
        tree = rows.build_row_tree(data, secret)
        if tree.rows != tabular["rows"]:
            raise InputError(f"{data} changed while it was read")
        tabular["rowTree"] = tree.describe()
    elif sensitive:
        raise InputError("--sensitive needs a tabular file (.csv or .parquet)")
    return PreparedDataset(name, source, licence, description, collected, fp, tabular, secret)


def record_dataset(trail: Trail, prepared: PreparedDataset, signer: SigningKey) -> Receipt:
    """Record a prepared dataset as version N+1 of its name (see the module docstring)."""
    fp = prepared.fingerprint
    versions = find_datasets(trail, prepared.name)
    previous = versions[-1] if versions else None
    if previous is not None and previous.digest == fp.subject_digest:
        raise InputError(
            f"dataset {prepared.name!r} with this content is already recorded "
            f"(version {previous.version}, entry {previous.index})"
        )
    predicate: dict[str, Any] = {
        "name": prepared.name,
        "version": previous.version + 1 if previous else 1,
        "source": prepared.source,
        "license": prepared.license,
        "description": prepared.description,
        "fingerprint": fp.describe(),
        "recordedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if prepared.collected:
        predicate["collected"] = prepared.collected
    if prepared.tabular is not None:
        predicate["tabular"] = prepared.tabular
    if previous is not None:
        predicate["previous"] = {"index": previous.index, "digest": previous.digest}
    statement = Statement(
        subject=[Subject(name=prepared.name, digest=fp.subject_digest)],
        predicate_type=DATASET_PREDICATE,
        predicate=predicate,
    )
    secret_path = None
    if prepared.secret is not None and prepared.tabular is not None:
        # the root depends on the fresh random secret, so the file name is new
        secret_path = trail.paths.row_secret(str(prepared.tabular["rowTree"]["root"]))
        write_private(secret_path, prepared.secret)
    try:
        return trail.record(statement, signer)
    except BaseException:
        if secret_path is not None:
            secret_path.unlink(missing_ok=True)
        raise


def load_row_secret(trail: Trail, record: DatasetRecord) -> bytes:
    tree = record.predicate.get("tabular", {}).get("rowTree")
    if not tree:
        raise InputError(f"dataset {record.name} v{record.version} has no row-level tree")
    path = trail.paths.row_secret(str(tree["root"]))
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"the row secret of {record.name} v{record.version} is not in this trail "
            "(it is kept off the log; it may have been erased)"
        ) from None
