"""Row-level Merkle trees over tabular data: prove one record was in a dataset, and
reveal nothing about any other record.

Leaf of data row i (0-based; users count rows from 1): `SHA-256(0x00 || salt_i || record)`
where `record` is the row's bytes as stored in the CSV file (without its line ending)
or, for Parquet, the RFC 8785 JSON array of its values. The tree is RFC 9162 over the
leaves in file order, so `fairtrail.log.merkle.verify_inclusion` checks a row proof.

Why salts, and why derived this way: a proof carries the hashes of neighbouring
subtrees. Without a salt, the sibling *leaf* of a low-entropy row (say "F,34,approved")
could be guessed and confirmed by hashing candidates. Salt i is 32 bytes of ChaCha20
keystream under a per-dataset secret that never enters the log (bytes 32·i..32·i+31),
so a proof discloses only its own row's salt, and every other salt stays unpredictable.
A stream cipher gives a salt per row at memory speed, where an HMAC per row would cost
more than the rest of the tree.

The tree is built in chunks of 65,536 rows, one tree level at a time; memory does not
grow with the number of rows.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from fairtrail.crypto.canonical import canonical_json
from fairtrail.errors import InputError
from fairtrail.log import merkle
from fairtrail.log._tiles import perfect_root, push_range, pyramid

__all__ = ["RowProof", "RowTree", "build_row_tree", "prove_row", "row_salts", "verify_row"]

SECRET_BYTES = 32
SALT_BYTES = 32
_CHUNK_LEVEL = 16
_CHUNK = 1 << _CHUNK_LEVEL
_READ = 8 << 20
MAX_RECORD_BYTES = 1 << 20


@dataclass(frozen=True)
class RowTree:
    root: str  # hex
    rows: int
    header: list[str]
    format: str  # "csv" or "parquet"

    def describe(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "rows": self.rows,
            "tree": "rfc9162-sha256",
            "leaf": (
                "SHA-256(0x00 || salt || record); record = the CSV row's bytes without line ending"
                if self.format == "csv"
                else "SHA-256(0x00 || salt || record); record = RFC 8785 JSON array of the values"
            ),
            "salt": "ChaCha20 keystream under a per-dataset secret kept off the log, 32 bytes/row",
        }


@dataclass(frozen=True)
class RowProof:
    """Everything needed to check that one row was in a dataset, and nothing more."""

    row: int  # 1-based
    rows: int
    record: bytes
    salt: bytes
    hashes: list[bytes]
    root: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "rows": self.rows,
            "record": self.record.decode("utf-8"),
            "salt": self.salt.hex(),
            "hashes": [h.hex() for h in self.hashes],
            "root": self.root.hex(),
        }

    @classmethod
    def from_dict(cls, value: Any) -> RowProof:
        try:
            return cls(
                row=_int(value["row"]),
                rows=_int(value["rows"]),
                record=str(value["record"]).encode("utf-8"),
                salt=bytes.fromhex(value["salt"]),
                hashes=[bytes.fromhex(h) for h in value["hashes"]],
                root=bytes.fromhex(value["root"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"not a row proof: {exc}") from None


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def row_salts(secret: bytes, first: int, count: int) -> bytes:
    """Salts of rows [first, first + count), concatenated (ChaCha20 keystream)."""
    if len(secret) != SECRET_BYTES:
        raise InputError("a dataset secret is 32 bytes")
    block, skip = divmod(first * SALT_BYTES, 64)
    # cryptography's 16-byte ChaCha20 nonce = 4-byte little-endian block counter || 12-byte nonce
    nonce = block.to_bytes(4, "little") + bytes(12)
    if block + (skip + count * SALT_BYTES) // 64 + 1 > 1 << 32:
        raise InputError("too many rows for one dataset secret")
    stream = Cipher(algorithms.ChaCha20(secret, nonce), None).encryptor()
    return stream.update(bytes(skip + count * SALT_BYTES))[skip:]


def iter_records(path: Path) -> tuple[list[str], str, Iterator[list[bytes]]]:
    """(header, format, chunks of record bytes) for a CSV or Parquet file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet_records(path)
    if suffix == ".csv":
        return _csv_records(path)
    raise InputError(f"{path}: row trees need a .csv or .parquet file")


