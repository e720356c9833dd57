"""Input drift: how far a window of production rows has moved from the training data.

A reference profile is made once from the training dataset recorded for the model: per
feature, bins (ten quantile bins for numbers, the most common categories plus "other"
for text) and the reference's count in each bin, plus a bin for missing values. Only
those numbers are kept and recorded, never the rows. A window's rows are counted into
the same bins in one vectorised pass, and two measures compare the counts:

- the population stability index, PSI = sum((a - e) * ln(a / e)) over bins of the
  window's (a) and the reference's (e) shares, with empty shares set to 1e-4 so that a
  bin appearing or vanishing is a large but finite shift (the usual convention; rule of
  thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant);
- the chi-square test of homogeneity (`scipy.stats.chi2_contingency`) on the 2 x bins
  table of the two samples' counts: a two-sample test whose p-value says how likely
  counts this different are if both samples came from one distribution.

Counts add up, so a window can be built from any number of chunks and files, and
carried over a restart, without ever holding its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import chi2_contingency

__all__ = ["FeatureProfile", "bin_counts", "chi2_p_value", "profile_table", "psi"]

QUANTILE_BINS = 10
TOP_CATEGORIES = 20
OTHER = "(other)"
MISSING = "(missing)"
_FLOOR = 1e-4


@dataclass(frozen=True)
class FeatureProfile:
    """One feature's bins and the reference's count in each (the last bin: missing)."""

    name: str
    kind: str  # "numeric" | "categorical"
    edges: list[float] = field(default_factory=list)  # numeric: inner bin edges
    categories: list[str] = field(default_factory=list)  # categorical: then OTHER
    expected: list[int] = field(default_factory=list)

    @property
    def bins(self) -> int:
        return len(self.expected)

    def labels(self) -> list[str]:
        if self.kind == "numeric":
            bounds = ["-inf", *(f"{e:.6g}" for e in self.edges), "inf"]
            return [f"[{a}, {b})" for a, b in zip(bounds, bounds[1:], strict=False)] + [MISSING]
        return [*self.categories, OTHER, MISSING]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "edges": self.edges,
                "categories": self.categories, "expected": self.expected}  # fmt: skip

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FeatureProfile:
        return cls(
            str(doc["name"]),
            str(doc["kind"]),
            [float(e) for e in doc["edges"]],
            [str(c) for c in doc["categories"]],
            [int(n) for n in doc["expected"]],
        )


def profile_table(table: pa.Table, columns: Sequence[str]) -> list[FeatureProfile]:
    """Bins and reference counts for each column of `table`."""
    out = []
    for name in columns:
        column = table.column(name)
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            values = _floats(column)
            present = values[~np.isnan(values)]
            if len(present):
                qs = np.quantile(present, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1])
                edges = sorted({float(q) for q in qs})
            else:
                edges = []
            profile = FeatureProfile(name, "numeric", edges, [], [])
        else:
            text = pc.cast(column, pa.string()) if column.type != pa.string() else column
            counts = pc.value_counts(pc.drop_null(text)).to_pylist()
            counts.sort(key=lambda c: (-c["counts"], str(c["values"])))
            top = [str(c["values"]) for c in counts[:TOP_CATEGORIES]]
            profile = FeatureProfile(name, "categorical", [], top, [])
        expected = bin_counts(profile, column)
        out.append(FeatureProfile(profile.name, profile.kind, profile.edges,
                                  profile.categories, expected.tolist()))  # fmt: skip
    return out


def bin_counts(
    profile: FeatureProfile, column: pa.ChunkedArray | pa.Array
) -> npt.NDArray[np.int64]:
    """Counts of `column`'s values in the profile's bins (the last bin: missing)."""
    if profile.kind == "numeric":
        values = _floats(column)
        codes = np.searchsorted(np.asarray(profile.edges), values, side="right")
        codes[np.isnan(values)] = len(profile.edges) + 1
        return np.bincount(codes, minlength=len(profile.edges) + 2).astype(np.int64)
    text = pc.cast(column, pa.string()) if column.type != pa.string() else column
    index = pc.index_in(text, value_set=pa.array(profile.categories, pa.string()))
    other, missing = len(profile.categories), len(profile.categories) + 1
    codes = pc.if_else(pc.is_null(text), missing, pc.fill_null(index, other))
    return np.bincount(
        np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64), minlength=missing + 1
    ).astype(np.int64)


def psi(
    expected: Sequence[float] | npt.NDArray[Any], actual: Sequence[float] | npt.NDArray[Any]
) -> float:
    """Population stability index of `actual` against `expected` (counts or shares)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.sum() == 0 or a.sum() == 0:
        return 0.0
    e = np.maximum(e / e.sum(), _FLOOR)
    a = np.maximum(a / a.sum(), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def chi2_p_value(
    expected: Sequence[int] | npt.NDArray[Any], actual: Sequence[int] | npt.NDArray[Any]
) -> float:
    """p-value of the chi-square test that both count vectors come from one distribution
    (bins empty in both are left out; with fewer than two bins left there is nothing to
    test and the answer is 1.0)."""
    table = np.array([expected, actual], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


def _floats(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.float64]:
    """The column as floats, NaN where missing; text that is not a number also reads as
    missing (a production file whose numbers arrive as text is slower, not refused)."""
    try:
        cast = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.array([_float(v) for v in column.to_pylist()], dtype=np.float64)
    return np.asarray(pc.fill_null(cast, np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
