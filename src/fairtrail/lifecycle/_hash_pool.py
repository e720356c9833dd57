"""Hash the files of a tree in child processes, fed while the tree is still being walked.

The parent half of `_hash_worker` (see its docstring for why processes). Files are sent
in chunks to whichever child has the fewest outstanding, so one large file does not
leave the other cores idle; one reader thread per child parses its records as they
arrive (the threads mostly wait on pipes, so they do not hold the GIL).
"""

from __future__ import annotations

import collections
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from fairtrail.errors import InputError

__all__ = ["hash_streamed"]

#: Files per chunk sent to a child: large enough to amortise a pipe write, small enough
#: to keep the children evenly loaded.
CHUNK = 128
_DIGEST_SIZE = {"sha256": 32, "blake3": 32}
_WORKER = str(Path(__file__).with_name("_hash_worker.py"))
_LEN = struct.Struct(">H")

Item = tuple[str, str, int, str]  # (relative path, path, size, kind) as `_walk` yields


class _Child:
    def __init__(self, algorithm: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", _WORKER, algorithm],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.pending: collections.deque[tuple[str, int]] = collections.deque()
        self.sent = 0
        self.done = 0

    def send(self, chunk: list[Item]) -> None:
        frames = [_LEN.pack(len(chunk))]
        for rel, path, size, _ in chunk:
            raw = os.fsencode(path)
            frames.append(_LEN.pack(len(raw)) + raw)
            self.pending.append((rel, size))
        self.sent += len(chunk)
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"".join(frames))
        self.proc.stdin.flush()


def hash_streamed(
    items: Iterable[Item],
    algorithm: str,
    count: int,
    found: Callable[[int], None],
    hashed: Callable[[str, int, int, str], None],
) -> list[Item]:
    """Hash every regular file in `items` with `count` child processes.

    Calls `found(size)` for each file as it is walked (size -1: not known yet) and
    `hashed(rel, walked size, size, hexdigest)` from reader threads as each digest
    arrives. Returns every item walked. Raises
    `InputError` for the first file that could not be read; the children are always
    stopped before this returns or raises (also on Ctrl-C).
    """
    digest_size = _DIGEST_SIZE[algorithm]
    errors: list[str] = []
    children: list[_Child] = []

    def read(child: _Child) -> None:
        out = child.proc.stdout
        assert out is not None
        try:
            while kind := out.read(1):
                rel, walked = child.pending.popleft()
                if kind == b"O":
                    record = out.read(8 + digest_size)
                    hashed(rel, walked, int.from_bytes(record[:8], "big"), record[8:].hex())
                else:
                    message = out.read(_LEN.unpack(out.read(2))[0])
                    errors.append(message.decode("utf-8", "replace"))
                child.done += 1
        except Exception as exc:  # a truncated record: the child died mid-write
            errors.append(f"a hashing process failed: {exc}")
        if child.pending and not errors:
            errors.append("a hashing process stopped unexpectedly; nothing was recorded")

    walked: list[Item] = []
    readers: list[threading.Thread] = []
    try:
        for _ in range(count):
            child = _Child(algorithm)
            children.append(child)
            reader = threading.Thread(target=read, args=(child,), daemon=True)
            reader.start()
            readers.append(reader)
        chunk: list[Item] = []
        for item in items:
            walked.append(item)
            if item[3] != "file":
                continue
            found(item[2])
            chunk.append(item)
            if len(chunk) == CHUNK:
                _dispatch(children, chunk, errors)
                chunk = []
        if chunk:
            _dispatch(children, chunk, errors)
        for child in children:
            assert child.proc.stdin is not None
            child.proc.stdin.close()
        for reader in readers:
            reader.join()
    finally:
        for child in children:
            if child.proc.poll() is None and (errors or any(r.is_alive() for r in readers)):
                child.proc.kill()
            child.proc.wait()
            for pipe in (child.proc.stdin, child.proc.stdout):
                if pipe is not None and not pipe.closed:
                    try:
                        pipe.close()
                    except BrokenPipeError:
                        pass
    if errors:
        raise InputError(errors[0])
    return walked


def _dispatch(children: list[_Child], chunk: list[Item], errors: list[str]) -> None:
    if errors:
        raise InputError(errors[0])
    child = min(children, key=lambda c: c.sent - c.done)
    try:
        child.send(chunk)
    except BrokenPipeError:
        raise InputError(
            errors[0] if errors else "a hashing process stopped unexpectedly"
        ) from None
