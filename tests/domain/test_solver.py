"""kpi_core.domain.solver: what the reverse-calculation tab shows, on the worked sales model (DOMAIN.md):
meetings 600 a year x win rate 25 % x average deal 1.2M = 180M against a 144M KGI target."""
from __future__ import annotations

from dataclasses import replace

import pytest

from kpi_core.domain.drivers import FormulaError, reverse_calculate
from kpi_core.domain.model import KGI, KPI, Aggregation
from kpi_core.domain.solver import (
    already_met,
    change_against,
    driver_rows,
    kgi_formula,
    kpi_by_key,
    levers,
    monthly_target,
    solvable,
)


def sales_model() -> tuple[KGI, list[KPI]]:
    kgi = KGI(plan_id=1, key="revenue", unit="JPY", aggregation=Aggregation.SUM, target=144_000_000,
              formula="meetings * win_rate * avg_deal")
    return kgi, [
        KPI(plan_id=1, key="meetings", name="meetings", unit="件", annual_target=600),
        KPI(plan_id=1, key="win_rate", name="win rate", unit="%", aggregation=Aggregation.RATIO,
            ratio_weight="meetings", annual_target=0.25),
        KPI(plan_id=1, key="avg_deal", name="average deal", unit="JPY", aggregation=Aggregation.RATIO,
            ratio_weight="meetings * win_rate", annual_target=1_200_000),
    ]


def test_the_formula_is_read_from_the_kgi_and_a_broken_or_missing_one_is_none():
    kgi, _ = sales_model()
    assert kgi_formula(kgi).names == ("meetings", "win_rate", "avg_deal")
    assert kgi_formula(replace(kgi, formula="meetings *")) is None
    assert kgi_formula(replace(kgi, formula="")) is None
    assert kgi_formula(None) is None


def test_only_formula_names_that_are_kpis_can_be_solved_for():
    kgi, kpis = sales_model()
    formula = kgi_formula(replace(kgi, formula="meetings * win_rate * avg_deal + other"))
    assert solvable(formula, kpis) == ["meetings", "win_rate", "avg_deal"]
    assert kpi_by_key(kpis, "other") is None


def test_driver_rows_carry_the_solved_figures_for_the_chosen_driver_only():
    kgi, kpis = sales_model()
    result = reverse_calculate(kgi, kpis, "meetings", 12)
    rows = {r.key: r for r in driver_rows(kgi_formula(kgi), kpis, result, 12)}
    assert list(rows) == ["meetings", "win_rate", "avg_deal"]
    assert rows["meetings"].solved and rows["meetings"].now_monthly == pytest.approx(50)
    assert rows["meetings"].need_monthly == pytest.approx(40) and rows["meetings"].need_annual == pytest.approx(480)
    assert not rows["win_rate"].solved
    assert rows["win_rate"].need_annual == rows["win_rate"].now_annual == 0.25
    assert rows["avg_deal"].unit == "JPY"


def test_a_driver_without_a_target_has_no_row():
    kgi, kpis = sales_model()
    kpis[2] = replace(kpis[2], annual_target=None)
    result = reverse_calculate(kgi, kpis, "avg_deal", 12)
    assert [r.key for r in driver_rows(kgi_formula(kgi), kpis, result, 12)] == ["meetings", "win_rate"]


def test_the_needed_value_is_compared_with_the_present_one():
    kgi, kpis = sales_model()
    result = reverse_calculate(kgi, kpis, "meetings", 12)
    assert monthly_target(kpis[0], 12) == pytest.approx(50)
    assert monthly_target(replace(kpis[0], annual_target=None), 12) is None
    assert change_against(result.monthly, monthly_target(kpis[0], 12)) == pytest.approx(-0.2)
    assert change_against(40, None) is None and change_against(40, 0) is None
    assert not already_met(kpis[0], result)
    assert already_met(replace(kpis[0], annual_target=480), result)
    assert not already_met(replace(kpis[0], annual_target=None), result)


def test_levers_are_ranked_in_annual_kgi_terms():
    kgi, kpis = sales_model()
    ranked = levers(kgi_formula(kgi), kgi, kpis, 12)
    assert [lever.rank for lever in ranked] == [1, 2, 3]
    for lever in ranked:  # a product: each driver +10 % moves the 180M a year by 18M, +1 % by 1.8M
        assert lever.plus_ten == pytest.approx(18_000_000)
        assert lever.plus_one == pytest.approx(1_800_000)
        assert lever.relative == pytest.approx(0.10)


def test_levers_need_every_driver_target():
    kgi, kpis = sales_model()
    kpis[1] = replace(kpis[1], annual_target=None)
    with pytest.raises(FormulaError):
        levers(kgi_formula(kgi), kgi, kpis, 12)