def build_row_tree(
    path: Path, secret: bytes, progress: Callable[[int], None] | None = None
) -> RowTree:
    header, fmt, chunks = iter_records(path)
    compact: list[bytes] = []
    done = 0
    for records in chunks:
        hashes = _leaf_hashes(records, secret, done)
        if len(records) == _CHUNK:
            merkle.compact_push(compact, done, _CHUNK_LEVEL, perfect_root(hashes))
        else:  # the last, partial chunk: largest aligned subtrees first
            push_range(compact, done, done + len(hashes), pyramid(hashes))
        done += len(records)
        if progress is not None:
            progress(done)
    if done == 0:
        raise InputError(f"{path} has a header but no rows")
    return RowTree(merkle.compact_root(compact).hex(), done, header, fmt)


def prove_row(path: Path, secret: bytes, row: int) -> RowProof:
    """A proof for data row `row` (1-based): two streaming passes over the file, constant memory."""
    _, _, chunks = iter_records(path)
    # First learn the size and the record, then which subtrees the proof needs, then
    # compute exactly those in a second pass.
    size = 0
    record: bytes | None = None
    for records in chunks:
        if record is None and size <= row - 1 < size + len(records):
            record = records[row - 1 - size]
        size += len(records)
    if not 1 <= row <= size or record is None:
        raise InputError(f"row {row} is outside 1..{size}")
    needed: list[tuple[int, int]] = []

    def note(level: int, index: int) -> bytes:
        needed.append((level, index))
        return bytes(32)

    merkle.inclusion_proof(row - 1, size, note)
    values: dict[tuple[int, int], list[bytes]] = {node: [] for node in needed}
    tree: list[bytes] = []  # compact range over every row: the root to prove against
    _, _, chunks = iter_records(path)
    done = 0
    for records in chunks:
        levels = pyramid(_leaf_hashes(records, secret, done))
        end = done + len(records)
        for (lvl, i), compact in values.items():
            lo, hi = i << lvl, (i + 1) << lvl
            if done <= lo and hi <= end:  # inside this chunk: read it off the pyramid
                compact.append(levels[lvl][(lo - done) >> lvl])
            elif lo <= done and end <= hi:  # spans whole chunks (aligned, so only full ones)
                merkle.compact_push(compact, done - lo, _CHUNK_LEVEL, levels[_CHUNK_LEVEL][0])
        push_range(tree, done, end, levels)
        done = end
    if done != size:
        raise InputError(f"{path} changed while it was read")
    proof = merkle.inclusion_proof(
        row - 1, size, lambda lvl, i: merkle.compact_root(values[(lvl, i)])
    )
    return RowProof(
        row, size, record, row_salts(secret, row - 1, 1), proof, merkle.compact_root(tree)
    )


def verify_row(proof: RowProof, root: bytes) -> None:
    """Raise `ProofError` unless `proof` shows its record at its row under `root`."""
    leaf = merkle.leaf_hash(proof.salt + proof.record)
    merkle.verify_inclusion(leaf, proof.row - 1, proof.rows, proof.hashes, root)


# --------------------------------------------------------------------- internals


def _leaf_hashes(records: list[bytes], secret: bytes, first: int) -> list[bytes]:
    salts = row_salts(secret, first, len(records))
    sha = merkle._sha256
    return [
        sha(b"\x00" + salts[32 * n : 32 * n + 32] + rec).digest() for n, rec in enumerate(records)
    ]


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("row numbers are integers")
    return value


