"""The health check, check by check: a plan built to trigger each one, and the same plan without the flaw.

`healthy()` is a running sales plan with no finding at all; each test changes one thing and asserts the finding
and its figures (and that the healthy plan does not produce it)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from kpi_core.domain.health import (
    CHECKLIST,
    MANUAL_ITEMS,
    PITFALL_CAP,
    Finding,
    HealthInput,
    Severity,
    _rank_correlation,
    _ranks,
    check_health,
    checklist,
    count_and_balance,
    score_deductions,
    snapshot_due,
)
from kpi_core.domain.model import (
    CSF,
    KGI,
    KPI,
    Aggregation,
    CheckIn,
    CSFRole,
    Direction,
    Kind,
    Plan,
    Status,
    add_months,
)

START = date(2026, 4, 1)
TODAY = date(2026, 10, 15)
MONTHS = [add_months(START, i) for i in range(6)]  # Apr-Sep 2026: six closed months
MEETINGS = [40, 41, 42, 43, 44, 45]
WIN_RATE = [0.25, 0.251, 0.252, 0.253, 0.254, 0.255]
DEAL = [1_200_000, 1_201_000, 1_202_000, 1_203_000, 1_204_000, 1_205_000]


def kpi(key: str, **changes) -> KPI:
    base = {
        "meetings": KPI(plan_id=1, key="meetings", name="Qualified meetings", csf_id=1,
                        definition="Meetings per month with a decision maker", unit="meetings",
                        kind=Kind.LEADING, annual_target=480, owner="Sato", data_source="SFA",
                        recovery_plan="More calls", rationale="Leading indicator of revenue"),
        "win_rate": KPI(plan_id=1, key="win_rate", name="Win rate", csf_id=2,
                        definition="Wins ÷ qualified meetings of the month", unit="%", kind=Kind.LAGGING,
                        aggregation=Aggregation.RATIO, ratio_weight="meetings", annual_target=0.25, owner="Suzuki",
                        data_source="SFA", recovery_plan="Loss reviews", rationale="Quality of meetings"),
        "avg_deal": KPI(plan_id=1, key="avg_deal", name="Average deal", csf_id=2,
                        definition="Won amount ÷ wins of the month", unit="JPY", kind=Kind.LAGGING,
                        aggregation=Aggregation.RATIO, ratio_weight="meetings * win_rate", annual_target=1_200_000,
                        owner="Tanaka", data_source="SFA", recovery_plan="Discount rules",
                        rationale="Revenue per win"),
    }[key]
    return replace(base, **changes)


def actuals(meetings=MEETINGS, win_rate=WIN_RATE, deal=DEAL) -> dict[str, dict[date, float]]:
    series = {"meetings": dict(zip(MONTHS, meetings)), "win_rate": dict(zip(MONTHS, win_rate)),
              "avg_deal": dict(zip(MONTHS, deal))}
    series["revenue"] = {m: series["meetings"][m] * series["win_rate"][m] * series["avg_deal"][m] for m in MONTHS}
    return series


def healthy(**changes) -> HealthInput:
    plan = Plan(name="Sales", fiscal_start=START, months=12, id=1)
    kgi = KGI(plan_id=1, key="revenue", name="Revenue", baseline=120_000_000, target=144_000_000,
              deadline=date(2027, 3, 31), basis="Last year plus market growth", formula="meetings * win_rate * avg_deal")
    csfs = [CSF(plan_id=1, name="New customers", id=1), CSF(plan_id=1, name="Meeting quality", id=2),
            CSF(plan_id=1, name="Existing customers", role=CSFRole.FALLBACK, id=3)]
    owners = {"meetings": "Sato", "win_rate": "Suzuki", "avg_deal": "Tanaka"}
    checkins = [CheckIn(plan_id=1, metric_key=key, month=MONTHS[4], status=Status.ON_TRACK, why="fine",
                        next_action="keep going", owner=owner, due=date(2026, 10, 31), result="done")
                for key, owner in owners.items()]
    data = HealthInput(plan=plan, kgi=kgi, csfs=csfs, kpis=[kpi("meetings"), kpi("win_rate"), kpi("avg_deal")],
                       targets={}, actuals=actuals(), checkins=checkins, review_dates=[date(2026, 9, 1)],
                       review_cadence_set=True, today=TODAY)
    return replace(data, **changes)


def found(data: HealthInput, check: str) -> list[Finding]:
    return [f for f in check_health(data).findings if f.check == check]


def only(data: HealthInput, check: str) -> Finding:
    hits = found(data, check)
    assert len(hits) == 1, hits
    return hits[0]


def with_kpi(data: HealthInput, key: str, **changes) -> HealthInput:
    return replace(data, kpis=[kpi(k.key, **changes) if k.key == key else k for k in data.kpis])


# ---------------------------------------------------------------- the healthy plan
def test_healthy_plan_has_no_finding_and_scores_100():
    report = check_health(healthy())
    assert report.findings == ()
    assert report.score == 100.0
    assert report.running
    assert set(report.lights.values()) == {Status.ON_TRACK}
    assert {c.key: (round(c.rho, 2), c.months) for c in report.correlations} == {
        "meetings": (1.0, 6), "win_rate": (1.0, 6), "avg_deal": (1.0, 6)}


# ---------------------------------------------------------------- 1 misaligned
def test_kpi_in_no_csf_and_not_in_the_formula_is_misaligned():
    extra = KPI(plan_id=1, key="calls", name="Calls", definition="Calls per month", unit="calls", owner="Sato",
                data_source="CTI", recovery_plan="x", rationale="y", annual_target=1200)
    data = healthy(kpis=[*healthy().kpis, extra], checkins=[*healthy().checkins,
                   CheckIn(plan_id=1, metric_key="calls", month=MONTHS[-1], why="a", next_action="b", owner="Sato",
                           due=TODAY, result="c")])
    finding = only(data, "orphan_kpi")
    assert (finding.pitfall, finding.severity, finding.metric, finding.step) == (1, Severity.HIGH, "calls", "kpi")
    assert not found(with_kpi(healthy(), "meetings", csf_id=None), "orphan_kpi"), "in the formula: a path exists"
    low = only(with_kpi(healthy(), "meetings", csf_id=None), "no_csf")
    assert (low.severity, low.metric) == (Severity.LOW, "meetings")


def test_goodhart_kpi_on_track_while_the_kgi_is_off_track():
    series = actuals()
    series["revenue"] = {m: v * (0.7 if m >= MONTHS[4] else 1.0) for m, v in series["revenue"].items()}
    hit = next(f for f in found(healthy(actuals=series), "goodhart") if f.metric == "meetings")
    assert hit.severity is Severity.HIGH
    assert hit.evidence == {"kpi": "Qualified meetings", "hits": 2, "window": 3, "months": "2026-08, 2026-09"}
    one_month = actuals()
    one_month["revenue"] = {m: v * (0.7 if m == MONTHS[5] else 1.0) for m, v in one_month["revenue"].items()}
    assert not found(healthy(actuals=one_month), "goodhart"), "1 of the last 3 months is not a pattern"


def test_kpi_moving_against_the_kgi_with_its_month_count():
    series = actuals()
    series["meetings"] = dict(zip(MONTHS, reversed(MEETINGS)))  # revenue still rises with the other drivers
    finding = only(healthy(actuals=series), "against_kgi")
    assert finding.evidence == {"kpi": "Qualified meetings", "rho": -1.0, "months": 6}
    assert finding.severity is Severity.MEDIUM


def test_no_correlation_verdict_below_six_months():
    series = actuals()
    series["meetings"] = dict(zip(MONTHS[:5], reversed(MEETINGS[:5])))
    report = check_health(healthy(actuals=series))
    assert not [f for f in report.findings if f.check in ("against_kgi", "weak_link")]
    meetings = next(c for c in report.correlations if c.key == "meetings")
    assert (meetings.months, meetings.verdict, round(meetings.rho, 2)) == (5, False, -1.0)


def test_weak_link_and_a_lower_is_better_kpi_counts_as_aligned():
    series = actuals()
    series["meetings"] = dict(zip(MONTHS, [43, 40, 45, 41, 42, 44]))
    series["revenue"] = dict(zip(MONTHS, [10.0, 11, 12, 13, 14, 15]))
    finding = only(healthy(actuals=series), "weak_link")
    assert finding.evidence["rho"] == 0.2 and finding.evidence["months"] == 6
    churn = actuals()
    churn["meetings"] = dict(zip(MONTHS, reversed(MEETINGS)))
    flipped = with_kpi(healthy(actuals=churn), "meetings", direction=Direction.DOWN)
    assert not found(flipped, "against_kgi"), "a falling lower-is-better KPI moves the KGI the right way"


def test_tree_that_does_not_hold_bottom_up():
    series = actuals()
    series["revenue"][MONTHS[2]] *= 1.2
    finding = only(healthy(actuals=series), "tree_breaks")
    assert finding.evidence["count"] == 1 and finding.evidence["month"] == "2026-06"
    assert finding.evidence["gap_pct"] == pytest.approx(1 / 1.2 - 1)
    within = actuals()
    within["revenue"][MONTHS[2]] *= 1.09
    assert not found(healthy(actuals=within), "tree_breaks"), "9 % is within the 10 % tolerance"


# ---------------------------------------------------------------- 2 vague
@pytest.mark.parametrize(("changes", "check", "values"), [
    ({"definition": ""}, "no_definition", {}),
    ({"name": "営業力強化", "definition": "営業力を強化する取り組みの状況"}, "vague_word", {"word": "強化"}),
    ({"name": "Better meetings", "definition": "How the meetings go for the team"}, "vague_word", {"word": "better"}),
    ({"unit": ""}, "no_unit", {}),
    ({"data_source": ""}, "no_source", {}),
    ({"definition": "Meetings held with a decision maker"}, "no_period", {}),
    ({"definition": "Good meetings"}, "not_countable", {"length": 13}),
])
def test_vague_definitions(changes, check, values):
    finding = only(with_kpi(healthy(), "meetings", **changes), check)
    assert finding.pitfall == 2 and finding.metric == "meetings" and finding.step == "kpi"
    assert values.items() <= finding.evidence.items()
    assert not found(healthy(), check)


def test_a_number_makes_a_vague_word_concrete():
    data = with_kpi(healthy(), "meetings", definition="商談数を月50件に強化する")
    assert not found(data, "vague_word")


# ---------------------------------------------------------------- 3 count and balance
def test_count_and_balance():
    three = healthy().kpis
    assert count_and_balance(three) == []
    assert [(f.check, f.severity, f.evidence["count"]) for f in count_and_balance(three[:2])] == [
        ("too_few", Severity.MEDIUM, 2)]
    assert [f.severity for f in count_and_balance([])] == [Severity.HIGH]
    many = [replace(three[0], key=f"k{i}") for i in range(6)] + [three[1]]
    assert [(f.check, f.evidence["count"]) for f in count_and_balance(many)] == [("too_many", 7)]
    assert [f.check for f in count_and_balance([three[1], three[2], three[1]])] == ["no_leading"]
    assert [f.check for f in count_and_balance([three[0]] * 3)] == ["no_lagging"]


# ---------------------------------------------------------------- 4 bad targets
def test_kgi_without_basis_target_or_below_baseline():
    data = healthy()
    assert only(replace(data, kgi=replace(data.kgi, basis=" ")), "no_basis").step == "kgi"
    below = only(replace(data, kgi=replace(data.kgi, target=100_000_000)), "below_baseline")
    assert below.evidence == {"target": 100_000_000, "baseline": 120_000_000, "unit": "JPY"}
    assert below.severity is Severity.HIGH
    assert only(replace(data, kgi=None), "no_kgi").severity is Severity.HIGH
    assert only(replace(data, kgi=replace(data.kgi, target=None)), "no_kgi_target").severity is Severity.HIGH
    assert not found(data, "below_baseline")


def test_growth_beyond_the_best_year_on_year_growth():
    series = actuals()
    last_year = {add_months(m, -12): v / 1.3 for m, v in series["revenue"].items()}
    series["revenue"] = {**last_year, **series["revenue"]}  # +30 % on record, every month
    data = healthy(actuals=series)
    assert not found(data, "growth_beyond_history"), "+20 % needed, +30 % achieved before"
    modest = actuals()
    modest["revenue"] = {**{add_months(m, -12): v / 1.1 for m, v in modest["revenue"].items()}, **modest["revenue"]}
    finding = only(healthy(actuals=modest), "growth_beyond_history")
    assert finding.evidence["needed_pct"] == pytest.approx(0.2)
    assert finding.evidence["best_pct"] == pytest.approx(0.1)


def test_monthly_target_above_the_best_month_on_record():
    data = with_kpi(healthy(), "meetings", annual_target=552)  # 46 a month, the best month was 45
    finding = only(data, "run_rate_above_record")
    assert finding.evidence["monthly"] == 46 and finding.evidence["best"] == 45
    assert finding.evidence["best_month"] == "2026-09" and finding.metric == "meetings"
    assert not found(with_kpi(healthy(), "meetings", annual_target=540), "run_rate_above_record")


def test_kpi_targets_over_or_under_plan_the_kgi():
    over = only(with_kpi(healthy(), "meetings", annual_target=600), "over_plan")
    assert over.evidence["implied"] == pytest.approx(180_000_000)
    assert over.evidence["gap_pct"] == pytest.approx(0.25) and over.severity is Severity.MEDIUM
    under = only(with_kpi(healthy(), "meetings", annual_target=360), "under_plan")
    assert under.evidence["gap_pct"] == pytest.approx(-0.25) and under.severity is Severity.HIGH
    near = with_kpi(healthy(), "meetings", annual_target=520)  # +8.3 %
    assert not found(near, "over_plan") and not found(near, "under_plan")


def test_kpi_without_target():
    finding = only(with_kpi(healthy(), "avg_deal", annual_target=None), "no_kpi_target")
    assert (finding.metric, finding.pitfall) == ("avg_deal", 4)


# ---------------------------------------------------------------- 5 no action
def test_no_owner_and_no_recovery_plan():
    assert only(with_kpi(healthy(), "meetings", owner=""), "no_owner").metric == "meetings"
    assert only(with_kpi(healthy(), "meetings", recovery_plan=""), "no_recovery").severity is Severity.LOW


def test_off_track_month_without_a_complete_checkin():
    series = actuals(meetings=[40, 41, 42, 43, 44, 30])  # September at 75 % of 40
    finding = only(healthy(actuals=series), "off_track_no_checkin")
    assert finding.evidence == {"kpi": "Qualified meetings", "count": 1, "months": "2026-09"}
    assert finding.severity is Severity.HIGH
    answered = CheckIn(plan_id=1, metric_key="meetings", month=MONTHS[5], status=Status.OFF_TRACK,
                       why="two reps ill", next_action="call list", owner="Sato", due=date(2026, 10, 30))
    data = healthy(actuals=series, checkins=[*healthy().checkins, answered])
    assert not found(data, "off_track_no_checkin")
    half = replace(answered, next_action="")
    assert found(healthy(actuals=series, checkins=[*healthy().checkins, half]), "off_track_no_checkin")


def test_overdue_actions():
    late = CheckIn(plan_id=1, metric_key="meetings", month=MONTHS[4], why="a", next_action="b", owner="Sato",
                   due=date(2026, 10, 1))
    finding = only(healthy(checkins=[*healthy().checkins, late]), "overdue_actions")
    assert finding.evidence == {"count": 1, "oldest": "2026-10-01", "days": 14}
    assert not found(healthy(checkins=[*healthy().checkins, replace(late, result="done")]), "overdue_actions")


def test_no_review_cadence():
    assert only(healthy(review_cadence_set=False), "no_cadence").pitfall == 5


# ---------------------------------------------------------------- 6 disconnected
def test_no_rationale_untouched_targets_and_silent_owner():
    assert only(with_kpi(healthy(), "win_rate", rationale=""), "no_rationale").metric == "win_rate"
    untouched = only(healthy(checkins=[], review_dates=[date(2026, 9, 1)][:0]), "untouched_targets")
    assert untouched.evidence == {"checkins": 0, "reviews": 0, "decisions": 0}
    assert not found(healthy(checkins=[], review_dates=[], workshop_decisions=1), "untouched_targets")
    others = [replace(c, owner="Author") for c in healthy().checkins]
    silent = found(healthy(checkins=others), "owner_silent")
    assert [(f.metric, f.evidence["owner"]) for f in silent] == [
        ("avg_deal", "Tanaka"), ("meetings", "Sato"), ("win_rate", "Suzuki")]


def test_a_plan_not_running_is_not_judged_on_its_rhythm():
    report = check_health(healthy(actuals={}, checkins=[], review_dates=[]))
    assert not report.running
    assert not {f.check for f in report.findings} & {"untouched_targets", "owner_silent", "no_quarterly_review",
                                                     "stale_actuals", "never_revised"}


# ---------------------------------------------------------------- 7 rigid
def test_no_quarterly_review_in_over_three_months():
    finding = only(healthy(review_dates=[date(2026, 6, 1)]), "no_quarterly_review")
    assert finding.evidence == {"since": "2026-06-01", "months": 4}
    assert only(healthy(review_dates=[]), "no_quarterly_review").evidence["since"] == "2026-04-01"


def test_kpi_without_actuals_for_its_last_two_months():
    series = actuals()
    series["meetings"] = {m: v for m, v in series["meetings"].items() if m < MONTHS[4]}
    finding = only(healthy(actuals=series), "stale_actuals")
    assert finding.evidence == {"kpi": "Qualified meetings", "months": "2026-08, 2026-09", "last": "2026-07"}
    one_missing = actuals()
    del one_missing["meetings"][MONTHS[5]]
    assert not found(healthy(actuals=one_missing), "stale_actuals")


def test_targets_never_revised_after_two_off_track_quarters():
    series = actuals(win_rate=[0.2] * 6)  # 80 % of 25 %: off track both quarters
    finding = only(healthy(actuals=series), "never_revised")
    assert finding.evidence == {"kpi": "Win rate", "quarters": 2, "months": "2026-04, 2026-07"}
    revised = healthy(actuals=series, target_changes={"win_rate": [date(2026, 7, 20)]})
    assert not found(revised, "never_revised")
    one_quarter = actuals(win_rate=[0.2, 0.2, 0.2, 0.25, 0.25, 0.25])
    assert not found(healthy(actuals=one_quarter), "never_revised")


# ---------------------------------------------------------------- score, lights, checklist
def test_score_formula_weights_and_cap():
    high_misaligned = [Finding(1, "orphan_kpi", Severity.HIGH, "kpi")]
    assert score_deductions(high_misaligned)[1] == 18.0  # 12 points x weight 1.5
    many = [Finding(2, "no_unit", Severity.MEDIUM, "kpi", f"k{i}") for i in range(10)]
    assert score_deductions(many)[2] == PITFALL_CAP
    nothing_right = healthy(kgi=None, kpis=[], actuals={}, checkins=[], review_cadence_set=False)
    assert check_health(nothing_right).score >= 0
    data = with_kpi(healthy(), "meetings", owner="")  # medium on pitfall 5
    report = check_health(data)
    assert report.score == 95.0
    assert report.lights[5] is Status.AT_RISK and report.lights[1] is Status.ON_TRACK


def test_checklist_has_the_fifteen_items_auto_and_by_hand():
    assert len(CHECKLIST) == 15 and set(MANUAL_ITEMS) < set(CHECKLIST)
    items = checklist(healthy(), {"one_system": (True, "Sato", "2026-10-01 10:00")})
    by_item = {i.item: i for i in items}
    assert [i.item for i in items] == list(CHECKLIST)
    assert all(by_item[i].done for i in ("kgi_set", "causality_written", "tree_drawn", "kpis_defined",
                                         "data_sources", "dashboard_covers", "action_per_kpi", "review_cycle"))
    assert by_item["one_system"].done and by_item["one_system"].ticked_by == "Sato"
    assert not by_item["input_rules"].done and not by_item["input_rules"].auto
    bare = checklist(with_kpi(healthy(actuals={}, review_dates=[]), "meetings", data_source=""), {})
    assert not {i.item for i in bare if i.done} & {"data_sources", "dashboard_covers", "review_cycle"}


def test_rank_correlation_with_ties_and_no_variation():
    def spearman(xs, ys):
        return _rank_correlation(_ranks(xs), _ranks(ys))

    assert list(_ranks([10, 20, 20, 30])) == [1.0, 2.5, 2.5, 4.0]  # ties share the mean of their ranks
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 2, 3], [3, 2, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_snapshot_due_once_a_month():
    assert snapshot_due(None, TODAY)
    assert not snapshot_due(date(2026, 10, 1), TODAY)
    assert snapshot_due(date(2026, 9, 1), TODAY)


def test_formula_by_month_skips_missing_drivers_and_division_by_zero():
    from kpi_core.domain.drivers import evaluate_by_month

    series = {"a": {MONTHS[0]: 6.0, MONTHS[1]: 8.0, MONTHS[2]: 1.0}, "b": {MONTHS[0]: 3.0, MONTHS[1]: 0.0}}
    assert evaluate_by_month("a / b - 1", series) == {MONTHS[0]: 1.0}
    assert evaluate_by_month("-(a * 2) + b", series) == {MONTHS[0]: -9.0, MONTHS[1]: -16.0}
    assert evaluate_by_month("a", {"a": {MONTHS[0]: float("nan")}}) == {}
