"""kpi_core.charts.coverage: the gap-coverage waterfall, checked through its Vega-Lite spec."""
from __future__ import annotations

import pytest

from kpi_core.charts.coverage import WATERFALL_COLOURS, coverage_waterfall, waterfall_steps

LABELS = {"current": "Current", "target": "Target", "uncovered": "Not covered", "over": "Over"}
TEXTS = {"current": "¥120M", "target": "¥144M", "uncovered": "¥4M", "over": "¥2M"}
TITLES = {k: k.title() for k in WATERFALL_COLOURS}


def rows(steps):
    return [(s.label, s.kind, s.start, s.end) for s in steps]


def data_of(chart) -> list[dict]:
    spec = chart.to_dict()
    datasets = spec["datasets"]
    assert len(datasets) == 1
    return next(iter(datasets.values()))


def test_under_coverage_ends_in_the_uncovered_remainder():
    steps = waterfall_steps(120e6, 144e6, [("New customers", 12e6, "¥12M"), ("Quality", 8e6, "¥8M")], LABELS, TEXTS)
    assert rows(steps) == [("Current", "current", 0.0, 120e6), ("1. New customers", "csf", 120e6, 132e6),
                           ("2. Quality", "csf", 132e6, 140e6), ("Not covered", "uncovered", 140e6, 144e6),
                           ("Target", "target", 0.0, 144e6)]


def test_over_coverage_is_shown_beyond_the_target():
    steps = waterfall_steps(120e6, 144e6, [("a", 20e6, ""), ("b", 6e6, "")], LABELS, TEXTS)
    assert rows(steps)[-2] == ("Over", "over", 144e6, 146e6)
    exact = waterfall_steps(120e6, 144e6, [("a", 24e6, "")], LABELS, TEXTS)
    assert [s.kind for s in exact] == ["current", "csf", "target"]


def test_a_kgi_that_must_fall_steps_down():
    steps = waterfall_steps(0.10, 0.06, [("Onboarding", 0.03, "3pt")], LABELS, TEXTS)
    assert rows(steps)[1] == ("1. Onboarding", "csf", 0.10, pytest.approx(0.07))
    assert rows(steps)[2][1] == "uncovered" and rows(steps)[2][3] == 0.06


def test_duplicate_and_long_names_stay_distinct_and_short():
    steps = waterfall_steps(1.0, 3.0, [("Same", 1.0, ""), ("Same", 1.0, ""), ("x" * 500, 0.0, "")], LABELS, TEXTS)
    labels = [s.label for s in steps]
    assert labels[1] != labels[2] and len(set(labels)) == len(labels)
    assert len(labels[3]) <= 30


def test_waterfall_spec_colours_order_and_zoomed_axis():
    steps = waterfall_steps(120e6, 144e6, [("New customers", 12e6, "¥12M")], LABELS, TEXTS)
    chart = coverage_waterfall(steps, TITLES)
    spec = chart.to_dict()
    bars, text = spec["layer"]
    assert bars["mark"]["type"] == "bar" and bars["mark"]["clip"] is True
    assert bars["encoding"]["x"]["sort"] == [s.label for s in steps]
    colour = bars["encoding"]["color"]["scale"]
    assert colour["range"] == [WATERFALL_COLOURS[k] for k in ("current", "csf", "uncovered", "target")]
    low, high = bars["encoding"]["y"]["scale"]["domain"]
    assert 0 < low < 120e6 and high > 144e6, "the axis starts near the moving part"
    data = data_of(chart)
    assert [d["kind"] for d in data] == ["current", "csf", "uncovered", "target"]
    assert [d["text"] for d in data] == ["¥120M", "¥12M", "¥4M", "¥144M"]
    assert text["mark"]["type"] == "text"
