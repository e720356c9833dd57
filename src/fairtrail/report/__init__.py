"""Audit reports and the dashboard's pages: Jinja2 templates over `fairtrail.overview`.

from fairtrail.report import write_report
write_report(trail, model, Path("report.html"))   # + report.html.bundle.json
"""

from fairtrail.report.render import render, write_report

__all__ = ["render", "write_report"]
