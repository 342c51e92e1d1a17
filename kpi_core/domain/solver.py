"""The reverse calculation as a plan shows it: the KGI formula, the drivers that can be solved for, each driver's
present and needed figures, and the sensitivity of the KGI in annual terms. Numbers only; pages format them."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpi_core.domain.drivers import (
    Formula,
    FormulaError,
    ReverseResult,
    monthly_driver_values,
    parse_formula,
    sensitivity,
    to_annual,
    to_monthly,
)
from kpi_core.domain.model import KGI, KPI


def kgi_formula(kgi: KGI | None) -> Formula | None:
    """The KGI's driver formula, or None when there is none or it does not parse (step 1 reports that)."""
    if kgi is None or not kgi.formula:
        return None
    try:
        return parse_formula(kgi.formula)
    except FormulaError:
        return None


def kpi_by_key(kpis: Sequence[KPI], key: str) -> KPI | None:
    return next((k for k in kpis if k.key == key), None)


def solvable(formula: Formula, kpis: Sequence[KPI]) -> list[str]:
    """The formula's names that are KPIs of the plan, in formula order: what the user may solve for."""
    return [name for name in formula.names if kpi_by_key(kpis, name) is not None]


def monthly_target(kpi: KPI, months: int) -> float | None:
    return None if kpi.annual_target is None else to_monthly(kpi.annual_target, kpi.aggregation, months)


def change_against(needed: float, present: float | None) -> float | None:
    """The needed value against the present one, as a signed fraction; None when there is nothing to compare."""
    return needed / present - 1 if present else None


def already_met(kpi: KPI, result: ReverseResult) -> bool:
    """The KPI's annual target already is the solved one: nothing to apply."""
    return kpi.annual_target is not None and abs(result.annual - kpi.annual_target) <= 1e-9 * max(1.0, result.annual)


@dataclass(frozen=True)
class DriverRow:
    """One driver of the formula: its present targets and what the KGI target needs (the solved one changes)."""

    key: str
    unit: str
    solved: bool
    now_monthly: float
    now_annual: float
    need_monthly: float
    need_annual: float


def driver_rows(formula: Formula, kpis: Sequence[KPI], result: ReverseResult, months: int) -> list[DriverRow]:
    """The drivers with an annual target, in formula order; the solved one carries the result's figures."""
    rows = []
    for key in formula.names:
        kpi = kpi_by_key(kpis, key)
        if kpi is None or kpi.annual_target is None:
            continue
        now = to_monthly(kpi.annual_target, kpi.aggregation, months)
        solved = key == result.key
        rows.append(DriverRow(key, kpi.unit, solved, now, kpi.annual_target,
                              result.monthly if solved else now, result.annual if solved else kpi.annual_target))
    return rows


@dataclass(frozen=True)
class Lever:
    """One driver's weight on the KGI: the annual KGI change when it rises by 1 % and by 10 %."""

    key: str
    rank: int
    plus_one: float
    plus_ten: float
    relative: float | None  # the 10 % change against the KGI's present value


def levers(formula: Formula, kgi: KGI, kpis: Sequence[KPI], months: int) -> list[Lever]:
    """The drivers ranked by how much the KGI moves. FormulaError when the formula cannot be evaluated on the
    present targets (a driver without one, a division by zero)."""
    values = monthly_driver_values(kpis, months)
    try:
        ranked = sensitivity(formula, values)
    except KeyError as exc:  # a driver without a target: no base to move from
        raise FormulaError("kpi.sens.unavailable") from exc

    def annual(effect: float) -> float:
        return to_annual(effect, kgi.aggregation, months)

    return [Lever(s.key, s.rank, annual(s.effects[0].absolute), annual(s.effects[-1].absolute), s.effects[-1].relative)
            for s in ranked]
