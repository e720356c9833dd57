from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fairtrail.crypto import SigningKey, VerifyingKey, canonical_json, parse_json
from fairtrail.errors import InputError, KeyFileError


def test_key_file_is_0600_and_round_trips(tmp_path: Path) -> None:
    os.umask(0o022)
    key = SigningKey.generate()
    path = tmp_path / "k" / "a.key"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert SigningKey.load(path).public == key.public
    with pytest.raises(KeyFileError, match="already exists"):
        key.save(path)


def test_loose_permissions_and_garbage_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.key"
    SigningKey.generate().save(path)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        SigningKey.load(path)
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"not a key")
    junk.chmod(0o600)
    with pytest.raises(KeyFileError):
        SigningKey.load(junk)
    with pytest.raises(KeyFileError):
        SigningKey.load(tmp_path / "missing.key")


def test_secret_never_in_repr() -> None:
    key = SigningKey.generate()
    assert "PRIVATE" not in repr(key) and key.key_id[:16] in repr(key)


def test_public_pem_round_trip() -> None:
    key = SigningKey.generate()
    assert VerifyingKey.from_pem(key.public.to_pem()) == key.public
    with pytest.raises(KeyFileError):
        VerifyingKey.from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_canonical_json_is_rfc8785() -> None:
    assert canonical_json({"b": 1, "a": [1.0, "é", None]}) == b'{"a":[1,"\xc3\xa9",null],"b":1}'
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1, "a": 2}',
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"\xff",
        b"[" * 100 + b"]" * 100,
        b"{",
        b'{"a": 1}' + b" " * (1 << 20),
    ],
)
def test_parse_json_rejects_ambiguous_or_oversized(data: bytes) -> None:
    with pytest.raises(InputError):
        parse_json(data)


def test_deep_nesting_bounded() -> None:
    with pytest.raises(InputError):
        parse_json(b"[" * 100000 + b"]" * 100000)


def test_deep_nesting_is_refused_even_when_the_recursion_limit_is_huge() -> None:
    """py-evm (imported by web3) sets the recursion limit to 100,000; json's C parser
    would then overflow the C stack on deep input. Run in a child: a crash is a fail."""
    import subprocess
    import sys

    code = (
        "import sys; sys.setrecursionlimit(1_000_000)\n"
        "from fairtrail.crypto.canonical import parse_json\n"
        "from fairtrail.errors import InputError\n"
        "try:\n"
        "    parse_json(b'[' * 500_000 + b']' * 500_000)\n"
        "except InputError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-300:]
    assert "nested more than 64 levels" in done.stdout
    # brackets inside strings are not nesting
    assert parse_json(b'["' + b"[" * 5000 + b'"]') == ["[" * 5000]
    assert parse_json(b'{"a": "\\"[[[[["}') == {"a": '"[[[[['}
