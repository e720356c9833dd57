"""`zk setup`: build a model's ezkl circuit and record it as a ZkCircuit statement.

The circuit proves P(positive) for a batch of inputs under three visibilities:

* parameters **hashed**: the weights are private, and every proof carries their Poseidon
  hash as its first public value: the *weight commitment* recorded here;
* input **polycommit**: the input is private, and every proof carries a KZG commitment to
  it, which someone holding the input (and its salt) recomputes with the verifying key;
* output **public**: the quantised probabilities are what the proof shows.

The statement records the digests of everything a verifier needs (ONNX network,
settings, verifying key, SRS) so a proof made with another key or settings, or for
other weights, is refused. Files live in `<trail>/zk/<id>/`: the proving key is large
(hundreds of MB for the demo model) and stays there; the verifying key, settings and SRS
travel in evidence bundles.

The SRS (the KZG "powers of tau") is generated locally unless `srs` names a file from a
public ceremony; a locally generated SRS is for testing only, because whoever generated
it could forge proofs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fairtrail import __version__
from fairtrail.errors import FairtrailError, InputError, IntegrityError
from fairtrail.statements.statement import Statement, Subject, predicate_type
from fairtrail.zk import _ezkl
from fairtrail.zk.export import Featurizer, Network, from_sklearn

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Receipt, Trail

__all__ = [
    "CIRCUIT_PREDICATE",
    "Circuit",
    "circuit_at",
    "circuit_folder",
    "latest_circuit",
    "setup_circuit",
    "srs_rows",
]

CIRCUIT_PREDICATE = predicate_type("zk-circuit")
MAX_BATCH = 1000
MAX_SRS_BYTES = 1 << 30
FIDELITY_ROWS = 1000
MIN_INPUT_SCALE = 8  # salt bytes are b/256: they must quantise exactly
_FILES = ("model.onnx", "settings.json", "circuit.ezkl", "vk.key", "pk.key", "kzg.srs")


@dataclass(frozen=True)
class Circuit:
    """A recorded circuit and the folder holding its files."""

    entry: int
    predicate: dict[str, Any]
    folder: Path

    @property
    def batch(self) -> int:
        return int(self.predicate["settings"]["batch"])

    @property
    def featurizer(self) -> Featurizer:
        return Featurizer.from_dict(self.predicate["featurizer"])

    @property
    def weight_commitment(self) -> str:
        return str(self.predicate["weightCommitment"]["poseidon"])

    @property
    def output_scale(self) -> int:
        return int(self.predicate["settings"]["outputScale"])

    @property
    def input_scale(self) -> int:
        return int(self.predicate["settings"]["inputScale"])

    @property
    def classes(self) -> tuple[str, str]:
        negative, positive = self.predicate["classes"]
        return str(negative), str(positive)

    def path(self, name: str) -> Path:
        return self.folder / name


def setup_circuit(
    trail: Trail,
    model: ModelRecord,
    model_file: Path,
    data: Path,
    signer: SigningKey,
    *,
    batch: int = 100,
    srs: Path | None = None,
    trusted_types: Sequence[str] = (),
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[Receipt, Circuit]:
    """Build, key and record the circuit of `model` (read from `model_file`), calibrated on
    the rows of `data`."""
    from fairtrail.audit import data as audit_data
    from fairtrail.audit._predict import _features, _load_skops
    from fairtrail.lifecycle.fingerprint import fingerprint

    if not 1 <= batch <= MAX_BATCH:
        raise InputError(f"--batch must be 1 to {MAX_BATCH}")
    if srs is not None and not srs.is_file():
        raise InputError(f"no such SRS file: {srs}")
    srs_k = srs_rows(srs) if srs is not None else None  # no SRS: fail before calibrating
    ezkl = _ezkl.ezkl()
    sk_model = _load_skops(model_file, trusted_types)
    table = audit_data.read_columns(data, None)
    if table.num_rows == 0:
        raise InputError(f"{data.name} has no rows to calibrate the circuit on")
    rows = table.to_pylist()
    featurizer, network = from_sklearn(sk_model, rows)
    x = featurizer.vectors(rows, [bytes(32)] * len(rows))
    _check_fold(sk_model, network, x, _features(sk_model, table, model_file.name))

    root = trail.paths.root / "zk"
    root.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".setup-", dir=root))
    try:
        progress("exporting the network to ONNX")
        (work / "model.onnx").write_bytes(network.onnx(batch))
        run_args = ezkl.PyRunArgs()
        run_args.input_visibility = "polycommit"
        run_args.param_visibility = "hashed"
        run_args.output_visibility = "public"
        onnx_path, settings, compiled = (str(work / n) for n in _FILES[:3])
        _ezkl.run("generating circuit settings", "gen_settings", onnx_path, settings,
                  py_run_args=run_args)  # fmt: skip
        calibration = _batches(x, batch)[:4]
        _ezkl.write_json(work / "calibration.json",
                         {"input_data": [np.concatenate(calibration).reshape(-1).tolist()]})
        progress("calibrating fixed-point scales on the data")
        _ezkl.run("calibrating the circuit", "calibrate_settings", str(work / "calibration.json"),
                  onnx_path, settings, "resources", scales=list(range(MIN_INPUT_SCALE, 14)))
        # fmt: skip
        settings_value = _ezkl.read_json(work / "settings.json", "settings.json")
        run = settings_value["run_args"]
        logrows = int(run["logrows"])
        _ezkl.run("compiling the circuit", "compile_circuit", onnx_path, compiled, settings)
        if srs is None:
            progress(f"generating a local SRS (2^{logrows}; for testing only)")
            _ezkl.run("generating the SRS", "gen_srs", str(work / "kzg.srs"), logrows)
            srs_source = "generated locally: for testing only, its generator could forge proofs"
        else:
            # ezkl shrinks a bigger SRS again for every witness and proof (28 s per witness
            # measured, 2^16 → 2^15), and a smaller one cannot hold the circuit
            if srs_k != logrows:
                raise InputError(
                    f"{srs.name} is an SRS for 2^{srs_k} rows; this circuit needs the one for "
                    f"exactly 2^{logrows} (ceremony SRS files come one per size, e.g. "
                    f"kzg{logrows}.srs)"
                )
            shutil.copyfile(srs, work / "kzg.srs")
            srs_source = f"file {srs.name}"
        progress(f"generating the proving and verifying keys (2^{logrows} rows)")
        _ezkl.run("generating the keys", "setup", compiled,
                  str(work / "vk.key"), str(work / "pk.key"), str(work / "kzg.srs"))  # fmt: skip
        folder_circuit = Circuit(-1, {"settings": {"batch": batch,
                                                   "outputScale": _output_scale(settings_value),
                                                   "inputScale": int(run["input_scale"])}},
                                 work)  # fmt: skip
        progress("measuring the circuit's numerical fidelity")
        # fidelity on up to 1,000 rows (at most 50 witnesses): witnesses are cheap, proofs not
        measured = _batches(x[: max(FIDELITY_ROWS, 4 * batch)], batch)[:50]
        witnesses = [witness(folder_circuit, b, len(b)) for b in measured]
        commitment = witnesses[0].weight_commitment
        if any(w.weight_commitment != commitment for w in witnesses):
            raise FairtrailError("ezkl gave two weight commitments for one circuit")
        circuit_p = np.concatenate([w.probabilities for w in witnesses])
        float_p = network.forward(np.concatenate(measured))
        fidelity = fidelity_of(circuit_p, float_p)
        digests = {n: _sha256(work / n) for n in _FILES}
        # one folder per compiled circuit (it holds the weights) and key: two models of the
        # same shape share a verifying key, never a folder
        folder = root / folder_name(digests["circuit.ezkl"], digests["vk.key"])
        (work / "calibration.json").unlink(missing_ok=True)
        if folder.exists():  # the very same files already (a repeated setup): keep those
            shutil.rmtree(work)
        else:
            os.replace(work, folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    data_digest = dict(fingerprint(data).subject_digest)
    predicate = {
        "model": {"name": model.name, "entry": model.index, "digest": model.digest},
        "network": {
            "kind": network.kind,
            "layers": [list(w.shape) for w, _ in network.layers],
            "hiddenActivation": network.hidden_activation,
            "onnx": {"sha256": digests["model.onnx"], "opset": 13},
        },
        "classes": list(network.classes),
        "threshold": "positive when the quantised probability exceeds one half",
        "featurizer": featurizer.to_dict(),
        "settings": {
            "sha256": digests["settings.json"],
            "batch": batch,
            "logrows": logrows,
            "inputScale": int(run["input_scale"]),
            "paramScale": int(run["param_scale"]),
            "outputScale": _output_scale(settings_value),
            "visibility": {"input": "polycommit", "params": "hashed", "output": "public"},
        },
        "verifyingKey": {"sha256": digests["vk.key"], "bytes": (folder / "vk.key").stat().st_size},
        "provingKey": {"sha256": digests["pk.key"], "bytes": (folder / "pk.key").stat().st_size},
        "compiledCircuit": {"sha256": digests["circuit.ezkl"]},
        "srs": {"sha256": digests["kzg.srs"], "logrows": logrows, "source": srs_source},
        "weightCommitment": {
            "poseidon": commitment,
            "note": "the first public value of every proof: Poseidon hash of the quantised weights",
        },
        "calibration": {"data": data_digest, "rows": int(sum(len(b) for b in calibration))},
        "fidelity": fidelity,
        "tool": {"name": "fairtrail", "version": __version__, "prover": "ezkl",
                 "proverVersion": _ezkl_version()},  # fmt: skip
        "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    statement = Statement(
        subject=[Subject(name=model.name, digest=model.digest)],
        predicate_type=CIRCUIT_PREDICATE,
        predicate=predicate,
    )
    receipt = trail.record(statement, signer)
    return receipt, Circuit(receipt.index, predicate, folder)


@dataclass(frozen=True)
class Witness:
    raw: dict[str, Any]
    probabilities: npt.NDArray[np.float64]  # real rows only
    outputs: list[int]  # quantised, real rows only
    weight_commitment: str
    input_commitment: str


def witness(circuit: Circuit, x: npt.NDArray[np.float64], real: int) -> Witness:
    """The ezkl witness of one batch of circuit inputs (padded with zero rows)."""
    ezkl = _ezkl.ezkl()
    padded = np.zeros((circuit.batch, x.shape[1]))
    padded[: len(x)] = x
    with tempfile.TemporaryDirectory(prefix=".witness-", dir=circuit.folder) as tmp:
        _ezkl.write_json(Path(tmp) / "input.json", {"input_data": [padded.reshape(-1).tolist()]})
        _ezkl.run("computing the witness", "gen_witness", str(Path(tmp) / "input.json"),
                  str(circuit.path("circuit.ezkl")), str(Path(tmp) / "witness.json"),
                  str(circuit.path("vk.key")), str(circuit.path("kzg.srs")))  # fmt: skip
        raw = _ezkl.read_json(Path(tmp) / "witness.json", "witness")
    outputs = [int(ezkl.felt_to_int(f)) for f in raw["outputs"][0][:real]]
    scale = 2.0 ** circuit.output_scale
    try:
        weight = str(raw["processed_params"]["poseidon_hash"][0])
        commitment = str(raw["processed_inputs"]["polycommit"][0][0])
    except (KeyError, IndexError, TypeError):
        raise FairtrailError("ezkl's witness lacks the weight or input commitment") from None
    return Witness(raw, np.asarray(outputs, np.float64) / scale, outputs, weight, commitment)


def fidelity_of(
    circuit_p: npt.NDArray[np.float64], float_p: npt.NDArray[np.float64]
) -> dict[str, Any]:
    """Quantisation error of the circuit against the float model, and decision flips."""
    error = np.abs(circuit_p - float_p)
    return {
        "rows": int(len(error)),
        "maxAbsError": float(round(float(error.max()), 8)) if len(error) else 0.0,
        "meanAbsError": float(round(float(error.mean()), 8)) if len(error) else 0.0,
        "flips": int(np.sum((circuit_p > 0.5) != (float_p > 0.5))),
    }


def latest_circuit(trail: Trail, model: ModelRecord) -> Circuit:
    """The newest ZkCircuit of `model`, its files checked against the statement."""
    for index in reversed(trail.indices_about(model.digest, CIRCUIT_PREDICATE)):
        return circuit_at(trail, index)
    raise InputError(f"model {model.name} has no zk circuit; run `fairtrail zk setup` first")


def circuit_at(trail: Trail, index: int) -> Circuit:
    _, st = trail.statement(index)
    if st.predicate_type != CIRCUIT_PREDICATE:
        raise InputError(f"entry {index} is not a ZkCircuit statement")
    p = st.predicate
    folder = circuit_folder(trail, p)
    for name, want in (("vk.key", p["verifyingKey"]["sha256"]),
                       ("settings.json", p["settings"]["sha256"]),
                       ("kzg.srs", p["srs"]["sha256"]),
                       ("circuit.ezkl", p["compiledCircuit"]["sha256"])):  # fmt: skip
        path = folder / name
        if not path.is_file():
            raise InputError(f"this trail does not hold the circuit files of entry {index} "
                             f"({path} is missing); run `fairtrail zk setup` again")  # fmt: skip
        if _sha256(path) != want:
            raise IntegrityError(f"{path} does not match the digest in ZkCircuit entry {index}")
    if not (folder / "pk.key").is_file():
        raise InputError(f"the proving key of circuit entry {index} is missing ({folder})")
    return Circuit(index, p, folder)


def srs_rows(path: Path) -> int:
    """log2 of the rows a KZG SRS file (halo2's raw format, as ezkl and its ceremony files
    write it) is for, checked against the file's size so a truncated file is refused."""
    size = path.stat().st_size
    if size > MAX_SRS_BYTES:
        raise InputError(f"{path.name} is over {MAX_SRS_BYTES} bytes")
    with path.open("rb") as f:
        head = f.read(4)
    k = int.from_bytes(head, "little") if len(head) == 4 else 0
    # k (u32), then 2^k G1 points and their Lagrange basis (64 bytes each), then 2 G2 points
    if not 1 <= k <= 30 or size != 4 + (2**k) * 128 + 256:
        raise InputError(f"{path.name} is not a KZG SRS file (halo2's raw format, as ezkl's)")
    return k


