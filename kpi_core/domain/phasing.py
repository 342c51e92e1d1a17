"""Annual target -> monthly targets.

SUM metrics (counts, money) are split by a shape and rounded with the largest-remainder method at the unit's
precision, in exact rational arithmetic, so the months always add up to the annual target with no drift.
RATIO and MEAN metrics (rates, averages) hold the annual value in every month: a rate is not split by sum.
LAST metrics (levels such as headcount) also hold the annual value every month, except that with the `ramp`
method and a `baseline` they climb linearly from the baseline to the target, reaching it in the last month,
which is how a level is usually planned to grow.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from fractions import Fraction

from kpi_core.domain.model import KPI, Aggregation
from kpi_core.errors import WorkbenchError

RAMP_FROM, RAMP_TO = 0.5, 1.5  # the ramp shape: the first month weighs 0.5x the average, the last 1.5x
MAX_AUTO_PRECISION = 6


class PhasingMethod(StrEnum):
    EVEN = "even"
    SEASONAL = "seasonal"  # weights = last year's monthly values (the shape, not the level)
    RAMP = "ramp"  # linearly increasing from RAMP_FROM to RAMP_TO
    CUSTOM = "custom"  # weights given by the user


class PhasingError(WorkbenchError):
    """Invalid phasing input; `key` and `values` feed the catalogue."""


def phase_target(annual: float, months: int, method: PhasingMethod | str = PhasingMethod.EVEN,
                 aggregation: Aggregation | str = Aggregation.SUM, weights: Sequence[float] | None = None,
                 precision: int = 0, baseline: float | None = None) -> list[float]:
    """Monthly targets for an annual target. For SUM, `precision` is the number of decimals of the unit
    (0 for counts and yen; negative rounds to tens, hundreds...); the months add up exactly to `annual`."""
    _check_number(annual, "annual")
    if not isinstance(months, int) or isinstance(months, bool) or months < 1:
        raise PhasingError("engine.phasing.months", months=months)
    kind = _method(method)
    shape = _shape(kind, months, weights)
    aggregation = Aggregation(aggregation)
    if aggregation is Aggregation.SUM:
        return _split(float(annual), shape, precision)
    if aggregation is Aggregation.LAST and kind is PhasingMethod.RAMP and baseline is not None:
        _check_number(baseline, "baseline")
        step = (float(annual) - float(baseline)) / months
        return [float(baseline) + step * (i + 1) for i in range(months - 1)] + [float(annual)]
    return [float(annual)] * months


def _method(method: PhasingMethod | str) -> PhasingMethod:
    try:
        return PhasingMethod(method)
    except ValueError:
        raise PhasingError("engine.phasing.method", method=method,
                           allowed=", ".join(m.value for m in PhasingMethod)) from None


def _check_number(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PhasingError("engine.phasing.not_a_number", field=name, value=value)


def _shape(kind: PhasingMethod, months: int, weights: Sequence[float] | None) -> list[float]:
    """The relative weight of each month, validated."""
    if kind is PhasingMethod.EVEN:
        return [1.0] * months
    if kind is PhasingMethod.RAMP:
        if months == 1:
            return [1.0]
        return [RAMP_FROM + (RAMP_TO - RAMP_FROM) * i / (months - 1) for i in range(months)]
    if weights is None:
        raise PhasingError("engine.phasing.weights_missing", method=kind.value)
    weights = list(weights)
    if len(weights) != months:
        raise PhasingError("engine.phasing.weights_length", expected=months, got=len(weights))
    for index, weight in enumerate(weights):
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise PhasingError("engine.phasing.not_a_number", field=f"weights[{index + 1}]", value=weight)
        if weight < 0:
            raise PhasingError("engine.phasing.weights_negative", month=index + 1, value=weight)
    if not any(weights):
        raise PhasingError("engine.phasing.weights_zero")
    return [float(w) for w in weights]


def _split(annual: float, shape: list[float], precision: int) -> list[float]:
    """Largest-remainder split of `annual` in units of 10**-precision, proportional to `shape`."""
    if isinstance(precision, bool) or not isinstance(precision, int):
        raise PhasingError("engine.phasing.precision_type", precision=precision)
    unit = Fraction(10) ** -precision
    exact_units = Fraction(annual) / unit
    total_units = round(exact_units)
    if abs(exact_units - total_units) > Fraction(1, 10**6):
        raise PhasingError("engine.phasing.precision", annual=annual, precision=precision)
    sign = -1 if total_units < 0 else 1
    total_units = abs(total_units)
    fractions = [Fraction(w) for w in shape]
    weight_sum = sum(fractions)
    quotas = [total_units * w / weight_sum for w in fractions]
    units = [math.floor(q) for q in quotas]
    left = total_units - sum(units)
    # The months with the largest remainders get one unit each; ties go to the earlier month.
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - units[i]), i))
    for index in by_remainder[:left]:
        units[index] += 1
    return [_to_float(sign * u * unit, precision) for u in units]


def _to_float(value: Fraction, precision: int) -> float:
    number = float(value)
    return round(number, precision) if precision > 0 else number


def precision_for(annual: float) -> int:
    """The fewest decimals (0..6) that represent `annual` exactly enough to phase it, e.g. 600 -> 0, 0.5 -> 1."""
    for precision in range(MAX_AUTO_PRECISION + 1):
        scaled = annual * 10**precision
        if abs(scaled - round(scaled)) <= max(1e-6, abs(scaled) * 1e-12):  # float noise only
            return precision
    return MAX_AUTO_PRECISION


def phase_kpi(kpi: KPI, month_list: Sequence[date], method: PhasingMethod | str = PhasingMethod.EVEN,
              weights: Sequence[float] | None = None, precision: int | None = None,
              baseline: float | None = None) -> dict[date, float]:
    """A KPI's monthly targets keyed by month; the precision defaults to the fewest decimals of its target."""
    if kpi.annual_target is None:
        raise PhasingError("engine.phasing.no_target", name=kpi.key)
    annual = float(kpi.annual_target)
    if precision is None and Aggregation(kpi.aggregation) is Aggregation.SUM:
        precision = precision_for(annual)
        annual = round(annual, precision)
    values = phase_target(annual, len(month_list), method, kpi.aggregation, weights, precision or 0, baseline)
    return dict(zip(month_list, values, strict=True))
