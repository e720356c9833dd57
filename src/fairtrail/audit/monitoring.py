"""Monitoring windows: production predictions counted into windows, reported as numbers.

A window never holds its rows. Everything it reports comes from counts that add up
chunk by chunk: each feature's bin counts (for drift, see `drift`), the predictions'
class counts, and, for rows whose label is known, confusion counts per sensitive group
(for fairness, through the audit's own `report_from_counts`, so a window's fairness
numbers are the audit's numbers for the same rows). That keeps memory bounded by the
number of groups and bins, lets a window span files, and lets a half-filled window be
carried over a restart as a few hundred integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fairtrail.audit.drift import FeatureProfile, bin_counts, chi2_p_value, psi
from fairtrail.audit.fairness import (
    DISPARITIES,
    JOIN,
    RATES,
    Confusion,
    confusion_by_group,
    report_from_counts,
)
from fairtrail.statements.statement import predicate_type

__all__ = [
    "ALERT_PREDICATE",
    "MISSING_GROUP",
    "PLAN_PREDICATE",
    "WINDOW_PREDICATE",
    "WindowCounts",
    "window_facts",
    "window_report",
]

PLAN_PREDICATE = predicate_type("monitoring-plan")
WINDOW_PREDICATE = predicate_type("monitoring-window")
ALERT_PREDICATE = predicate_type("alert")

MISSING_GROUP = "(missing)"
#: PSI above which a feature counts as drifted in the report's `drifted` list.
DRIFTED_PSI = 0.25


class WindowCounts:
    """The additive state of one window."""

    def __init__(self, features: Sequence[FeatureProfile], sensitive: Sequence[str]) -> None:
        self.rows = 0
        self.rejected: dict[str, int] = {}
        self.features = {f.name: np.zeros(f.bins, dtype=np.int64) for f in features}
        self.predictions = np.zeros(2, dtype=np.int64)  # negative, positive
        self.total = np.zeros(4, dtype=np.int64)  # tn, fp, fn, tp over labelled rows
        self.sensitive = list(sensitive)
        self.groups: dict[str, list[str]] = {c: [] for c in sensitive}
        self.confusion: dict[str, npt.NDArray[np.int64]] = {
            c: np.zeros((0, 4), dtype=np.int64) for c in sensitive
        }
        self.joint: dict[str, list[int]] = {}  # "a × b" -> tn, fp, fn, tp
        self.first: str | None = None
        self.last: str | None = None
        self.sources: list[dict[str, Any]] = []

    @property
    def labelled(self) -> int:
        return int(self.total.sum())

    def reject(self, reason: str, n: int = 1) -> None:
        if n:
            self.rejected[reason] = self.rejected.get(reason, 0) + n
            self.rows += n

    def add_source(self, file: str, sha256: str, start: int, end: int) -> None:
        """Rows [start, end) of a file went into this window."""
        last = self.sources[-1] if self.sources else None
        if last is not None and last["sha256"] == sha256 and last["rows"][1] == start:
            last["rows"][1] = end
        elif end > start:
            self.sources.append({"file": file, "sha256": sha256, "rows": [start, end]})

    def add(
        self,
        features: dict[str, pa.Array | pa.ChunkedArray],
        profiles: Sequence[FeatureProfile],
        y_pred: npt.NDArray[np.bool_],
        y_true: npt.NDArray[np.bool_] | None,
        labelled: npt.NDArray[np.bool_] | None,
        groups: dict[str, pa.Array | pa.ChunkedArray],
        times: tuple[str, str] | None = None,
    ) -> None:
        """Count valid rows: their features, predictions and, where labelled, outcomes."""
        n = len(y_pred)
        if n == 0:
            return
        self.rows += n
        for profile in profiles:
            self.features[profile.name] += bin_counts(profile, features[profile.name])
        self.predictions += np.bincount(y_pred.astype(np.int64), minlength=2)
        if times is not None:
            self.first = self.first or times[0]
            self.last = times[1]
        if y_true is None or labelled is None or not labelled.any():
            return
        t, p = y_true[labelled], y_pred[labelled]
        self.total += np.bincount(t.astype(np.int64) * 2 + p.astype(np.int64), minlength=4)
        codes = []
        for column in self.sensitive:
            code, size = self._codes(column, groups[column], labelled)
            codes.append(code)
            grown = np.zeros((size, 4), dtype=np.int64)
            grown[: len(self.confusion[column])] = self.confusion[column]
            grown += confusion_by_group(t, p, code, size)
            self.confusion[column] = grown
        if len(codes) > 1:
            stacked = np.stack([*codes, t.astype(np.int64) * 2 + p.astype(np.int64)], axis=1)
            cells, counts = np.unique(stacked, axis=0, return_counts=True)
            for cell, count in zip(cells.tolist(), counts.tolist(), strict=True):
                name = JOIN.join(
                    self.groups[c][k] for c, k in zip(self.sensitive, cell, strict=False)
                )
                self.joint.setdefault(name, [0, 0, 0, 0])[cell[-1]] += count

    def _codes(
        self, column: str, values: pa.Array | pa.ChunkedArray, keep: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.int64], int]:
        text = pc.fill_null(pc.cast(values, pa.string()), MISSING_GROUP)
        text = pc.filter(text, pa.array(keep))
        known = self.groups[column]
        for value in pc.unique(text).to_pylist():
            if value not in known:
                known.append(str(value))
        index = pc.index_in(text, value_set=pa.array(known, pa.string()))
        return np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64), len(known)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "rejected": self.rejected,
            "features": {k: v.tolist() for k, v in self.features.items()},
            "predictions": self.predictions.tolist(), "total": self.total.tolist(),
            "sensitive": self.sensitive, "groups": self.groups,
            "confusion": {k: v.tolist() for k, v in self.confusion.items()},
            "joint": self.joint, "first": self.first, "last": self.last,
            "sources": self.sources,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, doc: dict[str, Any], features: Sequence[FeatureProfile]) -> WindowCounts:
        out = cls(features, doc["sensitive"])
        out.rows = int(doc["rows"])
        out.rejected = {str(k): int(v) for k, v in doc["rejected"].items()}
        for name, counts in doc["features"].items():
            out.features[name] = np.asarray(counts, dtype=np.int64)
        out.predictions = np.asarray(doc["predictions"], dtype=np.int64)
        out.total = np.asarray(doc["total"], dtype=np.int64)
        out.groups = {k: list(v) for k, v in doc["groups"].items()}
        out.confusion = {
            k: np.asarray(v, dtype=np.int64).reshape(-1, 4) for k, v in doc["confusion"].items()
        }
        out.joint = {k: list(v) for k, v in doc["joint"].items()}
        out.first, out.last = doc["first"], doc["last"]
        out.sources = list(doc["sources"])
        return out


def window_report(
    counts: WindowCounts,
    profiles: Sequence[FeatureProfile],
    reference_positive_rate: float | None,
    *,
    min_group_size: int = 30,
) -> dict[str, Any]:
    """The numbers a MonitoringWindow statement holds (no row, no value of any row)."""
    features: list[dict[str, Any]] = []
    for profile in profiles:
        actual = counts.features[profile.name]
        if int(actual.sum()) == 0:
            continue
        features.append({
            "name": profile.name, "kind": profile.kind,
            "psi": round(psi(profile.expected, actual), 12),
            "pValue": chi2_p_value(profile.expected, actual),
            "counts": actual.tolist(),
        })  # fmt: skip
    valid = int(counts.predictions.sum())
    rate = float(counts.predictions[1] / valid) if valid else None
    prediction: dict[str, Any] = {
        "count": valid,
        "positiveRate": rate,
        "referencePositiveRate": reference_positive_rate,
        "change": None if rate is None or reference_positive_rate is None
        else rate - reference_positive_rate,
        "psi": None if reference_positive_rate is None or not valid else round(psi(
            [1 - reference_positive_rate, reference_positive_rate],
            counts.predictions.tolist()), 12),
    }  # fmt: skip
    fairness = None
    if counts.labelled and counts.sensitive:
        columns: list[tuple[str, npt.NDArray[np.int64], Sequence[str]]] = [
            (c, counts.confusion[c], counts.groups[c]) for c in counts.sensitive
        ]
        if len(counts.sensitive) > 1:
            names = sorted(counts.joint)
            columns.append((
                JOIN.join(counts.sensitive),
                np.asarray([counts.joint[n] for n in names], dtype=np.int64).reshape(-1, 4),
                names,
            ))  # fmt: skip
        fairness = report_from_counts(
            Confusion(*counts.total.tolist()), columns, min_group_size=min_group_size
        )
    drifted = sorted(f["name"] for f in features if f["psi"] > DRIFTED_PSI)
    return {
        "rows": counts.rows,
        "valid": valid,
        "rejected": dict(sorted(counts.rejected.items())),
        "labelled": counts.labelled,
        "first": counts.first,
        "last": counts.last,
        "source": counts.sources,
        "drift": {
            "features": features,
            "psiMax": max((f["psi"] for f in features), default=0.0),
            "pValueMin": min((f["pValue"] for f in features), default=1.0),
            "drifted": drifted,
        },
        "prediction": prediction,
        "fairness": fairness,
    }


def window_facts(window: dict[str, Any] | None, windows: int) -> dict[str, Any]:
    """`monitoring.latest` as policy rules read it, from a window's predicate."""
    if window is None:
        return {
            "exists": False, "seq": 0, "kind": "", "rows": 0, "valid": 0, "rejected": 0,
            "rejected_share": 0.0, "labelled": 0, "psi_max": 0.0, "p_value_min": 1.0,
            "drifted": [], "prediction_rate": 0.0, "prediction_rate_change": 0.0,
            "prediction_psi": 0.0, "overall": dict.fromkeys(RATES),
            "disparities": dict.fromkeys(DISPARITIES), "groups_compared": 0,
            "small_groups": [], "windows": windows,
        }  # fmt: skip
    report = window["report"]
    fairness = report.get("fairness") or {}
    rejected = sum(report["rejected"].values())
    prediction = report["prediction"]
    return {
        "exists": True,
        "seq": window["seq"],
        "kind": window["kind"],
        "rows": report["rows"],
        "valid": report["valid"],
        "rejected": rejected,
        "rejected_share": rejected / report["rows"] if report["rows"] else 0.0,
        "labelled": report["labelled"],
        "psi_max": report["drift"]["psiMax"],
        "p_value_min": report["drift"]["pValueMin"],
        "drifted": list(report["drift"]["drifted"]),
        "prediction_rate": prediction["positiveRate"] or 0.0,
        "prediction_rate_change": prediction["change"] or 0.0,
        "prediction_psi": prediction["psi"] or 0.0,
        "overall": {k: (fairness.get("overall") or {}).get(k) for k in RATES},
        "disparities": {k: (fairness.get("disparities") or {}).get(k) for k in DISPARITIES},
        "groups_compared": len(fairness.get("groups_compared") or []),
        "small_groups": list(fairness.get("small_groups") or []),
        "windows": windows,
    }
