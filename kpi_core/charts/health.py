"""The health score over time: one point per snapshot, on a fixed 0-100 scale."""
from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from kpi_core.domain.records import HealthSnapshot
from kpi_core.i18n import t


def score_history_chart(snapshots: Sequence[HealthSnapshot], lang: str) -> alt.Chart:
    """Line and points of the snapshots' scores; tooltips give the date and what triggered the snapshot."""
    frame = pd.DataFrame({
        "taken": [pd.Timestamp(s.taken_at) for s in snapshots],
        "score": [s.score for s in snapshots],
        "trigger": [t(f"health.history.{s.trigger}", lang) for s in snapshots],
    })
    base = alt.Chart(frame).encode(
        x=alt.X("taken:T", title=t("health.history.date_axis", lang)),
        y=alt.Y("score:Q", title=t("health.history.score_axis", lang), scale=alt.Scale(domain=[0, 100])),
        tooltip=[alt.Tooltip("taken:T", title=t("health.col.taken", lang), format="%Y-%m-%d %H:%M"),
                 alt.Tooltip("score:Q", title=t("health.col.score", lang), format=".1f"),
                 alt.Tooltip("trigger:N", title=t("health.col.trigger", lang))])
    return (base.mark_line(color="#2563eb") + base.mark_point(color="#2563eb", filled=True, size=70)).properties(
        height=220)
