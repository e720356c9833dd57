"""The exported network computes what the scikit-learn model computes (no ezkl needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fairtrail.errors import InputError
from fairtrail.zk.export import SALT_COLUMNS, Featurizer, from_sklearn, salts


def _rows(n: int = 200, seed: int = 1) -> tuple[list[dict[str, object]], list[str]]:
    rnd = np.random.default_rng(seed)
    rows = [{"amount": float(rnd.integers(250, 18000)), "age": float(rnd.integers(19, 75)),
             "purpose": str(rnd.choice(["car", "home", "study"]))} for _ in range(n)]  # fmt: skip
    y = ["good" if r["amount"] < 6000 or r["age"] > 40 else "bad" for r in rows]  # type: ignore[operator]
    return rows, y


@pytest.mark.parametrize("estimator", [
    LogisticRegression(max_iter=1000),
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0),
    MLPClassifier(hidden_layer_sizes=(6, 4), activation="tanh", max_iter=300, random_state=0),
])  # fmt: skip
def test_folded_network_matches_predict_proba(estimator: object) -> None:
    import warnings

    rows, y = _rows()
    model = make_pipeline(DictVectorizer(sparse=False), StandardScaler(), estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an MLP that has not converged is still a model
        model.fit(rows, y)
    featurizer, network = from_sklearn(model, rows)
    x = featurizer.vectors(rows, salts(b"k", 0, len(rows)))
    assert x.shape == (len(rows), len(featurizer.names) + SALT_COLUMNS)
    assert np.abs(x[:, : len(featurizer.names)]).max() <= 1.0  # divided into [-1, 1]
    assert np.allclose(network.forward(x), model.predict_proba(rows)[:, 1], atol=1e-9)
    assert network.classes == ("bad", "good")
    # the salt columns carry no weight: other salts, same probabilities
    other = featurizer.vectors(rows, salts(b"other", 0, len(rows)))
    assert not np.array_equal(x, other)
    assert np.allclose(network.forward(other), network.forward(x), atol=1e-12)


def test_columns_featurizer_and_round_trip() -> None:
    rows, y = _rows(100)
    frame = pd.DataFrame([{"amount": r["amount"], "age": r["age"]} for r in rows])
    model = LogisticRegression(max_iter=1000).fit(frame, y)
    featurizer, network = from_sklearn(model, [dict(r) for r in frame.to_dict("records")])
    assert featurizer.kind == "columns" and featurizer.names == ("amount", "age")
    assert featurizer.divisors == (32768.0, 128.0)
    again = Featurizer.from_dict(featurizer.to_dict())
    assert again == featurizer
    x = again.vectors([{"amount": "1200", "age": 30}], [bytes(32)])
    assert np.allclose(network.forward(x), model.predict_proba(
        pd.DataFrame([{"amount": 1200.0, "age": 30.0}]))[:, 1])  # fmt: skip
    with pytest.raises(InputError, match="no feature 'age'"):
        again.vectors([{"amount": 1}], [bytes(32)])
    with pytest.raises(InputError, match="not a number"):
        again.vectors([{"amount": "lots", "age": 3}], [bytes(32)])


def test_dict_featurizer_reads_numbers_written_as_text() -> None:
    """Decisions recorded from CSV carry text; DictVectorizer would one-hot "1200"."""
    rows, y = _rows(100)
    model = make_pipeline(DictVectorizer(sparse=False), LogisticRegression(max_iter=1000))
    model.fit(rows, y)
    featurizer, _ = from_sklearn(model, rows)
    typed = featurizer.raw({"amount": 1200.0, "age": 30.0, "purpose": "car"})
    text = featurizer.raw({"amount": "1200", "age": "30", "purpose": "car", "other": "x"})
    assert np.array_equal(typed, text)


def test_salts_are_keyed_and_positional() -> None:
    assert salts(b"k", 0, 3)[1] == salts(b"k", 1, 1)[0]
    assert salts(b"k", 0, 1) != salts(b"j", 0, 1)


def test_unsupported_models_are_refused() -> None:
    rows, y = _rows(60)
    forest = make_pipeline(DictVectorizer(sparse=False), RandomForestClassifier(n_estimators=3))
    forest.fit(rows, y)
    with pytest.raises(InputError, match="LogisticRegression and MLPClassifier"):
        from_sklearn(forest, rows)
    three = [r | {"amount": r["amount"]} for r in rows]
    labels = ["a", "b", "c"] * 20
    multi = make_pipeline(DictVectorizer(sparse=False), StandardScaler(),
                          LogisticRegression(max_iter=5000))
    multi.fit(three, labels)
    with pytest.raises(InputError, match="binary"):
        from_sklearn(multi, rows)
    bare = LogisticRegression().fit(np.array([[0.0], [1.0]] * 10), ["a", "b"] * 10)
    with pytest.raises(InputError, match="feature names"):
        from_sklearn(bare, [])
