"""Turn the overview dictionaries into HTML (dashboard pages and the standalone report).

Jinja2 escapes every value; the only markup passed through unescaped is the SVG that
`charts.py` builds (which escapes its own text). Nothing on a page loads anything from
the network: no script, font or image comes from elsewhere.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtrail.report import charts

if TYPE_CHECKING:
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Trail

__all__ = ["model_context", "render", "write_report"]

_ENV: Any = None

#: disparity name -> (policy param, "min" or "max"): the limit drawn and shown beside it
_LIMITS = {
    "demographic_parity_ratio": ("min_demographic_parity_ratio", "≥"),
    "equalized_odds_difference": ("max_equalized_odds_difference", "≤"),
    "demographic_parity_difference": ("max_demographic_parity_difference", "≤"),
    "equalized_odds_ratio": ("min_equalized_odds_ratio", "≥"),
}


def _env() -> Any:
    global _ENV
    if _ENV is None:
        try:
            import jinja2
        except ImportError:  # pragma: no cover - an extra
            from fairtrail.errors import InputError

            raise InputError("reports need Jinja2: pip install 'fairtrail[server]'") from None
        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("fairtrail.report", "templates"),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
        )
    return _ENV


def render(template: str, **context: Any) -> str:
    context.setdefault("standalone", False)
    return str(_env().get_template(template).render(**context))


def _markup(svg: str) -> Any:
    import markupsafe

    return markupsafe.Markup(svg)  # built by charts.py, which escapes every text it holds


def _flatten(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in nodes:
        details = ", ".join(
            f"{k}={v}" for k, v in n["details"].items() if not isinstance(v, dict | list)
        )
        out.append({**n, "details_text": details[:300]})
        out += _flatten(n["children"])
    return out


def model_context(overview: dict[str, Any]) -> dict[str, Any]:
    """Charts and tables for one model's page or report."""
    params = charts.policy_params(overview["decisions"])
    limits = {name: f"{op} {params[p]:g}" for name, (p, op) in _LIMITS.items() if p in params}
    fairness = []
    ev = overview["evaluation"]
    if ev is not None:
        ratio = params.get("min_demographic_parity_ratio")
        for column, groups in ev["report"]["by_group"].items():
            rates = [g["selection_rate"] for g in groups.values()
                     if g.get("selection_rate") is not None and not g.get("small")]  # fmt: skip
            threshold = ratio * max(rates) if ratio is not None and rates else None
            fairness.append(_markup(charts.group_bars(
                column, groups, "selection_rate", threshold, "selection rate")))  # fmt: skip
            fairness.append(
                _markup(charts.group_bars(column, groups, "tpr", None, "true positive rate"))
            )
    trends = []
    mon = overview["monitoring"]
    if mon is not None:
        from fairtrail.monitoring import SERIES

        for title, path in SERIES:
            values = [w.get(path) for w in mon["windows"]]
            if any(v is not None for v in values):
                limits_for = [(name, v) for name, v in mon["thresholds"].get(path, [])]
                trends.append(_markup(charts.trend(title, values, limits_for)))
    return {
        "o": overview,
        "limits": limits,
        "lineage_rows": _flatten(overview["lineage"]),
        "charts": {
            "lineage": _markup(charts.lineage_graph(overview["lineage"])),
            "fairness": fairness,
            "trends": trends,
        },
    }


def write_report(trail: Trail, model: ModelRecord, path: Path) -> tuple[Path, list[int]]:
    """Write the standalone audit report (HTML, or PDF for a `.pdf` path) and the
    evidence bundle beside it (`<path>.bundle.json`); returns the bundle's path and the
    entries left out of it because they are not under a checkpoint yet."""
    from fairtrail.evidence import export_bundle
    from fairtrail.overview import model_overview

    overview = model_overview(trail, model)
    bundle, left_out = export_bundle(trail, model)
    bundle_path = path.with_name(path.name + ".bundle.json")
    html = render(
        "model.html", standalone=True, origin=trail.config.origin, bundle_name=bundle_path.name,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        **model_context(overview),
    )  # fmt: skip
    data = _pdf(html) if path.suffix.lower() == ".pdf" else html.encode("utf-8")
    _atomic_write(bundle_path, json.dumps(bundle, indent=1).encode())
    _atomic_write(path, data)
    return bundle_path, left_out


def _pdf(html: str) -> bytes:
    """The report as PDF, by WeasyPrint (a maintained HTML/CSS to PDF renderer). It is
    given a URL fetcher that refuses every URL, so nothing named in a record (or in the
    page) is ever fetched while rendering; the page needs none."""
    try:
        import weasyprint
    except ImportError:
        from fairtrail.errors import InputError

        raise InputError("PDF reports need WeasyPrint: pip install 'fairtrail[report]'") from None
    except OSError as exc:  # WeasyPrint needs Pango (Debian: libpango-1.0-0, libpangoft2-1.0-0)
        from fairtrail.errors import InputError

        raise InputError(f"PDF reports need Pango, which could not be loaded: {exc}") from None

    def refuse(url: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"the report fetches nothing ({url[:60]})")

    return bytes(weasyprint.HTML(string=html, url_fetcher=refuse).write_pdf())


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
