"""The sensitivity of the KGI to its drivers: how much it moves when each KPI rises, largest lever on top."""
from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from kpi_core.charts.axes import figure_axis
from kpi_core.domain.units import one_line

MAX_AXIS_LABEL = 24


def sensitivity_bars(rows: Sequence[tuple[str, float, str]], title: str, unit: str = "",
                     lang: str = "en") -> alt.LayerChart:
    """Horizontal bars of the KGI effect of raising each driver, largest lever on top.

    `rows` are (driver label, effect in KGI units, formatted effect); negative effects (drivers that divide) show
    to the left in another colour.
    """
    frame = pd.DataFrame([{"driver": one_line(label, MAX_AXIS_LABEL), "effect": effect, "text": text,
                           "direction": "up" if effect >= 0 else "down"} for label, effect, text in rows])
    order = list(frame.sort_values("effect", key=abs, ascending=False)["driver"]) if not frame.empty else []
    base = alt.Chart(frame).encode(
        y=alt.Y("driver:N", sort=order, title=None, axis=alt.Axis(labelFontSize=14, labelLimit=220)),
    )
    bars = base.mark_bar(cornerRadius=4, size=28).encode(
        x=alt.X("effect:Q", title=title, axis=figure_axis(unit, lang)),
        color=alt.Color("direction:N", scale=alt.Scale(domain=["up", "down"], range=["#2563eb", "#f97316"]),
                        legend=None),
        tooltip=[alt.Tooltip("driver:N"), alt.Tooltip("text:N")],
    )
    text = base.mark_text(align="left", dx=6, fontSize=14, fontWeight="bold").encode(x="effect:Q", text="text:N")
    return alt.layer(bars, text).properties(height=max(120, 56 * len(frame)))
