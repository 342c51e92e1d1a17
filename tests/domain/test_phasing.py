"""Annual -> monthly phasing: exact sums for SUM metrics, rates held, validation with catalogue keys."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_core.domain.model import KPI, Aggregation, add_months
from kpi_core.domain.phasing import PhasingError, phase_kpi, phase_target, precision_for
from kpi_core.i18n import catalogue


def test_even_meetings_are_50_a_month():
    assert phase_target(600, 12) == [50.0] * 12


def test_100_over_12_months_are_integers_adding_up_to_100():
    months = phase_target(100, 12)
    assert sum(months) == 100
    assert all(value.is_integer() for value in months)
    assert max(months) - min(months) == 1
    assert months[:4] == [9.0] * 4  # the remainder goes to the earliest months on equal remainders


def test_money_is_split_to_the_yen():
    months = phase_target(144_000_000, 12, "seasonal", weights=[1] * 11 + [3])
    assert sum(months) == 144_000_000
    assert months[-1] == pytest.approx(3 * months[0], abs=3)
    assert all(value.is_integer() for value in months)


def test_ramp_increases_from_half_to_one_and_a_half_times_the_average():
    months = phase_target(1_200_000, 12, "ramp")
    assert sum(months) == 1_200_000
    assert months == sorted(months)
    assert months[0] == pytest.approx(50_000, abs=1)
    assert months[-1] == pytest.approx(150_000, abs=1)


def test_custom_weights_and_other_precisions():
    assert phase_target(10, 4, "custom", weights=[0, 1, 1, 0]) == [0, 5, 5, 0]
    assert phase_target(10.5, 4, precision=1) == [2.7, 2.6, 2.6, 2.6]
    assert phase_target(1000, 3, precision=-2) == [400, 300, 300]
    assert phase_target(-7, 3) == [-3, -2, -2]


@pytest.mark.parametrize("aggregation", [Aggregation.RATIO, Aggregation.MEAN, Aggregation.LAST])
def test_rates_means_and_levels_hold_the_annual_value_every_month(aggregation):
    assert phase_target(0.25, 12, "even", aggregation) == [0.25] * 12
    assert phase_target(0.25, 12, "seasonal", aggregation, weights=range(1, 13)) == [0.25] * 12


def test_a_level_ramps_from_its_baseline_to_the_target():
    months = phase_target(200, 4, "ramp", Aggregation.LAST, baseline=160)
    assert months == [170, 180, 190, 200]
    assert phase_target(200, 4, "even", Aggregation.LAST, baseline=160) == [200] * 4


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"annual": 600, "months": 0}, "engine.phasing.months"),
    ({"annual": 600, "months": 12, "method": "weekly"}, "engine.phasing.method"),
    ({"annual": 600, "months": 12, "method": "seasonal"}, "engine.phasing.weights_missing"),
    ({"annual": 600, "months": 12, "method": "custom", "weights": [1] * 11}, "engine.phasing.weights_length"),
    ({"annual": 600, "months": 3, "method": "custom", "weights": [1, -1, 1]}, "engine.phasing.weights_negative"),
    ({"annual": 600, "months": 3, "method": "custom", "weights": [0, 0, 0]}, "engine.phasing.weights_zero"),
    ({"annual": 600, "months": 3, "method": "custom", "weights": [1, float("nan"), 1]},
     "engine.phasing.not_a_number"),
    ({"annual": float("inf"), "months": 3}, "engine.phasing.not_a_number"),
    ({"annual": 100.5, "months": 3}, "engine.phasing.precision"),
    ({"annual": 100, "months": 3, "precision": 1.5}, "engine.phasing.precision_type"),
])
def test_invalid_input_is_refused_with_a_catalogue_key(kwargs, key):
    with pytest.raises(PhasingError) as caught:
        phase_target(**kwargs)
    assert caught.value.key == key
    assert key in catalogue("en") and key in catalogue("ja")


def test_precision_for_finds_the_fewest_decimals():
    assert precision_for(600) == 0
    assert precision_for(0.25) == 2
    assert precision_for(0.1 * 3) == 1


def test_phase_kpi_keys_months_and_picks_the_precision():
    months = [add_months(date(2026, 4, 1), i) for i in range(12)]
    meetings = KPI(plan_id=1, key="meetings", name="m", aggregation=Aggregation.SUM, annual_target=600)
    assert phase_kpi(meetings, months) == dict.fromkeys(months, 50.0)
    half = KPI(plan_id=1, key="hours", name="h", aggregation=Aggregation.SUM, annual_target=100.5)
    assert sum(Decimal(str(v)) for v in phase_kpi(half, months).values()) == Decimal("100.5")
    rate = KPI(plan_id=1, key="win_rate", name="w", aggregation=Aggregation.RATIO, annual_target=0.25)
    assert set(phase_kpi(rate, months).values()) == {0.25}
    with pytest.raises(PhasingError):
        phase_kpi(KPI(plan_id=1, key="x", name="x"), months)


weights = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(annual=st.integers(min_value=-10**12, max_value=10**12), months=st.integers(min_value=1, max_value=36),
       method=st.sampled_from(["even", "ramp", "custom"]), data=st.data())
def test_phased_sum_months_add_up_exactly(annual, months, method, data):
    shape = None
    if method == "custom":
        shape = data.draw(st.lists(weights, min_size=months, max_size=months).filter(any))
    values = phase_target(annual, months, method, Aggregation.SUM, shape)
    assert len(values) == months
    assert sum(int(v) for v in values) == annual
    assert all(v.is_integer() for v in values)


@settings(max_examples=200, deadline=None)
@given(cents=st.integers(min_value=0, max_value=10**10), months=st.integers(min_value=1, max_value=24))
def test_phased_sums_are_exact_at_two_decimals(cents, months):
    annual = cents / 100
    values = phase_target(annual, months, "ramp", Aggregation.SUM, precision=2)
    assert sum(Decimal(str(v)) for v in values) == Decimal(cents) / 100
