"""Hash a list of files in a separate process: the small-file half of `fingerprint`.

Why a process: hashing a 16 KiB file takes about as long as the Python around it (open,
read, close), and that part holds the GIL, so threads cannot use a second core for trees
of many small files. Plain child processes can, and starting one costs ~15 ms.

Why a script and not `multiprocessing`: forking a process that may hold threads (a
progress bar, a server) is unsafe, and spawn/forkserver would import all of fairtrail in
every child. This file imports only the standard library (and `blake3` when asked), so
the parent runs it with `python -I` and talks to it over pipes.

Protocol. argv[1] names the algorithm. stdin: chunks, each a 2-byte big-endian file
count followed by that many (2-byte length, path bytes) frames; end of input ends the
work. stdout, one record per path in order, flushed after each chunk: `b"O"` + size
(8 bytes, big-endian) + raw digest; or `b"E"` + message length (2 bytes) + UTF-8 message.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import sys
from typing import Any

BLOCK = 1 << 20
# O_NONBLOCK: a FIFO swapped in after the walk must be refused by the fstat check, not
# block the open forever waiting for a writer (it changes nothing for regular files).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def _hasher(algorithm: str) -> Any:
    if algorithm == "sha256":
        return hashlib.sha256
    if algorithm == "blake3":
        import blake3

        return blake3.blake3
    raise SystemExit(f"unknown algorithm {algorithm!r}")


def _error(out: Any, message: str) -> None:
    data = message.encode("utf-8", "replace")[:4096]
    out.write(b"E" + struct.pack(">H", len(data)) + data)


def main() -> None:
    source = sys.stdin.buffer
    out = sys.stdout.buffer
    new = _hasher(sys.argv[1])
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    pack = struct.Struct(">Q").pack
    while header := source.read(2):
        for _ in range(int.from_bytes(header, "big")):
            path = source.read(int.from_bytes(source.read(2), "big"))
            _hash_one(path, new, buf, view, out, pack)
        out.flush()


def _hash_one(path: bytes, new: Any, buf: bytearray, view: memoryview, out: Any, pack: Any) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError as exc:
        _error(out, f"cannot read {os.fsdecode(path)}: {exc.strerror}")
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            _error(out, f"{os.fsdecode(path)} is not a regular file")
            return
        hasher = new()
        size = 0
        while n := os.readv(fd, [buf]):
            hasher.update(view[:n])
            size += n
        out.write(b"O" + pack(size) + hasher.digest())
    except OSError as exc:
        _error(out, f"cannot read {os.fsdecode(path)}: {exc.strerror}")
    finally:
        os.close(fd)


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):  # the parent stopped: leave quietly
        os._exit(130)