def _csv_records(path: Path) -> tuple[list[str], str, Iterator[list[bytes]]]:
    """Records of a UTF-8 CSV file as raw bytes (header split off), in chunks of 2**16.

    Physical lines are joined into one record while a quoted field is open (an odd
    number of `"` so far: RFC 4180 doubles quotes inside quotes). Every record must
    have as many fields as the header, checked by the csv module.
    """
    try:
        f = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    first_line = f.readline(MAX_RECORD_BYTES + 1)
    try:
        header_text = first_line.decode("utf-8-sig").rstrip("\r\n")
        header = next(csv.reader([header_text]), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        f.close()
        raise InputError(f"{path}: the header line is not UTF-8 CSV ({exc})") from None
    if not header or not any(header):
        f.close()
        raise InputError(f"{path}: no header line (a CSV with column names is needed)")
    width = len(header)

    def chunks() -> Iterator[list[bytes]]:
        line_no = 1
        pending: list[bytes] = []
        carry = b""
        open_record: list[bytes] = []
        with f:
            while True:
                block = f.read(_READ)
                if not block:
                    break
                lines = (carry + block).split(b"\n")
                carry = lines.pop()
                if len(carry) > MAX_RECORD_BYTES:
                    raise InputError(f"{path}: a line after line {line_no} is over 1 MiB")
                line_no = _take(lines, pending, open_record, path, line_no, width)
                while len(pending) >= _CHUNK:
                    yield pending[:_CHUNK]
                    del pending[:_CHUNK]
            if carry:
                line_no = _take([carry], pending, open_record, path, line_no, width)
            if open_record:
                raise InputError(f"{path}: a quoted field opened near line {line_no} never closes")
            while pending:
                yield pending[:_CHUNK]
                del pending[:_CHUNK]

    return header, "csv", chunks()


def _take(
    lines: list[bytes],
    out: list[bytes],
    open_record: list[bytes],
    path: Path,
    line_no: int,
    width: int,
) -> int:
    """Turn physical lines into records, checked; return the updated line number."""
    records: list[bytes]
    if not open_record and b'"' not in b"".join(lines):  # the common case, at C speed
        records = lines
        if any(ln.endswith(b"\r") for ln in lines[:1]) or b"\r" in b"".join(lines):
            records = [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]
    else:
        records = []
        for ln in lines:
            open_record.append(ln)
            joined = b"\n".join(open_record)
            if joined.count(b'"') % 2 == 0:
                records.append(joined[:-1] if joined.endswith(b"\r") else joined)
                open_record.clear()
            elif len(joined) > MAX_RECORD_BYTES:
                raise InputError(f"{path}: a record near line {line_no} is over 1 MiB")
    records = list(filter(None, records))  # blank lines are not rows
    start = line_no
    try:
        text = b"\n".join(records).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 near line {start + 1} ({exc.reason})") from None
    try:
        widths = set(map(len, csv.reader(io.StringIO(text), strict=True)))
        if widths - {width}:
            for n, row in enumerate(csv.reader(io.StringIO(text), strict=True)):
                if len(row) != width:
                    raise InputError(
                        f"{path}: row {start + n} has {len(row)} fields, the header has {width}"
                    )
    except csv.Error as exc:
        raise InputError(f"{path}: not valid CSV near line {start + 1} ({exc})") from None
    out.extend(records)
    return line_no + len(lines)


def _parquet_records(path: Path) -> tuple[list[str], str, Iterator[list[bytes]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - declared dependency
        raise InputError("Parquet needs the `pyarrow` package") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    header = list(pf.schema_arrow.names)

    def chunks() -> Iterator[list[bytes]]:
        pending: list[bytes] = []
        for batch in pf.iter_batches(batch_size=_CHUNK):
            columns = batch.to_pydict()
            names = list(columns)
            for values in zip(*(columns[c] for c in names), strict=True):
                pending.append(canonical_json([_jsonable(v) for v in values]))
            while len(pending) >= _CHUNK:
                yield pending[:_CHUNK]
                del pending[:_CHUNK]
        if pending:
            yield pending

    return header, "parquet", chunks()


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return str(value)
