"""Reading audit data: labels, predictions and sensitive columns from CSV or Parquet.

Only the named columns are read (pyarrow, multi-threaded), and each becomes a NumPy
array the fairness core can count in one pass: booleans for outcomes, integer codes
for groups. Every problem with the data is an `InputError` naming the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fairtrail.errors import InputError

__all__ = ["Outcomes", "binary_outcomes", "check_present", "group_codes", "read_columns"]

MISSING_GROUP = "(missing)"
MAX_GROUPS = 1000


@dataclass(frozen=True)
class Outcomes:
    """Binary labels and predictions (True = the positive label) and what they were."""

    y_true: npt.NDArray[np.bool_]
    y_pred: npt.NDArray[np.bool_]
    positive: str
    negative: str | None


def read_columns(path: Path, columns: list[str] | None) -> pa.Table:
    """The named columns of a CSV or Parquet file (other columns are never parsed);
    `None` reads every column."""
    if not path.is_file():
        raise InputError(f"no such data file: {path}")
    wanted = list(dict.fromkeys(columns)) if columns is not None else None
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            check_present(path, names, wanted or [])
            return pq.read_table(path, columns=wanted)
        if suffix in (".csv", ".tsv"):
            import pyarrow.csv as pcsv

            names = _csv_header(path, "\t" if suffix == ".tsv" else ",")
            check_present(path, names, wanted or [])
            return pcsv.read_csv(
                path,
                parse_options=pcsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ","),
                convert_options=pcsv.ConvertOptions(
                    include_columns=wanted or [], strings_can_be_null=True
                ),
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read {path}: {_first_line(exc)}") from None
    raise InputError(f"{path.name}: audit data must be .csv, .tsv or .parquet")


def binary_outcomes(
    table: pa.Table, label: str, prediction: str | pa.ChunkedArray, positive: str | None
) -> Outcomes:
    """Labels and predictions as booleans; both must use the same two values."""
    labels = _as_text(table.column(label), label)
    predicted = (
        _as_text(table.column(prediction), prediction)
        if isinstance(prediction, str)
        else _as_text(prediction, "model prediction")
    )
    values = sorted(set(pc.unique(labels).to_pylist()) | set(pc.unique(predicted).to_pylist()))
    if len(values) > 2:
        shown = ", ".join(values[:6]) + (", …" if len(values) > 6 else "")
        raise InputError(
            f"labels and predictions take {len(values)} values ({shown}); the audit's metrics "
            "are for binary outcomes"
        )
    if positive is None:
        positive = _default_positive(values)
    elif positive not in values:
        raise InputError(
            f"positive label {positive!r} occurs in neither {label!r} nor the predictions "
            f"(values: {', '.join(values)})"
        )
    negative = next((v for v in values if v != positive), None)
    return Outcomes(
        pc.equal(labels, positive).to_numpy(zero_copy_only=False).astype(bool),
        pc.equal(predicted, positive).to_numpy(zero_copy_only=False).astype(bool),
        positive,
        negative,
    )


def group_codes(
    table: pa.Table, column: str, *, allow_missing: bool = False
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """(integer group code per row, group name per code). Empty values are refused: a
    group without a name is a data problem to fix, not a group to rate. With
    `allow_missing` they form the group "(missing)" instead."""
    values = pc.cast(table.column(column), pa.string())
    values = pc.if_else(pc.equal(pc.utf8_trim_whitespace(values), ""), None, values)
    if values.null_count and not allow_missing:
        raise InputError(
            f"sensitive column {column!r} has {values.null_count} empty values; fill them with a "
            "group name or drop those rows (or pass --allow-missing to rate them as '(missing)')"
        )
    text = pc.fill_null(values, MISSING_GROUP)
    encoded = pc.dictionary_encode(text).combine_chunks()
    names = [str(v) for v in encoded.dictionary.to_pylist()]
    if len(names) > MAX_GROUPS:
        raise InputError(
            f"sensitive column {column!r} has {len(names)} distinct values (limit {MAX_GROUPS}); "
            "is it really a group attribute?"
        )
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), names


def _as_text(column: Any, name: str) -> pa.ChunkedArray:
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column])
    if column.null_count:
        raise InputError(
            f"{name!r} has {column.null_count} missing values; drop or fill those rows first"
        )
    if pa.types.is_floating(column.type):
        # 1.0 and 1 are the same label: print integral floats without ".0"
        as_int = pc.cast(column, pa.int64(), safe=False)
        if pc.all(pc.equal(pc.cast(as_int, column.type), column)).as_py():
            column = as_int
    return pc.cast(column, pa.string())


def _default_positive(values: list[str]) -> str:
    for positive, pair in (("1", {"0", "1"}), ("true", {"false", "true"})):
        if set(values) <= pair:
            return positive
    raise InputError(
        f"say which outcome is positive with --positive-label (values: {', '.join(values)})"
    )


def _csv_header(path: Path, delimiter: str) -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        line = f.readline(1 << 20)
    return next(csv.reader([line], delimiter=delimiter), [])


def check_present(path: Path, names: list[str], wanted: list[str]) -> None:
    """An InputError naming the first of `wanted` missing from `names` (the data's columns)."""
    for column in wanted:
        if column not in names:
            shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
            raise InputError(f"column {column!r} is not in {path.name} (columns: {shown})")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
