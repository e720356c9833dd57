"""A scikit-learn model as a plain ONNX network (MatMul, Add, activations) for ezkl.

ezkl proves standard ONNX operators; skl2onnx emits `ai.onnx.ml` operators such as
`LinearClassifier` that it does not support. So fairtrail writes the network itself
from the fitted parameters: logistic regression and multi-layer perceptrons for binary
outcomes, optionally behind a `DictVectorizer` and a `StandardScaler`.

The split between public and committed parts is deliberate:

* The **featurizer** is public (recorded in the ZkCircuit statement), so anyone holding an
  input can rebuild the exact vector the circuit saw: the feature order, for each feature
  the power of two it is divided by (so every value lies in [-1, 1] and quantises well),
  and how many salt columns follow.
* Everything learned, the scaler's means and scales included, is folded into the first
  layer's weights, which the circuit hashes (Poseidon) instead of revealing.

Salt columns carry 8 random bits each into the input, with zero weights: they change
nothing the model computes, but they make the input commitment of a proof hiding, so a
proof about one person's decision cannot be brute-forced back to their features.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fairtrail.errors import InputError

__all__ = [
    "SALT_COLUMNS",
    "Featurizer",
    "Network",
    "from_sklearn",
    "salts",
]

SALT_COLUMNS = 16  # 16 x 8 bits of salt per input row
_SALT_DOMAIN = b"fairtrail-zk-salt/v1\x00"
_ACTIVATIONS = {"relu": "Relu", "logistic": "Sigmoid", "tanh": "Tanh", "identity": None}
MAX_FEATURES = 4096
MAX_WIDTH = 1024


@dataclass(frozen=True)
class Featurizer:
    """How an input (a row of named values) becomes the circuit's input vector."""

    kind: str  # "dict": DictVectorizer vocabulary; "columns": named numeric columns
    names: tuple[str, ...]  # "name" (numeric) or "name=value" (one-hot) per feature, in order
    divisors: tuple[float, ...]  # powers of two
    salt_columns: int = SALT_COLUMNS

    @property
    def width(self) -> int:
        return len(self.names) + self.salt_columns

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "features": list(self.names),
            "divisors": [int(d) if d >= 1 else d for d in self.divisors],
            "saltColumns": self.salt_columns,
            "salt": "HMAC-SHA256(key, 'fairtrail-zk-salt/v1' || 0x00 || row index as 8 bytes)"
            "[:saltColumns], byte b as b/256",
        }

    @classmethod
    def from_dict(cls, value: Any) -> Featurizer:
        try:
            names = tuple(str(n) for n in value["features"])
            divisors = tuple(float(d) for d in value["divisors"])
            salt_columns = int(value["saltColumns"])
            kind = str(value["kind"])
        except (KeyError, TypeError, ValueError):
            raise InputError("the circuit's featurizer is malformed") from None
        if len(names) != len(divisors) or kind not in ("dict", "columns") or not (
            0 <= salt_columns <= 32
        ):
            raise InputError("the circuit's featurizer is malformed")
        return cls(kind, names, divisors, salt_columns)

    def raw(self, row: dict[str, Any]) -> npt.NDArray[np.float64]:
        """The model's own feature vector of `row` (before division and salt)."""
        out = np.zeros(len(self.names))
        if self.kind == "columns":
            for j, name in enumerate(self.names):
                if name not in row:
                    raise InputError(f"the input has no feature {name!r}")
                out[j] = _number(row[name], name)
            return out
        index = self._index
        for key, value in row.items():
            if isinstance(value, str):
                hot = index.get(f"{key}={value}")
                if hot is not None:
                    out[hot] = 1.0
                    continue
            at = index.get(str(key))
            if at is not None and value is not None and value != "":
                out[at] = _number(value, str(key))
        return out

    def vectors(
        self, rows: Sequence[dict[str, Any]], salt: Sequence[bytes]
    ) -> npt.NDArray[np.float64]:
        """The circuit inputs of `rows`: divided features, then each row's salt columns."""
        if len(salt) != len(rows):
            raise ValueError("one salt per row")
        out = np.zeros((len(rows), self.width))
        divisors = np.asarray(self.divisors)
        for i, row in enumerate(rows):
            out[i, : len(self.names)] = self.raw(row) / divisors
            out[i, len(self.names) :] = [b / 256.0 for b in salt[i][: self.salt_columns]]
        return out

    @property
    def _index(self) -> dict[str, int]:
        cached: dict[str, int] | None = getattr(self, "_cached_index", None)
        if cached is None:
            cached = {n: j for j, n in enumerate(self.names)}
            object.__setattr__(self, "_cached_index", cached)
        return cached


