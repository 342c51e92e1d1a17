"""Tracking engine: attainment, status thresholds, YTD in each aggregation, forecast, attribution, entry parsing."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core.domain import tracking as tr
from kpi_core.domain.model import (
    CSF,
    KGI,
    KPI,
    Actual,
    Aggregation,
    CheckIn,
    CSFRole,
    Direction,
    Plan,
    Status,
)
from kpi_core.services.tracking import plan_tracking

APR, MAY, JUN = date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1)


def sales_plan() -> tuple[Plan, KGI, list[KPI]]:
    plan = Plan(name="Sales", id=1, fiscal_start=APR, months=12)
    kgi = KGI(plan_id=1, key="revenue", name="Revenue", unit="JPY", baseline=120_000_000, target=144_000_000,
              formula="meetings * win_rate * avg_deal")
    kpis = [
        KPI(1, "meetings", "Qualified meetings", unit="件", annual_target=600),
        KPI(1, "win_rate", "Win rate", unit="%", aggregation=Aggregation.RATIO, ratio_weight="meetings",
            annual_target=0.25, recovery_plan="Coach discovery calls"),
        KPI(1, "avg_deal", "Average deal", unit="JPY", aggregation=Aggregation.RATIO,
            ratio_weight="meetings * win_rate", annual_target=1_200_000),
    ]
    return plan, kgi, kpis


TWO_MONTHS = {
    "meetings": {APR: 40, MAY: 60},
    "win_rate": {APR: 0.30, MAY: 0.20},
    "avg_deal": {APR: 1_000_000, MAY: 1_500_000},
    "revenue": {APR: 12_000_000, MAY: 18_000_000},
}


# ---------------------------------------------------------------- attainment and status
def test_attainment_up_and_down():
    assert tr.attainment(45, 50) == pytest.approx(0.9)
    assert tr.attainment(0.025, 0.02, Direction.DOWN) == pytest.approx(0.8)  # churn above target is worse
    assert tr.attainment(0.016, 0.02, "down") == pytest.approx(1.25)
    assert tr.attainment(None, 50) is None
    assert tr.attainment(45, None) is None
    assert tr.attainment(float("nan"), 50) is None


def test_attainment_is_safe_with_zeros():
    assert tr.attainment(0, 0) == 1.0  # met
    assert tr.attainment(5, 0) == 1.0
    assert tr.attainment(-1, 0) == 0.0
    assert tr.attainment(0, 0.02, Direction.DOWN) == 1.0  # zero churn beats any churn target
    assert tr.attainment(0.01, 0, Direction.DOWN) == 0.0
    assert tr.attainment(0, 0, Direction.DOWN) == 1.0
    assert tr.attainment(0, 50) == 0.0


@pytest.mark.parametrize(("value", "expected"), [
    (1.2, Status.ON_TRACK), (0.95, Status.ON_TRACK), (0.9499, Status.AT_RISK), (0.85, Status.AT_RISK),
    (0.8499, Status.OFF_TRACK), (0.0, Status.OFF_TRACK), (None, Status.NO_DATA),
])
def test_status_thresholds_at_the_boundaries(value, expected):
    assert tr.status_for(value, 0.95, 0.85) is expected


def test_status_boundary_survives_float_noise():
    # 95 % of a 2.1 % target, computed in floating point, divides back to 0.9499999999999998: still on track
    actual = 0.021 * 0.95
    assert actual / 0.021 < 0.95
    assert tr.status_for(tr.attainment(actual, 0.021), 0.95, 0.85) is Status.ON_TRACK
    assert tr.status_for(tr.attainment(47.5, 50)) is Status.ON_TRACK
    assert tr.status_for(tr.attainment(42.5, 50)) is Status.AT_RISK


def test_custom_thresholds_of_a_kpi_are_used():
    plan, kgi, kpis = sales_plan()
    kpis[0].amber_threshold, kpis[0].red_threshold = 1.0, 0.9
    tracked = tr.track_plan(plan, kgi, kpis, {}, {"meetings": {APR: 48}})  # 96 %
    assert tracked.metric("meetings").status is Status.AT_RISK


# ---------------------------------------------------------------- targets
def test_targets_are_derived_from_annual_values_when_none_are_stored():
    plan, kgi, kpis = sales_plan()
    tracked = tr.track_plan(plan, kgi, kpis, {}, {})
    assert tracked.targets["meetings"][APR] == 50
    assert tracked.targets["win_rate"][JUN] == 0.25
    assert tracked.targets["avg_deal"][MAY] == 1_200_000
    assert tracked.targets["revenue"][APR] == 12_000_000
    assert len(tracked.targets["revenue"]) == 12
    assert not tracked.has_actuals and tracked.as_of is None
    assert all(m.status is Status.NO_DATA for m in tracked.metrics)


def test_stored_phasing_wins_over_the_annual_target():
    plan, kgi, kpis = sales_plan()
    stored = {"meetings": {APR: 30, MAY: 70}}
    tracked = tr.track_plan(plan, kgi, kpis, stored, {"meetings": {APR: 30, MAY: 70}})
    meetings = tracked.metric("meetings")
    assert meetings.ytd_target == 100 and meetings.pace == 1.0
    assert tracked.targets["meetings"][JUN] == 50  # months without a stored value fall back to the annual split


def test_kgi_deadline_shortens_its_horizon():
    plan, kgi, kpis = sales_plan()
    kgi.deadline = date(2025, 9, 30)  # six months
    tracked = tr.track_plan(plan, kgi, kpis, {}, {})
    assert len(tracked.kgi.rows) == 6
    assert tracked.targets["revenue"][APR] == 24_000_000


# ---------------------------------------------------------------- YTD, pace, forecast
def test_win_rate_ytd_is_a_ratio_of_sums_not_the_mean_of_monthly_rates():
    plan, kgi, kpis = sales_plan()
    win_rate = tr.track_plan(plan, kgi, kpis, {}, TWO_MONTHS).metric("win_rate")
    # (40 * 30 % + 60 * 20 %) / 100 meetings = 24 wins / 100 = 24 %; the mean of 30 % and 20 % would be 25 %
    assert win_rate.ytd_actual == pytest.approx(0.24)
    assert win_rate.ytd_target == pytest.approx(0.25)
    assert win_rate.pace == pytest.approx(0.96)
    assert win_rate.status is Status.ON_TRACK
    assert win_rate.forecast == pytest.approx(0.24)  # a rate is forecast at its YTD value
    assert win_rate.run_rate is None


def test_average_deal_is_weighted_by_wins():
    plan, kgi, kpis = sales_plan()
    avg = tr.track_plan(plan, kgi, kpis, {}, TWO_MONTHS).metric("avg_deal")
    # 12 wins at 1.0M and 12 wins at 1.5M
    assert avg.ytd_actual == pytest.approx(1_250_000)
    assert avg.pace == pytest.approx(1_250_000 / 1_200_000)


def test_sum_metrics_pace_and_run_rate_forecast():
    plan, kgi, kpis = sales_plan()
    tracked = tr.track_plan(plan, kgi, kpis, {}, TWO_MONTHS)
    revenue = tracked.kgi
    assert revenue.ytd_actual == 30_000_000 and revenue.ytd_target == 24_000_000
    assert revenue.pace == pytest.approx(1.25) and revenue.pace_gap == 6_000_000
    assert revenue.run_rate == 15_000_000
    assert revenue.forecast == pytest.approx(30_000_000 + 10 * 15_000_000)
    assert revenue.forecast_attainment == pytest.approx(180 / 144)
    assert revenue.forecast_gap == pytest.approx(36_000_000)  # 180M forecast against the 144M target
    meetings = tracked.metric("meetings")
    assert meetings.forecast == 600 and meetings.forecast_attainment == 1.0 and meetings.forecast_gap == 0
    assert tracked.as_of == MAY


def test_run_rate_is_the_mean_of_the_last_three_months():
    plan, kgi, kpis = sales_plan()
    months = [date(2025, m, 1) for m in range(4, 9)]  # Apr..Aug
    series = dict(zip(months, [10, 20, 30, 40, 50]))
    meetings = tr.track_plan(plan, kgi, kpis, {}, {"meetings": series}).metric("meetings")
    assert meetings.ytd_actual == 150
    assert meetings.run_rate == 40  # (30 + 40 + 50) / 3
    assert meetings.forecast == 150 + 7 * 40
    assert meetings.ytd_target == 250 and meetings.pace == pytest.approx(0.6)
    assert meetings.status is Status.OFF_TRACK


def test_months_after_the_latest_actual_are_not_a_miss_but_gaps_before_it_are_named():
    plan, kgi, kpis = sales_plan()
    meetings = tr.track_plan(plan, kgi, kpis, {}, {"meetings": {APR: 50, JUN: 50}}).metric("meetings")
    assert meetings.data_months == (APR, JUN) and meetings.missing_months == (MAY,)
    # Apr-Jun against their 150 target, as the cumulative chart draws it; July onwards is not reported yet.
    assert meetings.ytd_target == 150 and meetings.pace == pytest.approx(2 / 3)
    assert meetings.forecast == 100 + 50 * 9
    assert meetings.row(MAY).status is Status.NO_DATA
    assert meetings.latest.month == JUN


def test_actuals_starting_late_agree_with_the_chart():
    """April-June missing, July-September at ¥12.5M a month against ¥12M: the YTD compares six months of target
    with three of actuals, and the forecast continues the run-rate from September only."""
    plan, kgi, kpis = sales_plan()
    jul, aug, sep = date(2025, 7, 1), date(2025, 8, 1), date(2025, 9, 1)
    revenue = tr.track_plan(plan, kgi, kpis, {}, {"revenue": {jul: 12.5e6, aug: 12.5e6, sep: 12.5e6}}).kgi
    assert revenue.missing_months == (APR, MAY, JUN)
    assert revenue.ytd_actual == 37.5e6 and revenue.ytd_target == 72e6
    assert revenue.pace == pytest.approx(37.5 / 72) and revenue.status is Status.OFF_TRACK
    assert revenue.forecast == 37.5e6 + 12.5e6 * 6 == 112.5e6
    assert tr.months_text(revenue.missing_months, "ja") == "2025年4月–6月"
    assert tr.months_text(revenue.missing_months, "en") == "Apr–Jun 2025"
    assert tr.months_text((APR, JUN, jul), "en") == "Apr 2025, Jun–Jul 2025"


def test_rates_compare_the_months_with_data():
    plan, kgi, kpis = sales_plan()
    win_rate = tr.track_plan(plan, kgi, kpis, {}, {"win_rate": {JUN: 0.25}, "meetings": {JUN: 40}}).metric("win_rate")
    assert win_rate.missing_months == (APR, MAY)
    assert win_rate.pace == pytest.approx(1.0) and win_rate.forecast == pytest.approx(0.25)


def test_down_direction_metric():
    plan = Plan(name="CS", id=1, fiscal_start=APR)
    churn = KPI(1, "churn_rate", "Churn", unit="%", direction=Direction.DOWN, aggregation=Aggregation.MEAN,
                annual_target=0.02)
    tracked = tr.track_plan(plan, None, [churn], {}, {"churn_rate": {APR: 0.02, MAY: 0.03}})
    metric = tracked.metric("churn_rate")
    assert metric.row(APR).status is Status.ON_TRACK
    assert metric.row(MAY).attainment == pytest.approx(2 / 3) and metric.row(MAY).status is Status.OFF_TRACK
    assert metric.ytd_actual == pytest.approx(0.025)
    assert metric.pace == pytest.approx(0.8) and metric.status is Status.OFF_TRACK
    assert tracked.kgi is None and tracked.metrics == [metric]


def test_level_metric_takes_the_last_value():
    plan = Plan(name="HR", id=1, fiscal_start=APR)
    heads = KPI(1, "customers", "Customers", unit="社", aggregation=Aggregation.LAST, annual_target=200)
    metric = tr.track_plan(plan, None, [heads], {}, {"customers": {APR: 150, MAY: 190}}).metric("customers")
    assert metric.ytd_actual == 190 and metric.ytd_target == 200
    assert metric.pace == pytest.approx(0.95) and metric.status is Status.ON_TRACK
    assert metric.forecast == 190


def test_actuals_outside_the_plan_period_are_ignored():
    plan, kgi, kpis = sales_plan()
    tracked = tr.track_plan(plan, kgi, kpis, {}, {"meetings": {date(2025, 3, 1): 99, APR: 50}})
    assert tracked.metric("meetings").ytd_actual == 50
    assert tracked.as_of == APR


def test_the_tracking_use_case_reads_the_store(store):
    plan = store.create_plan(Plan(name="Sales", fiscal_start=APR))
    _, kgi, kpis = sales_plan()
    kgi.plan_id = plan.id
    store.save_kgi(kgi, None)
    for kpi in kpis:
        kpi.plan_id = plan.id
        store.save_kpi(kpi, None)
    store.set_monthly_targets(plan.id, "meetings", {m: 40.0 for m in plan.month_list()})
    store.save_actuals(plan.id, [Actual(k, m, v) for k, series in TWO_MONTHS.items() for m, v in series.items()])
    tracked = plan_tracking(store, store.get_plan(plan.id))
    assert tracked.metric("meetings").ytd_target == 80
    assert tracked.metric("meetings").pace == pytest.approx(1.25)
    assert tracked.metric("win_rate").ytd_actual == pytest.approx(0.24)
    assert tracked.kgi.ytd_actual == 30_000_000


# ---------------------------------------------------------------- attribution
def test_month_attribution_puts_the_whole_variance_on_the_driver_that_moved():
    plan, kgi, kpis = sales_plan()
    actuals = {"meetings": {APR: 40}, "win_rate": {APR: 0.25}, "avg_deal": {APR: 1_200_000}}
    result = tr.attribute_kgi(tr.track_plan(plan, kgi, kpis, {}, actuals), "month")
    assert result.planned == pytest.approx(15_000_000) and result.actual == pytest.approx(12_000_000)
    contributions = dict(result.contributions)
    assert contributions["meetings"] == pytest.approx(-3_000_000)
    assert contributions["win_rate"] == pytest.approx(0) and contributions["avg_deal"] == pytest.approx(0)
    assert result.contributions[0][0] == "meetings"  # ranked by size


def test_ytd_attribution_sums_to_the_total_and_uses_ratio_of_sums():
    plan, kgi, kpis = sales_plan()
    actuals = {"meetings": {APR: 40, MAY: 50}, "win_rate": {APR: 0.20, MAY: 0.20},
               "avg_deal": {APR: 1_200_000, MAY: 1_500_000}}
    result = tr.attribute_kgi(tr.track_plan(plan, kgi, kpis, {}, actuals), "ytd")
    assert result.scope == "ytd" and result.months == (APR, MAY)
    assert result.planned == pytest.approx(100 * 0.25 * 1_200_000)
    # 18 wins: 8 at 1.2M + 10 at 1.5M = 24.6M, the sum of the monthly revenues
    assert result.actual == pytest.approx(40 * 0.2 * 1_200_000 + 50 * 0.2 * 1_500_000)
    assert sum(v for _, v in result.contributions) == pytest.approx(result.total)
    assert dict(result.contributions)["win_rate"] < 0 < dict(result.contributions)["avg_deal"]
    month = tr.attribute_kgi(tr.track_plan(plan, kgi, kpis, {}, actuals), "month")
    assert month.months == (MAY,) and month.actual == pytest.approx(15_000_000)


def test_no_attribution_without_formula_or_complete_months():
    plan, kgi, kpis = sales_plan()
    assert tr.attribute_kgi(tr.track_plan(plan, kgi, kpis, {}, {"meetings": {APR: 40}})) is None
    kgi.formula = ""
    assert tr.attribute_kgi(tr.track_plan(plan, kgi, kpis, {}, TWO_MONTHS)) is None
    kgi.formula = "meetings * unknown_driver"
    assert tr.attribute_kgi(tr.track_plan(plan, kgi, kpis, {}, TWO_MONTHS)) is None


# ---------------------------------------------------------------- acting on it
def test_off_track_kpi_gets_the_fallback_csfs():
    plan, kgi, kpis = sales_plan()
    actuals = {"meetings": {APR: 50}, "win_rate": {APR: 0.20}, "avg_deal": {APR: 1_200_000}}
    tracked = tr.track_plan(plan, kgi, kpis, {}, actuals)
    csfs = [CSF(1, "New customers", CSFRole.PRIMARY, id=1, position=0),
            CSF(1, "Existing customers", CSFRole.FALLBACK, id=3, position=2, actions=["Upsell"]),
            CSF(1, "Meeting quality", CSFRole.FALLBACK, id=2, position=1),
            CSF(1, "Old idea", CSFRole.RETIRED, id=4, position=3)]
    suggestions = tr.recovery_suggestions(tracked, csfs)
    assert [s.metric.key for s in suggestions] == ["win_rate"]  # 0.20 / 0.25 = 80 % < 85 %
    assert suggestions[0].recovery_plan == "Coach discovery calls"
    assert [c.name for c in suggestions[0].switch_to] == ["Meeting quality", "Existing customers"]
    assert tr.recovery_suggestions(tr.track_plan(plan, kgi, kpis, {}, TWO_MONTHS), csfs) == []


def test_open_actions_overdue_first():
    today = date(2025, 6, 15)
    checkins = [
        CheckIn(1, "meetings", APR, next_action="Call back", due=date(2025, 6, 30), id=1),
        CheckIn(1, "win_rate", APR, next_action="Coach", due=date(2025, 6, 1), id=2),
        CheckIn(1, "win_rate", MAY, next_action="Done already", due=date(2025, 5, 1), result="ok", id=3),
        CheckIn(1, "avg_deal", MAY, why="only a note", id=4),
        CheckIn(1, "avg_deal", MAY, next_action="Price review", id=5),
    ]
    actions = tr.open_actions(checkins, today)
    assert [a.checkin.id for a in actions] == [2, 1, 5]
    assert actions[0].overdue and actions[0].days_left == -14
    assert not actions[1].overdue and actions[1].days_left == 15
    assert actions[2].days_left is None


def test_default_checkin_is_the_latest_month_and_its_status():
    plan, kgi, kpis = sales_plan()
    tracked = tr.track_plan(plan, kgi, kpis, {}, {"win_rate": {APR: 0.25, MAY: 0.20}})
    assert tr.default_checkin(tracked, "win_rate") == (MAY, Status.OFF_TRACK)
    assert tr.default_checkin(tracked, "meetings") == (None, Status.NO_DATA)


def test_checkin_problems():
    miss = CheckIn(1, "win_rate", APR, status=Status.OFF_TRACK, why="lost two deals")
    assert [k for k, _ in tr.checkin_problems(miss)] == ["pdca.checkin.need_why_next"]
    miss.next_action, miss.due = "coach", date(2025, 5, 10)
    assert tr.checkin_problems(miss) == []
    miss.due = None
    assert [k for k, _ in tr.checkin_problems(miss)] == ["pdca.checkin.need_due"]
    assert [k for k, _ in tr.checkin_problems(CheckIn(1, "m", APR, status=Status.ON_TRACK))] == \
        ["pdca.checkin.empty_note"]
    long = CheckIn(1, "m", APR, status=Status.ON_TRACK, why="x" * 10_000, owner="y" * 1000)
    assert [k for k, _ in tr.checkin_problems(long)] == ["check.text_too_long", "check.name_too_long"]


def test_review_rules():
    assert tr.review_problems({"a": ("keep", "", "A")}) == []
    assert tr.review_problems({"a": ("drop", " ", "A")}) == [("pdca.review.need_reason", {"name": "A"})]
    assert tr.review_problems({"a": ("burn", "x", "A")})[0][0] == "pdca.review.bad_decision"
    assert tr.review_overdue(None, date(2025, 7, 1), APR)
    assert not tr.review_overdue(None, date(2025, 6, 30), APR)
    assert not tr.review_overdue(date(2025, 7, 1), date(2025, 9, 30))
    assert not tr.review_overdue(None, date(2030, 1, 1))


# ---------------------------------------------------------------- typed actuals
def specs():
    plan, kgi, kpis = sales_plan()
    return {s.key: s for s in [tr.kgi_spec(kgi, plan)] + [tr.kpi_spec(k, plan) for k in kpis]}


def test_parse_entry_rates_in_percent_and_japanese_numbers():
    s = specs()
    assert tr.parse_entry("25", s["win_rate"], APR) == pytest.approx(0.25)
    assert tr.parse_entry("25%", s["win_rate"], APR) == pytest.approx(0.25)
    assert tr.parse_entry("２５．５", s["win_rate"], APR) == pytest.approx(0.255)
    assert tr.parse_entry("1,200,000", s["avg_deal"], APR) == 1_200_000
    assert tr.parse_entry("¥1,200,000", s["avg_deal"], APR) == 1_200_000
    assert tr.parse_entry("1200万", s["revenue"], APR) == 12_000_000
    assert tr.parse_entry("  ", s["meetings"], APR) is None
    assert tr.parse_entry(None, s["meetings"], APR) is None
    assert tr.parse_entry(48.0, s["meetings"], APR) == 48


@pytest.mark.parametrize(("key", "text", "error"), [
    ("meetings", "abc", "pdca.entry.not_a_number"),
    ("meetings", "-3", "range.negative"),
    ("meetings", "△3", "range.negative"),
    ("avg_deal", "-1000", "range.negative"),
    ("win_rate", "120", "range.rate"),
    ("win_rate", "-5", "range.rate"),
    ("win_rate", "<script>", "pdca.entry.not_a_number"),
    ("meetings", "1e308", "range.too_large"),
    ("revenue", "1e16", "range.too_large"),
])
def test_parse_entry_refusals_name_metric_and_month(key, text, error):
    with pytest.raises(tr.EntryError) as caught:
        tr.parse_entry(text, specs()[key], MAY)
    assert caught.value.key == error
    assert caught.value.values["month"] == "2025-05"
    assert caught.value.values["metric"] == specs()[key].name


def test_scores_may_be_negative():
    nps = tr.kpi_spec(KPI(1, "nps", "NPS", unit="pt", aggregation=Aggregation.MEAN), Plan(name="p"))
    assert tr.parse_entry("-12", nps, APR) == -12
    with pytest.raises(tr.EntryError) as caught:
        tr.parse_entry("-1e16", nps, APR)
    assert caught.value.key == "range.too_large"


def test_entry_text_is_short_and_round_trips_typed_values():
    s = specs()
    for key, value in [("win_rate", 0.23), ("win_rate", 0.2345), ("avg_deal", 1_234_567.0), ("meetings", 48.0)]:
        text = tr.entry_text(value, s[key])
        assert tr.parse_entry(text, s[key], APR) == pytest.approx(value, rel=1e-12)
    assert tr.entry_text(0.25, s["win_rate"]) == "25"
    assert tr.entry_text(9 / 47, s["win_rate"]) == "19.15"
    assert tr.entry_text(1_200_000, s["avg_deal"]) == "1,200,000"
    assert tr.entry_text(0.0, s["meetings"]) == "0"
    assert tr.entry_text(None, s["meetings"]) == ""


def test_untouched_rounded_cells_are_not_saved_back():
    s = list(specs().values())
    current = {"win_rate": {APR: 9 / 47, MAY: 0.2}}
    change = tr.grid_changes(s, current, {"win_rate": {APR: "19.15", MAY: "21"}})
    assert [(a.metric_key, a.month) for a in change.saves] == [("win_rate", MAY)]  # April keeps 9/47 exactly
    retyped = tr.grid_changes(s, current, {"win_rate": {APR: "19.2"}})
    assert retyped.saves[0].value == pytest.approx(0.192)


def test_grid_changes_keep_only_changed_cells_and_collect_errors():
    s = list(specs().values())
    current = {"meetings": {APR: 40.0, MAY: 60.0}, "win_rate": {APR: 0.23}}
    edited = {"meetings": {APR: "40", MAY: "", JUN: "55"}, "win_rate": {APR: "23", MAY: "21"},
              "avg_deal": {APR: "", MAY: ""}}
    change = tr.grid_changes(s, current, edited)
    assert change.errors == []
    assert sorted((a.metric_key, a.month, a.value) for a in change.saves) == [
        ("meetings", JUN, 55.0), ("win_rate", MAY, pytest.approx(0.21))]
    assert change.clears == [("meetings", MAY)]
    bad = tr.grid_changes(s, current, {"meetings": {APR: "x", MAY: "-1"}, "win_rate": {APR: "150"}})
    assert [e.key for e in bad.errors] == ["pdca.entry.not_a_number", "range.negative",
                                           "range.rate"]


def test_signed_difference():
    assert tr.signed_difference(-0.05, "%", "en") == "-5.0 pt"
    assert tr.signed_difference(3_000_000, "JPY", "ja") == "+300万円"
    assert tr.signed_difference(-3_000_000, "JPY", "en") == "-¥3.0M"
    assert tr.signed_difference(None, "件", "en") is None


def test_month_label():
    assert tr.month_label(APR, "ja") == "2025年4月"
    assert tr.month_label(APR, "en") == "Apr 2025"
