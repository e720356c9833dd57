"""The few ezkl calls fairtrail makes, each turning ezkl's errors into one-line ones.

ezkl works on files, so every call takes paths. Its Python package is optional
(`pip install 'fairtrail[zk]'`); only the zk commands and the verification of bundles
that carry proofs import it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from fairtrail.errors import FairtrailError, InputError

__all__ = ["ZK_EXTRA", "compress_g1", "ezkl", "input_commitment", "run"]

ZK_EXTRA = "zero-knowledge proofs need ezkl: pip install 'fairtrail[zk]'"


def ezkl() -> ModuleType:
    try:
        import ezkl as module
    except ImportError:
        raise InputError(ZK_EXTRA) from None
    return module


def run(what: str, fn: str, *args: Any, **kwargs: Any) -> Any:
    """ezkl.<fn>(*args), with its exception as a FairtrailError saying what failed."""
    module = ezkl()
    try:
        with quiet():
            return getattr(module, fn)(*args, **kwargs)
    except (RuntimeError, ValueError, OSError) as exc:
        text = str(exc).strip().splitlines()
        raise FairtrailError(f"{what} failed: {text[0] if text else type(exc).__name__}") from None


@contextmanager
def quiet() -> Iterator[None]:
    """ezkl's Rust core prints calibration tables and notices straight to file descriptors
    1 and 2, where they would corrupt a command's output (`--json`) and bury its one-line
    errors; its failures come back as exceptions. So both go to /dev/null meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def compress_g1(x_le: str, y_le: str) -> str:
    """The compressed encoding of a BN254 G1 point ezkl uses (x little-endian, the top bit of
    the last byte set when y is odd), from the coordinates `kzg_commit` returns."""
    x = bytearray(bytes.fromhex(x_le))
    y = bytes.fromhex(y_le)
    if len(x) != 32 or len(y) != 32:
        raise InputError("a G1 coordinate is 32 bytes")
    x[31] |= (y[0] & 1) << 7
    return bytes(x).hex()


def input_commitment(
    felts: list[str], vk: Path, settings: Path, srs: Path
) -> str:
    """The KZG commitment (compressed hex) to a circuit input, as its proof commits to it:
    what a data holder recomputes to check that a proof was made on their data."""
    points = run("committing to the input", "kzg_commit", felts, str(vk), str(settings), str(srs))
    if len(points) != 1:
        raise FairtrailError(f"expected one input commitment, ezkl made {len(points)}")
    return compress_g1(points[0].x, points[0].y)


def read_json(path: Path, what: str, limit: int = 64 << 20) -> Any:
    from fairtrail.crypto.canonical import parse_json

    data = path.read_bytes()
    if len(data) > limit:
        raise InputError(f"{what} is {len(data)} bytes; limit {limit}")
    return parse_json(data, what=what, max_bytes=limit)


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value), encoding="utf-8")
