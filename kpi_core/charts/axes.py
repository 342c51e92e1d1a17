"""Axis labels of figures: 万/億 in Japanese (as every other figure of the app reads), SI suffixes (150M) in
English, percentages for rates."""
from __future__ import annotations

from typing import Any

import altair as alt

from kpi_core.domain.units import is_rate

# A Vega expression (not Python): 150000000 -> 1.5億, 24000000 -> 2,400万, 9600 -> 9,600.
JAPANESE_LABEL = ("abs(datum.value) >= 1e8 ? format(datum.value / 1e8, ',~r') + '億'"
                  " : abs(datum.value) >= 1e4 ? format(datum.value / 1e4, ',~r') + '万'"
                  " : format(datum.value, ',~r')")


def figure_axis(unit: str, lang: str, **options: Any) -> alt.Axis:
    """The axis of a quantitative channel showing values in `unit`."""
    if is_rate(unit):
        return alt.Axis(format="%", **options)
    if lang == "ja":
        return alt.Axis(labelExpr=JAPANESE_LABEL, **options)
    return alt.Axis(format="~s", **options)