def folder_name(compiled_sha256: str, vk_sha256: str) -> str:
    return hashlib.sha256(f"{compiled_sha256}:{vk_sha256}".encode()).hexdigest()[:24]


def circuit_folder(trail: Trail, predicate: dict[str, Any]) -> Path:
    """Where the trail keeps the files of the ZkCircuit `predicate`."""
    name = folder_name(str(predicate["compiledCircuit"]["sha256"]),
                       str(predicate["verifyingKey"]["sha256"]))  # fmt: skip
    return trail.paths.root / "zk" / name


def _batches(x: npt.NDArray[np.float64], batch: int) -> list[npt.NDArray[np.float64]]:
    return [x[i : i + batch] for i in range(0, len(x), batch)]


def _check_fold(model: Any, network: Network, x: npt.NDArray[np.float64], features: Any) -> None:
    """The exported network must compute what the fitted model computes (float64)."""
    try:
        want = np.asarray(model.predict_proba(features), np.float64)[:, 1]
    except Exception as exc:
        raise InputError(f"the model could not score the calibration data: {exc}") from None
    got = network.forward(x)
    worst = float(np.abs(want - got).max())
    if worst > 1e-6:
        raise FairtrailError(
            f"the exported network differs from the model by {worst:.2e} on the data; "
            "this model's structure is not supported"
        )


def _output_scale(settings: dict[str, Any]) -> int:
    scales = settings.get("model_output_scales") or []
    if len(scales) != 1:
        raise FairtrailError("the circuit must have exactly one output")
    return int(scales[0])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _ezkl_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ezkl")
    except PackageNotFoundError:
        return "unknown"


def file_digest(path: Path) -> str:
    return _sha256(path)
