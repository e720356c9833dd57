"""Stored subtree hashes, arranged as tiles (the C2SP tlog-tiles layout, height 8).

A tile at level T, index i holds up to 256 consecutive hashes of tree level 8*T:
level 0 tiles hold leaf hashes, a level 1 tile holds the roots of 256 full level 0
tiles, and so on. Any perfect subtree hash is then at most 128 hashes away from a
stored one, so a proof needs O(log n / 8) tile reads and a few hundred SHA-256 calls,
whatever the size of the log. Tiles only ever grow: a partial tile is rewritten with
more hashes appended, a full tile never changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH_SIZE = 32
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE

_sha256 = hashlib.sha256


def split_hashes(blob: bytes) -> list[bytes]:
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


def perfect_root(hashes: list[bytes]) -> bytes:
    """Root of a perfect subtree given its bottom row (length a power of two)."""
    row = hashes
    while len(row) > 1:
        row = [_sha256(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row), 2)]
    return row[0]


def tile_width_at(size: int, level: int, index: int) -> int:
    """How many hashes tile (level, index) holds in a tree of `size` leaves."""
    count = size >> (TILE_HEIGHT * level)  # hashes stored at this tile level
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def locate(level: int, index: int) -> tuple[int, int, int, int]:
    """Where the perfect subtree (level, index) lives: (tile level, tile index, offset, count)."""
    tile_level, rest = divmod(level, TILE_HEIGHT)
    first = index << rest
    return tile_level, first >> TILE_HEIGHT, first & (TILE_WIDTH - 1), 1 << rest


@dataclass
class TileFrontier:
    """The rightmost, partial tile of every level: what an append has to extend.

    `partial[T]` holds the hashes already in the incomplete tile of level T.
    """

    size: int = 0
    partial: list[bytes] = field(default_factory=list)

    def extend(self, leaf_hashes: list[bytes]) -> tuple[TileFrontier, dict[tuple[int, int], bytes]]:
        """Return the frontier after appending `leaf_hashes`, and every tile that changed.

        Pure: `self` is left untouched, so a failed transaction can simply be dropped.
        """
        new_size = self.size + len(leaf_hashes)
        partial = list(self.partial)
        writes: dict[tuple[int, int], bytes] = {}
        level, incoming = 0, leaf_hashes
        while incoming:
            if level == len(partial):
                partial.append(b"")
            buf = bytearray(partial[level])
            tile_index = (self.size >> (TILE_HEIGHT * level)) >> TILE_HEIGHT
            completed: list[bytes] = []
            pos = 0
            while pos < len(incoming):
                room = TILE_WIDTH - len(buf) // HASH_SIZE
                chunk = incoming[pos : pos + room]
                pos += len(chunk)
                buf += b"".join(chunk)
                if len(buf) == FULL_TILE_BYTES:
                    full = bytes(buf)
                    writes[(level, tile_index)] = full
                    completed.append(perfect_root(split_hashes(full)))
                    tile_index += 1
                    buf = bytearray()
            if buf:
                writes[(level, tile_index)] = bytes(buf)
            partial[level] = bytes(buf)
            level, incoming = level + 1, completed
        return TileFrontier(new_size, partial), writes
