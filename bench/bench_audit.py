"""Audit benchmark: fairtrail's one-pass confusion counts against Fairlearn's MetricFrame,
same arrays, same run; then a policy check of 50 rules.

    .venv/bin/python -W ignore bench/bench_audit.py [--rows 1000000]

Both sides compute the same six per-group rates over the intersection of two sensitive
columns and the same disparities; the largest difference between the two results is
printed next to the times. Not a test: nothing fails when slow.
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
import warnings

import numpy as np

from _timing import timed


def data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    sex = rng.integers(0, 2, n)
    age = rng.integers(0, 4, n)
    y_true = rng.random(n) < 0.4 + 0.05 * age
    y_pred = rng.random(n) < 0.35 + 0.1 * sex
    return y_true, y_pred, sex, age


Arr = np.ndarray


def fairtrail_audit(y_true: Arr, y_pred: Arr, sex: Arr, age: Arr) -> dict:
    from fairtrail.audit.fairness import audit_arrays

    return audit_arrays(
        y_true, y_pred,
        [("sex", sex.astype(np.int64), ["f", "m"]),
         ("age", age.astype(np.int64), ["a", "b", "c", "d"])],
        min_group_size=1,
    )  # fmt: skip


def fairlearn_audit(y_true: Arr, y_pred: Arr, sex: Arr, age: Arr) -> dict:
    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        equalized_odds_ratio,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    sensitive = pd.DataFrame({"sex": sex, "age": age})
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate, "accuracy": accuracy_score,
            "tpr": true_positive_rate, "fpr": false_positive_rate,
            "fnr": false_negative_rate,
            "precision": lambda t, p: precision_score(t, p, zero_division=0),
        },
        y_true=y_true, y_pred=y_pred, sensitive_features=sensitive,
    )  # fmt: skip
    return {
        "by_group": frame.by_group,
        "demographic_parity_difference": demographic_parity_difference(
            y_true, y_pred, sensitive_features=sensitive),
        "demographic_parity_ratio": demographic_parity_ratio(
            y_true, y_pred, sensitive_features=sensitive),
        "equalized_odds_difference": equalized_odds_difference(
            y_true, y_pred, sensitive_features=sensitive),
        "equalized_odds_ratio": equalized_odds_ratio(
            y_true, y_pred, sensitive_features=sensitive),
    }  # fmt: skip


def max_difference(ours: dict, theirs: dict) -> float:
    worst = 0.0
    groups = ours["by_group"]["sex × age"]
    names = {"f": 0, "m": 1, "a": 0, "b": 1, "c": 2, "d": 3}
    for name, g in groups.items():
        s, a = name.split(" × ")
        row = theirs["by_group"].loc[(names[s], names[a])]
        for metric in ("selection_rate", "accuracy", "tpr", "fpr", "fnr", "precision"):
            worst = max(worst, abs(g[metric] - float(row[metric])))
    for metric in ("demographic_parity_difference", "demographic_parity_ratio",
                   "equalized_odds_difference", "equalized_odds_ratio"):  # fmt: skip
        worst = max(worst, abs(ours["disparities"][metric] - float(theirs[metric])))
    return worst


def policy_check_50() -> tuple[float, float]:
    """(compile + check at add time, evaluation of 50 rules on one fact set), in seconds."""
    from fairtrail.policy.facts import SKELETON
    from fairtrail.policy.packs import pack_path
    from fairtrail.policy.rules import compile_policy, load_policy

    rules = []
    for name in ("eu-ai-act-high-risk", "nist-ai-rmf-measure"):
        doc = load_policy(pack_path(name)).doc
        rules += [r.model_dump() | {"id": f"{name[:4]}-{r.id}"} for r in doc.rules]
        params = doc.params
    params = {**load_policy(pack_path("eu-ai-act-high-risk")).doc.params, **params}
    while len(rules) < 50:
        rules.append(rules[len(rules) % 27] | {"id": f"copy-{len(rules)}"})
    doc = {"name": "fifty", "version": "1", "params": params, "rules": rules[:50]}
    t = time.perf_counter()
    compiled = compile_policy(doc)
    compile_s = time.perf_counter() - t
    facts = copy.deepcopy(SKELETON)
    facts["evaluation"]["groups"] = facts["evaluation"]["groups"] * 16  # 16 groups, as a 2x8 audit
    return compile_s, timed(lambda: compiled.evaluate(facts), repeat=20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    arrays = data(args.rows)
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, Python {platform.python_version()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import fairlearn

        ours = fairtrail_audit(*arrays)
        theirs = fairlearn_audit(*arrays)
        t_ours = timed(lambda: fairtrail_audit(*arrays))
        t_theirs = timed(lambda: fairlearn_audit(*arrays), repeat=1)
    diff = max_difference(ours, theirs)
    print(f"\n### Audit of {args.rows:,} rows, 2 sensitive columns (8 intersectional groups)\n")
    print("| implementation | time | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| fairtrail `audit_arrays` | {t_ours * 1000:.1f} ms | 1.0 |")
    print(f"| Fairlearn {fairlearn.__version__} `MetricFrame` + disparity functions | "
          f"{t_theirs * 1000:.0f} ms | {t_theirs / t_ours:.1f}x slower |")  # fmt: skip
    print(f"\nlargest difference between the two results: {diff:.1e}")
    compile_s, check_s = policy_check_50()
    print("\n### Policy of 50 CEL rules\n")
    print(f"compile and check against the fact schema (at `policy add`): {compile_s * 1000:.1f} ms")
    print(f"evaluate all 50 rules on one model's facts: {check_s * 1000:.2f} ms")


if __name__ == "__main__":
    main()
