"""Make german_credit.csv from the original UCI file german.data (run from the repo root).

    python data/german-credit/prepare.py

Keeps every original attribute as coded by UCI (A11, A34, ...) under a column name, turns
the target 1/2 into good/bad, and adds two derived columns for fairness analysis:
`sex` (from attribute 9, personal status and sex: A92 and A95 are female, A91, A93 and A94
male) and `age_group` ("<25" or "25+", the split used by Kamiran & Calders, 2009).
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = [
    "status", "duration", "credit_history", "purpose", "credit_amount", "savings",
    "present_employment", "installment_rate", "status_sex", "other_debtors",
    "present_residence_since", "property", "age", "installment_plans", "housing",
    "number_of_existing_credits", "job", "number_of_people_liable_for", "telephone",
    "foreign_worker", "credit",
]  # fmt: skip
FEMALE = {"A92", "A95"}


def main() -> None:
    rows = [line.split() for line in (HERE / "german.data").read_text().splitlines() if line]
    assert len(rows) == 1000 and all(len(r) == 21 for r in rows)
    with (HERE / "german_credit.csv").open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow([*COLUMNS, "sex", "age_group"])
        for r in rows:
            r[20] = {"1": "good", "2": "bad"}[r[20]]
            sex = "female" if r[8] in FEMALE else "male"
            out.writerow([*r, sex, "<25" if int(r[12]) < 25 else "25+"])


if __name__ == "__main__":
    main()
