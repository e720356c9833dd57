"""Predictions of a recorded model on audit data, loaded without running untrusted code.

Only skops files are loaded: skops refuses any type outside its trusted list unless it
is named, so a model file cannot execute code by being audited. Pickle and joblib are
never loaded (unpickling runs arbitrary code); for those, and for frameworks fairtrail
does not load, compute predictions yourself and audit a `--prediction` column with
`--model` naming the artifact.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from fairtrail.errors import InputError

__all__ = ["predict"]


def predict(model_path: Path, table: pa.Table, trusted: Sequence[str] = ()) -> pa.ChunkedArray:
    """The model's prediction for every row of `table` (all of the data's columns)."""
    model = _load_skops(model_path, trusted)
    features = _features(model, table, model_path.name)
    try:
        predicted = model.predict(features)
    except Exception as exc:  # the model's own complaint about the data, in one line
        raise InputError(
            f"{model_path.name} could not predict on this data: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    if len(predicted) != table.num_rows:
        raise InputError(f"{model_path.name} returned {len(predicted)} predictions for "
                         f"{table.num_rows} rows")  # fmt: skip
    return pa.chunked_array([pa.array(list(predicted) if predicted.dtype == object else predicted)])


def _load_skops(path: Path, trusted: Sequence[str]) -> Any:
    suffix = path.suffix.lower()
    if suffix != ".skops":
        raise InputError(
            f"{path.name}: fairtrail only loads .skops models to predict (loading "
            f"{suffix or 'this'} files can run code); compute predictions yourself and pass"
            " --prediction COLUMN"
            " together with --model"
        )
    try:
        from skops.io import get_untrusted_types, load
    except ImportError:
        raise InputError("loading .skops models needs skops: pip install 'fairtrail[ml]'") from None
    try:
        untrusted = sorted(set(get_untrusted_types(file=path)) - set(trusted))
    except Exception as exc:
        raise InputError(f"{path.name} is not a readable skops file ({exc})") from None
    if untrusted:
        raise InputError(
            f"{path.name} contains types skops does not trust: {', '.join(untrusted[:8])}; "
            "inspect them, then name each with --trust TYPE"
        )
    try:
        return load(path, trusted=list(trusted) or None)
    except Exception as exc:
        raise InputError(f"{path.name} could not be loaded by skops ({exc})") from None


def _features(model: Any, table: pa.Table, name: str) -> Any:
    """The input the model was fitted on: row dicts for a DictVectorizer front end, a
    DataFrame of the fitted feature names otherwise."""
    first = model.steps[0][1] if hasattr(model, "steps") and model.steps else model
    if type(first).__name__ == "DictVectorizer":
        return table.to_pylist()  # features the vectorizer never saw are ignored by it
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise InputError(
            f"{name} does not record the feature names it was fitted on, so fairtrail cannot"
            " tell which columns to give it; pass a --prediction column instead"
        )
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise InputError(f"{name} needs feature columns missing from the data: "
                         f"{', '.join(map(str, missing[:8]))}")  # fmt: skip
    return table.select([str(n) for n in names]).to_pandas()
