"""scikit-learn: train, evaluate and record in one call.

    model, run = train_and_record(trail, LogisticRegression(max_iter=1000),
                                  X_train, y_train, X_test, y_test,
                                  name="credit-model", datasets=["german-credit"], seed=0)

The estimator's own `get_params()` become the run's hyperparameters, the held-out
metrics its metrics, and the fitted model (saved with skops, the format scikit-learn
recommends for sharing) its output, all in one TrainingRun statement. If fitting or
scoring raises, a failed run is recorded and the exception propagates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.runs import Run
    from fairtrail.trail import Trail

__all__ = ["evaluate", "train_and_record"]


def evaluate(model: Any, X_test: Any, y_test: Any) -> dict[str, float]:
    """Held-out accuracy, balanced accuracy, and for binary tasks precision, recall, F1
    and ROC AUC (when the model gives probabilities), computed by scikit-learn."""
    from sklearn import metrics

    predicted = model.predict(X_test)
    out = {
        "accuracy": float(metrics.accuracy_score(y_test, predicted)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y_test, predicted)),
    }
    classes = list(getattr(model, "classes_", []))
    if len(classes) == 2:
        positive = classes[1]
        out["precision"] = float(metrics.precision_score(y_test, predicted, pos_label=positive))
        out["recall"] = float(metrics.recall_score(y_test, predicted, pos_label=positive))
        out["f1"] = float(metrics.f1_score(y_test, predicted, pos_label=positive))
        if hasattr(model, "predict_proba"):
            scores = model.predict_proba(X_test)[:, 1]
            out["roc_auc"] = float(metrics.roc_auc_score(y_test, scores))
    return out


def train_and_record(
    trail: Trail,
    estimator: Any,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    *,
    name: str,
    datasets: Sequence[Any] = (),
    seed: int | None = None,
    artifact_dir: str | Path | None = None,
    model_name: str | None = None,
    signer: SigningKey | None = None,
) -> tuple[Any, Run]:
    """Fit `estimator`, evaluate it on the test split, record run and model; see above."""
    params = {k: v for k, v in estimator.get_params(deep=False).items()}
    with trail.run(
        name,
        datasets=datasets,
        params=params,
        seed=seed,
        artifact_dir=artifact_dir,
        signer=signer,
    ) as run:
        run.log_param("estimator", f"{type(estimator).__module__}.{type(estimator).__name__}")
        run.log_param("train_rows", int(len(y_train)))
        run.log_param("test_rows", int(len(y_test)))
        estimator.fit(X_train, y_train)
        for metric, value in evaluate(estimator, X_test, y_test).items():
            run.log_metric(metric, value)
        run.log_model(estimator, name=model_name or name)
    return estimator, run
