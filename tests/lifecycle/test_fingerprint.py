"""Fingerprints of files and trees: reproducible, independent of the walk, deliberate about
links and special files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairtrail.crypto.canonical import canonical_json
from fairtrail.errors import InputError
from fairtrail.lifecycle.fingerprint import fingerprint
from fairtrail.log import merkle


def _tree(root: Path) -> Path:
    (root / "b").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha")
    (root / "b" / "c.bin").write_bytes(os.urandom(3 << 20))  # several read blocks
    (root / "b" / "empty").write_bytes(b"")
    return root


def test_single_file_is_plain_sha256(tmp_path: Path) -> None:
    f = tmp_path / "m.bin"
    f.write_bytes(os.urandom(2_500_000))
    fp = fingerprint(f)
    assert fp.kind == "file" and fp.subject_digest == {
        "sha256": hashlib.sha256(f.read_bytes()).hexdigest()
    }


def test_tree_root_is_recomputable_from_the_manifest(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    fp = fingerprint(root, workers=3)
    paths = [e.path for e in fp.entries]
    assert paths == ["a.txt", "b/c.bin", "b/empty"]  # sorted relative POSIX paths
    leaves = []
    for p in paths:
        data = (root / p).read_bytes()
        entry = {"path": p, "size": len(data), "digest": hashlib.sha256(data).hexdigest()}
        leaves.append(merkle.leaf_hash(canonical_json(entry)))
    assert fp.root == merkle.root(leaves).hex()
    assert fp.subject_digest == {"sha256-manifest": fp.root}
    assert fingerprint(root, workers=1).root == fp.root  # parallelism changes nothing
    index, proof = fp.inclusion_proof("b/c.bin")
    merkle.verify_inclusion(leaves[index], index, 3, proof, bytes.fromhex(fp.root))


def test_any_change_changes_the_root(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    before = fingerprint(root).root
    (root / "b" / "empty").write_bytes(b"x")
    assert fingerprint(root).root != before
    (root / "b" / "empty").write_bytes(b"")
    assert fingerprint(root).root == before
    (root / "b" / "empty").rename(root / "b" / "empty2")
    assert fingerprint(root).root != before


def test_ignore_patterns(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    (root / "b" / "junk.tmp").write_bytes(b"x")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_bytes(b"ref")
    fp = fingerprint(root, ignore=["*.tmp", ".git"])
    assert [e.path for e in fp.entries] == ["a.txt", "b/c.bin", "b/empty"]


def test_symlinks_refused_or_recorded_never_followed(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    secret = tmp_path / "outside.txt"
    secret.write_bytes(b"outside the tree")
    (root / "link").symlink_to(secret)
    with pytest.raises(InputError, match="symbolic link"):
        fingerprint(root)
    fp = fingerprint(root, symlinks="record")
    link = next(e for e in fp.entries if e.path == "link")
    assert link.kind == "symlink" and link.target == str(secret)
    assert link.digest == hashlib.sha256(str(secret).encode()).hexdigest()  # not the content
    with pytest.raises(InputError, match="symbolic link"):
        fingerprint(root / "link")


def test_special_files_and_missing_paths(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    os.mkfifo(root / "pipe")
    with pytest.raises(InputError, match="special file"):
        fingerprint(root)
    assert len(fingerprint(root, ignore=["pipe"]).entries) == 3
    with pytest.raises(InputError, match="cannot read"):
        fingerprint(tmp_path / "nope")
    with pytest.raises(InputError, match="unknown digest algorithm"):
        fingerprint(root, algorithm="md5")


def test_blake3_matches_reference(tmp_path: Path) -> None:
    import blake3

    f = tmp_path / "big.bin"
    f.write_bytes(os.urandom(20 << 20))  # big enough for the multi-threaded mmap path
    assert fingerprint(f, algorithm="blake3").root == blake3.blake3(f.read_bytes()).hexdigest()
    small = tmp_path / "small.bin"
    small.write_bytes(b"abc")
    assert fingerprint(small, algorithm="blake3").subject_digest == {
        "blake3": blake3.blake3(b"abc").hexdigest()
    }


def test_progress_reaches_the_total(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    seen: list[tuple[int, int, int, int]] = []
    fp = fingerprint(root, progress=lambda *a: seen.append(a))
    assert seen[-1] == (fp.size, fp.size, 3, 3)


@given(
    path=st.text(min_size=1, max_size=40),
    size=st.integers(0, 2**53 - 1),  # the JSON safe-integer range; no file is bigger
    target=st.one_of(st.none(), st.text(max_size=20)),
)
def test_leaf_encoding_is_rfc8785(path: str, size: int, target: str | None) -> None:
    from fairtrail.lifecycle.fingerprint import FileEntry

    try:
        path.encode("utf-8")
        (target or "").encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates cannot be file names in a manifest
    kind = "file" if target is None else "symlink"
    entry = FileEntry(path, size, "ab" * 32, kind, target)
    assert entry.leaf() == canonical_json(entry.to_dict())


# --- child processes (trees of many small files) ---------------------------------------


def _children() -> set[int]:
    """PIDs of this process's live children, from /proc (no psutil needed).

    A thread may exit between listing the tasks and reading its ``children`` file
    (the thread pool of the other fingerprint call winds down concurrently); its
    children, if any, are re-parented to a surviving thread, so skipping it loses
    nothing.
    """
    out: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            text = (task / "children").read_text()
        except FileNotFoundError:
            continue
        out.update(int(pid) for pid in text.split())
    return out


def _many(root: Path, n: int = 300) -> Path:
    for i in range(n):
        sub = root / f"d{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}.bin").write_bytes(os.urandom(i * 37 % 5000))
    (root / "big.bin").write_bytes(os.urandom(3 << 20))  # several read blocks in a child
    (root / "d1" / "ünïcode name.txt").write_bytes(b"x")
    return root


@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_processes_and_threads_give_the_same_manifest(tmp_path: Path, algorithm: str) -> None:
    root = _many(tmp_path / "d")
    os.symlink("f1.bin", root / "d1" / "link")
    before = _children()
    seen: list[tuple[int, int, int, int]] = []
    by_processes = fingerprint(
        root, algorithm=algorithm, symlinks="record", processes=True, workers=3,
        progress=lambda *a: seen.append(a),
    )  # fmt: skip
    by_threads = fingerprint(root, algorithm=algorithm, symlinks="record", processes=False)
    assert by_processes.entries == by_threads.entries
    assert by_processes.root == by_threads.root
    assert seen[-1] == (
        by_processes.size - len("f1.bin"),
        by_processes.size - len("f1.bin"),
        302,
        302,
    )  # fmt: skip  (the symlink is not a hashed file)
    assert _children() <= before  # every child was reaped


def test_a_bad_file_in_a_child_stops_everything_with_one_error(tmp_path: Path) -> None:
    from fairtrail.lifecycle import _hash_pool

    root = _many(tmp_path / "d", 10)
    os.mkfifo(tmp_path / "fifo")  # a child must refuse it, not block reading it
    items = [(p.name, str(p), -1, "file") for p in sorted((root / "d1").iterdir())]
    items.append(("fifo", str(tmp_path / "fifo"), -1, "file"))
    items.append(("gone", str(tmp_path / "gone"), -1, "file"))
    before = _children()
    with pytest.raises(InputError, match="fifo is not a regular file"):
        _hash_pool.hash_streamed(items, "sha256", 2, lambda _: None, lambda *_: None)
    assert _children() <= before


def test_a_walk_error_or_ctrl_c_while_children_hash_stops_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _many(tmp_path / "d")
    os.symlink("f1.bin", root / "d3" / "zz-link")  # refused by default, after hashing began
    before = _children()
    with pytest.raises(InputError, match="symbolic link"):
        fingerprint(root, processes=True)
    assert _children() <= before

    from fairtrail.lifecycle import _hash_pool

    dispatch = _hash_pool._dispatch
    calls = [0]

    def interrupted(*args: Any) -> None:  # Ctrl-C reaches the main thread mid-walk
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        dispatch(*args)

    (root / "d3" / "zz-link").unlink()
    monkeypatch.setattr(_hash_pool, "CHUNK", 16)
    monkeypatch.setattr(_hash_pool, "_dispatch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fingerprint(root, processes=True)
    assert calls[0] == 2 and _children() <= before
