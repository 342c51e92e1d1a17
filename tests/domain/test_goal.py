"""Step 1 (KGI) and step 2 (gap) computations and checks, with the figures of the demo sales plan."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core.domain.gap import analyse_gap, best_yoy_growth, current_from_history
from kpi_core.domain.goal import months_until, summarise_kgi, validate_kgi
from kpi_core.domain.model import KGI, Aggregation, Direction, Plan, add_months
from kpi_core.domain.plan_rules import step_progress

PLAN = Plan(name="Sales", fiscal_start=date(2026, 4, 1), months=12, id=1)


def sales_kgi(**changes) -> KGI:
    values = {"plan_id": 1, "key": "revenue", "name": "Annual revenue", "unit": "JPY", "baseline": 120_000_000,
              "target": 144_000_000, "current": 120_000_000, "deadline": date(2027, 3, 31),
              "basis": "last year +20 %"}
    values.update(changes)
    return KGI(**values)


def keys(messages, level="error"):
    return [m.key for m in messages if m.level == level]


def test_demo_figures_gap_24m_and_20_percent():
    gap = analyse_gap(sales_kgi(), PLAN, 120_000_000)
    assert gap.gap == 24_000_000
    assert gap.gap_pct == pytest.approx(0.20)
    assert gap.required_monthly == 12_000_000
    assert gap.historical_monthly == 10_000_000


def test_kgi_summary_growth_and_run_rate():
    summary = summarise_kgi(sales_kgi(), PLAN)
    assert summary.growth_abs == 24_000_000 and summary.growth_pct == pytest.approx(0.2)
    assert summary.required_monthly == 12_000_000 and summary.baseline_monthly == 10_000_000
    assert summary.months == 12
    level = summarise_kgi(sales_kgi(aggregation=Aggregation.LAST, baseline=100, target=160,
                                    deadline=date(2026, 9, 30)), PLAN)
    assert level.months == 6 and level.required_monthly == 10


def test_valid_kgi_has_no_errors():
    assert validate_kgi(sales_kgi(), PLAN, today=date(2026, 4, 1)) == []


@pytest.mark.parametrize("changes, key", [
    ({"target": None}, "check.kgi_no_target"),
    ({"baseline": None}, "check.kgi_no_baseline"),
    ({"target": 100_000_000}, "check.kgi_target_not_above"),
    ({"direction": Direction.DOWN}, "check.kgi_target_not_below"),
    ({"deadline": date(2026, 3, 31)}, "check.deadline_before_start"),
    ({"deadline": date(2027, 4, 1)}, "check.deadline_after_end"),
    ({"name": ""}, "check.name_empty"),
    ({"name": "x" * 10_000}, "check.name_too_long"),
    ({"unit": "%", "baseline": 0.5, "target": 1.5}, "range.rate"),
    ({"target": 1e308}, "range.too_large"),
    ({"baseline": -5.0}, "range.negative"),
])
def test_kgi_errors(changes, key):
    assert key in keys(validate_kgi(sales_kgi(**changes), PLAN))


def test_kgi_warnings_for_missing_deadline_and_basis():
    warnings = keys(validate_kgi(sales_kgi(deadline=None, basis=""), PLAN), "warning")
    assert warnings == ["check.kgi_no_deadline", "check.kgi_no_basis"]


def test_current_from_history_is_last_year_total_or_latest_level():
    history = {add_months(PLAN.fiscal_start, -i): 10_000_000 for i in range(1, 13)}
    assert current_from_history(sales_kgi(), PLAN, history) == 120_000_000
    assert current_from_history(sales_kgi(), PLAN, {date(2026, 3, 1): 5}) is None
    level = sales_kgi(aggregation=Aggregation.LAST)
    assert current_from_history(level, PLAN, {date(2026, 2, 1): 5, date(2026, 3, 1): 7}) == 7


def test_best_year_on_year_growth_and_unrealistic_flag():
    history = {date(2025, 4, 1): 100, date(2025, 5, 1): 100, date(2026, 4, 1): 105, date(2026, 5, 1): 108}
    assert best_yoy_growth(history) == pytest.approx(0.08)
    gap = analyse_gap(sales_kgi(), PLAN, 120_000_000, history)
    assert "check.gap_unrealistic" in keys(gap.flags, "warning")
    trivial = analyse_gap(sales_kgi(target=121_000_000), PLAN, 120_000_000)
    assert keys(trivial.flags, "warning") == ["check.gap_trivial"]
    met = analyse_gap(sales_kgi(), PLAN, 150_000_000)
    assert keys(met.flags, "warning") == ["check.gap_already_met"]


def test_months_until_deadline_is_clamped_to_the_period():
    assert months_until(PLAN, date(2026, 6, 15)) == 3
    assert months_until(PLAN, None) == 12
    assert months_until(PLAN, date(2030, 1, 1)) == 12


def test_step_progress():
    assert step_progress(None, 0, 0, False) == [False] * 5
    assert step_progress(sales_kgi(), 2, 3, True) == [True] * 5
    assert step_progress(sales_kgi(current=None), 1, 0, False) == [True, False, True, False, False]


def test_past_deadline_warns_but_does_not_block():
    messages = validate_kgi(sales_kgi(), PLAN, today=date(2027, 4, 2))
    assert [(m.level, m.key) for m in messages] == [("warning", "room.deadline_past")]
