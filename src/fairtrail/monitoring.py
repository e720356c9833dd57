"""Continuous monitoring: production predictions become signed windows, and policy reacts.

`setup_monitor` records a MonitoringPlan: which columns hold the prediction, the label,
the id and the time, the sensitive columns, the window (every N rows, or every N
seconds of the time column), the monitoring policies, and the reference profile of the
model's training data (bins and counts only, see `audit.drift`). `Monitor.feed` then
reads prediction files in chunks and counts each chunk into the open window (see
`audit.monitoring`); when the window is full it is reported as a signed
MonitoringWindow statement (numbers, never rows), and the plan's policies are run on
the model's facts with that window as `monitoring.latest`. A failing error rule opens
an Alert (one per rule until a person resolves it), records a failing PolicyDecision
(so the deployment gate refuses the model, and `status` shows every deployment of it
non-compliant), and, where the plan says so, revokes on-chain approvals.

Files whose prediction column is absent but which have the id and label columns are
late labels: each label is matched to the prediction it belongs to (kept by id in
`monitor.db`) and counted into an outcomes window, which reports fairness and accuracy.

Crash safety: the log is the truth. Each window statement names the rows it covers
(file digest and row range); `<trail>/monitor.db` keeps the cursor, the counts of the
window still open when a file ends, and the files already read. After a kill -9, the
next run takes the cursor from the newest window statement if `monitor.db` is behind,
so no window is recorded twice and no recorded row is counted again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fairtrail._sqlite import connect_durable
from fairtrail.audit.drift import FeatureProfile, profile_table
from fairtrail.audit.evaluations import latest_evaluation
from fairtrail.audit.monitoring import (
    ALERT_PREDICATE,
    PLAN_PREDICATE,
    WINDOW_PREDICATE,
    WindowCounts,
    window_facts,
    window_report,
)
from fairtrail.errors import FairtrailError, InputError
from fairtrail.statements.statement import Statement, Subject

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Trail

__all__ = [
    "Monitor",
    "Plan",
    "Stopped",
    "chart_html",
    "current_plan",
    "monitor_status",
    "resolve_alert",
    "setup_monitor",
    "watch",
]

CHUNK_ROWS = 65_536
MAX_LINE_BYTES = 1 << 20
_SCHEMA = """
CREATE TABLE IF NOT EXISTS monitors (
    model TEXT PRIMARY KEY, plan INTEGER NOT NULL, seq INTEGER NOT NULL,
    cursor_file TEXT, cursor_row INTEGER NOT NULL DEFAULT 0, time_key INTEGER,
    carry TEXT, outcomes TEXT
);
CREATE TABLE IF NOT EXISTS files (
    model TEXT NOT NULL, sha256 TEXT NOT NULL, name TEXT NOT NULL, rows INTEGER NOT NULL,
    PRIMARY KEY (model, sha256)
);
-- predictions waiting for their label (id -> prediction and groups), no features
CREATE TABLE IF NOT EXISTS pending (
    model TEXT NOT NULL, id TEXT NOT NULL, pred INTEGER NOT NULL, groups TEXT NOT NULL,
    PRIMARY KEY (model, id)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Plan:
    """A recorded MonitoringPlan."""

    entry: int
    predicate: dict[str, Any]
    features: list[FeatureProfile] = field(default_factory=list)

    @property
    def columns(self) -> dict[str, str | None]:
        return dict(self.predicate["columns"])

    @property
    def sensitive(self) -> list[str]:
        return list(self.predicate["sensitive"])

    @property
    def labels(self) -> tuple[str, str]:
        negative, positive = self.predicate["labels"]
        return str(negative), str(positive)

    @property
    def window(self) -> dict[str, Any]:
        return dict(self.predicate["window"])


# ---------------------------------------------------------------- setup


def setup_monitor(
    trail: Trail,
    model: ModelRecord,
    reference: Path,
    signer: SigningKey,
    *,
    window_rows: int | None = 10_000,
    window_seconds: int | None = None,
    columns: dict[str, str | None],
    sensitive: list[str] | None = None,
    positive_label: str | None = None,
    policies: list[str] | None = None,
    revoke: list[dict[str, str]] | None = None,
    min_group_size: int = 30,
) -> tuple[int, Plan]:
    """Record how `model` is monitored; the reference must be data recorded for it."""
    from fairtrail.audit.data import read_columns
    from fairtrail.lifecycle.fingerprint import fingerprint
    from fairtrail.policy.decisions import current_policies
    from fairtrail.policy.facts import gather_facts

    if (window_rows is None) == (window_seconds is None):
        raise InputError("give the window as a number of rows or of seconds, not both")
    size = window_rows if window_rows is not None else window_seconds
    assert size is not None
    if not 1 <= size <= 100_000_000:
        raise InputError("a window is 1..100,000,000 rows or seconds")
    if window_seconds is not None and not columns.get("time"):
        raise InputError("a window in seconds needs the time column (--time-column)")
    digest = dict(fingerprint(reference).subject_digest)
    facts = gather_facts(trail, model)
    known = {json.dumps(d["entry"]): d for d in facts["datasets"] if d["matches"]}
    from fairtrail.lifecycle.datasets import datasets_with_digest

    alg, value = next(iter(digest.items()))
    matching = [r for r in datasets_with_digest(trail, alg, value) if json.dumps(r.index) in known]
    if not matching:
        raise InputError(
            f"{reference.name} is not the training or evaluation data recorded for "
            f"{model.name}; monitoring compares production with the data the model was "
            "judged on"
        )
    evaluation = latest_evaluation(trail, model.digest)
    label = columns.get("label")
    if not label:
        raise InputError("name the label column (--label-column)")
    sensitive = sensitive if sensitive is not None else (
        list(evaluation[1]["sensitive"]) if evaluation else []
    )  # fmt: skip
    table = read_columns(reference, None)
    missing = [c for c in [label, *sensitive] if c not in table.column_names]
    if missing:
        raise InputError(f"{reference.name} has no column {missing[0]!r}")
    values = sorted(str(v) for v in pc.unique(pc.drop_null(pc.cast(table[label], pa.string())))
                    .to_pylist())  # fmt: skip
    if len(values) != 2:
        raise InputError(
            f"label column {label!r} takes {len(values)} values in {reference.name}; "
            "monitoring's metrics are for binary outcomes"
        )
    positive = positive_label or (evaluation[1]["positiveLabel"] if evaluation else values[-1])
    if positive not in values:
        raise InputError(f"positive label {positive!r} is not a value of {label!r} ({values})")
    negative = values[0] if values[1] == positive else values[1]
    skip = {c for c in columns.values() if c} | {label}
    names = [c for c in table.column_names if c not in skip]
    features = profile_table(table, names)
    if evaluation is not None:
        reference_rate = float(evaluation[1]["report"]["overall"]["selection_rate"])
        rate_source = f"evaluation at entry {evaluation[0]}"
    else:
        labels = pc.cast(table[label], pa.string())
        reference_rate = pc.sum(pc.equal(labels, positive)).as_py() / max(1, len(labels))
        rate_source = f"share of {positive!r} labels in {reference.name}"
    wanted = policies or ["production-monitoring"]
    try:
        recorded = current_policies(trail, wanted)
    except InputError as exc:
        raise InputError(
            f"{exc}; add the monitoring policy first "
            "(e.g. `fairtrail policy add --pack production-monitoring`)"
        ) from None
    for item in revoke or []:
        trail.config.chain(item["chain"])  # refuses an unknown chain now, not at the alert
        actor = trail.keyring.get(item["auditor"])
        if actor is None:
            raise InputError(f"no actor named {item['auditor']!r} to revoke approvals as")
    predicate = {
        "model": {"name": model.name, "entry": model.index, "digest": model.digest},
        "reference": {"file": reference.name, "digest": digest,
                      "datasets": [r.index for r in matching], "rows": table.num_rows},
        "columns": {k: columns.get(k) for k in ("id", "prediction", "label", "time")},
        "labels": [negative, positive],
        "sensitive": sensitive,
        "features": [f.to_dict() for f in features],
        "referencePositiveRate": reference_rate,
        "referencePositiveRateFrom": rate_source,
        "window": {"kind": "rows" if window_rows else "seconds", "size": size},
        "policies": [p.name for p in recorded],
        "revoke": list(revoke or []),
        "minGroupSize": min_group_size,
        "plannedAt": _now(),
    }  # fmt: skip
    statement = Statement(
        subject=[Subject(name=model.name, digest=model.digest)],
        predicate_type=PLAN_PREDICATE,
        predicate=predicate,
    )
    receipt = trail.record(statement, signer)
    return receipt.index, Plan(receipt.index, predicate, features)


def current_plan(trail: Trail, model: ModelRecord) -> Plan:
    for index in reversed(trail.indices_about(model.digest, PLAN_PREDICATE)):
        _, st = trail.statement(index)
        if st.predicate.get("model", {}).get("digest") == model.digest:
            features = [FeatureProfile.from_dict(f) for f in st.predicate["features"]]
            return Plan(index, st.predicate, features)
    raise InputError(
        f"{model.name} has no monitoring plan; run `fairtrail monitor setup {model.name} ...`"
    )


# ---------------------------------------------------------------- state


class _State:
    """monitor.db: cursor, carried counts, files read, predictions waiting for labels."""

    def __init__(self, path: Path, model: str) -> None:
        self._db = connect_durable(path)
        self._db.executescript(_SCHEMA)
        self.model = model

    def close(self) -> None:
        self._db.close()

    def load(self) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT plan, seq, cursor_file, cursor_row, time_key, carry, outcomes "
            "FROM monitors WHERE model = ?",
            (self.model,),
        ).fetchone()
        if row is None:
            return None
        keys = ("plan", "seq", "cursor_file", "cursor_row", "time_key", "carry", "outcomes")
        out = dict(zip(keys, row, strict=True))
        for k in ("carry", "outcomes"):
            out[k] = json.loads(out[k]) if out[k] else None
        return out

    def save(
        self,
        state: dict[str, Any],
        *,
        done: tuple[str, str, int] | None = None,
        matched: list[str] | None = None,
    ) -> None:
        """One transaction: the state, a file finished, labels used (their pending rows)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO monitors (model, plan, seq, cursor_file, cursor_row, "
                "time_key, carry, outcomes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.model, state["plan"], state["seq"], state["cursor_file"],
                 state["cursor_row"], state["time_key"],
                 json.dumps(state["carry"]) if state["carry"] else None,
                 json.dumps(state["outcomes"]) if state["outcomes"] else None),
            )  # fmt: skip
            if done is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO files (model, sha256, name, rows) VALUES (?, ?, ?, ?)",
                    (self.model, *done),
                )
            if matched:
                self._db.executemany(
                    "DELETE FROM pending WHERE model = ? AND id = ?",
                    [(self.model, i) for i in matched],
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def done(self, sha256: str) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM files WHERE model = ? AND sha256 = ?", (self.model, sha256)
            ).fetchone()
            is not None
        )

    def add_pending(self, rows: list[tuple[str, int, str]]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany(
            "INSERT OR REPLACE INTO pending (model, id, pred, groups) VALUES (?, ?, ?, ?)",
            [(self.model, i, p, g) for i, p, g in rows],
        )
        self._db.execute("COMMIT")

    def find_pending(self, ids: list[str]) -> dict[str, tuple[int, str]]:
        found = self._db.execute(
            "SELECT p.id, p.pred, p.groups FROM json_each(?) AS j "
            "JOIN pending AS p ON p.model = ? AND p.id = j.value",
            (json.dumps(ids, ensure_ascii=False), self.model),
        )
        return {str(i): (int(p), str(g)) for i, p, g in found}

    def pending_count(self) -> int:
        return int(
            self._db.execute(
                "SELECT count(*) FROM pending WHERE model = ?", (self.model,)
            ).fetchone()[0]
        )


# ---------------------------------------------------------------- the monitor


@dataclass
class FeedResult:
    file: str
    rows: int
    windows: list[dict[str, Any]]
    skipped: str | None = None


class Monitor:
    """Feeds files of one model into windows. Hold it open for a whole run (the trail's
    writer lock keeps other writers out, so the facts gathered at the start stay true
    apart from what this monitor itself records)."""

    def __init__(self, trail: Trail, model: ModelRecord, signer: SigningKey) -> None:
        from fairtrail.policy.decisions import current_policies
        from fairtrail.policy.facts import gather_facts

        self.trail, self.model, self.signer = trail, model, signer
        self.plan = current_plan(trail, model)
        self.policies = current_policies(trail, self.plan.predicate["policies"])
        self._facts = gather_facts(trail, model)
        self._open = self._open_alerts()
        self._windows = len(trail.indices_about(model.digest, WINDOW_PREDICATE))
        self._db = _State(trail.paths.root / "monitor.db", model.ref)
        self.state = self._recover()
        self.counts = self._counts(self.state["carry"], outcomes=False)
        self.outcomes = self._counts(self.state["outcomes"], outcomes=True)
        self._matched: list[str] = []
        self.on_window: Callable[[dict[str, Any]], None] | None = None
        self.stop: Callable[[], bool] = lambda: False

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- restart

    def _recover(self) -> dict[str, Any]:
        """The state to go on from: monitor.db's, unless the log holds a newer window (a
        crash between appending a window and saving the state)."""
        saved = self._db.load()
        if saved is not None and saved["plan"] != self.plan.entry:
            saved = None  # a new plan starts afresh
        state = saved or {
            "plan": self.plan.entry, "seq": 0, "cursor_file": None, "cursor_row": 0,
            "time_key": None, "carry": None, "outcomes": None,
        }  # fmt: skip
        latest = self._latest_window()
        if latest is not None and latest["seq"] > state["seq"]:
            last = latest["report"]["source"][-1] if latest["report"]["source"] else None
            state["seq"] = latest["seq"]
            if last is not None:
                state["cursor_file"], state["cursor_row"] = last["sha256"], last["rows"][1]
            state["time_key"] = latest["window"].get("key")
            state["outcomes" if latest["kind"] == "outcomes" else "carry"] = None
            self._db.save(state)
        return state

    def _latest_window(self) -> dict[str, Any] | None:
        for index in reversed(self.trail.indices_about(self.model.digest, WINDOW_PREDICATE)):
            _, st = self.trail.statement(index)
            if st.predicate.get("plan") == self.plan.entry:
                return dict(st.predicate)
        return None

    def _counts(self, doc: dict[str, Any] | None, *, outcomes: bool) -> WindowCounts:
        features = [] if outcomes else self.plan.features
        if doc:
            return WindowCounts.from_dict(doc, features)
        return WindowCounts(features, self.plan.sensitive)

    def _open_alerts(self) -> dict[str, str]:
        """rule id -> alert id of the alerts about this model still open."""
        from fairtrail.policy.facts import open_alerts

        alerts = open_alerts(self.trail, self.model)
        return {str(a.get("rule")): str(a.get("alertId")) for a in alerts}

    # -- reading

    def feed(self, path: Path) -> FeedResult:
        """Read one file (predictions, or late labels) into windows."""
        sha = _sha256(path)
        if self._db.done(sha):
            return FeedResult(path.name, 0, [], skipped="already read")
        start = self.state["cursor_row"] if self.state["cursor_file"] == sha else 0
        columns = self.plan.columns
        names = _columns_of(path)
        labels_only = columns["prediction"] not in names
        if labels_only and not (columns["id"] in names and columns["label"] in names):
            raise InputError(
                f"{path.name} has no prediction column {columns['prediction']!r} (nor the "
                f"id and label columns {columns['id']!r}, {columns['label']!r} of late labels)"
            )
        windows: list[dict[str, Any]] = []
        self.on_window = windows.append
        row = 0
        malformed = [0]
        for batch in _batches(path, names, malformed):
            if self.stop():
                raise Stopped
            counts = self.outcomes if labels_only else self.counts
            if malformed[0]:
                counts.reject("malformed row", malformed[0])
                malformed[0] = 0
            n = batch.num_rows
            if row + n <= start:
                row += n
                continue
            if row < start:
                batch = batch.slice(start - row)
                row = start
            self._take(batch, path.name, sha, row, labels_only)
            row += batch.num_rows
        if malformed[0]:
            (self.outcomes if labels_only else self.counts).reject("malformed row", malformed[0])
        self._save(done=(sha, path.name, row))
        return FeedResult(path.name, row, windows)

    def _take(self, batch: pa.Table, name: str, sha: str, row: int, labels_only: bool) -> None:
        size = int(self.plan.window["size"])
        by_time = self.plan.window["kind"] == "seconds" and not labels_only
        pos = 0
        while pos < batch.num_rows:
            counts = self.outcomes if labels_only else self.counts
            if by_time:
                take = self._time_run(batch, pos)
            else:
                if counts.rows >= size:
                    self._close(labels_only, sha, row + pos)
                    continue
                take = min(batch.num_rows - pos, size - counts.rows)
            part = batch.slice(pos, take)
            if labels_only:
                self._count_labels(part)
            else:
                self._count(part)
            counts.add_source(name, sha, row + pos, row + pos + take)
            pos += take
            if not by_time and counts.rows >= size:
                self._close(labels_only, sha, row + pos)

    def _time_run(self, batch: pa.Table, pos: int) -> int:
        """Rows from `pos` that fall in one window; closes the open window when the
        run starts a later one. Rows of an earlier window are rejected as late."""
        keys = self._keys(batch.slice(pos))
        first = keys[0]
        change = np.flatnonzero(keys != first)
        take = int(change[0]) if len(change) else len(keys)
        current = self.state["time_key"]
        if first >= 0 and (current is None or first > current):
            if self.counts.rows:
                self._close(False, None, None)
            self.state["time_key"] = int(first)
        elif first >= 0 and first < current:
            self._late = take  # counted by _count as rejected
        return take

    def _keys(self, batch: pa.Table) -> np.ndarray[Any, np.dtype[np.int64]]:
        column = self.plan.columns["time"]
        seconds = int(self.plan.window["size"])
        values = batch.column(column) if column in batch.column_names else pa.nulls(len(batch))
        try:
            stamps = pc.cast(pc.cast(values, pa.string()), pa.timestamp("s", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            stamps = pa.array([_stamp(v) for v in values.to_pylist()], pa.timestamp("s", "UTC"))
        epoch = pc.cast(stamps, pa.int64())
        raw = np.asarray(pc.fill_null(epoch, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        return np.where(raw >= 0, raw // seconds, -1)

    _late = 0

    def _count(self, part: pa.Table) -> None:
        counts = self.counts
        if self._late:
            counts.reject("late (its window is recorded)", part.num_rows)
            self._late = 0
            return
        columns = self.plan.columns
        negative, positive = self.plan.labels
        valid = np.ones(part.num_rows, dtype=bool)
        pred = _text(part, columns["prediction"])
        is_pos = _equals(pred, positive)
        is_neg = _equals(pred, negative)
        missing = _is_null(pred)
        counts.reject("missing prediction", int(missing.sum()))
        unknown = ~(is_pos | is_neg | missing)
        counts.reject("unknown prediction value", int(unknown.sum()))
        valid &= is_pos | is_neg
        y_true = labelled = None
        if columns["label"] in part.column_names:
            label = _text(part, columns["label"])
            t_pos, t_neg = _equals(label, positive), _equals(label, negative)
            bad = valid & ~(t_pos | t_neg | _is_null(label))
            counts.reject("unknown label value", int(bad.sum()))
            valid &= ~bad
            y_true, labelled = t_pos, (t_pos | t_neg)
        if self.plan.window["kind"] == "seconds":
            bad_time = valid & (self._keys(part) < 0)
            counts.reject("missing or bad time", int(bad_time.sum()))
            valid &= ~bad_time
        if not valid.any():
            return
        keep = pa.array(valid)
        rows = part.filter(keep)
        features = {
            f.name: rows.column(f.name) if f.name in rows.column_names else pa.nulls(len(rows))
            for f in self.plan.features
        }
        groups = {
            c: rows.column(c) if c in rows.column_names else pa.nulls(len(rows), pa.string())
            for c in self.plan.sensitive
        }
        y_pred = is_pos[valid]
        times = None
        if columns["time"] and columns["time"] in rows.column_names:
            stamps = rows.column(columns["time"])
            times = (str(stamps[0].as_py()), str(stamps[len(rows) - 1].as_py()))
        counts.add(
            features, self.plan.features, y_pred,
            None if y_true is None else y_true[valid],
            None if labelled is None else labelled[valid], groups, times,
        )  # fmt: skip
        if columns["id"] and columns["id"] in rows.column_names:
            unlabelled = ~labelled[valid] if labelled is not None else np.ones(len(rows), bool)
            if unlabelled.any():
                self._keep_pending(rows.filter(pa.array(unlabelled)), y_pred[unlabelled])

    def _keep_pending(self, rows: pa.Table, y_pred: np.ndarray[Any, Any]) -> None:
        ids = rows.column(self.plan.columns["id"]).to_pylist()
        groups = [
            [str(v) if v is not None else None for v in rows.column(c).to_pylist()]
            if c in rows.column_names else [None] * len(rows)
            for c in self.plan.sensitive
        ]  # fmt: skip
        self._db.add_pending([
            (str(i), int(p), json.dumps([g[k] for g in groups]))
            for k, (i, p) in enumerate(zip(ids, y_pred.tolist(), strict=True))
            if i is not None
        ])  # fmt: skip

    def _count_labels(self, part: pa.Table) -> None:
        counts = self.outcomes
        negative, positive = self.plan.labels
        ids = _text(part, self.plan.columns["id"]).to_pylist()
        labels = _text(part, self.plan.columns["label"]).to_pylist()
        found = self._db.find_pending([i for i in ids if i is not None])
        preds, truths, group_rows = [], [], []
        for i, label in zip(ids, labels, strict=True):
            if i is None or label is None:
                counts.reject("missing id or label")
            elif label not in (negative, positive):
                counts.reject("unknown label value")
            elif i not in found or i in self._matched_set:
                counts.reject("no waiting prediction with this id")
            else:
                pred, groups = found[i]
                preds.append(bool(pred))
                truths.append(label == positive)
                group_rows.append(json.loads(groups))
                self._matched.append(i)
                self._matched_set.add(i)
        if not preds:
            return
        groups_cols = {
            c: pa.array([g[k] for g in group_rows], pa.string())
            for k, c in enumerate(self.plan.sensitive)
        }
        y_pred = np.asarray(preds, dtype=bool)
        counts.add({}, [], y_pred, np.asarray(truths, dtype=bool),
                   np.ones(len(preds), dtype=bool), groups_cols)  # fmt: skip

    @property
    def _matched_set(self) -> set[str]:
        if not hasattr(self, "_matched_index"):
            self._matched_index: set[str] = set(self._matched)
        return self._matched_index

    # -- windows

    def _close(self, outcomes: bool, sha: str | None, row: int | None) -> None:
        counts = self.outcomes if outcomes else self.counts
        report = window_report(
            counts, [] if outcomes else self.plan.features,
            None if outcomes else float(self.plan.predicate["referencePositiveRate"]),
            min_group_size=int(self.plan.predicate["minGroupSize"]),
        )  # fmt: skip
        seq = self.state["seq"] + 1
        window: dict[str, Any] = dict(self.plan.window)
        if window["kind"] == "seconds" and not outcomes:
            key = self.state["time_key"]
            window["key"] = key
            window["start"] = _iso(key * window["size"])
            window["end"] = _iso((key + 1) * window["size"])
        predicate: dict[str, Any] = {
            "model": {"name": self.model.name, "entry": self.model.index,
                      "digest": self.model.digest},
            "plan": self.plan.entry,
            "seq": seq,
            "kind": "outcomes" if outcomes else "predictions",
            "window": window,
            "report": report,
        }  # fmt: skip
        results = self._judge(predicate)
        predicate["policies"] = results
        predicate["recordedAt"] = _now()
        statement = Statement(
            subject=[Subject(name=self.model.name, digest=self.model.digest)],
            predicate_type=WINDOW_PREDICATE,
            predicate=predicate,
        )
        receipt = self.trail.record(statement, self.signer)
        self._windows += 1
        self.state["seq"] = seq
        if sha is not None and row is not None:
            self.state["cursor_file"], self.state["cursor_row"] = sha, row
        if outcomes:
            self.outcomes = self._counts(None, outcomes=True)
            self.state["outcomes"] = None
        else:
            self.counts = self._counts(None, outcomes=False)
            self.state["carry"] = None
        self._save()
        summary = {"seq": seq, "entry": receipt.index, "kind": predicate["kind"],
                   "rows": report["rows"], "policies": results, "alerts": []}  # fmt: skip
        failing = [(p, r) for p in results for r in p["failing"]]
        new = [(p, r) for p, r in failing if r["id"] not in self._open]
        if new:
            summary["alerts"] = self._alert(new, seq, receipt.index)
        if self.on_window is not None:
            self.on_window(summary)

    def _judge(self, predicate: dict[str, Any]) -> list[dict[str, Any]]:
        facts = dict(self._facts)
        facts["monitoring"] = {
            "open_alerts": len(self._open),
            "windows": self._windows + 1,
            "latest": window_facts(predicate, self._windows + 1),
        }
        out = []
        for recorded in self.policies:
            facts["params"] = dict(recorded.policy.doc.params)
            results = recorded.policy.evaluate(facts)
            failing = [r for r in results if not r.passed and r.severity == "error"]
            out.append({
                "name": recorded.name, "version": recorded.policy.doc.version,
                "digest": {"sha256": recorded.policy.digest},
                "passed": not failing,
                "failing": [{"id": r.id, "message": r.message, "error": r.error} for r in failing],
                "warnings": [r.id for r in results if not r.passed and r.severity != "error"],
            })  # fmt: skip
        return out

    def _alert(
        self, new: list[tuple[dict[str, Any], dict[str, Any]]], seq: int, entry: int
    ) -> list[dict[str, Any]]:
        """Open an alert per newly failing rule, re-judge the model (a failing
        PolicyDecision), and revoke on-chain approvals if the plan says so."""
        from fairtrail.policy.decisions import check_model
        from fairtrail.policy.gates import DEPLOYMENT_PREDICATE

        deployments = []
        for index in self.trail.indices_about(self.model.digest, DEPLOYMENT_PREDICATE):
            _, st = self.trail.statement(index)
            deployments.append({"entry": index, "environment": st.predicate.get("environment")})
        opened = []
        for policy, rule in new:
            alert_id = f"{next(iter(self.model.digest.values()))[:12]}-w{seq}-{rule['id']}"
            statement = Statement(
                subject=[Subject(name=self.model.name, digest=self.model.digest)],
                predicate_type=ALERT_PREDICATE,
                predicate={
                    "alertId": alert_id, "state": "open", "rule": rule["id"],
                    "policy": policy["name"], "message": rule["message"],
                    "window": {"seq": seq, "entry": entry},
                    "deployments": deployments, "compliance": "non-compliant",
                    "openedAt": _now(),
                },
            )  # fmt: skip
            index = self.trail.record(statement, self.signer).index
            self._open[rule["id"]] = alert_id
            opened.append({"alertId": alert_id, "entry": index, "rule": rule["id"]})
        # the re-audit: the model judged again by each policy with the new evidence
        for recorded in self.policies:
            receipt, _ = check_model(self.trail, self.model, recorded, self.signer)
            opened[-1].setdefault("decisions", []).append(receipt.index)
        revoked = self._revoke()
        if revoked:
            opened[-1]["revocations"] = revoked
        return opened

    def _revoke(self) -> list[str]:
        from fairtrail.anchoring import approve_model

        done = []
        for item in self.plan.predicate.get("revoke", []):
            chain = self.trail.config.chain(item["chain"])
            try:
                signer = self.trail.actor_key(item["auditor"])
                predicate, _ = approve_model(
                    self.trail, self.model, chain, signer,
                    self.trail.paths.eth_key(item["auditor"]), revoke=True,
                )  # fmt: skip
                done.append(f"{item['auditor']} on {chain.name}: tx {predicate['txHash']}")
            except FairtrailError as exc:  # reported, never fatal: the alert stands
                done.append(f"{item['auditor']} on {chain.name}: not revoked ({exc})")
        return done

    def _save(self, done: tuple[str, str, int] | None = None) -> None:
        self.state["carry"] = self.counts.to_dict() if self.counts.rows else None
        self.state["outcomes"] = self.outcomes.to_dict() if self.outcomes.rows else None
        self._db.save(self.state, done=done, matched=self._matched)
        self._matched = []
        self._matched_index = set()

    def pending(self) -> int:
        return self._db.pending_count()


# ---------------------------------------------------------------- alerts


def resolve_alert(
    trail: Trail, model: ModelRecord, alert_id: str, comment: str, signer: SigningKey
) -> int:
    """A person closes an alert (the model stays non-compliant until a new policy check
    passes: the failing decision is the latest until then)."""
    from fairtrail.policy.gates import DEPLOY_ROLES
    from fairtrail.statements.actors import Role

    actor = trail.keyring.by_key(signer.public)
    allowed = {Role.AUDITOR, Role.COMPLIANCE_OFFICER, *DEPLOY_ROLES}
    if actor is None or not actor.roles & allowed:
        who = actor.name if actor else "this key"
        raise InputError(
            f"{who} may not resolve alerts: needs one of the roles "
            + ", ".join(sorted(r.value for r in allowed))
        )
    if not comment.strip():
        raise InputError("say why the alert is resolved (--comment)")
    state: dict[str, dict[str, Any]] = {}
    for index in trail.indices_about(model.digest, ALERT_PREDICATE):
        _, st = trail.statement(index)
        state[str(st.predicate.get("alertId"))] = dict(st.predicate)
    current = state.get(alert_id)
    if current is None:
        raise InputError(f"no alert {alert_id!r} about {model.name}")
    if current.get("state") != "open":
        raise InputError(f"alert {alert_id} is already {current.get('state')}")
    statement = Statement(
        subject=[Subject(name=model.name, digest=model.digest)],
        predicate_type=ALERT_PREDICATE,
        predicate={"alertId": alert_id, "state": "resolved", "rule": current.get("rule"),
                   "policy": current.get("policy"), "message": current.get("message"),
                   "comment": comment.strip()[:2000], "resolvedAt": _now()},
    )  # fmt: skip
    return trail.record(statement, signer).index


# ---------------------------------------------------------------- files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return h.hexdigest()


def _columns_of(path: Path) -> list[str]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot read {path.name}: {str(exc).splitlines()[0]}") from None
    if suffix in (".csv", ".tsv"):
        with path.open("r", encoding="utf-8", errors="replace", newline="") as f:
            header = f.readline(MAX_LINE_BYTES).rstrip("\r\n")
        import csv

        return next(csv.reader([header], delimiter="\t" if suffix == ".tsv" else ","), [])
    if suffix in (".jsonl", ".ndjson"):
        names: dict[str, None] = {}
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f):
                if n >= 100:
                    break
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if isinstance(value, dict):
                    names.update(dict.fromkeys(value))
        return list(names)
    raise InputError(f"{path.name}: predictions come as .csv, .tsv, .parquet or .jsonl")


def _batches(path: Path, names: list[str], malformed: list[int]) -> Iterator[pa.Table]:
    """The file in chunks, every column as text (numbers are cast where used), rows
    with the wrong number of fields counted in `malformed[0]` instead of read."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS):
                yield pa.Table.from_batches([batch])
            return
        if suffix in (".csv", ".tsv"):
            import pyarrow.csv as pcsv

            def invalid(row: Any) -> str:
                malformed[0] += 1
                return "skip"

            reader = pcsv.open_csv(
                path,
                read_options=pcsv.ReadOptions(block_size=4 << 20),
                parse_options=pcsv.ParseOptions(
                    delimiter="\t" if suffix == ".tsv" else ",", invalid_row_handler=invalid
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
                ),
            )
            for batch in reader:
                yield pa.Table.from_batches([batch])
            return
        rows: list[dict[str, Any]] = []
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    value = json.loads(line) if len(line) <= MAX_LINE_BYTES else None
                except ValueError:
                    value = None
                if not isinstance(value, dict):
                    malformed[0] += 1
                    continue
                rows.append({k: None if v is None else str(v) for k, v in value.items()
                             if k in names})  # fmt: skip
                if len(rows) == CHUNK_ROWS:
                    yield _table(rows, names)
                    rows = []
        if rows:
            yield _table(rows, names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read {path.name}: {str(exc).splitlines()[0]}") from None


def _table(rows: list[dict[str, Any]], names: list[str]) -> pa.Table:
    return pa.table({n: pa.array([r.get(n) for r in rows], pa.string()) for n in names})


def _text(table: pa.Table, column: str | None) -> pa.ChunkedArray:
    if not column or column not in table.column_names:
        return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    values = table.column(column)
    text = values if values.type == pa.string() else pc.cast(values, pa.string())
    return pc.utf8_trim_whitespace(text)


def _equals(values: pa.ChunkedArray, target: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray(
        pc.fill_null(pc.equal(values, target), False).to_numpy(zero_copy_only=False), dtype=bool
    )


def _is_null(values: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray(pc.is_null(values).to_numpy(zero_copy_only=False), dtype=bool)


def _stamp(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------- watching


class Stopped(Exception):
    """A stop was asked for (SIGINT/SIGTERM) between two chunks."""


def complete(path: Path) -> bool:
    """Whether a file looks fully written: text files end with a newline, Parquet files
    with their footer magic. (The watcher also waits for size and time to settle.)"""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            if size == 0:
                return False
            f.seek(max(0, size - 4))
            tail = f.read()
    except OSError:
        return False
    if path.suffix.lower() == ".parquet":
        return tail.endswith(b"PAR1")
    return tail.endswith(b"\n")


WATCHED = (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson")


def watch(
    monitor: Monitor,
    directory: Path,
    *,
    interval: float,
    stop: Callable[[], bool],
    once: bool = False,
    report: Callable[[FeedResult], None] | None = None,
) -> int:
    """Feed every complete file of `directory` (name order) as it lands; return how many
    files were read. A file is read once its size and time have not changed for one
    interval and it looks complete; hidden files and names ending in .part or .tmp are
    left alone. `stop` is asked between chunks and between polls."""
    import time

    if not directory.is_dir():
        raise InputError(f"no such folder: {directory}")
    seen: dict[str, tuple[int, int]] = {}
    finished: set[tuple[str, int, int]] = set()
    read = 0
    monitor.stop = stop
    while not stop():
        pending = False
        for path in sorted(directory.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in WATCHED:
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            mark = (st.st_size, st.st_mtime_ns)
            if (path.name, *mark) in finished:
                continue
            if seen.get(path.name) != mark and not once:
                seen[path.name] = mark  # changed since the last look: let it settle
                pending = True
                continue
            if not complete(path):
                pending = True
                continue
            result = monitor.feed(path)
            finished.add((path.name, *mark))
            read += result.skipped is None
            if report is not None:
                report(result)
            if stop():
                break
        if once and not pending:
            break
        deadline = time.monotonic() + (0 if once and not pending else interval)
        while time.monotonic() < deadline and not stop():
            time.sleep(min(0.1, interval))
        if once and pending:
            once = False  # settle what is still landing, then stop at the next quiet poll
            continue
    return read


# ---------------------------------------------------------------- status and chart


def windows_of(trail: Trail, model: ModelRecord) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for index in trail.indices_about(model.digest, WINDOW_PREDICATE):
        _, st = trail.statement(index)
        if st.predicate.get("model", {}).get("digest") == model.digest:
            out.append((index, dict(st.predicate)))
    return out


#: The series `monitor status` and the chart show: (label, path into the window facts).
SERIES = [
    ("max feature PSI", "psi_max"),
    ("positive prediction rate", "prediction_rate"),
    ("accuracy", "overall.accuracy"),
    ("demographic parity ratio", "disparities.demographic_parity_ratio"),
    ("equalized odds difference", "disparities.equalized_odds_difference"),
]
_THRESHOLD = r"monitoring\.latest\.([\w.]+)\s*(<=|>=|<|>)\s*params\.(\w+)"


def _fact(facts: dict[str, Any], path: str) -> float | None:
    value: Any = facts
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def thresholds(trail: Trail, plan: Plan) -> dict[str, list[tuple[str, float]]]:
    """Per fact path, the (comparator, value) limits the plan's policies state, read from
    rules written as `monitoring.latest.X <= params.Y`."""
    import re

    from fairtrail.policy.decisions import current_policies

    out: dict[str, list[tuple[str, float]]] = {}
    for recorded in current_policies(trail, plan.predicate["policies"]):
        params = recorded.policy.doc.params
        for rule in recorded.policy.doc.rules:
            for path, op, name in re.findall(_THRESHOLD, rule.expr):
                value = params.get(name)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    out.setdefault(path, []).append((op, float(value)))
    return out


def monitor_status(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    from fairtrail.policy.gates import DEPLOYMENT_PREDICATE

    plan = current_plan(trail, model)
    windows = windows_of(trail, model)
    from fairtrail.policy.facts import open_alerts as alerts_open

    open_alerts = alerts_open(trail, model)
    rows = []
    for index, w in windows:
        facts = window_facts(w, 0)
        rows.append({
            "entry": index, "seq": w["seq"], "kind": w["kind"], "rows": w["report"]["rows"],
            "rejected": facts["rejected"], "labelled": facts["labelled"],
            "passed": all(p["passed"] for p in w.get("policies", [])),
            "failing": [r["id"] for p in w.get("policies", []) for r in p["failing"]],
            **{path: _fact(facts, path) for _, path in SERIES},
        })  # fmt: skip
    deployments = []
    for index in trail.indices_about(model.digest, DEPLOYMENT_PREDICATE):
        _, st = trail.statement(index)
        deployments.append({
            "entry": index, "environment": st.predicate.get("environment"),
            "compliant": not open_alerts,
            "alerts": [a["alertId"] for a in open_alerts],
        })  # fmt: skip
    return {
        "model": {"name": model.name, "entry": model.index, "digest": model.ref},
        "plan": {
            "entry": plan.entry,
            "window": plan.window,
            "policies": plan.predicate["policies"],
        },
        "windows": rows,
        "openAlerts": [
            {k: a.get(k) for k in ("alertId", "entry", "rule", "message", "window")}
            for a in open_alerts
        ],  # fmt: skip
        "deployments": deployments,
        "thresholds": {k: v for k, v in thresholds(trail, plan).items()},
    }


_W, _H, _PAD = 640, 200, 30


def chart_html(status: dict[str, Any]) -> str:
    """One SVG line chart per series over the windows, the policies' limits drawn as
    dashed lines. Self-contained: no script, no external file."""
    from html import escape

    parts = []
    rows = status["windows"]
    for label, path in SERIES:
        points = [(r["seq"], r[path]) for r in rows if r[path] is not None]
        limits = status["thresholds"].get(path, [])
        values = [v for _, v in points] + [v for _, v in limits]
        if not points:
            continue
        low, high = min(values + [0.0]), max(values + [1.0])
        span = (high - low) or 1.0
        first, last = points[0][0], points[-1][0]

        def x(seq: int, first: int = first, last: int = last) -> float:
            return _PAD + (seq - first) / max(1, last - first) * (_W - 2 * _PAD)

        def y(v: float, low: float = low, span: float = span) -> float:
            return _H - _PAD - (v - low) / span * (_H - 2 * _PAD)

        line = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
        marks = "".join(
            f'<circle cx="{x(s):.1f}" cy="{y(v):.1f}" r="3"><title>window {s}: {v:.4g}</title>'
            "</circle>"
            for s, v in points
        )
        rules = "".join(
            f'<line x1="{_PAD}" x2="{_W - _PAD}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="#c00" stroke-dasharray="6 4"/><text x="{_W - _PAD}" y="{y(v) - 4:.1f}" '
            f'text-anchor="end" fill="#c00" font-size="11">limit {escape(op)} {v:g}</text>'
            for op, v in limits
        )
        parts.append(
            f"<h2>{escape(label)}</h2><svg _W='{_W}' _H='{_H}' role='img' "
            f"aria-label='{escape(label)} by window'><rect _W='{_W}' _H='{_H}' "
            f"fill='#fafafa'/>{rules}<polyline fill='none' stroke='#036' stroke-_W='2' "
            f"points='{line}'/>{marks}<text x='{_PAD}' y='{_H - 8}' font-size='11'>window "
            f"{first}</text><text x='{_W - _PAD}' y='{_H - 8}' font-size='11' "
            f"text-anchor='end'>window {last}</text></svg>"
        )
    model = status["model"]
    alerts = "".join(
        f"<li>{escape(str(a['alertId']))}: {escape(str(a['message']))}</li>"
        for a in status["openAlerts"]
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Monitoring of "
        f"{escape(model['name'])}</title><style>body{{font-family:sans-serif;margin:2rem}}"
        "</style></head><body>"
        f"<h1>Monitoring of {escape(model['name'])}</h1><p>{len(status['windows'])} windows; "
        f"open alerts: {len(status['openAlerts'])}</p><ul>{alerts}</ul>{''.join(parts)}"
        "</body></html>\n"
    )
