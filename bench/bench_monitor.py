"""Monitoring benchmark: ingest and score N production predictions into signed windows of
10,000 (drift of 4 features, prediction drift, fairness by sex, the monitoring policy run
after every window), next to Fairlearn computing only the fairness part of the same
windows (MetricFrame per window, then its disparities).

    .venv/bin/python -W ignore bench/bench_monitor.py [--rows 1000000]

Not a test: nothing fails when slow.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._credit import build_credit_trail  # noqa: E402

from fairtrail import Trail  # noqa: E402
from fairtrail.lifecycle.models import resolve_model  # noqa: E402
from fairtrail.monitoring import Monitor, setup_monitor  # noqa: E402
from fairtrail.policy.decisions import record_policy  # noqa: E402
from fairtrail.policy.packs import pack_path  # noqa: E402
from fairtrail.policy.rules import load_policy  # noqa: E402

WINDOW = 10_000


def stream(path: Path, n: int) -> pa.Table:
    rnd = np.random.default_rng(7)
    income = rnd.normal(50, 15, n)
    sex = rnd.choice(["female", "male"], n)
    good = income + rnd.normal(0, 10, n) > 45
    score = income + rnd.normal(0, 8, n)
    table = pa.table({
        "id": [f"p{i}" for i in range(n)],
        "income": np.round(income, 2),
        "purpose": rnd.choice(["car", "home", "study"], n),
        "sex": sex,
        "age_group": rnd.choice(["<25", "25+"], n, p=[0.3, 0.7]),
        "credit": np.where(good, "good", "bad"),
        "scored": np.where(score > 45, "good", "bad"),
    })  # fmt: skip
    pcsv.write_csv(table, path)
    return table


def fairlearn_windows(table: pa.Table) -> float:
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_ratio,
        equalized_odds_difference,
        selection_rate,
        true_positive_rate,
    )

    y_true = np.asarray(table["credit"].to_numpy(zero_copy_only=False)) == "good"
    y_pred = np.asarray(table["scored"].to_numpy(zero_copy_only=False)) == "good"
    sex = np.asarray(table["sex"].to_numpy(zero_copy_only=False))
    t = time.perf_counter()
    for lo in range(0, len(y_true), WINDOW):
        sl = slice(lo, lo + WINDOW)
        frame = MetricFrame(
            metrics={"selection_rate": selection_rate, "tpr": true_positive_rate},
            y_true=y_true[sl],
            y_pred=y_pred[sl],
            sensitive_features=sex[sl],
        )
        frame.by_group.to_dict()
        demographic_parity_ratio(y_true[sl], y_pred[sl], sensitive_features=sex[sl])
        equalized_odds_difference(y_true[sl], y_pred[sl], sensitive_features=sex[sl])
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        credit = build_credit_trail(root)
        data = root / "stream.csv"
        table = stream(data, args.rows)
        with Trail.open(credit.path) as trail:
            admin = trail.actor_key("admin")
            model = resolve_model(trail, credit.model)
            record_policy(trail, load_policy(pack_path("production-monitoring")), admin)
            setup_monitor(
                trail, model, credit.data, admin, window_rows=WINDOW, sensitive=["sex"],
                columns={"id": "id", "prediction": "scored", "label": "credit", "time": None},
            )  # fmt: skip
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            with Monitor(trail, model, admin) as monitor:
                t = time.perf_counter()
                result = monitor.feed(data)
                took = time.perf_counter() - t
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peer = fairlearn_windows(table)
    windows = len(result.windows)
    print(
        f"fairtrail monitor: {result.rows:,} predictions, {windows} signed windows of "
        f"{WINDOW:,} (drift of 4 features + prediction drift + fairness by sex + policy), "
        f"{took:.2f} s = {result.rows / took:,.0f} predictions/s"
    )
    print(f"  peak RSS {peak / 1024:.0f} MiB (before ingest {before / 1024:.0f} MiB)")
    print(
        f"Fairlearn MetricFrame + 2 disparities per window, fairness only, same windows: "
        f"{peer:.2f} s = {result.rows / peer:,.0f} predictions/s; fairtrail does all of its "
        f"work {peer / took:.1f}x as fast"
    )


if __name__ == "__main__":
    main()
