"""Charts of step 2: where the KGI stands (baseline -> current -> target) and its monthly history."""
from __future__ import annotations

from datetime import date

import altair as alt
import pandas as pd

from kpi_core.charts.axes import figure_axis

GAP_COLOURS = {"baseline": "#9aa5b1", "current": "#3b82f6", "target": "#16a34a"}


def gap_bars(labels: dict[str, str], baseline: float | None, current: float, target: float,
             value_labels: dict[str, str], unit: str = "", lang: str = "en") -> alt.Chart:
    """Three bars with the gap drawn as a bracket between current and target.

    `labels` maps 'baseline'/'current'/'target' to the bar titles in the user's language; `value_labels` holds
    the formatted figure printed on each bar.
    """
    rows = [("baseline", baseline), ("current", current), ("target", target)]
    frame = pd.DataFrame([{"stage": labels[s], "kind": s, "value": v, "text": value_labels.get(s, "")}
                          for s, v in rows if v is not None])
    order = [labels[s] for s, v in rows if v is not None]
    base = alt.Chart(frame).encode(
        x=alt.X("stage:N", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelFontSize=16)),
        y=alt.Y("value:Q", title=None, axis=figure_axis(unit, lang)),
    )
    bars = base.mark_bar(cornerRadiusTopLeft=6, cornerRadiusTopRight=6, width=90).encode(
        color=alt.Color("kind:N", scale=alt.Scale(domain=list(GAP_COLOURS), range=list(GAP_COLOURS.values())),
                        legend=None),
        tooltip=[alt.Tooltip("stage:N"), alt.Tooltip("text:N")],
    )
    text = base.mark_text(dy=-12, fontSize=16, fontWeight="bold").encode(text="text:N")
    gap_rule = alt.Chart(pd.DataFrame([{"y": current, "y2": target}])).mark_rule(
        color="#dc2626", strokeWidth=3, strokeDash=[6, 4]).encode(y="y:Q", y2="y2:Q")
    return (bars + text + gap_rule).properties(height=360)


def history_line(history: dict[date, float], required_monthly: float | None,
                 labels: dict[str, str], unit: str = "", lang: str = "en") -> alt.Chart:
    """Monthly KGI actuals with the run-rate the target requires drawn over the plan period."""
    frame = pd.DataFrame(
        [{"month": pd.Timestamp(m), "value": v, "series": labels["actual"]} for m, v in sorted(history.items())])
    line = alt.Chart(frame).mark_line(point=True, strokeWidth=3).encode(
        x=alt.X("month:T", title=None, axis=alt.Axis(format="%Y-%m")),
        y=alt.Y("value:Q", title=None, axis=figure_axis(unit, lang)),
        color=alt.Color("series:N", legend=alt.Legend(orient="top", title=None)),
        tooltip=[alt.Tooltip("month:T", format="%Y-%m"), alt.Tooltip("value:Q", format=",.0f")],
    )
    layers = [line]
    if required_monthly is not None:
        required = pd.DataFrame([{"value": required_monthly, "series": labels["required"]}])
        layers.append(alt.Chart(required).mark_rule(strokeDash=[8, 4], strokeWidth=2)
                      .encode(y="value:Q", color="series:N"))
    return alt.layer(*layers).properties(height=300)
