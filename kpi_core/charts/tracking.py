"""Charts of the PDCA loop: actual vs target per month, the KGI's cumulative path, KPI small multiples and the
variance attribution of the KGI. Texts come from the catalogue in the language given; figures are pre-formatted
for tooltips so that money reads as 1,500万円 / ¥15.0M."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import pandas as pd

from kpi_core.charts.axes import figure_axis
from kpi_core.domain.model import Aggregation
from kpi_core.domain.tracking import (
    STATUS_COLOUR,
    STATUS_ORDER,
    MetricTracking,
    VarianceAttribution,
    month_label,
)
from kpi_core.domain.units import format_percent, format_value, is_money, one_line
from kpi_core.i18n import t

SERIES_COLOURS = {"target": "#64748b", "actual": "#2563eb", "forecast": "#ea580c"}
POSITIVE, NEGATIVE = "#2e7d32", "#c62828"
MAX_LABEL = 40  # long names are cut so that axes and facet headers stay readable
BAR_STEP = 44


def _status_scale(lang: str) -> alt.Scale:
    return alt.Scale(domain=[t(f"enum.status.{s}", lang) for s in STATUS_ORDER],
                     range=[STATUS_COLOUR[s] for s in STATUS_ORDER])


def monthly_chart(metric: MetricTracking, lang: str, full_digits: bool = False) -> alt.Chart:
    """Bars of the monthly actuals coloured by status, the monthly target as a line."""
    unit = metric.spec.unit
    order = [month_label(r.month, lang) for r in metric.rows]
    frame = pd.DataFrame([{
        "month": month_label(r.month, lang),
        "actual": r.actual,
        "target": r.target,
        "status": t(f"enum.status.{r.status}", lang),
        "actual_text": format_value(r.actual, unit, lang, full_digits),
        "target_text": format_value(r.target, unit, lang, full_digits),
        "attainment_text": format_percent(r.attainment),
    } for r in metric.rows])
    x = alt.X("month:N", sort=order, title=None, axis=alt.Axis(labelAngle=-40))
    tooltip = [alt.Tooltip("month:N", title=t("pdca.chart.month", lang)),
               alt.Tooltip("actual_text:N", title=t("pdca.chart.actual", lang)),
               alt.Tooltip("target_text:N", title=t("pdca.chart.target", lang)),
               alt.Tooltip("attainment_text:N", title=t("pdca.chart.attainment", lang)),
               alt.Tooltip("status:N", title=t("pdca.chart.status", lang))]
    bars = alt.Chart(frame).mark_bar(cornerRadiusTopLeft=4, cornerRadiusTopRight=4).encode(
        x=x, y=alt.Y("actual:Q", title=None, axis=figure_axis(unit, lang)),
        color=alt.Color("status:N", scale=_status_scale(lang),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=tooltip,
    )
    target = alt.Chart(frame).mark_line(point=True, strokeWidth=3, color=SERIES_COLOURS["target"]).encode(
        x=x, y=alt.Y("target:Q"), tooltip=tooltip)
    return alt.layer(bars, target).properties(height=300)


def cumulative_chart(metric: MetricTracking, lang: str, full_digits: bool = False) -> alt.Chart:
    """The KGI's path: cumulative actual vs cumulative target (SUM), or monthly values (levels and rates),
    with the forecast dashed from the latest actual to the end of the horizon."""
    unit, cumulative = metric.spec.unit, metric.spec.aggregation is Aggregation.SUM
    names = {s: t(f"pdca.chart.{s}", lang) for s in ("target", "actual", "forecast")}
    rows, running_target, running_actual = [], 0.0, 0.0
    for r in metric.rows:
        label = month_label(r.month, lang)
        running_target += r.target or 0.0
        running_actual += r.actual or 0.0
        target = running_target if cumulative else r.target
        if target is not None:
            rows.append((label, names["target"], target))
        if r.month in metric.data_months:
            rows.append((label, names["actual"], running_actual if cumulative else r.actual))
    rows += _forecast_points(metric, lang, names["forecast"], running_actual if cumulative else None)
    frame = pd.DataFrame(rows, columns=["month", "series", "value"])
    frame["value_text"] = [format_value(v, unit, lang, full_digits) for v in frame["value"]]
    order = [month_label(r.month, lang) for r in metric.rows]
    return alt.Chart(frame).mark_line(point=True, strokeWidth=3).encode(
        x=alt.X("month:N", sort=order, title=None, axis=alt.Axis(labelAngle=-40)),
        y=alt.Y("value:Q", title=None, axis=figure_axis(unit, lang)),
        color=alt.Color("series:N", scale=alt.Scale(domain=list(names.values()),
                                                    range=list(SERIES_COLOURS.values())),
                        legend=alt.Legend(orient="top", title=None)),
        strokeDash=alt.StrokeDash("series:N", scale=alt.Scale(domain=list(names.values()),
                                                             range=[[1, 0], [1, 0], [8, 5]]), legend=None),
        tooltip=[alt.Tooltip("month:N", title=t("pdca.chart.month", lang)),
                 alt.Tooltip("series:N", title=" "),
                 alt.Tooltip("value_text:N", title=t("pdca.chart.value", lang))],
    ).properties(height=340)


def _forecast_points(metric: MetricTracking, lang: str, name: str,
                     cumulative_actual: float | None) -> list[tuple[str, str, float]]:
    """From the latest actual to the last month of the horizon: run-rate for SUM, flat YTD value otherwise."""
    latest = metric.latest
    if latest is None or metric.forecast is None:
        return []
    after = [r.month for r in metric.rows if r.month > latest.month]
    if not after:
        return []
    if cumulative_actual is None:
        start = latest.actual
        return [(month_label(m, lang), name, v) for m, v in
                [(latest.month, start)] + [(m, metric.forecast) for m in after]]
    step = metric.run_rate or 0.0
    points = [(latest.month, cumulative_actual)]
    points += [(m, cumulative_actual + step * (i + 1)) for i, m in enumerate(after)]
    return [(month_label(m, lang), name, v) for m, v in points]


def kpi_small_multiples(metrics: Sequence[MetricTracking], lang: str, columns: int = 3,
                        full_digits: bool = False) -> alt.FacetChart:
    """One panel per KPI: monthly attainment (actual vs target) coloured by status, 100 % drawn as a rule.
    Attainment puts counts, rates and money on one comparable scale."""
    rows = []
    for metric in metrics:
        for r in metric.rows:
            rows.append({"kpi": one_line(metric.spec.name, MAX_LABEL), "month": month_label(r.month, lang),
                         "attainment": r.attainment, "status": t(f"enum.status.{r.status}", lang),
                         "actual_text": format_value(r.actual, metric.spec.unit, lang, full_digits),
                         "target_text": format_value(r.target, metric.spec.unit, lang, full_digits),
                         "attainment_text": format_percent(r.attainment)})
    frame = pd.DataFrame(rows, columns=["kpi", "month", "attainment", "status", "actual_text", "target_text",
                                        "attainment_text"])
    order = [month_label(m, lang) for m in (metrics[0].spec.horizon if metrics else ())]
    bars = alt.Chart().mark_bar().encode(
        x=alt.X("month:N", sort=order, title=None, axis=alt.Axis(labelAngle=-50, labelFontSize=9)),
        y=alt.Y("attainment:Q", title=None, axis=alt.Axis(format="%")),
        color=alt.Color("status:N", scale=_status_scale(lang), legend=alt.Legend(orient="top", title=None)),
        tooltip=[alt.Tooltip("month:N", title=t("pdca.chart.month", lang)),
                 alt.Tooltip("actual_text:N", title=t("pdca.chart.actual", lang)),
                 alt.Tooltip("target_text:N", title=t("pdca.chart.target", lang)),
                 alt.Tooltip("attainment_text:N", title=t("pdca.chart.attainment", lang))],
    )
    rule = alt.Chart().mark_rule(color="#334155", strokeDash=[4, 3]).encode(y=alt.datum(1.0))
    return alt.layer(bars, rule, data=frame).properties(width=220, height=150).facet(
        facet=alt.Facet("kpi:N", title=None, sort=[one_line(m.spec.name, MAX_LABEL) for m in metrics],
                        header=alt.Header(labelFontSize=14, labelFontWeight="bold")),
        columns=columns,
    )


def attribution_chart(attribution: VarianceAttribution, names: Mapping[str, str], unit: str, lang: str,
                      full_digits: bool = False) -> alt.Chart:
    """Ranked horizontal bars: how much each driver moved the KGI (green adds, red takes away)."""
    frame = pd.DataFrame([{
        "driver": one_line(names.get(key, key), MAX_LABEL),
        "value": value,
        "value_text": format_value(value if full_digits else _rounded(value, unit), unit, lang, full_digits),
        "sign": t("pdca.chart.adds" if value >= 0 else "pdca.chart.takes", lang),
    } for key, value in attribution.contributions], columns=["driver", "value", "value_text", "sign"])
    order = list(frame["driver"])
    signs = [t("pdca.chart.adds", lang), t("pdca.chart.takes", lang)]
    base = alt.Chart(frame).encode(
        y=alt.Y("driver:N", sort=order, title=None, axis=alt.Axis(labelFontSize=14, labelLimit=260)),
        x=alt.X("value:Q", title=None, axis=figure_axis(unit, lang),
                scale=alt.Scale(domain=_padded_domain(list(frame["value"])))),
    )
    bars = base.mark_bar(cornerRadius=3).encode(
        color=alt.Color("sign:N", scale=alt.Scale(domain=signs, range=[POSITIVE, NEGATIVE]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=[alt.Tooltip("driver:N", title=" "),
                 alt.Tooltip("value_text:N", title=t("pdca.chart.contribution", lang))],
    )
    # Figures sit outside the bar end: right of a gain, left of a loss.
    gains = base.transform_filter(alt.datum.value >= 0).mark_text(align="left", dx=4, fontSize=13)
    losses = base.transform_filter(alt.datum.value < 0).mark_text(align="right", dx=-4, fontSize=13)
    zero = alt.Chart(pd.DataFrame([{"x": 0}])).mark_rule(color="#334155").encode(x="x:Q")
    # A step per bar rather than a fixed height: the chart grows with the number of drivers.
    return alt.layer(bars, gains.encode(text="value_text:N"), losses.encode(text="value_text:N"), zero
                     ).properties(height=alt.Step(BAR_STEP))


def _rounded(value: float, unit: str) -> float:
    """Contributions are estimates: money is shown to the nearest 10,000 (1,951万円 rather than 1,950万8,479円)."""
    return round(value, -4) if is_money(unit) and abs(value) >= 100_000 else value


def _padded_domain(values: Sequence[float]) -> list[float]:
    """The x range with room beyond the bar ends for the printed figures (a zero's figure sits right of 0)."""
    low, high = min([0.0, *values]), max([0.0, *values])
    pad = max(high - low, 1.0) * 0.3
    has_gain = any(v >= 0 for v in values)
    return [low - pad if low < 0 else 0.0, high + pad if has_gain else 0.0]
