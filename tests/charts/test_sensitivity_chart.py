"""kpi_core.charts.sensitivity: the sensitivity bars, checked through their Vega-Lite spec."""
from __future__ import annotations

from kpi_core.charts.sensitivity import sensitivity_bars


def data_of(chart) -> list[dict]:
    datasets = chart.to_dict()["datasets"]
    assert len(datasets) == 1
    return next(iter(datasets.values()))


def test_sensitivity_bars_rank_by_size_and_mark_negative_levers():
    chart = sensitivity_bars([("meetings", 1.8e6, "¥1.8M"), ("cost", -3e6, "-¥3M"), ("win_rate", 2.5e6, "¥2.5M")],
                             "Effect")
    spec = chart.to_dict()
    bars = spec["layer"][0]
    assert bars["encoding"]["y"]["sort"] == ["cost", "win_rate", "meetings"]
    assert bars["encoding"]["x"]["title"] == "Effect"
    assert {d["driver"]: d["direction"] for d in data_of(chart)} == {"meetings": "up", "cost": "down",
                                                                     "win_rate": "up"}


def test_sensitivity_bars_without_rows():
    assert sensitivity_bars([], "Effect").to_dict()["layer"]
