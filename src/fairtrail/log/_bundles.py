"""Entry bundles: several consecutive entries stored in one database row.

Why: a row per entry made the SQLite insert the cost of an append (about 3 µs of the
4.6 µs per leaf, measured with bench/bench_log.py), far more than hashing. Packing up
to `MAX_ENTRIES` entries into one row cuts that several times over, and makes the full
integrity scan cheaper too. The idea is the entry bundle of C2SP tlog-tiles, but
bundles here are not aligned to tiles: a bundle is a slice of one append batch, so a
row is written once and never rewritten (a one-entry append is a one-entry bundle).

A bundle row is (first index, lengths, data): `lengths` holds one unsigned 32-bit
big-endian length per entry, `data` the entries back to back. Nothing here is trusted
on read: a bundle whose lengths do not add up is reported as damage at its first index.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from fairtrail.errors import IntegrityError

#: At most this many entries share one row...
MAX_ENTRIES = 64
#: ...and a bundle stops growing once it holds this many bytes (one big entry is alone).
MAX_BYTES = 256 * 1024

_LEN = 4


def pack(first: int, entries: Sequence[bytes]) -> list[tuple[int, bytes, bytes]]:
    """Split `entries` (starting at index `first`) into bundle rows."""
    rows: list[tuple[int, bytes, bytes]] = []
    start, n = 0, len(entries)
    while start < n:
        end, size = start, 0
        while end < n and end - start < MAX_ENTRIES and (size < MAX_BYTES or end == start):
            size += len(entries[end])
            end += 1
        chunk = entries[start:end]
        lengths = struct.pack(f">{len(chunk)}I", *map(len, chunk))
        rows.append((first + start, lengths, b"".join(chunk)))
        start = end
    return rows


def count(lengths: bytes) -> int:
    """How many entries a bundle with this `lengths` field claims to hold."""
    return len(lengths) // _LEN


def unpack(first: int, lengths: bytes, data: bytes) -> list[bytes]:
    """The entries of one stored bundle; `IntegrityError` if the row is malformed."""
    if not lengths or len(lengths) % _LEN:
        raise IntegrityError(
            f"the stored bundle starting at entry {first} is damaged (bad length table)",
            index=first,
        )
    out: list[bytes] = []
    pos = 0
    for length in struct.unpack(f">{len(lengths) // _LEN}I", lengths):
        end = pos + length
        out.append(data[pos:end])
        pos = end
    if pos != len(data):
        raise IntegrityError(
            f"the stored bundle starting at entry {first} is damaged "
            f"(its lengths add up to {pos} bytes, it holds {len(data)})",
            index=first,
        )
    return out
