"""The dot-vote chart: ranked order, counts printed, projector-sized text when presenting."""
from __future__ import annotations

from kpi_core.charts.workshop import PRESENTER_FONT, vote_bars
from kpi_core.domain.workshop import rank_results


def _spec(presenter: bool) -> dict:
    ranked = rank_results([(1, "Meetings", 5, 4), (2, "A very long idea " * 5, 2, 2), (3, "Win rate", 0, 0)])
    return vote_bars(ranked, "Dots", presenter).to_dict()


def test_bars_keep_the_ranking_and_shorten_long_labels():
    spec = _spec(False)
    rows = next(iter(spec["datasets"].values()))
    assert [r["dots"] for r in rows] == [5, 2, 0]
    assert rows[0]["label"] == "1. Meetings" and len(rows[1]["label"]) <= 43 and rows[1]["label"].endswith("…")


def test_presenter_text_is_at_least_16_px():
    spec = _spec(True)
    bars, labels = spec["layer"]
    assert PRESENTER_FONT >= 16
    assert bars["encoding"]["y"]["axis"]["labelFontSize"] >= 16
    assert bars["encoding"]["x"]["axis"]["labelFontSize"] >= 16
    assert bars["encoding"]["x"]["axis"]["titleFontSize"] >= 16
    assert labels["mark"]["fontSize"] >= 16
