"""Driver-tree engine: parsing (and refusing), evaluation, goal seek, sensitivity, attribution, aggregation."""
from __future__ import annotations

import ast
import math
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_core.domain import drivers
from kpi_core.domain.drivers import (
    FormulaError,
    SolveError,
    aggregate,
    implied_kgi,
    parse_formula,
    reverse_calculate,
    sensitivity,
    solve,
    variance_breakdown,
    weight_series,
)
from kpi_core.domain.model import KGI, KPI, Aggregation
from kpi_core.i18n import catalogue

SALES = "meetings * win_rate * avg_deal"
SALES_MONTH = {"meetings": 50.0, "win_rate": 0.25, "avg_deal": 1_200_000.0}


def sales_model(target: float = 144_000_000) -> tuple[KGI, list[KPI]]:
    kgi = KGI(plan_id=1, key="revenue", unit="JPY", aggregation=Aggregation.SUM, baseline=120_000_000,
              target=target, formula=SALES)
    kpis = [
        KPI(plan_id=1, key="meetings", name="meetings", unit="count", aggregation=Aggregation.SUM,
            annual_target=600),
        KPI(plan_id=1, key="win_rate", name="win rate", unit="%", aggregation=Aggregation.RATIO,
            ratio_weight="meetings", annual_target=0.25),
        KPI(plan_id=1, key="avg_deal", name="average deal", unit="JPY", aggregation=Aggregation.RATIO,
            ratio_weight="meetings * win_rate", annual_target=1_200_000),
    ]
    return kgi, kpis


# ---------------------------------------------------------------- parsing
def test_parse_gives_names_in_order_of_appearance_and_evaluates():
    formula = parse_formula("leads * mql_rate * sql_rate * win_rate * avg_deal")
    assert formula.names == ("leads", "mql_rate", "sql_rate", "win_rate", "avg_deal")
    values = {"leads": 400, "mql_rate": 0.4, "sql_rate": 0.5, "win_rate": 0.25, "avg_deal": 400_000}
    assert formula.evaluate(values) == pytest.approx(8_000_000)
    assert parse_formula("leads * mql_rate * sql_rate * win_rate").evaluate(values) == pytest.approx(20)


def test_parse_handles_precedence_unary_minus_and_repeated_names():
    formula = parse_formula("-(a - b) * 2 + a / 4")
    assert formula.names == ("a", "b")
    assert formula.evaluate({"a": 8, "b": 3}) == pytest.approx(-(8 - 3) * 2 + 8 / 4)


def test_parse_accepts_typographic_operators_typed_in_japanese():
    formula = parse_formula("meetings × win_rate ＊ avg_deal")
    assert formula.evaluate(SALES_MONTH) == pytest.approx(15_000_000)


HOSTILE = [
    ("__import__('os').system('id')", "engine.formula.call"),
    ("a.b", "engine.formula.attribute"),
    ("f(x)", "engine.formula.call"),
    ("10**10**10", "engine.formula.power"),
    ("a ** 2", "engine.formula.power"),
    ("a[0]", "engine.formula.subscript"),
    ("a < b", "engine.formula.comparison"),
    ("a and b", "engine.formula.comparison"),
    ("'text'", "engine.formula.string"),
    ("f'{a}'", "engine.formula.string"),
    ("lambda: 1", "engine.formula.lambda"),
    ("a if b else c", "engine.formula.unsupported"),
    ("[a, b]", "engine.formula.unsupported"),
    ("(a := 1)", "engine.formula.unsupported"),
    ("True", "engine.formula.unsupported"),
    ("1j", "engine.formula.unsupported"),
    ("a // b", "engine.formula.operator"),
    ("a % b", "engine.formula.operator"),
    ("__builtins__", "engine.formula.bad_name"),
    ("", "engine.formula.empty"),
    ("   ", "engine.formula.empty"),
    ("a +", "engine.formula.syntax"),
    ("a; b", "engine.formula.syntax"),
    ("a\x00", "engine.formula.syntax"),
    ("1e999", "engine.formula.not_finite"),
    ("a + " * 200 + "a", "engine.formula.too_long"),
    ("-" * 200 + "a", "engine.formula.too_deep"),
]


@pytest.mark.parametrize(("text", "key"), HOSTILE)
def test_hostile_or_broken_formulas_are_refused_with_a_catalogue_key(text, key):
    with pytest.raises(FormulaError) as caught:
        parse_formula(text)
    assert caught.value.key == key
    assert key in catalogue("en") and key in catalogue("ja")