def salts(key: bytes, first: int, count: int) -> list[bytes]:
    """The salt of rows first..first+count-1, derived from a key kept off the log."""
    return [
        hmac.new(key, _SALT_DOMAIN + (first + i).to_bytes(8, "big"), hashlib.sha256).digest()
        for i in range(count)
    ]


@dataclass(frozen=True)
class Network:
    """Dense layers on the circuit input: x -> act(x W + b) ... -> sigmoid (P(positive))."""

    layers: tuple[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]], ...]
    hidden_activation: str | None  # ONNX op name, or None for identity
    classes: tuple[str, str]  # (negative, positive) as the model labels them
    kind: str  # "logistic-regression" | "mlp"

    def forward(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The float model's P(positive) for circuit inputs `x` (float64 reference)."""
        h = x
        for k, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if k < len(self.layers) - 1:
                h = _apply(self.hidden_activation, h)
        return 1.0 / (1.0 + np.exp(-h[:, 0]))

    def onnx(self, batch: int) -> bytes:
        """The network as an ONNX model with one float input [batch, width]."""
        try:
            import onnx
            from onnx import TensorProto, helper, numpy_helper
        except ImportError:
            raise InputError("building a circuit needs onnx: pip install 'fairtrail[zk]'") from None
        width = self.layers[0][0].shape[0]
        nodes, inits = [], []
        current = "x"
        for k, (w, b) in enumerate(self.layers):
            inits += [
                numpy_helper.from_array(w.astype(np.float32), f"W{k}"),
                numpy_helper.from_array(b.astype(np.float32), f"b{k}"),
            ]
            nodes += [
                helper.make_node("MatMul", [current, f"W{k}"], [f"m{k}"]),
                helper.make_node("Add", [f"m{k}", f"b{k}"], [f"z{k}"]),
            ]
            current = f"z{k}"
            last = k == len(self.layers) - 1
            op = "Sigmoid" if last else self.hidden_activation
            if op is not None:
                out = "p" if last else f"h{k}"
                nodes.append(helper.make_node(op, [current], [out]))
                current = out
        graph = helper.make_graph(
            nodes, "fairtrail-zk",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])],
            [helper.make_tensor_value_info("p", TensorProto.FLOAT, [batch, 1])],
            inits,
        )  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.producer_name = "fairtrail"
        onnx.checker.check_model(model)
        data: bytes = model.SerializeToString()
        return data


