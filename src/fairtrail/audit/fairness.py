"""Fairness and performance of a binary classifier per group, from confusion counts.

Fairlearn is the reference definition of every number here: per-group rates equal
`fairlearn.metrics.MetricFrame` with Fairlearn's own metric functions, and the
disparities equal `demographic_parity_difference`, `equalized_odds_ratio` and the rest
(tests compare them on several datasets to 1e-12). What differs is how they are
computed: Fairlearn slices the data once per group and per metric; here one `bincount`
over (group, label, prediction) gives every group's confusion counts in a single
vectorised pass, and every rate is derived from those counts. Monitoring windows use
the same core.

Conventions follow Fairlearn: a rate whose denominator is zero (the TPR of a group
with no positives) is 0.0, and such rates are listed in the group's `undefined` so
that nobody mistakes them for measurements; a ratio of 0/0 is NaN (null in JSON).

Small groups (fewer rows than `min_group_size`) are reported with their count and
`small: true` but no rates, and are left out of the disparities, which then equal
Fairlearn's on the rows of the remaining groups (`groups_compared` says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fairtrail.errors import InputError

__all__ = [
    "DISPARITIES",
    "RATES",
    "Confusion",
    "audit_arrays",
    "confusion_by_group",
    "rates",
    "report_from_counts",
]

#: Per-group rates, in the order reports show them.
RATES = ("selection_rate", "accuracy", "tpr", "fpr", "fnr", "precision")
#: Disparities between groups, each named as Fairlearn names it.
DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "accuracy_difference",
    "accuracy_ratio",
)
#: The separator of intersectional group names ("female × <25").
JOIN = " × "
MAX_GROUPS = 10_000


@dataclass(frozen=True)
class Confusion:
    """Confusion counts of one group (or of everyone)."""

    tn: int
    fp: int
    fn: int
    tp: int

    @property
    def count(self) -> int:
        return self.tn + self.fp + self.fn + self.tp


def rates(c: Confusion) -> tuple[dict[str, float], list[str]]:
    """(rates, names of rates whose denominator was zero and so read 0.0 as in Fairlearn)."""
    undefined: list[str] = []

    def ratio(name: str, num: int, den: int) -> float:
        if den == 0:
            undefined.append(name)
            return 0.0
        return num / den

    out = {
        "selection_rate": ratio("selection_rate", c.tp + c.fp, c.count),
        "accuracy": ratio("accuracy", c.tp + c.tn, c.count),
        "tpr": ratio("tpr", c.tp, c.tp + c.fn),
        "fpr": ratio("fpr", c.fp, c.fp + c.tn),
        "fnr": ratio("fnr", c.fn, c.tp + c.fn),
        "precision": ratio("precision", c.tp, c.tp + c.fp),
    }
    return out, undefined


def confusion_by_group(
    y_true: npt.NDArray[np.bool_],
    y_pred: npt.NDArray[np.bool_],
    codes: npt.NDArray[np.int64],
    groups: int,
) -> npt.NDArray[np.int64]:
    """A (groups, 4) array of (tn, fp, fn, tp) counts: one bincount over all rows."""
    cell = codes * 4 + y_true.astype(np.int64) * 2 + y_pred.astype(np.int64)
    return np.bincount(cell, minlength=groups * 4).reshape(groups, 4)


def audit_arrays(
    y_true: npt.NDArray[np.bool_],
    y_pred: npt.NDArray[np.bool_],
    sensitive: Sequence[tuple[str, npt.NDArray[np.int64], Sequence[str]]],
    *,
    min_group_size: int = 30,
) -> dict[str, Any]:
    """The audit report of binary labels and predictions (True = positive).

    `sensitive` holds, per sensitive column, (column name, integer group code per row,
    group names by code). With two or more columns the report adds their intersection,
    and the disparities are computed over the intersectional groups, as Fairlearn does
    when given several sensitive features.
    """
    if len(y_true) != len(y_pred):
        raise InputError("labels and predictions have different lengths")
    if len(y_true) == 0:
        raise InputError("no rows to audit")
    if not sensitive:
        raise InputError("name at least one sensitive column")
    columns = list(sensitive)
    if len(sensitive) > 1:
        columns.append(_intersect(sensitive))
    return report_from_counts(
        Confusion(*_totals(y_true, y_pred)),
        [
            (name, confusion_by_group(y_true, y_pred, codes, len(labels)), labels)
            for name, codes, labels in columns
        ],
        min_group_size=min_group_size,
    )


def report_from_counts(
    total: Confusion,
    columns: Sequence[tuple[str, npt.NDArray[np.int64], Sequence[str]]],
    *,
    min_group_size: int = 30,
) -> dict[str, Any]:
    """The audit report from confusion counts alone: `columns` holds, per sensitive
    column (the intersection last, when there is one), a (groups, 4) count array and the
    group names. Monitoring windows add counts up as rows arrive and report with this,
    so their numbers are the audit's by construction."""
    overall, undefined = rates(total)
    report: dict[str, Any] = {
        "rows": total.count,
        "overall": {"count": total.count, **overall, "undefined": undefined},
        "by_group": {},
        "min_group_size": min_group_size,
    }
    for name, counts, labels in columns:
        report["by_group"][name] = _groups(counts, labels, min_group_size)
    joint = columns[-1][0]
    report["disparities_over"] = joint
    report["disparities"], report["groups_compared"] = _disparities(report["by_group"][joint])
    report["small_groups"] = sorted(
        f"{column}={group}"
        for column, groups in report["by_group"].items()
        for group, row in groups.items()
        if row["small"]
    )
    return report


