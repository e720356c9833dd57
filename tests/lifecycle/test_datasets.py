"""Datasets: profile, licence, versions, row proofs; bad input records nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairtrail import Trail
from fairtrail.errors import InputError, ProofError
from fairtrail.lifecycle import rows
from fairtrail.lifecycle.datasets import (
    find_datasets,
    load_row_secret,
    prepare_dataset,
    record_dataset,
)
from tests.cli.test_cli import assert_user_error, ft

GERMAN = Path(__file__).resolve().parents[2] / "data" / "german-credit" / "german_credit.csv"


def _add(trail: Trail, path: Path, name: str = "d", **kw: object) -> int:
    prepared = prepare_dataset(
        path,
        name=name,
        source="unit test",
        license="CC-BY-4.0",
        **kw,  # type: ignore[arg-type]
    )
    return record_dataset(trail, prepared, trail.actor_key("admin")).index


def test_german_credit_profile_matches_the_file(trail_dir: Path) -> None:
    import csv

    with Trail.init(trail_dir) as trail:
        index = _add(trail, GERMAN, "german-credit", sensitive=["sex", "age_group"])
        rec = find_datasets(trail, "german-credit")[0]
    assert rec.index == index and rec.version == 1
    tab = rec.predicate["tabular"]
    with GERMAN.open(newline="") as f:
        data = list(csv.DictReader(f))
    assert tab["rows"] == len(data) == 1000
    assert tab["sensitive"]["sex"] == {
        "female": sum(r["sex"] == "female" for r in data),
        "male": sum(r["sex"] == "male" for r in data),
    }
    types = {c["name"]: c["type"] for c in tab["columns"]}
    assert types["age"] == "integer" and types["status"] == "string"
    assert tab["missing"] == {}
    assert rec.predicate["license"] == "CC-BY-4.0"


def test_new_content_is_a_new_linked_version(trail_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("a,b\n1,x\n2,\n")
    with Trail.init(trail_dir) as trail:
        first = _add(trail, f)
        with pytest.raises(InputError, match="already recorded"):
            _add(trail, f)
        f.write_text("a,b\n1,x\n2,y\n3,NA\n")
        second = _add(trail, f)
        v1, v2 = find_datasets(trail, "d")
    assert (v1.index, v2.index) == (first, second) and v2.version == 2
    assert v2.predicate["previous"] == {"index": first, "digest": v1.digest}
    assert v1.predicate["tabular"]["missing"] == {"b": 1}
    assert v2.predicate["tabular"]["missing"] == {"b": 1}


def test_row_secret_is_private_and_proves_rows(trail_dir: Path) -> None:
    with Trail.init(trail_dir) as trail:
        _add(trail, GERMAN, "german-credit")
        rec = find_datasets(trail)[0]
        secret = load_row_secret(trail, rec)
        secret_file = trail.paths.row_secret(rec.predicate["tabular"]["rowTree"]["root"])
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert secret.hex() not in json.dumps(rec.predicate)
    root = bytes.fromhex(rec.predicate["tabular"]["rowTree"]["root"])
    rows.verify_row(rows.prove_row(GERMAN, secret, 500), root)
    with pytest.raises(ProofError):
        rows.verify_row(rows.prove_row(GERMAN, bytes(32), 500), root)  # wrong secret


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"license": "CC-BY-5.0"}, "not a valid SPDX"),
        ({"sensitive": ["gender"]}, "no column named 'gender'"),
        ({"name": "bad name"}, "dataset name"),
        ({"source": " "}, "--source"),
        ({"collected": "1994-13-01"}, "YYYY-MM-DD"),
    ],
)
def test_bad_input_records_nothing(trail_dir: Path, kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"name": "g", "source": "s", "license": "MIT", **kw}
    with Trail.init(trail_dir) as trail:
        size = trail.log.size
        with pytest.raises(InputError, match=message):
            record_dataset(trail, prepare_dataset(GERMAN, **args), trail.actor_key("admin"))  # type: ignore[arg-type]
        assert trail.log.size == size
        assert not trail.paths.secrets.exists()


def test_cli_add_prove_check(tmp_path: Path) -> None:
    t = tmp_path / "trail"
    assert ft(t, "init").returncode == 0
    r = ft(t, "dataset", "add", str(GERMAN), "--name", "german-credit", "--source", "UCI",
           "--license", "CC-BY-4.0", "--sensitive", "sex", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["predicate"]["tabular"]["sensitive"]["sex"]["female"] == 310
    proof_file = tmp_path / "p.json"
    r = ft(t, "dataset", "prove-row", str(GERMAN), "7", "--out", str(proof_file))
    assert r.returncode == 0, r.stderr
    r = ft(t, "dataset", "check-row", str(proof_file))
    assert r.returncode == 0 and "row 7 of 1000" in r.stdout
    doc = json.loads(proof_file.read_text())
    doc["rowTree"]["record"] = doc["rowTree"]["record"].replace("A", "B", 1)
    proof_file.write_text(json.dumps(doc))
    assert_user_error(ft(t, "dataset", "check-row", str(proof_file)), 3, "")
    root = doc["rowTree"]["root"]
    assert ft(t, "dataset", "check-row", str(proof_file), "--root", root).returncode == 3
    assert_user_error(ft(t, "dataset", "prove-row", str(GERMAN), "1001"), 2, "outside 1..1000")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1\n")
    assert_user_error(
        ft(t, "dataset", "add", str(bad), "--name", "b", "--source", "s", "--license", "MIT"),
        2,
        "has 1 fields",
    )
    assert_user_error(ft(t, "dataset", "prove-row", str(bad), "1"), 2, "not a recorded dataset")
    assert ft(t, "verify").returncode == 0


@pytest.mark.integration
def test_ctrl_c_during_fingerprint_records_nothing(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    t = tmp_path / "trail"
    assert ft(t, "init").returncode == 0
    data = tmp_path / "big"
    data.mkdir()
    for n in range(4):  # sparse: no disk used, but seconds of hashing
        with (data / f"part{n}.bin").open("wb") as f:
            f.truncate(1 << 30)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fairtrail", "--trail", str(t), "dataset", "add", str(data),
         "--name", "big", "--source", "s", "--license", "MIT"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.0)
    assert proc.poll() is None, "finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "nothing partial was recorded" in err and "Traceback" not in err
    with Trail.open(t, writable=False) as trail:
        assert trail.log.size == 1  # only the admin's registration


def test_cli_symlink_policy(tmp_path: Path) -> None:
    t = tmp_path / "trail"
    assert ft(t, "init").returncode == 0
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "link").symlink_to(tmp_path / "outside")
    args = ["dataset", "add", str(folder), "--name", "d", "--source", "s", "--license", "MIT"]
    assert_user_error(ft(t, *args), 2, "--symlinks record")
    assert_user_error(ft(t, *args, "--symlinks", "follow"), 2, "refuse or record")
    r = ft(t, *args, "--symlinks", "record", "--json")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)["predicate"]["fingerprint"]["entries"]
    assert {"kind": "symlink", "target": str(tmp_path / "outside")}.items() <= entries[1].items()