def from_sklearn(model: Any, rows: Sequence[dict[str, Any]]) -> tuple[Featurizer, Network]:
    """The featurizer and network of a fitted scikit-learn model; `rows` (the calibration
    data) decide each feature's power-of-two divisor."""
    steps = list(model.steps) if hasattr(model, "steps") else [("model", model)]
    names: list[str]
    kind = "columns"
    vectorizer = scaler = None
    rest = [s for _, s in steps]
    if rest and type(rest[0]).__name__ == "DictVectorizer":
        vectorizer = rest.pop(0)
        kind = "dict"
    if rest and type(rest[0]).__name__ == "StandardScaler":
        scaler = rest.pop(0)
    if len(rest) != 1:
        raise InputError(
            "zk circuits are built for a model, optionally behind a DictVectorizer and a "
            f"StandardScaler; this pipeline has {', '.join(type(s).__name__ for s in rest)}"
        )
    estimator = rest[0]
    if vectorizer is not None:
        names = [str(n) for n in vectorizer.get_feature_names_out()]
    else:
        found = getattr(model, "feature_names_in_", getattr(estimator, "feature_names_in_", None))
        if found is None:
            raise InputError(
                "the model does not record its feature names (fit it on a DataFrame or behind "
                "a DictVectorizer), so fairtrail cannot tell which input is which"
            )
        names = [str(n) for n in found]
    if not names or len(names) > MAX_FEATURES:
        raise InputError(f"zk circuits take 1 to {MAX_FEATURES} features; this model has "
                         f"{len(names)}")  # fmt: skip
    classes = [str(c) for c in getattr(estimator, "classes_", [])]
    if len(classes) != 2:
        raise InputError("zk circuits are built for binary classifiers (two classes)")
    layers, hidden, net_kind = _layers(estimator)
    featurizer = Featurizer(kind, tuple(names), (1.0,) * len(names))
    raw = np.array([featurizer.raw(r) for r in rows]) if rows else np.zeros((0, len(names)))
    peak = np.abs(raw).max(axis=0) if len(raw) else np.ones(len(names))
    divisors = tuple(float(2.0 ** math.ceil(math.log2(max(float(v), 1.0)))) for v in peak)
    featurizer = Featurizer(kind, tuple(names), divisors)
    # fold the scaler, then the divisors, into the first layer: x_raw = x * d
    w0, b0 = layers[0]
    if scaler is not None:
        mean = scaler.mean_ if getattr(scaler, "with_mean", True) and scaler.mean_ is not None \
            else np.zeros(len(names))  # fmt: skip
        scale = scaler.scale_ if getattr(scaler, "with_std", True) and scaler.scale_ is not None \
            else np.ones(len(names))  # fmt: skip
        b0 = b0 - (mean / scale) @ w0
        w0 = w0 / scale[:, None]
    w0 = w0 * np.asarray(divisors)[:, None]
    w0 = np.vstack([w0, np.zeros((SALT_COLUMNS, w0.shape[1]))])
    layers[0] = (w0, b0)
    return featurizer, Network(tuple(layers), hidden, (classes[0], classes[1]), net_kind)


def _layers(
    estimator: Any,
) -> tuple[list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]], str | None, str]:
    name = type(estimator).__name__
    if name == "LogisticRegression":
        coef = np.asarray(estimator.coef_, dtype=np.float64)
        if coef.shape[0] != 1:
            raise InputError("the logistic regression is not binary")
        return [(coef.T.copy(), np.asarray(estimator.intercept_, dtype=np.float64))], None, \
            "logistic-regression"  # fmt: skip
    if name == "MLPClassifier":
        if estimator.out_activation_ != "logistic":
            raise InputError("the MLP's output is not a logistic unit (binary)")
        activation = estimator.activation
        if activation not in _ACTIVATIONS:
            raise InputError(f"MLP activation {activation!r} is not supported")
        pairs = zip(estimator.coefs_, estimator.intercepts_, strict=True)
        layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in pairs]
        if any(w.shape[1] > MAX_WIDTH for w, _ in layers):
            raise InputError(f"MLP layers wider than {MAX_WIDTH} are not supported")
        return layers, _ACTIVATIONS[activation], "mlp"
    raise InputError(
        f"zk circuits support LogisticRegression and MLPClassifier; this model is a {name} "
        "(tree ensembles have no converter to plain ONNX operators that ezkl proves)"
    )


def _apply(op: str | None, h: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if op == "Relu":
        return np.maximum(h, 0.0)
    if op == "Sigmoid":
        return 1.0 / (1.0 + np.exp(-h))
    if op == "Tanh":
        return np.tanh(h)
    return h


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"feature {name!r} is not a number ({str(value)[:40]!r})") from None
    if not math.isfinite(number):
        raise InputError(f"feature {name!r} is not a finite number")
    return number
