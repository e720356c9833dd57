"""The CLI as a user runs it: real subprocesses, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.log.helpers import rewrite_entry

STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "model.bin", "digest": {"sha256": "cd" * 32}}],
    "predicateType": "https://fairtrail.dev/note/v1",
    "predicate": {"text": "hello"},
}


def ft(trail: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fairtrail", "--trail", str(trail), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def assert_user_error(result: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert words in lines[0]


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "trail"
    assert ft(path, "init", "--origin", "cli.example/log").returncode == 0
    assert ft(path, "keys", "create", "alice", "--role", "ml-engineer").returncode == 0
    f = path.parent / "s.json"
    f.write_text(json.dumps(STATEMENT))
    r = ft(path, "record", str(f), "--as", "alice", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["index"] == 2
    assert ft(path, "checkpoint").returncode == 0
    return path


def test_happy_path_outputs(trail: Path) -> None:
    r = ft(trail, "log", "--json")
    assert [json.loads(x)["index"] for x in r.stdout.splitlines()] == [0, 1, 2]
    r = ft(trail, "prove", "inclusion", "2")
    proof = json.loads(r.stdout)
    assert proof["size"] == 3 and proof["checkpoint"].startswith("cli.example/log\n3\n")
    r = ft(trail, "prove", "consistency", "1", "3")
    assert json.loads(r.stdout)["size2"] == 3
    r = ft(trail, "verify", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["statements"] == 3
    r = ft(trail, "keys", "list")
    assert "alice" in r.stdout and "ml-engineer" in r.stdout


def test_proofs_check_out_independently(trail: Path) -> None:
    """The printed proof verifies with nothing but the merkle module and the printed data."""
    import base64

    from fairtrail.log import merkle

    p = json.loads(ft(trail, "prove", "inclusion", "1").stdout)
    merkle.verify_inclusion(
        base64.b64decode(p["leaf_hash"]),
        p["index"],
        p["size"],
        [base64.b64decode(h) for h in p["hashes"]],
        base64.b64decode(p["root"]),
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["prove", "inclusion", "99"], "not covered by a checkpoint"),
        (["prove", "inclusion", "5", "--size", "3"], "not below size 3"),
        (["prove", "inclusion", "0", "--size", "99"], "larger than the log"),
        (["prove", "consistency", "3", "1"], "old size"),
        (["prove", "consistency", "0", "3"], "old size"),
        (["record", "/nonexistent.json"], "no such file"),
        (["keys", "grant-role", "nobody", "auditor"], "no actor named"),
        (["record", "-", "--as", "ghost"], "no private key"),
    ],
)
def test_user_errors_are_one_line_exit_2(trail: Path, args: list[str], words: str) -> None:
    assert_user_error(ft(trail, *args, stdin=json.dumps(STATEMENT)), 2, words)


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        ('{"a": 1, "a": 2}', "duplicate JSON key"),
        ("[1, 2", "not valid JSON"),
        ('{"_type": "https://in-toto.io/Statement/v1"}', "invalid"),
        ("x" * (1 << 21), "limit"),
    ],
)
def test_bad_statement_input(trail: Path, stdin: str, words: str) -> None:
    before = ft(trail, "log", "--json").stdout
    assert_user_error(ft(trail, "record", "-", stdin=stdin), 2, words)
    assert ft(trail, "log", "--json").stdout == before  # nothing recorded


def test_unknown_signer_refused(trail: Path, tmp_path: Path) -> None:
    from fairtrail.crypto import SigningKey

    key = tmp_path / "stranger.key"
    SigningKey.generate().save(key)
    r = ft(trail, "record", "-", "--key", str(key), stdin=json.dumps(STATEMENT))
    assert_user_error(r, 2, "not signed by any actor known")


def test_missing_trail(tmp_path: Path) -> None:
    assert_user_error(ft(tmp_path / "none", "log"), 2, "no fairtrail trail")


def test_usage_error_exit_2(trail: Path) -> None:
    r = ft(trail, "prove", "inclusion", "notanumber")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_tampering_exit_3_names_the_index(trail: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trail, copy)
    rewrite_entry(copy / "log.db", 2, lambda data: data + b" ")
    r = ft(copy, "verify")
    assert_user_error(r, 3, "entry 2 does not match its stored leaf hash")
    assert ft(copy, "checkpoint").returncode == 0  # size 3 was already signed: unchanged
    assert ft(trail, "verify").returncode == 0  # the original is untouched


def test_second_writer_refused_with_clear_error(trail: Path) -> None:
    from fairtrail import Trail

    with Trail.open(trail):
        r = subprocess.run(
            [sys.executable, "-m", "fairtrail", "--trail", str(trail), "--wait", "0", "checkpoint"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert_user_error(r, 2, "another process is writing")