def test_unknown_names_are_refused_when_the_allowed_set_is_given():
    with pytest.raises(FormulaError) as caught:
        parse_formula("meetings * win_rate * avg_deall", allowed=["meetings", "win_rate", "avg_deal"])
    assert caught.value.key == "engine.formula.unknown_name"
    assert caught.value.values["name"] == "avg_deall"


def test_refused_formulas_execute_nothing(tmp_path: Path):
    marker = tmp_path / "pwned"
    attempts = [
        f"__import__('os').system('touch {marker}')",
        f"open('{marker}', 'w').write('x')",
        f"(lambda: __import__('pathlib').Path('{marker}').touch())()",
        f"[__import__('os').system('touch {marker}') for _ in a]",
    ]
    for text in attempts:
        with pytest.raises(FormulaError):
            parse_formula(text)
    assert not marker.exists()


def test_the_engine_never_calls_eval_exec_or_compile():
    source = Path(drivers.__file__).read_text(encoding="utf-8")
    called = {node.func.id for node in ast.walk(ast.parse(source))
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__"}


def test_evaluation_errors_carry_keys():
    with pytest.raises(FormulaError) as caught:
        parse_formula("a / b").evaluate({"a": 1, "b": 0})
    assert caught.value.key == "engine.formula.division_by_zero"
    with pytest.raises(FormulaError) as caught:
        parse_formula("a * b").evaluate({"a": 1})
    assert caught.value.key == "engine.formula.missing_value"
    assert caught.value.values == {"name": "b"}
    with pytest.raises(FormulaError) as caught:
        parse_formula("a * b").evaluate({"a": 1e200, "b": 1e200})
    assert caught.value.key == "engine.formula.not_finite"


# ---------------------------------------------------------------- implied KGI and reverse calculation
def test_sales_kpis_imply_180m_a_25_percent_over_plan():
    kgi, kpis = sales_model()
    implied = implied_kgi(kgi, kpis, 12)
    assert implied.monthly == pytest.approx(15_000_000)
    assert implied.annual == pytest.approx(180_000_000)
    assert implied.difference == pytest.approx(36_000_000)
    assert implied.over_plan == pytest.approx(0.25)


def test_implied_kgi_needs_every_driver_target():
    kgi, kpis = sales_model()
    kpis[1].annual_target = None
    with pytest.raises(FormulaError) as caught:
        implied_kgi(kgi, kpis, 12)
    assert caught.value.key == "engine.implied.missing_target"


@pytest.mark.parametrize(("unknown", "monthly", "annual"), [
    ("meetings", 40, 480),
    ("win_rate", 0.20, 0.20),
    ("avg_deal", 960_000, 960_000),
])
def test_reverse_calculation_reproduces_the_domain_figures(unknown, monthly, annual):
    kgi, kpis = sales_model()
    result = reverse_calculate(kgi, kpis, unknown, 12)
    assert result.valid, result
    assert result.monthly == pytest.approx(monthly)
    assert result.annual == pytest.approx(annual)


def test_marketing_funnel_solves_back_to_20_wins():
    formula = parse_formula("leads * mql_rate * sql_rate * win_rate")
    assert solve(formula, 20, {"mql_rate": 0.4, "sql_rate": 0.5, "win_rate": 0.25}, "leads") == pytest.approx(400)
    assert solve(formula, 20, {"leads": 400, "mql_rate": 0.4, "win_rate": 0.25}, "sql_rate") == pytest.approx(0.5)


def test_reverse_calculation_flags_a_rate_above_100_percent():
    kgi, kpis = sales_model(target=1_000_000_000)
    result = reverse_calculate(kgi, kpis, "win_rate", 12)
    assert not result.valid
    assert result.message_key == "engine.reverse.rate_out_of_range"
    assert result.monthly == pytest.approx(1_000_000_000 / 12 / (50 * 1_200_000))


def test_reverse_calculation_flags_a_negative_count():
    kgi = KGI(plan_id=1, key="revenue", target=100, formula="new_sales + renewals")
    kpis = [KPI(plan_id=1, key="new_sales", name="new", unit="JPY", annual_target=40),
            KPI(plan_id=1, key="renewals", name="renewals", unit="JPY", annual_target=240)]
    result = reverse_calculate(kgi, kpis, "new_sales", 12)
    assert not result.valid
    assert result.message_key == "engine.reverse.negative"
    assert result.annual == pytest.approx(-140)


def test_reverse_calculation_reports_an_unsolvable_model():
    kgi, kpis = sales_model()
    kpis[2].annual_target = 0
    result = reverse_calculate(kgi, kpis, "meetings", 12)
    assert not result.valid
    assert result.message_key == "engine.solve.no_solution"
    assert result.monthly is None


def test_reverse_calculation_without_a_kgi_target_or_for_an_unknown_kpi():
    kgi, kpis = sales_model()
    assert reverse_calculate(kgi, kpis, "calls", 12).message_key == "engine.reverse.unknown_kpi"
    kgi.target = None
    assert reverse_calculate(kgi, kpis, "meetings", 12).message_key == "engine.reverse.no_target"


def test_solve_uses_a_numeric_bracket_when_the_unknown_repeats():
    formula = parse_formula("x * x - 2")
    root = solve(formula, 0, {"x": 1}, "x")
    assert root == pytest.approx(math.sqrt(2), rel=1e-12)
    assert solve(formula, 0, {"x": -3}, "x") == pytest.approx(-math.sqrt(2), rel=1e-12)


def test_solve_refuses_impossible_and_indeterminate_targets():
    with pytest.raises(SolveError) as caught:
        solve("x * x", -1, {}, "x")
    assert caught.value.key == "engine.solve.no_solution"
    with pytest.raises(SolveError) as caught:
        solve("a * b", 0, {"b": 0}, "a")
    assert caught.value.key == "engine.solve.indeterminate"
    with pytest.raises(SolveError) as caught:
        solve("a / b", 5, {"a": 0}, "b")
    assert caught.value.key == "engine.solve.no_solution"
    with pytest.raises(SolveError) as caught:
        solve("1 / (x - 1) + 1 / (x - 1)", 0, {}, "x")  # only a pole changes sign
    assert caught.value.key == "engine.solve.no_solution"
    with pytest.raises(SolveError) as caught:
        solve("a * b", 1, {"a": 1, "b": 1}, "c")
    assert caught.value.key == "engine.solve.not_in_formula"


positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
SOLVABLE = ["a * b * c", "a * b / c", "a / (b * c)", "a + b + c", "a * (b + c) / d", "a * b + a / c",
            "(a + b) * (a + c)"]


@settings(max_examples=200, deadline=None)
@given(formula_text=st.sampled_from(SOLVABLE), values=st.lists(positive, min_size=4, max_size=4),
       alternative=positive, pick=st.integers(min_value=0, max_value=3))
def test_solve_then_evaluate_reproduces_the_target(formula_text, values, alternative, pick):
    formula = parse_formula(formula_text)
    current = dict(zip("abcd", values))
    unknown = formula.names[pick % len(formula.names)]
    target = formula.evaluate({**current, unknown: alternative})  # a target that some value reaches
    found = solve(formula, target, current, unknown)
    reached = formula.evaluate({**current, unknown: found})
    assert abs(reached - target) <= 1e-9 * abs(target)


# ---------------------------------------------------------------- sensitivity
def test_sensitivity_ranks_levers_and_flags_the_denominator():
    rows = sensitivity("revenue / cost * margin", {"revenue": 100.0, "cost": 4.0, "margin": 2.0})
    by_key = {row.key: row for row in rows}
    assert by_key["cost"].in_denominator and by_key["cost"].negative
    assert by_key["cost"].effects[1].relative == pytest.approx(1 / 1.1 - 1)
    assert not by_key["revenue"].in_denominator and not by_key["revenue"].negative
    assert by_key["revenue"].effects[0].relative == pytest.approx(0.01)
    assert [row.rank for row in rows] == [1, 2, 3]
    assert abs(rows[0].effects[-1].absolute) >= abs(rows[-1].effects[-1].absolute)


def test_sensitivity_of_a_sum_ranks_the_largest_term_first():
    rows = sensitivity("a + b + c", {"a": 10.0, "b": 300.0, "c": 20.0}, steps=(0.01, 0.10))
    assert [row.key for row in rows] == ["b", "c", "a"]
    assert rows[0].effects[1].absolute == pytest.approx(30.0)


# ---------------------------------------------------------------- variance attribution
def test_lmdi_splits_the_sales_variance_exactly():
    actual = {"meetings": 48.0, "win_rate": 0.19, "avg_deal": 1_250_000.0}
    result = variance_breakdown(SALES, SALES_MONTH, actual)
    assert result.method == "lmdi"
    shares = result.contributions
    assert math.fsum(shares.values()) == pytest.approx(result.total, abs=1e-9 * 15_000_000)
    assert shares["win_rate"] < shares["meetings"] < 0 < shares["avg_deal"]
    # LMDI: each share is L(Y1, Y0) * ln(x1 / x0)
    log_mean = (result.actual - result.planned) / math.log(result.actual / result.planned)
    assert shares["win_rate"] == pytest.approx(log_mean * math.log(0.19 / 0.25))


def test_sum_attribution_is_the_direct_difference():
    result = variance_breakdown("new + renewals - churn", {"new": 10, "renewals": 50, "churn": 5},
                                {"new": 14, "renewals": 47, "churn": 8})
    assert result.method == "difference"
    assert result.contributions == {"new": 4, "renewals": -3, "churn": -3}


def test_mixed_formula_uses_shapley_and_sums_exactly():
    result = variance_breakdown("a * (b + c)", {"a": 1, "b": 2, "c": 3}, {"a": 2, "b": 1, "c": 5})
    assert result.method == "shapley"
    assert result.contributions == pytest.approx({"a": 5.5, "b": -1.5, "c": 3.0})


def test_unchanged_kgi_gives_zero_total_even_when_drivers_move():
    planned = {"a": 2.0, "b": 3.0}
    shares = variance_breakdown("a * b", planned, {"a": 3.0, "b": 2.0}).contributions
    assert shares["a"] == pytest.approx(-shares["b"])
    assert shares["a"] > 0


signed = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False).filter(lambda v: abs(v) > 1e-2)


