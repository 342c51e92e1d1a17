"""Charts and the KPI tree as SVG, drawn offline from the same Altair specs and Graphviz source as the pages.

Altair -> Vega-Lite -> SVG through vl-convert (no browser); DOT -> SVG through Graphviz `dot`. Both get the
report's font so that Japanese labels embed the same Noto Sans CJK face as the text.
"""
from __future__ import annotations

import shutil
import subprocess

import altair as alt
import vl_convert

from kpi_core.domain.report import ReportError

REPORT_FONT = "Noto Sans CJK JP"
DOT_TIMEOUT_S = 20


def chart_svg(chart: alt.TopLevelMixin, width: int = 560) -> str:
    """The chart as SVG text, sized for a report column."""
    spec = chart.properties(width=width).configure(font=REPORT_FONT).to_dict()
    return vl_convert.vegalite_to_svg(spec)


def dot_svg(dot_source: str) -> str:
    """The DOT source as SVG text. Graphviz missing or failing is a report error, not a traceback."""
    executable = shutil.which("dot")
    if executable is None:
        raise ReportError("report.error.graphviz_missing")
    try:
        done = subprocess.run([executable, "-Tsvg"], input=dot_source.encode("utf-8"), capture_output=True,
                              timeout=DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ReportError("report.error.graphviz_failed", detail="timeout") from None
    if done.returncode != 0:
        raise ReportError("report.error.graphviz_failed", detail=done.stderr.decode("utf-8", "replace")[:200])
    return done.stdout.decode("utf-8")
