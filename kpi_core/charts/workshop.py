"""The dot-vote result chart: ideas ranked by dots, readable on a projector when asked for."""
from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from kpi_core.domain.units import one_line
from kpi_core.domain.workshop import Ranked

MAX_LABEL = 40
NORMAL_FONT = 12
PRESENTER_FONT = 18  # axis labels and titles at least 16 px on a 1920x1080 projector


def vote_bars(ranked: Sequence[Ranked], dots_title: str, presenter: bool = False) -> alt.Chart:
    """Horizontal bars, the top idea first, the dot count printed at the end of each bar."""
    font = PRESENTER_FONT if presenter else NORMAL_FONT
    frame = pd.DataFrame({
        "label": [f"{r.rank}. {one_line(r.text, MAX_LABEL)}" for r in ranked],
        "dots": [r.dots for r in ranked],
        "order": list(range(len(ranked))),
    })
    base = alt.Chart(frame).encode(
        y=alt.Y("label:N", sort=alt.SortField("order"), title=None,
                axis=alt.Axis(labelLimit=0, labelFontSize=font)),
        x=alt.X("dots:Q", title=dots_title, axis=alt.Axis(tickMinStep=1, labelFontSize=font, titleFontSize=font)),
    )
    bars = base.mark_bar(color="#3b82f6")
    labels = base.mark_text(align="left", dx=6, fontSize=font, fontWeight="bold").encode(text="dots:Q")
    row = 44 if presenter else 28
    return (bars + labels).properties(height=max(row * len(frame), 80)).configure_view(strokeWidth=0)
