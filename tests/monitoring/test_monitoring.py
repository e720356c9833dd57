"""Monitoring: windows, drift, fairness equal to the audit's, alerts that re-audit, crash
recovery, bad rows counted, late labels, the watcher."""

from __future__ import annotations

import csv
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from fairtrail import Trail
from fairtrail.audit.drift import FeatureProfile, chi2_p_value, profile_table, psi
from fairtrail.audit.fairness import audit_arrays
from fairtrail.audit.monitoring import WINDOW_PREDICATE, WindowCounts, window_report
from fairtrail.errors import InputError, PolicyDeniedError
from fairtrail.lifecycle.models import resolve_model
from fairtrail.monitoring import Monitor, monitor_status, resolve_alert, setup_monitor
from fairtrail.policy.decisions import check_model, current_policies, record_policy
from fairtrail.policy.gates import deploy
from fairtrail.policy.packs import pack_path
from fairtrail.policy.rules import load_policy
from tests.cli.test_cli import assert_user_error, ft

HEADER = ["id", "income", "purpose", "sex", "age_group", "credit", "scored", "time"]


def stream(path: Path, n: int, seed: int, *, drift: bool = False, labels: bool = True) -> None:
    """Applicants like the training data; with `drift`, women's scores fall by 25."""
    rnd = random.Random(seed)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(n):
            sex = rnd.choice(["female", "male"])
            income = rnd.gauss(50, 15)
            good = income + rnd.gauss(0, 10) > 45
            score = income + rnd.gauss(0, 8) - (25 if drift and sex == "female" else 0)
            w.writerow([
                f"{seed}-{i}", f"{income:.2f}", rnd.choice(["car", "home", "study"]), sex,
                "<25" if rnd.random() < 0.3 else "25+",
                ("good" if good else "bad") if labels else "",
                "good" if score > 45 else "bad",
                f"2026-11-25T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            ])  # fmt: skip


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.anchor.test_anchoring import _passing_model

    credit = _passing_model(tmp_path_factory.mktemp("monitor"))
    with Trail.open(credit.path) as trail:
        admin = trail.actor_key("admin")
        record_policy(trail, load_policy(pack_path("production-monitoring")), admin)
        model = resolve_model(trail, credit.model)
        for recorded in current_policies(trail):  # every current policy judges the model
            check_model(trail, model, recorded, admin)
    assert (
        ft(credit.path, "deploy", str(credit.model), "--env", "prod", "--as", "ops").returncode == 0
    )
    return credit


@pytest.fixture
def credit(base: Any, tmp_path: Path) -> Any:
    """A private copy of the deployed credit trail."""
    shutil.copytree(base.path, tmp_path / "trail")
    return type(base)(tmp_path / "trail", base.data, base.model, base.rows)


def _plan(trail: Trail, credit: Any, **kw: Any) -> Any:
    model = resolve_model(trail, credit.model)
    kw.setdefault("window_rows", 1000)
    kw.setdefault(
        "columns", {"id": "id", "prediction": "scored", "label": "credit", "time": "time"}
    )
    return model, setup_monitor(trail, model, credit.data, trail.actor_key("admin"), **kw)


def _windows(trail: Trail, model: Any) -> list[dict[str, Any]]:
    return [trail.statement(i)[1].predicate
            for i in trail.indices_about(model.digest, WINDOW_PREDICATE)]  # fmt: skip


def test_window_fairness_equals_the_audit_on_the_same_rows() -> None:
    rnd = np.random.default_rng(4)
    n = 5000
    y_true, y_pred = rnd.random(n) < 0.4, rnd.random(n) < 0.5
    sex = rnd.choice(["f", "m"], n)
    age = rnd.choice(["<25", "25-60", "60+"], n)
    counts = WindowCounts([], ["sex", "age"])
    for lo in range(0, n, 700):  # in chunks, as files arrive
        sl = slice(lo, lo + 700)
        counts.add({}, [], y_pred[sl], y_true[sl], np.ones(len(y_pred[sl]), bool),
                   {"sex": pa.array(sex[sl]), "age": pa.array(age[sl])})  # fmt: skip
    report = window_report(counts, [], 0.5)["fairness"]
    codes = []
    for values in (sex, age):
        names, code = np.unique(values, return_inverse=True)
        codes.append(code.astype(np.int64))
    audited = audit_arrays(y_true, y_pred, [("sex", codes[0], list(np.unique(sex))),
                                            ("age", codes[1], list(np.unique(age)))])  # fmt: skip
    for key in audited["disparities"]:
        assert report["disparities"][key] == pytest.approx(audited["disparities"][key], abs=1e-12)
    for column in ("sex", "age"):
        for group, row in audited["by_group"][column].items():
            assert report["by_group"][column][group]["selection_rate"] == pytest.approx(
                row["selection_rate"], abs=1e-12
            )


def test_drift_measures_tell_moved_data_from_the_same_data() -> None:
    rnd = np.random.default_rng(1)
    reference = pa.table({"x": rnd.normal(50, 15, 20_000), "c": rnd.choice(["a", "b"], 20_000)})
    (x, c) = profile_table(reference, ["x", "c"])
    from fairtrail.audit.drift import bin_counts

    same = bin_counts(x, pa.array(rnd.normal(50, 15, 5000)))
    moved = bin_counts(x, pa.array(rnd.normal(65, 15, 5000)))
    assert psi(x.expected, same) < 0.02 and chi2_p_value(x.expected, same) > 0.001
    assert psi(x.expected, moved) > 0.25 and chi2_p_value(x.expected, moved) < 1e-9
    unseen = bin_counts(c, pa.array(["z"] * 100 + [None] * 5))  # other + missing bins
    assert unseen[-2:].tolist() == [100, 5]
    assert FeatureProfile.from_dict(x.to_dict()) == x


def test_drift_in_one_group_opens_an_alert_reaudits_and_blocks(credit: Any, tmp_path: Path) -> None:
    stream(tmp_path / "a.csv", 2000, 1)
    stream(tmp_path / "b.csv", 2000, 2, drift=True)
    with Trail.open(credit.path) as trail:
        model, _ = _plan(trail, credit)
        with Monitor(trail, model, trail.actor_key("admin")) as monitor:
            first = monitor.feed(tmp_path / "a.csv")
            assert [w["alerts"] for w in first.windows] == [[], []]
            second = monitor.feed(tmp_path / "b.csv")
        alerts = [a for w in second.windows for a in w["alerts"]]
        rules = {a["rule"] for a in alerts}
        assert "production-demographic-parity" in rules
        assert len(rules) == len(alerts)  # one alert per rule while it stays open
        status = monitor_status(trail, model)
        assert [d["compliant"] for d in status["deployments"]] == [False]
        with pytest.raises(PolicyDeniedError):
            deploy(trail, model, "prod", trail.actor_key("ops"))
        windows = _windows(trail, model)
        assert [w["seq"] for w in windows] == [1, 2, 3, 4]
        assert windows[2]["report"]["fairness"]["disparities"]["demographic_parity_ratio"] < 0.8
        alert = alerts[0]["alertId"]
        with pytest.raises(InputError, match="may not resolve"):
            resolve_alert(trail, model, alert, "checked", trail.actor_key("rita"))
        resolve_alert(trail, model, alert, "retrained next week", trail.actor_key("admin"))
        with pytest.raises(InputError, match="already resolved"):
            resolve_alert(trail, model, alert, "again", trail.actor_key("admin"))
    # no row values ever reach the log: ids of the stream are nowhere in it
    assert b"2-1999" not in (credit.path / "log.db").read_bytes()


def test_bad_rows_are_counted_never_dropped(credit: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    stream(path, 1000, 3)
    lines = path.read_text().splitlines()
    lines[5] = "only,three,fields"  # malformed
    lines[6] = (
        lines[6].replace(",good,2026", ",,2026").replace(",bad,2026", ",,2026")
    )  # no prediction
    lines[7] = lines[7].rsplit(",", 2)[0] + ",maybe," + lines[7].rsplit(",", 1)[1]
    path.write_text("\n".join(lines) + "\n")
    with Trail.open(credit.path) as trail:
        model, _ = _plan(trail, credit, window_rows=500)
        with Monitor(trail, model, trail.actor_key("admin")) as monitor:
            monitor.feed(path)
            carried = monitor.counts.rows
        windows = _windows(trail, model)
    rejected: dict[str, int] = {}
    for w in windows:
        for k, v in w["report"]["rejected"].items():
            rejected[k] = rejected.get(k, 0) + v
    assert rejected == {"malformed row": 1, "missing prediction": 1, "unknown prediction value": 1}
    assert sum(w["report"]["rows"] for w in windows) + carried == 1000


def test_bad_files_are_refused_with_one_line(credit: Any, tmp_path: Path) -> None:
    with Trail.open(credit.path) as trail:
        _plan(trail, credit)
    no_pred = tmp_path / "x.csv"
    no_pred.write_text("a,b\n1,2\n")
    assert_user_error(ft(credit.path, "monitor", "ingest", str(credit.model), str(no_pred)), 2,
                      "no prediction column")  # fmt: skip
    assert_user_error(ft(credit.path, "monitor", "ingest", "nope", str(no_pred)), 2, "")
    assert_user_error(
        ft(credit.path, "monitor", "ingest", str(credit.model), str(tmp_path / "missing.csv")),
        2, "no such file",
    )  # fmt: skip
    other = tmp_path / "other.csv"
    stream(other, 50, 9)
    assert_user_error(
        ft(credit.path, "monitor", "setup", str(credit.model), "--reference", str(other),
           "--prediction-column", "scored", "--label-column", "credit"),
        2, "not the training or evaluation data",
    )  # fmt: skip


def test_late_labels_make_an_outcomes_window(credit: Any, tmp_path: Path) -> None:
    stream(tmp_path / "p.csv", 1000, 5, labels=False)
    truth = tmp_path / "labels.csv"
    rnd = random.Random(5)
    rows = "".join(f"5-{i},{rnd.choice(['good', 'bad'])}\n" for i in range(1000))
    truth.write_text("id,credit\n" + rows + "nobody,good\n")
    with Trail.open(credit.path) as trail:
        model, _ = _plan(trail, credit)
        with Monitor(trail, model, trail.actor_key("admin")) as monitor:
            assert [w["kind"] for w in monitor.feed(tmp_path / "p.csv").windows] == ["predictions"]
            assert monitor.pending() == 1000
            result = monitor.feed(truth)
            assert monitor.pending() == 0
            # the unknown id is counted in the next outcomes window, still open
            assert monitor.outcomes.rejected == {"no waiting prediction with this id": 1}
        (w,) = [w for w in _windows(trail, model) if w["kind"] == "outcomes"]
    assert w["report"]["labelled"] == 1000 and w["report"]["fairness"]["rows"] == 1000
    assert result.windows[0]["kind"] == "outcomes"


def test_time_windows_close_when_time_moves_on(credit: Any, tmp_path: Path) -> None:
    stream(tmp_path / "t.csv", 3 * 3600 + 10, 6)  # one row a second, just over 3 hours
    with Trail.open(credit.path) as trail:
        model, (_, plan) = _plan(trail, credit, window_rows=None, window_seconds=3600)
        with Monitor(trail, model, trail.actor_key("admin")) as monitor:
            result = monitor.feed(tmp_path / "t.csv")
    assert [w["rows"] for w in result.windows] == [3600, 3600, 3600]
    assert plan.window == {"kind": "seconds", "size": 3600}


def test_a_crash_after_a_window_records_nothing_twice(
    credit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fairtrail import monitoring

    stream(tmp_path / "s.csv", 4500, 7)
    with Trail.open(credit.path) as trail:
        model, _ = _plan(trail, credit)
        real = monitoring._State.save
        calls = []

        def die_on_second(self: Any, *a: Any, **k: Any) -> None:
            calls.append(1)
            if len(calls) == 3:  # after window 2 is appended, before its state is saved
                raise KeyboardInterrupt
            real(self, *a, **k)

        monkeypatch.setattr(monitoring._State, "save", die_on_second)
        with pytest.raises(KeyboardInterrupt), Monitor(trail, model, trail.actor_key("admin")) as m:
            m.feed(tmp_path / "s.csv")
        monkeypatch.undo()
        with Monitor(trail, model, trail.actor_key("admin")) as monitor:
            monitor.feed(tmp_path / "s.csv")
            carried = monitor.counts.rows
        windows = _windows(trail, model)
    assert [w["seq"] for w in windows] == [1, 2, 3, 4]
    covered = [tuple(s["rows"]) for w in windows for s in w["report"]["source"]]
    assert covered == [(0, 1000), (1000, 2000), (2000, 3000), (3000, 4000)] and carried == 500


@pytest.mark.integration
def test_kill_9_mid_file_then_resume(credit: Any, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    stream(big, 60_000, 8)
    with Trail.open(credit.path) as trail:
        model, _ = _plan(trail, credit, window_rows=2000)
    env = os.environ | {"FAIRTRAIL_ACTOR": "admin"}
    cmd = [sys.executable, "-m", "fairtrail", "--trail", str(credit.path), "monitor",
           "ingest", str(credit.model), str(big)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with Trail.open(credit.path, writable=False) as trail:
            if len(trail.indices_about(model.digest, WINDOW_PREDICATE)) >= 3:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with Trail.open(credit.path, writable=False) as trail:
        windows = _windows(trail, model)
        trail.verify()
    assert [w["seq"] for w in windows] == list(range(1, 31))
    covered = [tuple(s["rows"]) for w in windows for s in w["report"]["source"]]
    assert covered == [(i, i + 2000) for i in range(0, 60_000, 2000)]


@pytest.mark.integration
def test_watch_waits_for_whole_files_and_stops_on_sigterm(credit: Any, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with Trail.open(credit.path) as trail:
        model, _ = _plan(trail, credit)
    stream(tmp_path / "whole.csv", 1500, 10)
    data = (tmp_path / "whole.csv").read_bytes()
    (inbox / "1.csv").write_bytes(data[: len(data) // 2])  # half-written, no final newline
    env = os.environ | {"FAIRTRAIL_ACTOR": "admin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fairtrail", "--trail", str(credit.path), "monitor", "watch",
         str(inbox), "--model", str(credit.model), "--interval", "0.2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.5)
    with (inbox / "1.csv").open("ab") as f:
        f.write(data[len(data) // 2 :])
    deadline = time.monotonic() + 60
    found = 0
    while time.monotonic() < deadline and not found:
        time.sleep(0.2)
        with Trail.open(credit.path, writable=False) as trail:
            found = len(trail.indices_about(model.digest, WINDOW_PREDICATE))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped; every recorded window is kept" in err
    with Trail.open(credit.path, writable=False) as trail:
        (w,) = _windows(trail, model)  # the whole file's first window: 1000 rows, once
    assert w["report"]["rows"] == 1000 and w["report"]["rejected"] == {}
