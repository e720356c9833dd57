"""A small credit-scoring trail built the way users build one: data recorded, a
scikit-learn pipeline trained and recorded, actors with roles. Shared by audit,
policy and CLI tests."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from fairtrail import Trail
from fairtrail.lifecycle.datasets import prepare_dataset, record_dataset
from fairtrail.statements.actors import Role

FIELDS = ["income", "purpose", "sex", "age_group", "credit", "scored"]


@dataclass
class CreditTrail:
    path: Path
    data: Path
    model: Path
    rows: list[dict[str, str]]


def write_credit_csv(
    path: Path, n: int = 600, seed: int = 5, bias: float = 0.0
) -> list[dict[str, str]]:
    """Synthetic applicants; `bias` lowers the score of applicants under 25."""
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        sex = rnd.choice(["female", "male"])
        young = rnd.random() < 0.3
        income = rnd.gauss(50, 15)
        good = income + rnd.gauss(0, 10) > 45
        score = income + rnd.gauss(0, 8) - (bias if young else 0.0)
        rows.append({
            "income": f"{income:.2f}", "purpose": rnd.choice(["car", "home", "study"]),
            "sex": sex, "age_group": "<25" if young else "25+",
            "credit": "good" if good else "bad", "scored": "good" if score > 45 else "bad",
        })  # fmt: skip
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    return rows


def build_credit_trail(root: Path) -> CreditTrail:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from fairtrail.lifecycle.integrations.sklearn import train_and_record

    root.mkdir(parents=True, exist_ok=True)
    data = root / "credit.csv"
    rows = write_credit_csv(data)
    path = root / "trail"
    with Trail.init(path) as trail:
        admin = trail.actor_key("admin")
        trail.create_actor("dana", [Role.DATA_STEWARD], admin)
        trail.create_actor("mo", [Role.ML_ENGINEER], admin)
        trail.create_actor("rita", [Role.REVIEWER], admin)
        trail.create_actor("rex", [Role.REVIEWER], admin)
        trail.create_actor("ops", [Role.OPERATOR], admin)
        prepared = prepare_dataset(
            data, name="credit", source="synthetic", license="CC0-1.0",
            sensitive=["sex", "age_group"],
        )  # fmt: skip
        record_dataset(trail, prepared, trail.actor_key("dana"))
        features = [{"income": float(r["income"]), "purpose": r["purpose"]} for r in rows]
        target = [r["credit"] for r in rows]
        _, run = train_and_record(
            trail, make_pipeline(DictVectorizer(sparse=False), LogisticRegression()),
            features[:400], target[:400], features[400:], target[400:],
            name="credit-model", datasets=["credit"], seed=3, artifact_dir=root / "artifacts",
            signer=trail.actor_key("mo"),
        )  # fmt: skip
        trail.checkpoint()
    return CreditTrail(path, data, root / "artifacts" / "credit-model.skops", rows)
