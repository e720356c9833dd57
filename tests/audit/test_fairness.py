"""The fairness core against Fairlearn, the reference definition of every number."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fairtrail.audit.data import binary_outcomes, group_codes, read_columns
from fairtrail.audit.fairness import JOIN, audit_arrays
from fairtrail.errors import InputError

fm = pytest.importorskip("fairlearn.metrics")
pd = pytest.importorskip("pandas")
from sklearn.metrics import accuracy_score, precision_score  # noqa: E402

GERMAN = Path(__file__).parents[2] / "data" / "german-credit" / "german_credit.csv"


def _precision(y: Any, p: Any) -> float:
    return float(precision_score(y, p, zero_division=0))


RATE_FNS = {
    "selection_rate": fm.selection_rate,
    "accuracy": accuracy_score,
    "tpr": fm.true_positive_rate,
    "fpr": fm.false_positive_rate,
    "fnr": fm.false_negative_rate,
    "precision": _precision,
}


def _fairlearn(y: Any, p: Any, features: Any) -> tuple[Any, dict[str, float]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = fm.MetricFrame(metrics=RATE_FNS, y_true=y, y_pred=p, sensitive_features=features)
        kw = {"sensitive_features": features}
        disparities = {
            "demographic_parity_difference": fm.demographic_parity_difference(y, p, **kw),
            "demographic_parity_ratio": fm.demographic_parity_ratio(y, p, **kw),
            "equalized_odds_difference": fm.equalized_odds_difference(y, p, **kw),
            "equalized_odds_ratio": fm.equalized_odds_ratio(y, p, **kw),
            "equal_opportunity_difference": fm.equal_opportunity_difference(y, p, **kw),
            "equal_opportunity_ratio": fm.equal_opportunity_ratio(y, p, **kw),
            "accuracy_difference": frame.difference()["accuracy"],
            "accuracy_ratio": frame.ratio()["accuracy"],
        }
    return frame, disparities


def _same(ours: float | None, theirs: float) -> bool:
    if ours is None:
        return math.isnan(theirs)
    return abs(ours - theirs) <= 1e-12


def _check(y: np.ndarray, p: np.ndarray, columns: dict[str, np.ndarray], min_size: int = 0) -> dict:
    sensitive = []
    for name, values in columns.items():
        uniques, codes = np.unique(values.astype(str), return_inverse=True)
        sensitive.append((name, codes.astype(np.int64), [str(u) for u in uniques]))
    report = audit_arrays(y.astype(bool), p.astype(bool), sensitive, min_group_size=min_size)
    features = pd.DataFrame({k: v.astype(str) for k, v in columns.items()})
    joint = report["disparities_over"]
    keep = np.ones(len(y), dtype=bool)
    if report["small_groups"]:  # disparities equal Fairlearn's on the rows of the kept groups
        keys = features.apply(lambda r: JOIN.join(r), axis=1).to_numpy()
        keep = np.isin(keys, report["groups_compared"])
    frame, disparities = _fairlearn(y[keep], p[keep], features[keep])
    for metric, theirs in disparities.items():
        assert _same(report["disparities"][metric], float(theirs)), metric
    for key, row in frame.by_group.iterrows():
        group = JOIN.join(key) if isinstance(key, tuple) else key
        ours = report["by_group"][joint][group]
        for metric in RATE_FNS:
            assert _same(ours[metric], float(row[metric])), (group, metric)
    # every single column's groups too (Fairlearn over that column alone, all rows)
    for name in columns:
        frame, _ = _fairlearn(y, p, features[name])
        for group, row in frame.by_group.iterrows():
            ours = report["by_group"][name][group]
            if ours["small"]:
                assert ours["selection_rate"] is None
                continue
            for metric in RATE_FNS:
                assert _same(ours[metric], float(row[metric])), (name, group, metric)
    return report


def test_german_credit_by_sex_and_age_group() -> None:
    table = read_columns(GERMAN, ["credit", "sex", "age_group", "duration"])
    y = (table.column("credit").to_numpy(zero_copy_only=False) == "good").astype(int)
    # a deterministic, imperfect "model": long loans are predicted bad
    p = (table.column("duration").to_numpy() <= 24).astype(int)
    cols = {c: table.column(c).to_numpy(zero_copy_only=False) for c in ("sex", "age_group")}
    one = _check(y, p, {"sex": cols["sex"]})
    assert set(one["by_group"]) == {"sex"} and one["disparities_over"] == "sex"
    both = _check(y, p, cols)
    assert set(both["by_group"]) == {"sex", "age_group", f"sex{JOIN}age_group"}
    assert both["rows"] == 1000 and both["overall"]["count"] == 1000


@pytest.mark.parametrize("seed", range(6))
def test_random_data_with_skewed_and_degenerate_groups(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 5000))
    a = rng.choice(["x", "y", "z", "w"], size=n, p=[0.5, 0.3, 0.15, 0.05])
    b = rng.choice(["u", "v"], size=n)
    y = rng.random(n) < rng.uniform(0.05, 0.95)
    p = np.where(rng.random(n) < 0.7, y, ~y)
    if seed % 2:  # group "w": no positives and never selected (0/0 ratios, undefined rates)
        y[a == "w"] = False
        p[a == "w"] = False
    if seed == 5:  # nobody selected at all: every ratio is 0/0
        p[:] = False
    _check(y, p, {"a": a})
    _check(y, p, {"a": a, "b": b})
    report = _check(y, p, {"a": a, "b": b}, min_size=int(n * 0.04))
    for name in report["small_groups"]:
        column, _, group = name.partition("=")
        assert report["by_group"][column][group]["count"] < n * 0.04


def test_undefined_rates_are_named() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0, 0, 1, 0])
    report = _check(y, p, {"g": np.array(["a", "a", "b", "b"])})
    assert report["by_group"]["g"]["a"]["undefined"] == ["tpr", "fnr", "precision"]
    assert report["disparities"]["demographic_parity_ratio"] == 0.0


def test_reading_outcomes_and_groups(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("y,p,g\n1,1.0,a\n0,0.0,\n1,0.0,b\n")
    table = read_columns(f, ["y", "p", "g"])
    out = binary_outcomes(table, "y", "p", None)
    assert out.positive == "1" and out.y_true.tolist() == [True, False, True]
    assert out.y_pred.tolist() == [True, False, False]
    with pytest.raises(InputError, match="sensitive column 'g' has 1 empty values"):
        group_codes(table, "g")
    codes, names = group_codes(table, "g", allow_missing=True)
    assert [names[c] for c in codes] == ["a", "(missing)", "b"]


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("y,p,g\n1,1,a\n", ("nope", "p", None), "column 'nope' is not in"),
        ("y,p,g\n1,2,a\n0,1,b\n", ("y", "p", None), "take 3 values"),
        ("y,p,g\ngood,bad,a\n", ("y", "p", None), "--positive-label"),
        ("y,p,g\ngood,bad,a\n", ("y", "p", "fine"), "positive label 'fine' occurs in neither"),
        ("y,p,g\n1,1,a\n,0,b\n", ("y", "p", None), "'y' has 1 missing values"),
    ],
)
def test_bad_data_is_one_clear_error(
    tmp_path: Path, content: str, args: tuple, message: str
) -> None:
    f = tmp_path / "d.csv"
    f.write_text(content)
    with pytest.raises(InputError, match=message):
        table = read_columns(f, [c for c in args[:2]] + ["g"])
        binary_outcomes(table, *args)
