"""Entry bundles: packing, reading across bundle edges, and damage to the bundle rows."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairtrail.crypto import SigningKey
from fairtrail.errors import IntegrityError
from fairtrail.log import _bundles, fsck
from tests.log.helpers import drop_guards, leaf, make_log


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=300), st.integers(0, 10**9))
def test_pack_unpack_round_trip(entries: list[bytes], first: int) -> None:
    rows = _bundles.pack(first, entries)
    out: list[bytes] = []
    expected_first = first
    for row_first, lengths, data in rows:
        assert row_first == expected_first
        got = _bundles.unpack(row_first, lengths, data)
        assert 1 <= len(got) <= _bundles.MAX_ENTRIES
        out.extend(got)
        expected_first += len(got)
    assert out == entries


def test_big_entries_get_their_own_bundle() -> None:
    big = b"x" * _bundles.MAX_BYTES
    rows = _bundles.pack(0, [b"a", big, b"b", b"c"])
    assert [_bundles.count(lengths) for _, lengths, _ in rows] == [2, 2]  # [a, big], [b, c]
    rows = _bundles.pack(0, [big, big])
    assert [first for first, _, _ in rows] == [0, 1]


@pytest.mark.parametrize(
    ("lengths", "data"),
    [
        (b"", b""),
        (b"\x00\x00\x01", b"a"),
        (b"\x00\x00\x00\x02", b"a"),
        (b"\x00\x00\x00\x01", b"ab"),
    ],
)
def test_malformed_bundle_is_integrity_error(lengths: bytes, data: bytes) -> None:
    with pytest.raises(IntegrityError) as info:
        _bundles.unpack(7, lengths, data)
    assert info.value.index == 7


KEY = SigningKey.generate()


def _log_with_bundles(tmp_path: Path) -> Path:
    log = make_log(tmp_path / "log.db", KEY)
    log.append([leaf(i) for i in range(300)])  # bundles of 64: 0, 64, 128, 192, 256
    log.append([leaf(300)])
    log.checkpoint()
    assert log.store.entries(60, 70) == [leaf(i) for i in range(60, 70)]
    assert [e for _, e in log.store.iter_entries(250)] == [leaf(i) for i in range(250, 301)]
    log.store.close()
    return tmp_path / "log.db"


def _sql(db: Path, statement: str) -> None:
    with closing(sqlite3.connect(db)) as conn:
        drop_guards(conn)
        conn.execute(statement)
        conn.commit()


def test_damaged_length_table_is_pinpointed(tmp_path: Path) -> None:
    db = _log_with_bundles(tmp_path)
    _sql(db, "UPDATE bundles SET lengths = substr(lengths, 1, 8) WHERE first = 128")
    with pytest.raises(IntegrityError, match="bundle starting at entry 128") as info:
        fsck(make_log(db, KEY, writer=False, create=False))
    assert info.value.index == 128


def test_overlapping_bundles_are_reported(tmp_path: Path) -> None:
    db = _log_with_bundles(tmp_path)
    _sql(db, "INSERT INTO bundles SELECT 100, lengths, data FROM bundles WHERE first = 64")
    with pytest.raises(IntegrityError, match="overlap at entry 100"):
        fsck(make_log(db, KEY, writer=False, create=False))


def test_missing_bundle_names_its_first_entry(tmp_path: Path) -> None:
    db = _log_with_bundles(tmp_path)
    _sql(db, "DELETE FROM bundles WHERE first = 192")
    with pytest.raises(IntegrityError, match="entry 192 is missing") as info:
        fsck(make_log(db, KEY, writer=False, create=False))
    assert info.value.index == 192
    with pytest.raises(IntegrityError, match="entry 192 is missing"):
        make_log(db, KEY, writer=False, create=False).store.entries(190, 200)
