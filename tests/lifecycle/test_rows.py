"""Row-level trees: proofs for single rows that verify, reveal no other row, and fail on
any change."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fairtrail.errors import InputError, ProofError
from fairtrail.lifecycle import rows
from fairtrail.lifecycle.rows import RowProof
from fairtrail.log import merkle

SECRET = bytes(range(32))


def _csv(path: Path, n: int, *, crlf: bool = False) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n" if crlf else "\n")
        w.writerow(["id", "sex", "note"])
        for i in range(n):
            note = 'says "hi"\nover two lines' if i % 7 == 3 else f"n{i}"
            w.writerow([i, "F" if i % 2 else "M", note])
    return path


def _records(path: Path) -> list[bytes]:
    with path.open(newline="") as f:
        r = csv.reader(f)
        next(r)
        out = []
        for row in r:
            buf = __import__("io").StringIO()
            csv.writer(buf, lineterminator="\n").writerow(row)
            out.append(buf.getvalue()[:-1].encode())
        return out


@pytest.mark.parametrize("crlf", [False, True])
def test_root_matches_an_independent_computation(tmp_path: Path, crlf: bool) -> None:
    path = _csv(tmp_path / "d.csv", 300, crlf=crlf)
    tree = rows.build_row_tree(path, SECRET)
    recs = _records(path)
    salts = rows.row_salts(SECRET, 0, len(recs))
    # with CRLF endings the records are the same: only the line ending goes, and the
    # line break inside the quoted field is the value's own "\n"
    leaves = [merkle.leaf_hash(salts[32 * i : 32 * i + 32] + r) for i, r in enumerate(recs)]
    assert tree.rows == 300 and tree.root == merkle.root(leaves).hex()
    assert tree.header == ["id", "sex", "note"]


def test_salts_are_random_access() -> None:
    whole = rows.row_salts(SECRET, 0, 100)
    for i in (0, 1, 2, 3, 57, 99):
        assert rows.row_salts(SECRET, i, 1) == whole[32 * i : 32 * i + 32]
    assert rows.row_salts(SECRET, 3, 5) == whole[96:256]


@pytest.mark.parametrize("row", [1, 2, 4, 150, 299, 300])
def test_prove_and_check_every_kind_of_row(tmp_path: Path, row: int) -> None:
    path = _csv(tmp_path / "d.csv", 300)
    root = bytes.fromhex(rows.build_row_tree(path, SECRET).root)
    proof = rows.prove_row(path, SECRET, row)
    rows.verify_row(proof, root)
    again = RowProof.from_dict(json.loads(json.dumps(proof.to_dict())))
    rows.verify_row(again, root)
    assert again.record == _records(path)[row - 1]
    other = rows.prove_row(path, SECRET, 1 if row != 1 else 2)
    disclosed = json.dumps(proof.to_dict())
    assert other.salt.hex() not in disclosed  # no other row's salt is in the proof


def test_changed_record_or_wrong_row_fails(tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv", 100)
    root = bytes.fromhex(rows.build_row_tree(path, SECRET).root)
    proof = rows.prove_row(path, SECRET, 10)
    forged = RowProof(proof.row, proof.rows, proof.record + b"x", proof.salt, proof.hashes, root)
    with pytest.raises(ProofError):
        rows.verify_row(forged, root)
    moved = RowProof(11, proof.rows, proof.record, proof.salt, proof.hashes, root)
    with pytest.raises(ProofError):
        rows.verify_row(moved, root)


def test_chunked_tree_equals_flat_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks exercise the chunk-root path of the streaming tree and of proofs."""
    monkeypatch.setattr(rows, "_CHUNK_LEVEL", 4)
    monkeypatch.setattr(rows, "_CHUNK", 16)
    path = _csv(tmp_path / "d.csv", 100)
    tree = rows.build_row_tree(path, SECRET)
    monkeypatch.undo()
    assert rows.build_row_tree(path, SECRET).root == tree.root
    monkeypatch.setattr(rows, "_CHUNK_LEVEL", 4)
    monkeypatch.setattr(rows, "_CHUNK", 16)
    for row in (1, 16, 17, 64, 65, 100):
        rows.verify_row(rows.prove_row(path, SECRET, row), bytes.fromhex(tree.root))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no header"),
        (b"a,b\n", "no rows"),
        (b"a,b\n1,2\n3\n", "has 1 fields, the header has 2"),
        (b'a,b\n1,"open\n', "never closes"),
        (b"a,b\n1,\xff\n", "not UTF-8"),
    ],
)
def test_bad_csv_is_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        rows.build_row_tree(path, SECRET)


def test_row_out_of_range_and_bad_proof_json(tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv", 5)
    with pytest.raises(InputError, match="outside 1..5"):
        rows.prove_row(path, SECRET, 6)
    with pytest.raises(InputError, match="not a row proof"):
        RowProof.from_dict({"row": "1"})


def test_parquet_rows(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "sex": ["F", None, "M"]}), path)
    tree = rows.build_row_tree(path, SECRET)
    proof = rows.prove_row(path, SECRET, 2)
    assert proof.record == b"[2,null]"
    rows.verify_row(proof, bytes.fromhex(tree.root))
