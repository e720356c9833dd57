"""Small, self-contained SVG charts for the dashboard and the report (no script, no
network: a page shows the same numbers with JavaScript off, and a saved report still
renders years later). Every chart draws the policy threshold it is judged by."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["group_bars", "lineage_graph", "policy_params", "trend"]

_GOOD, _BAD, _INK, _MUTED = "#1a7f37", "#cf222e", "#1f2328", "#8c959f"


def policy_params(decisions: list[dict[str, Any]]) -> dict[str, float]:
    """The params of the latest decision that carried any (thresholds to draw)."""
    for d in reversed(decisions):
        params = d.get("params")
        if isinstance(params, dict):
            return {k: float(v) for k, v in params.items() if isinstance(v, int | float)}
    return {}


def group_bars(
    column: str,
    groups: dict[str, dict[str, Any]],
    metric: str,
    threshold: float | None,
    label: str,
) -> str:
    """Horizontal bars of `metric` per group; `threshold` (a rate) drawn as a dashed line,
    bars under it in red. Small groups are shown hatched and not judged."""
    names = list(groups)
    row, left, width = 26, 150, 360
    height = 30 + row * len(names)
    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {left + width + 70} {height}" '
        f'aria-label="{escape(label)} by {escape(column)}">',
        f"<title>{escape(label)} by {escape(column)}</title>",
    ]
    for i, name in enumerate(names):
        g = groups[name]
        value = g.get(metric)
        y = 20 + i * row
        out.append(
            f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{escape(str(name))} (n={g.get('count', '?')})</text>"
        )
        if value is None or g.get("small"):
            out.append(
                f'<text x="{left + 4}" y="{y + 14}" font-size="12" fill="{_MUTED}">'
                "not rated (small group)</text>"
                if g.get("small")
                else f'<text x="{left + 4}" y="{y + 14}" font-size="12" fill="{_MUTED}">'
                "undefined</text>"
            )
            continue
        bad = threshold is not None and value < threshold
        w = max(1.0, float(value) * width)
        out.append(
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="18" '
            f'fill="{_BAD if bad else _GOOD}" data-group="{escape(str(name))}" '
            f'data-value="{value:.4f}"/>'
        )
        out.append(f'<text x="{left + w + 4}" y="{y + 14}" font-size="12">{value:.3f}</text>')
    if threshold is not None:
        x = left + threshold * width
        out.append(
            f'<line class="threshold" x1="{x:.1f}" y1="12" x2="{x:.1f}" y2="{height - 4}" '
            f'stroke="{_INK}" stroke-dasharray="4 3"/>'
        )
        out.append(f'<text x="{x + 3:.1f}" y="10" font-size="11">threshold {threshold:.3f}</text>')
    out.append("</svg>")
    return "".join(out)


def trend(title: str, values: list[float | None], limits: list[tuple[str, float]]) -> str:
    """One metric over monitoring windows, each policy limit as a dashed line."""
    w, h, pad = 520, 150, 28
    known = [v for v in values if v is not None] + [v for _, v in limits]
    lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    n = max(1, len(values) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return pad + i * (w - 2 * pad) / n, h - pad - (v - lo) * (h - 2 * pad) / (hi - lo)

    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {w} {h}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{pad}" y="14" font-size="12" font-weight="600">{escape(title)}</text>',
    ]
    for name, v in limits:
        _, y = xy(0, v)
        out.append(
            f'<line class="threshold" x1="{pad}" y1="{y:.1f}" x2="{w - pad}" y2="{y:.1f}" '
            f'stroke="{_BAD}" stroke-dasharray="4 3"/><text x="{w - pad}" y="{y - 3:.1f}" '
            f'font-size="10" text-anchor="end">{escape(name)} {v:g}</text>'
        )
    points = [xy(i, v) for i, v in enumerate(values) if v is not None]
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{_INK}" stroke-width="1.5"/>')
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>' for x, y in points]
    out.append(
        f'<text x="{pad}" y="{h - 8}" font-size="10" fill="{_MUTED}">window 1</text>'
        f'<text x="{w - pad}" y="{h - 8}" font-size="10" fill="{_MUTED}" '
        f'text-anchor="end">window {len(values)}</text></svg>'
    )
    return "".join(out)


def lineage_graph(nodes: list[dict[str, Any]]) -> str:
    """Data sets → training run → model, left to right, one column per depth."""
    columns: list[list[dict[str, Any]]] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        while len(columns) <= depth:
            columns.append([])
        columns[depth].append(node)
        for child in node.get("children", []):
            walk(child, depth + 1)

    for n in nodes:
        walk(n, 0)
    columns.reverse()  # sources on the left
    bw, bh, gx, gy = 190, 46, 60, 16
    tall = max((len(c) for c in columns), default=1)
    width, height = len(columns) * (bw + gx), tall * (bh + gy) + gy
    pos: dict[int, tuple[float, float]] = {}
    out = [
        f'<svg class="chart lineage" role="img" viewBox="0 0 {width} {height}" '
        'aria-label="lineage">',
        "<title>lineage</title>",
    ]
    for ci, col in enumerate(columns):
        for ri, node in enumerate(col):
            x, y = ci * (bw + gx) + 4, gy + ri * (bh + gy)
            pos[id(node)] = (x, y)
            proved = str(node.get("proof", "")).startswith("proved")
            out.append(
                f'<g class="node" data-kind="{escape(node["kind"])}">'
                f'<rect x="{x}" y="{y}" width="{bw}" height="{bh}" rx="6" fill="#f6f8fa" '
                f'stroke="{_GOOD if proved else _MUTED}"/>'
                f'<text x="{x + 8}" y="{y + 18}" font-size="12" font-weight="600">'
                f"{escape(node['kind'])} #{node['index']}</text>"
                f'<text x="{x + 8}" y="{y + 35}" font-size="11">'
                f"{escape(str(node['name'])[:28])}</text></g>"
            )
    for col in columns:
        for node in col:
            for child in node.get("children", []):
                if id(child) in pos:
                    (x1, y1), (x2, y2) = pos[id(child)], pos[id(node)]
                    out.append(
                        f'<line x1="{x1 + bw}" y1="{y1 + bh / 2}" x2="{x2}" '
                        f'y2="{y2 + bh / 2}" stroke="{_MUTED}" marker-end="url(#arrow)"/>'
                    )
    out.insert(
        2,
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" '
        f'fill="{_MUTED}"/></marker></defs>',
    )
    out.append("</svg>")
    return "".join(out)