def _totals(y_true: npt.NDArray[np.bool_], y_pred: npt.NDArray[np.bool_]) -> list[int]:
    cell = y_true.astype(np.int64) * 2 + y_pred.astype(np.int64)
    return [int(v) for v in np.bincount(cell, minlength=4)]


def _intersect(
    sensitive: Sequence[tuple[str, npt.NDArray[np.int64], Sequence[str]]],
) -> tuple[str, npt.NDArray[np.int64], list[str]]:
    """One code per combination of groups; only combinations that occur are kept."""
    combined = np.zeros(len(sensitive[0][1]), dtype=np.int64)
    size = 1
    for _, codes, labels in sensitive:
        combined = combined * len(labels) + codes
        size *= len(labels)
        if size > MAX_GROUPS * MAX_GROUPS:
            raise InputError("too many intersectional groups")
    present, compact = np.unique(combined, return_inverse=True)
    if len(present) > MAX_GROUPS:
        raise InputError(f"over {MAX_GROUPS} intersectional groups; use fewer sensitive columns")
    names = []
    for value in present.tolist():
        parts = []
        for _, _, labels in reversed(sensitive):
            value, code = divmod(value, len(labels))
            parts.append(labels[code])
        names.append(JOIN.join(reversed(parts)))
    return JOIN.join(name for name, _, _ in sensitive), compact.astype(np.int64), names


def _groups(
    counts: npt.NDArray[np.int64], labels: Sequence[str], min_group_size: int
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for label, row in zip(labels, counts.tolist(), strict=True):
        c = Confusion(*row)
        if c.count == 0:
            continue  # a category of the column's type that no row has
        entry: dict[str, Any] = {"count": c.count, "small": c.count < min_group_size}
        if entry["small"]:
            entry.update(dict.fromkeys(RATES))
            entry["undefined"] = list(RATES)
        else:
            values, undefined = rates(c)
            entry.update(values)
            entry["undefined"] = undefined
        entry["confusion"] = {"tn": c.tn, "fp": c.fp, "fn": c.fn, "tp": c.tp}
        out[label] = entry
    return out


def _disparities(groups: dict[str, dict[str, Any]]) -> tuple[dict[str, float | None], list[str]]:
    """Fairlearn's between-groups disparities over the groups that are not small."""
    compared = [name for name, g in groups.items() if not g["small"]]
    if not compared:
        return dict.fromkeys(DISPARITIES), []

    def spread(metric: str) -> tuple[float, float | None]:
        values = [groups[name][metric] for name in compared]
        low, high = min(values), max(values)
        return high - low, _ratio(low, high)

    sr = spread("selection_rate")
    tpr = spread("tpr")
    fpr = spread("fpr")
    acc = spread("accuracy")
    out: dict[str, float | None] = {
        "demographic_parity_difference": sr[0],
        "demographic_parity_ratio": sr[1],
        "equalized_odds_difference": max(tpr[0], fpr[0]),
        "equalized_odds_ratio": _worst_ratio(tpr[1], fpr[1]),
        "equal_opportunity_difference": tpr[0],
        "equal_opportunity_ratio": tpr[1],
        "accuracy_difference": acc[0],
        "accuracy_ratio": acc[1],
    }
    return out, compared


def _ratio(low: float, high: float) -> float | None:
    """min/max as Fairlearn computes it; 0/0 is NaN there and None (JSON null) here."""
    if high == 0:
        return None
    return low / high


def _worst_ratio(tpr: float | None, fpr: float | None) -> float | None:
    """The equalized odds ratio as Fairlearn computes it: Python's `min` over the TPR and
    FPR ratios in that order, where a NaN TPR ratio wins and a NaN FPR ratio is skipped
    (a comparison with NaN is false). Kept exactly, so the numbers agree."""
    if tpr is None:
        return None
    if fpr is None:
        return tpr
    return min(tpr, fpr)
