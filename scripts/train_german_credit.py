"""Demo step: train a credit model on German Credit and record the run and the model.

    python scripts/train_german_credit.py TRAIL DATA_CSV ARTIFACT_DIR

Protected attributes (sex, age group, personal status) are kept out of the features;
they stay in the dataset statement's group counts for the fairness audit to use.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fairtrail import Trail
from fairtrail.lifecycle.integrations.sklearn import train_and_record

NUMERIC = {"duration", "credit_amount", "installment_rate", "present_residence_since", "age",
           "number_of_existing_credits", "number_of_people_liable_for"}  # fmt: skip
LEFT_OUT = {"credit", "sex", "age_group", "status_sex"}
SEED = 20261125


def main(
    trail_path: str, data: str, artifacts: str, name: str = "credit-model",
    dataset: str = "german-credit", c: str = "1.0",
) -> None:  # fmt: skip
    with open(data, newline="") as f:
        rows = list(csv.DictReader(f))
    features = [
        {k: float(v) if k in NUMERIC else v for k, v in r.items() if k not in LEFT_OUT}
        for r in rows
    ]
    target = [r["credit"] for r in rows]
    X_train, X_test, y_train, y_test = train_test_split(
        features, target, test_size=0.3, random_state=SEED, stratify=target
    )
    model = LogisticRegression(C=float(c), max_iter=1000)
    pipeline = make_pipeline(DictVectorizer(sparse=False), StandardScaler(), model)
    with Trail.open(trail_path, lock_timeout=30) as trail:
        _, run = train_and_record(
            trail, pipeline, X_train, y_train, X_test, y_test,
            name=name, datasets=[dataset], seed=SEED,
            artifact_dir=Path(artifacts), model_name=name,
            signer=trail.actor_key(os.environ.get("FAIRTRAIL_ACTOR", "admin")),
        )  # fmt: skip
    assert run.receipt is not None
    metrics = {k: round(v[-1]["value"], 3) for k, v in run.metrics.items()}
    print(f"trained and recorded run {run.run_id[:8]} at entry {run.receipt.index}: {metrics}")
    print(f"model: {run.outputs[0]['name']} sha256:{run.outputs[0]['digest']['sha256']}")


if __name__ == "__main__":
    main(*sys.argv[1:7])