@settings(max_examples=200, deadline=None)
@given(formula_text=st.sampled_from(["a * b * c / d", "a + b - c + d", "a * (b + c) - d / a", "a * b + c * d"]),
       planned=st.lists(signed, min_size=4, max_size=4), actual=st.lists(signed, min_size=4, max_size=4),
       make_positive=st.booleans())
def test_attribution_always_sums_to_the_total(formula_text, planned, actual, make_positive):
    if make_positive:
        planned, actual = [abs(v) for v in planned], [abs(v) for v in actual]
    before, after = dict(zip("abcd", planned)), dict(zip("abcd", actual))
    formula = parse_formula(formula_text)
    total = formula.evaluate(after) - formula.evaluate(before)
    shares = variance_breakdown(formula, before, after).contributions
    assert set(shares) == set(formula.names)
    scale = max(abs(formula.evaluate(after)), abs(formula.evaluate(before)), 1.0)
    assert abs(math.fsum(shares.values()) - total) < 1e-9 * scale


# ---------------------------------------------------------------- aggregation
APR, MAY, JUN = date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)


def test_aggregate_by_kind():
    series = {APR: 10.0, MAY: None, JUN: 30.0}
    assert aggregate(series, Aggregation.SUM) == 40
    assert aggregate(series, Aggregation.MEAN) == 20
    assert aggregate(series, Aggregation.LAST) == 30
    assert aggregate({MAY: 5.0, APR: 9.0}, "last") == 5
    assert aggregate({}, Aggregation.SUM) is None
    assert aggregate({APR: float("nan")}, Aggregation.MEAN) is None


