"""The one range rule (value_rules): what each kind of metric accepts, and its SQL statement agreeing with it."""
import math

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_core.domain.model import Aggregation
from kpi_core.domain.value_rules import (
    MAX_MAGNITUDE,
    NEGATIVE,
    NOT_FINITE,
    RATE_RANGE,
    TOO_LARGE,
    ValueKind,
    range_problem,
    range_problem_sql,
    shown,
    value_kind,
)
from kpi_core.i18n import t


@pytest.mark.parametrize(("unit", "aggregation", "kind"), [
    ("%", Aggregation.RATIO, ValueKind.RATE), ("率", None, ValueKind.RATE), ("ratio", "mean", ValueKind.RATE),
    ("JPY", Aggregation.MEAN, ValueKind.AMOUNT), ("円", None, ValueKind.AMOUNT),
    ("件", Aggregation.SUM, ValueKind.AMOUNT), ("件", "sum", ValueKind.AMOUNT),
    ("pt", Aggregation.MEAN, ValueKind.SIGNED), ("人", Aggregation.LAST, ValueKind.SIGNED), ("", None, ValueKind.SIGNED),
])
def test_kind_follows_unit_then_aggregation(unit, aggregation, kind):
    assert value_kind(unit, aggregation) is kind


@pytest.mark.parametrize(("value", "kind", "problem"), [
    (0.25, ValueKind.RATE, None), (0.0, ValueKind.RATE, None), (1.0, ValueKind.RATE, None),
    (1 + 1e-12, ValueKind.RATE, None),  # float noise of 9/47 written back as percent
    (1.2, ValueKind.RATE, RATE_RANGE), (-0.05, ValueKind.RATE, RATE_RANGE), (25.0, ValueKind.RATE, RATE_RANGE),
    (-3.0, ValueKind.AMOUNT, NEGATIVE), (0.0, ValueKind.AMOUNT, None), (13_095_000.0, ValueKind.AMOUNT, None),
    (-12.0, ValueKind.SIGNED, None),
    (1e308, ValueKind.AMOUNT, TOO_LARGE), (-1e308, ValueKind.SIGNED, TOO_LARGE), (MAX_MAGNITUDE, ValueKind.AMOUNT, None),
    (MAX_MAGNITUDE * 1.01, ValueKind.SIGNED, TOO_LARGE), (1e308, ValueKind.RATE, TOO_LARGE),
    (math.inf, ValueKind.SIGNED, NOT_FINITE), (-math.inf, ValueKind.AMOUNT, NOT_FINITE),
    (math.nan, ValueKind.RATE, NOT_FINITE),
])
def test_range_problem(value, kind, problem):
    assert range_problem(value, kind) == problem


def test_every_reason_reads_in_both_languages():
    for key in (NOT_FINITE, TOO_LARGE, RATE_RANGE, NEGATIVE):
        for lang in ("ja", "en"):
            text = t(key, lang, field="商談数, 2025-04", value="-3")
            assert "商談数, 2025-04" in text and "-3" in text


def test_shown_says_rates_in_percent():
    assert shown(1.5, ValueKind.RATE) == "150 %"
    assert shown(-1_234_567.0, ValueKind.AMOUNT) == "-1,234,567"


_CON = duckdb.connect()
_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(min_value=-2, max_value=2),
                    st.sampled_from([0.0, 1.0, -0.0, 1 + 1e-9, 1 + 2e-9, -1e-9, -2e-9, MAX_MAGNITUDE,
                                     -MAX_MAGNITUDE, math.nextafter(MAX_MAGNITUDE, math.inf)]))


@settings(max_examples=400, deadline=None)
@given(value=_values, kind=st.sampled_from(list(ValueKind)))
def test_sql_rule_agrees_with_python(value, kind):
    """The import's set-based steps use the SQL statement of the rule: it must refuse exactly what Python refuses,
    with the same reason."""
    sql = range_problem_sql("x", kind)
    found = _CON.execute(f"SELECT {sql} FROM (SELECT CAST(? AS DOUBLE) AS x)", [value]).fetchone()[0]
    assert found == range_problem(value, kind)


def test_sql_rule_passes_null_through():
    assert _CON.execute(f"SELECT {range_problem_sql('x', ValueKind.AMOUNT)} FROM (SELECT NULL::DOUBLE AS x)"
                        ).fetchone()[0] is None
