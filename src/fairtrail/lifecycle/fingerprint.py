"""Fingerprints: a file or a folder tree reduced to one digest an auditor can recompute.

A fingerprint is a *manifest*: one entry per regular file (relative POSIX path, size,
content digest), sorted by path, and an RFC 9162 Merkle root over the entries. The
root is what goes into statements; the manifest says exactly how it was made
(algorithm, tree, leaf encoding), so anyone can recompute it without fairtrail.

Why a Merkle root and not a hash of a listing: one file's membership can later be
proved with a short inclusion proof, without shipping the whole manifest.

Files are read in 1 MiB blocks (constant memory). Trees of large files are hashed by a
pool of threads (`hashlib` and `blake3` release the GIL while hashing, so the threads use
every core); trees of many small files by one child process per core (`_hash_pool`),
because there the Python around each file, not hashing, is the bottleneck. Symlinks and
special files are never followed: they are refused with a clear error, or (if asked)
recorded as what they are. A symlink's target is recorded as text, never resolved.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fairtrail.errors import InputError
from fairtrail.lifecycle import _hash_pool
from fairtrail.log import merkle

__all__ = [
    "ALGORITHMS",
    "FileEntry",
    "Fingerprint",
    "fingerprint",
    "hash_file",
]

ALGORITHMS = ("sha256", "blake3")
BLOCK = 1 << 20
SymlinkPolicy = Literal["refuse", "record"]
#: Progress callback: (bytes done, bytes total, files done, files total).
Progress = Callable[[int, int, int, int], None]


@dataclass(frozen=True)
class FileEntry:
    """One manifest entry. `kind` is "file", or "symlink" (then `digest` hashes the target
    text and `target` holds it)."""

    path: str
    size: int
    digest: str
    kind: str = "file"
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "size": self.size, "digest": self.digest}
        if self.kind != "file":
            out["kind"] = self.kind
            out["target"] = self.target
        return out

    def leaf(self) -> bytes:
        """The Merkle leaf: RFC 8785 canonical JSON of the entry.

        For this fixed shape (ASCII keys, strings, a non-negative integer) the standard
        library's sorted, compact, non-ASCII-escaping JSON is byte-identical to RFC 8785
        (tests/lifecycle check it against `rfc8785` on arbitrary paths) and much faster
        than the general encoder, which matters for trees of many small files.
        """
        if self.kind == "file":  # the common case, assembled directly (keys in RFC 8785 order)
            path = json.dumps(self.path, ensure_ascii=False)
            return f'{{"digest":"{self.digest}","path":{path},"size":{self.size}}}'.encode()
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")


@dataclass(frozen=True)
class Fingerprint:
    """The fingerprint of a file or a tree."""

    algorithm: str
    kind: Literal["file", "tree"]
    root: str  # hex: the file's digest, or the Merkle root of a tree's manifest
    files: int
    size: int
    entries: list[FileEntry] = field(repr=False)

    @property
    def digest_name(self) -> str:
        """The in-toto digest key: plain `sha256`/`blake3` for a file (what `sha256sum`
        prints), `<alg>-manifest` for a tree (a Merkle root, not a content hash)."""
        return self.algorithm if self.kind == "file" else f"{self.algorithm}-manifest"

    @property
    def subject_digest(self) -> dict[str, str]:
        return {self.digest_name: self.root}

    def describe(self, *, with_entries: bool | None = None) -> dict[str, Any]:
        """What a statement records about how this digest was made (and, for small trees,
        the manifest itself)."""
        out: dict[str, Any] = {
            "algorithm": self.algorithm,
            "kind": self.kind,
            "digest": self.subject_digest,
            "files": self.files,
            "bytes": self.size,
        }
        if self.kind == "tree":
            out["tree"] = "rfc9162-sha256"
            out["leaf"] = "rfc8785 JSON of {path, size, digest[, kind, target]}, sorted by path"
            if with_entries or (with_entries is None and self.files <= 256):
                out["entries"] = [e.to_dict() for e in self.entries]
        return out

    def manifest(self) -> dict[str, Any]:
        return self.describe(with_entries=True)

    def inclusion_proof(self, path: str) -> tuple[int, list[bytes]]:
        """(index, RFC 9162 inclusion proof) of the entry at `path` against the root."""
        if self.kind != "tree":
            raise InputError("a single-file fingerprint has no manifest to prove against")
        for index, entry in enumerate(self.entries):
            if entry.path == path:
                hashes = [merkle.leaf_hash(e.leaf()) for e in self.entries]
                return index, merkle.inclusion_proof(index, len(hashes), _subtree_from_list(hashes))
        raise InputError(f"{path} is not in the manifest")


def hash_file(
    path: str | os.PathLike[str],
    algorithm: str = "sha256",
    progress: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """(hex digest, size) of one regular file, read in constant memory."""
    hasher = _new_hasher(algorithm)
    size = 0
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path} is not a regular file")
        if algorithm == "blake3" and st.st_size >= 16 * BLOCK:
            # blake3 hashes a memory-mapped file with all cores, as b3sum does
            hasher.update_mmap(path)
            size = st.st_size
            if progress is not None:
                progress(size)
        else:
            # Read into one reused buffer: `os.read(fd, BLOCK)` allocates (and then
            # shrinks) a 1 MiB object per call, which cost more than hashing a small file.
            buf = _buffer()
            view = memoryview(buf)
            while n := os.readv(fd, [buf]):
                hasher.update(view[:n])
                size += n
                if progress is not None:
                    progress(n)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return hasher.hexdigest(), size


# O_NONBLOCK: a FIFO swapped in after the walk must be refused by the fstat check, not
# block the open forever waiting for a writer (it changes nothing for regular files).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_local = threading.local()


def _buffer() -> bytearray:
    """One read buffer per thread, reused: allocating 1 MiB per file dominated small trees."""
    buf: bytearray | None = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(BLOCK)
    return buf


def fingerprint(
    path: str | os.PathLike[str],
    *,
    algorithm: str = "sha256",
    ignore: Sequence[str] = (),
    symlinks: SymlinkPolicy = "refuse",
    workers: int | None = None,
    processes: bool | None = None,
    progress: Progress | None = None,
) -> Fingerprint:
    """Fingerprint a file or a folder tree (see the module docstring).

    `ignore` holds glob patterns matched against each relative POSIX path and against
    each name (so `*.tmp` and `cache/*` both work). `workers` is the number of threads
    (or processes); `processes` forces hashing in child processes on or off (by default
    only trees of many small files use them). The result never depends on either.
    Raises `InputError` for anything that cannot be fingerprinted faithfully.
    """
    if algorithm not in ALGORITHMS:
        raise InputError(f"unknown digest algorithm {algorithm!r}; use one of {ALGORITHMS}")
    _new_hasher(algorithm)  # fail early if blake3 is not installed
    root = Path(path)
    try:
        st = root.lstat()
    except OSError as exc:
        raise InputError(f"cannot read {root}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise InputError(f"{root} is a symbolic link; fingerprint what it points to instead")
    if stat.S_ISREG(st.st_mode):
        total = st.st_size
        done = [0]

        def tick_file(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress(done[0], total, 0, 1)

        digest, size = hash_file(root, algorithm, tick_file)
        if progress is not None:
            progress(size, size, 1, 1)
        entry = FileEntry(root.name, size, digest)
        return Fingerprint(algorithm, "file", digest, 1, size, [entry])
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{root} is not a regular file or folder")

    walker = _Walk(root, ignore, symlinks)
    walk = iter(walker)
    head = list(itertools.islice(walk, _PROCESSES_FROM))
    cores = os.cpu_count() or 1
    # Many small files: the Python around each file (open, read, close) holds the
    # GIL about as long as hashing releases it, so threads cannot use a second core;
    # child processes can (measured on 20,000 x 16 KiB files, 2 cores: one thread
    # 0.87 s, four threads 1.5 s, processes fed while walking about 0.4 s). Starting
    # them costs ~15 ms each, so only trees with many files use them.
    sizes = [size for _, _, size, kind in head if kind == "file"]
    if processes is None:
        processes = (
            workers is None
            and cores > 1
            and len(head) == _PROCESSES_FROM
            and sum(sizes) < 256 * 1024 * max(1, len(sizes))
        )
    counter = _Counter(progress)
    results: dict[str, FileEntry] = {}
    leaf_hashes: dict[str, bytes] = {}
    if processes:
        walker.sizes = False  # the rest of the walk skips lstat; the children count bytes
        counter.estimate = sum(sizes) // max(1, len(sizes))

        def hashed(rel: str, walked: int, size: int, digest: str) -> None:
            entry = results[rel] = FileEntry(rel, size, digest)
            # leaf-hash here, while the children still hash, not in the serial tail
            leaf_hashes[rel] = merkle.leaf_hash(entry.leaf())
            counter.settle(walked, size)

        found = _hash_pool.hash_streamed(
            itertools.chain(head, walk), algorithm, workers or cores, counter.found, hashed
        )
    else:
        found = head + list(walk)
        _hash_in_threads(found, algorithm, workers, counter, results)
    for rel, p, _, kind in found:
        if kind == "symlink":
            target = os.readlink(p)
            data = target.encode("utf-8", "surrogateescape")
            hasher = _new_hasher(algorithm)
            hasher.update(data)
            results[rel] = FileEntry(rel, len(data), hasher.hexdigest(), "symlink", target)
    found.sort(key=lambda item: item[0])
    entries = [results[rel] for rel, _, _, _ in found]
    counter.finish()
    hashes = [leaf_hashes.get(e.path) or merkle.leaf_hash(e.leaf()) for e in entries]
    tree_root = merkle.root(hashes).hex()
    return Fingerprint(
        algorithm, "tree", tree_root, len(entries), sum(e.size for e in entries), entries
    )


#: A tree with at least this many entries may be hashed by child processes.
_PROCESSES_FROM = 2048


class _Counter:
    """Bytes and files found and hashed so far, reported to a progress callback.

    While the process pool is fed the walk does not read sizes, so each file found
    counts as `estimate` bytes (the average of the first files) until its real size
    arrives; totals are exact when hashing ends. The unlocked `+=` from several threads
    can lose a tick; that only affects the bar.
    """

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.bytes = self.files = self.total_bytes = self.total_files = 0
        self.estimate = 0

    def found(self, size: int) -> None:
        self.total_bytes += size if size >= 0 else self.estimate
        self.total_files += 1

    def hashed(self, n: int, files: int = 0) -> None:
        self.bytes += n
        self.files += files
        if self.progress is not None:
            self.progress(self.bytes, self.total_bytes, self.files, self.total_files)

    def settle(self, walked: int, size: int) -> None:
        """A file whose size the walk saw as `walked` (-1: not read) hashed `size` bytes."""
        self.total_bytes += size - (walked if walked >= 0 else self.estimate)
        self.hashed(size, 1)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total_bytes, self.total_bytes, self.total_files, self.total_files)


def _hash_in_threads(
    found: list[tuple[str, str, int, str]],
    algorithm: str,
    workers: int | None,
    counter: _Counter,
    results: dict[str, FileEntry],
) -> None:
    files = [(rel, p, size) for rel, p, size, kind in found if kind == "file"]
    for _, _, size in files:
        counter.found(size)

    def batch(items: list[tuple[str, str, int]]) -> list[FileEntry]:
        out = []
        for rel, p, _ in items:
            digest, size = hash_file(p, algorithm, counter.hashed)
            counter.hashed(0, 1)
            out.append(FileEntry(rel, size, digest))
        return out

    if workers is None:
        # Big files: one thread per core, hashlib releases the GIL while hashing. A few
        # small files: one worker beside the main thread (extra threads only contend).
        average = counter.total_bytes / len(files) if files else 0
        workers = (os.cpu_count() or 1) if average >= 256 * 1024 else 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fingerprint") as pool:
        try:
            for entries in pool.map(batch, _batches(files, workers)):
                for entry in entries:
                    results[entry.path] = entry
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: stop, record nothing
            raise


class _Walk:
    """(relative POSIX path, path, size, kind) for everything under `root`, never leaving it.

    Plain strings, not `Path` objects: on trees of many small files pathlib's parsing
    cost more than hashing. With `sizes` turned off (the process pool learns each size
    while hashing) files are told apart by the directory entry's type alone and `size`
    is -1: an `lstat` per file was the slowest part of walking a tree of small files.
    """

    def __init__(self, root: Path, ignore: Sequence[str], symlinks: SymlinkPolicy) -> None:
        self.root, self.ignore, self.symlinks = os.fspath(root), ignore, symlinks
        self.sizes = True

    def __iter__(self) -> Iterator[tuple[str, str, int, str]]:
        prefix = len(self.root.rstrip(os.sep)) + 1
        stack = [self.root]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    items = list(it)
            except OSError as exc:
                raise InputError(f"cannot list {folder}: {exc.strerror}") from None
            for item in items:
                rel = item.path[prefix:]
                if os.sep != "/":  # pragma: no cover - POSIX only today
                    rel = rel.replace(os.sep, "/")
                if self.ignore and _ignored(rel, item.name, self.ignore):
                    continue
                try:
                    if item.is_symlink():
                        if self.symlinks == "refuse":
                            raise InputError(
                                f"{item.path} is a symbolic link; remove it, ignore it, or "
                                "record links with --symlinks record (they are never followed)"
                            )
                        yield rel, item.path, 0, "symlink"
                    elif item.is_dir(follow_symlinks=False):
                        stack.append(item.path)
                    elif item.is_file(follow_symlinks=False):
                        size = item.stat(follow_symlinks=False).st_size if self.sizes else -1
                        yield rel, item.path, size, "file"
                    else:
                        raise InputError(
                            f"{item.path} is a special file (device, pipe or socket); ignore it"
                        )
                except OSError as exc:
                    raise InputError(f"cannot read {item.path}: {exc.strerror}") from None


def _batches(files: list[tuple[str, str, int]], workers: int) -> list[list[tuple[str, str, int]]]:
    """Group files into tasks of up to 64 MiB or 256 files: one future per file cost
    more than hashing a 16 KiB file. Big files stay alone so they spread over threads."""
    out: list[list[tuple[str, str, int]]] = []
    current: list[tuple[str, str, int]] = []
    size = 0
    limit = max(1, min(256, len(files) // (workers * 4) or 1))
    for item in files:
        if current and (size + item[2] > 64 * BLOCK or len(current) >= limit):
            out.append(current)
            current, size = [], 0
        current.append(item)
        size += item[2]
    if current:
        out.append(current)
    return out


def _ignored(rel: str, name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, pat) or fnmatch.fnmatchcase(name, pat) for pat in patterns)


def _new_hasher(algorithm: str) -> Any:
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "blake3":
        try:
            import blake3
        except ImportError:  # pragma: no cover - blake3 is a declared dependency
            raise InputError("BLAKE3 needs the `blake3` package") from None
        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    raise InputError(f"unknown digest algorithm {algorithm!r}; use one of {ALGORITHMS}")


def _subtree_from_list(hashes: list[bytes]) -> Callable[[int, int], bytes]:
    def subtree(level: int, index: int) -> bytes:
        start = index << level
        return merkle.root(hashes[start : start + (1 << level)])

    return subtree
