"""Tracking charts, checked through their Vega-Lite specs."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core.charts import tracking as charts
from kpi_core.domain import tracking as tr
from kpi_core.domain.model import KGI, KPI, Aggregation, Direction, Plan

APR, MAY, JUN = date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1)


@pytest.fixture
def tracked() -> tr.PlanTracking:
    plan = Plan(name="Sales", id=1, fiscal_start=APR, months=12)
    kgi = KGI(plan_id=1, key="revenue", name="Revenue", unit="JPY", target=144_000_000,
              formula="meetings * win_rate * avg_deal")
    kpis = [KPI(1, "meetings", "Meetings", unit="件", annual_target=600),
            KPI(1, "win_rate", "Win rate <b>", unit="%", aggregation=Aggregation.RATIO, ratio_weight="meetings",
                annual_target=0.25),
            KPI(1, "avg_deal", "Average deal " + "x" * 100, unit="JPY", aggregation=Aggregation.RATIO,
                ratio_weight="meetings * win_rate", annual_target=1_200_000)]
    actuals = {"meetings": {APR: 50, MAY: 40}, "win_rate": {APR: 0.25, MAY: 0.20},
               "avg_deal": {APR: 1_200_000, MAY: 1_200_000}, "revenue": {APR: 15_000_000, MAY: 9_600_000}}
    return tr.track_plan(plan, kgi, kpis, {}, actuals)


def _values(spec: dict) -> list[dict]:
    return next(iter(spec["datasets"].values()))


def test_monthly_chart_colours_bars_by_status(tracked):
    spec = charts.monthly_chart(tracked.metric("win_rate"), "en").to_dict()
    bars, line = spec["layer"]
    assert bars["mark"]["type"] == "bar" and line["mark"]["type"] == "line"
    colour = bars["encoding"]["color"]
    assert colour["scale"]["domain"] == ["On track", "At risk", "Off track", "No data"]
    assert colour["scale"]["range"][2] == "#c62828"
    rows = _values(spec)
    assert len(rows) == 12
    assert rows[0]["month"] == "Apr 2025" and rows[0]["status"] == "On track"
    assert rows[1]["status"] == "Off track" and rows[1]["actual_text"] == "20.0%"
    assert rows[2]["actual"] is None and rows[2]["status"] == "No data"
    assert bars["encoding"]["y"]["axis"]["format"] == "%"
    assert bars["encoding"]["x"]["sort"][:2] == ["Apr 2025", "May 2025"]


def test_monthly_chart_speaks_japanese(tracked):
    rows = _values(charts.monthly_chart(tracked.kgi, "ja").to_dict())
    assert rows[0]["month"] == "2025年4月"
    assert rows[0]["status"] == "順調" and rows[1]["status"] == "未達ペース"
    assert rows[1]["actual_text"] == "960万円"


def test_cumulative_chart_adds_up_and_dashes_the_forecast(tracked):
    spec = charts.cumulative_chart(tracked.kgi, "en").to_dict()
    rows = _values(spec)
    actual = [r for r in rows if r["series"] == "Actual"]
    target = [r for r in rows if r["series"] == "Target"]
    forecast = [r for r in rows if r["series"] == "Forecast"]
    assert [r["value"] for r in actual] == [15_000_000, 24_600_000]
    assert len(target) == 12 and target[-1]["value"] == pytest.approx(144_000_000)
    # from May's cumulative actual, ten more months at the mean of the two months (12.3M)
    assert forecast[0]["month"] == "May 2025" and forecast[0]["value"] == 24_600_000
    assert forecast[-1]["value"] == pytest.approx(24_600_000 + 10 * 12_300_000)
    assert forecast[-1]["value"] == pytest.approx(tracked.kgi.forecast)
    dash = spec["encoding"]["strokeDash"]["scale"]
    assert dash["domain"] == ["Target", "Actual", "Forecast"] and dash["range"][2] == [8, 5]


def test_cumulative_chart_of_a_level_is_not_cumulated():
    plan = Plan(name="CS", id=1, fiscal_start=APR, months=12)
    kgi = KGI(plan_id=1, key="arr", name="ARR", unit="JPY", aggregation=Aggregation.LAST, target=500_000_000)
    tracked = tr.track_plan(plan, kgi, [], {}, {"arr": {APR: 400_000_000, MAY: 420_000_000}})
    rows = _values(charts.cumulative_chart(tracked.kgi, "en").to_dict())
    assert [r["value"] for r in rows if r["series"] == "Actual"] == [400_000_000, 420_000_000]
    assert {r["value"] for r in rows if r["series"] == "Target"} == {500_000_000}
    assert {r["value"] for r in rows if r["series"] == "Forecast"} == {420_000_000}


def test_small_multiples_facet_one_panel_per_kpi(tracked):
    spec = charts.kpi_small_multiples(tracked.kpis, "en").to_dict()
    assert spec["facet"]["field"] == "kpi" and spec["columns"] == 3
    names = spec["facet"]["sort"]
    assert names[0] == "Meetings" and names[1] == "Win rate <b>"
    assert len(names[2]) == charts.MAX_LABEL and names[2].endswith("…")
    layers = spec["spec"]["layer"]
    assert layers[1]["mark"]["type"] == "rule" and layers[1]["encoding"]["y"]["datum"] == 1.0
    rows = _values(spec)
    may = next(r for r in rows if r["kpi"] == "Meetings" and r["month"] == "May 2025")
    assert may["attainment"] == pytest.approx(0.8) and may["status"] == "Off track"


def test_attribution_chart_ranks_and_signs(tracked):
    result = tr.attribute_kgi(tracked, "month")
    names = {m.key: m.spec.name for m in tracked.kpis}
    spec = charts.attribution_chart(result, names, "JPY", "en").to_dict()
    rows = _values(spec)
    assert [r["driver"] for r in rows][:2] == ["Meetings", "Win rate <b>"]
    assert all(r["value"] < 0 for r in rows[:2])
    assert rows[0]["sign"] == "Takes away from the KGI"
    assert spec["layer"][0]["encoding"]["y"]["sort"] == [r["driver"] for r in rows]
    assert sum(r["value"] for r in rows) == pytest.approx(result.total)
    assert spec["height"] == {"step": charts.BAR_STEP}  # grows with the number of drivers
    low, high = spec["layer"][0]["encoding"]["x"]["scale"]["domain"]
    # room for the printed figures: left of the losses, right of the zero contribution of the average deal
    assert low < min(r["value"] for r in rows) and high > 0


def test_attribution_figures_are_rounded_for_reading_but_exact_with_full_digits():
    result = tr.VarianceAttribution("ytd", (APR,), "lmdi", 90_000_000, 71_120_000,
                                    (("win_rate", -19_508_478.88), ("avg_deal", 361_623.68), ("meetings", 5_000.4)))
    rows = _values(charts.attribution_chart(result, {}, "JPY", "ja").to_dict())
    assert [r["value_text"] for r in rows] == ["-1,951万円", "36万円", "5,000円"]
    assert rows[0]["value"] == pytest.approx(-19_508_478.88)  # the bar itself is exact
    exact = _values(charts.attribution_chart(result, {}, "JPY", "ja", full_digits=True).to_dict())
    assert exact[0]["value_text"] == "-19,508,479円"


def test_down_metric_chart_status_uses_inverted_attainment():
    plan = Plan(name="CS", id=1, fiscal_start=APR, months=12)
    churn = KPI(1, "churn", "Churn", unit="%", direction=Direction.DOWN, aggregation=Aggregation.MEAN,
                annual_target=0.02)
    tracked = tr.track_plan(plan, None, [churn], {}, {"churn": {APR: 0.01, MAY: 0.04}})
    rows = _values(charts.monthly_chart(tracked.metric("churn"), "en").to_dict())
    assert [r["status"] for r in rows[:2]] == ["On track", "Off track"]
    assert rows[0]["attainment_text"] == "200.0%"