def test_ratio_is_a_ratio_of_sums_not_a_mean_of_rates():
    win_rate = {APR: 0.25, MAY: 0.50}
    meetings = {APR: 40.0, MAY: 60.0}
    assert aggregate(win_rate, Aggregation.RATIO, meetings) == pytest.approx(40 / 100)  # 10 + 30 wins / 100
    assert aggregate(win_rate, Aggregation.RATIO) == pytest.approx(0.375)  # no weights: the mean
    assert aggregate(win_rate, Aggregation.RATIO, {APR: 0.0, MAY: 0.0}) == pytest.approx(0.375)


def test_a_ratio_is_weighted_by_its_weight_formula():
    series = {"meetings": {APR: 40.0, MAY: 60.0, JUN: 50.0},
              "win_rate": {APR: 0.25, MAY: 0.50, JUN: 0.20},
              "avg_deal": {APR: 1_000_000.0, MAY: 2_000_000.0, JUN: 1_500_000.0}}
    assert weight_series("meetings * win_rate", series) == pytest.approx({APR: 10, MAY: 30, JUN: 10})
    two_months = {APR: 0.25, MAY: 0.50}
    assert aggregate(two_months, Aggregation.RATIO, weight_series("meetings", series)) == pytest.approx(0.40)
    revenue = 10 * 1_000_000 + 30 * 2_000_000 + 10 * 1_500_000
    wins = weight_series("meetings * win_rate", series)
    assert aggregate(series["avg_deal"], Aggregation.RATIO, wins) == pytest.approx(revenue / 50)