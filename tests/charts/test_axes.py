"""Chart axes read like the app's figures: 万/億 in Japanese, SI suffixes in English, % for rates."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from kpi_core.charts.axes import figure_axis
from kpi_core.charts.gap import gap_bars

vl_convert = pytest.importorskip("vl_convert")


def _axis_labels(chart) -> list[str]:
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    return re.findall(r"<text[^>]*>([^<]+)</text>", svg)


def _bars(values: list[float], unit: str, lang: str):
    import altair as alt

    frame = pd.DataFrame({"name": [str(i) for i in range(len(values))], "value": values})
    return alt.Chart(frame).mark_bar().encode(x="name:N", y=alt.Y("value:Q", axis=figure_axis(unit, lang)))


def test_japanese_money_axis_in_man_and_oku():
    labels = _axis_labels(_bars([0, 150_000_000], "JPY", "ja"))
    assert "1億" in labels and "1.4億" in labels and "2,000万" in labels
    assert not any(label.endswith(("M", "G")) for label in labels)


def test_english_axis_in_si_suffixes_and_rates_in_percent():
    assert "100M" in _axis_labels(_bars([0, 150_000_000], "JPY", "en"))
    assert "25%" in _axis_labels(_bars([0, 0.25], "%", "ja"))


def test_step2_bars_follow_the_language():
    labels = {"baseline": "前年", "current": "現在", "target": "目標"}
    chart = gap_bars(labels, 120e6, 120e6, 144e6, {}, "JPY", "ja")
    assert "1.4億" in _axis_labels(chart)
