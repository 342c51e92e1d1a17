"""The one range rule for a metric's value, whichever way it comes in: the actuals grid, a CSV import (cells of a
summary and the monthly values it adds up to), the command line and the plan file (actuals, targets, baselines).

The rule depends only on what the metric is (its unit and aggregation, see `value_kind`):
- every value is a finite number no larger than MAX_MAGNITUDE (1e308 is an overflow or a unit mistake, not a figure);
- a rate lies between 0 and 1 (0 %-100 %);
- counts, amounts and money (unit of money, or added up over months) are not negative;
- levels and scores (NPS, a profit margin written as a level) may be negative.

`range_problem` states it in Python; `range_problem_sql` states the same rule as a SQL expression for the import's
set-based steps in DuckDB (a test checks that both agree on any value). Each answers with the catalogue key of the
reason (range.*), whose text takes `field` (what the value is: a metric and month, a form field) and `value`.
"""
from __future__ import annotations

import math
from enum import StrEnum

from kpi_core.domain.model import Aggregation
from kpi_core.domain.units import is_money, is_rate

MAX_MAGNITUDE = 1e15  # ¥1,000兆: far above any department's figure, far below an overflow
RATE_TOLERANCE = 1e-9  # float noise: 9/47 typed as 19.148936170212766 % must stay within 0-100 %


class ValueKind(StrEnum):
    RATE = "rate"  # 0..1
    AMOUNT = "amount"  # >= 0: counts, money, anything summed over months
    SIGNED = "signed"  # levels and scores; also a metric the plan does not know (only finite and bounded)


NOT_FINITE = "range.not_finite"
TOO_LARGE = "range.too_large"
RATE_RANGE = "range.rate"
NEGATIVE = "range.negative"
PROBLEMS = (NOT_FINITE, TOO_LARGE, RATE_RANGE, NEGATIVE)


def value_kind(unit: str | None, aggregation: Aggregation | str | None = None) -> ValueKind:
    """What range a metric's values may take, from its unit and aggregation."""
    if is_rate(unit or ""):
        return ValueKind.RATE
    if is_money(unit or "") or (aggregation is not None and str(aggregation) == Aggregation.SUM.value):
        return ValueKind.AMOUNT
    return ValueKind.SIGNED


def range_problem(value: float, kind: ValueKind) -> str | None:
    """The catalogue key saying why `value` cannot be a value of this kind of metric, or None when it can.
    The checks run in this order (the first that fails is the reason), here and in `range_problem_sql`."""
    if not math.isfinite(value):
        return NOT_FINITE
    if abs(value) > MAX_MAGNITUDE:
        return TOO_LARGE
    if kind is ValueKind.RATE and not -RATE_TOLERANCE <= value <= 1 + RATE_TOLERANCE:
        return RATE_RANGE
    if kind is ValueKind.AMOUNT and value < 0:
        return NEGATIVE
    return None


def range_problem_sql(expr: str, kind: ValueKind) -> str:
    """`range_problem` as a SQL expression over the DOUBLE `expr`: the same key, or NULL (NULL in, NULL out)."""
    parts = [f"WHEN NOT isfinite({expr}) THEN '{NOT_FINITE}'",
             f"WHEN abs({expr}) > {MAX_MAGNITUDE!r} THEN '{TOO_LARGE}'"]
    if kind is ValueKind.RATE:
        parts.append(f"WHEN NOT ({expr} BETWEEN {-RATE_TOLERANCE!r} AND {1 + RATE_TOLERANCE!r}) THEN '{RATE_RANGE}'")
    elif kind is ValueKind.AMOUNT:
        parts.append(f"WHEN {expr} < 0 THEN '{NEGATIVE}'")
    return f"(CASE {' '.join(parts)} END)"


def shown(value: float, kind: ValueKind) -> str:
    """A stored value as a reason quotes it: rates in percent, large numbers with separators."""
    if not math.isfinite(value):
        return str(value)
    if kind is ValueKind.RATE:
        return f"{value * 100:,.6g} %"
    return f"{value:,.10g}"
