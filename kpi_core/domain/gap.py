"""Step 2 (gap): gap = target - current, what history says about closing it (run-rates, best year-on-year growth),
and the flags of a gap that is already met, trivially small or unrealistic."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from kpi_core.domain.goal import Message
from kpi_core.domain.model import KGI, Aggregation, Direction, Plan, add_months


def _ratio(part: float, whole: float | None) -> float | None:
    return part / whole if whole else None


@dataclass
class GapAnalysis:
    current: float
    target: float
    gap: float
    gap_pct: float | None
    required_monthly: float | None = None
    historical_monthly: float | None = None
    best_yoy_growth: float | None = None
    history_months: int = 0
    flags: list[Message] = field(default_factory=list)


def current_from_history(kgi: KGI, plan: Plan, history: dict[date, float]) -> float | None:
    """The KGI's current actual from uploaded history: last year's total (SUM) or the latest level."""
    if not history:
        return None
    if kgi.aggregation == Aggregation.SUM:
        last_year = [add_months(plan.fiscal_start, -i) for i in range(1, 13)]
        if all(m in history for m in last_year):
            return sum(history[m] for m in last_year)
        before = sorted(m for m in history if m < plan.fiscal_start)[-12:]
        return sum(history[m] for m in before) if len(before) == 12 else None
    return history[max(history)]


def best_yoy_growth(history: dict[date, float]) -> float | None:
    """Best growth of any month over the same month a year earlier."""
    growths = [value / history[add_months(month, -12)] - 1 for month, value in history.items()
               if history.get(add_months(month, -12))]
    return max(growths) if growths else None


def analyse_gap(kgi: KGI, plan: Plan, current: float, history: dict[date, float] | None = None) -> GapAnalysis:
    """Gap = target - current, and what history says about closing it."""
    history = history or {}
    target = kgi.target or 0.0
    gap = target - current
    analysis = GapAnalysis(current=current, target=target, gap=gap, gap_pct=_ratio(gap, current),
                           history_months=len(history))
    if kgi.aggregation == Aggregation.SUM:
        analysis.required_monthly = target / plan.months
        before = [v for m, v in history.items() if m < plan.fiscal_start]
        analysis.historical_monthly = sum(before) / len(before) if before else current / 12
    analysis.best_yoy_growth = best_yoy_growth(history)
    analysis.flags = _gap_flags(kgi, analysis)
    return analysis


def _gap_flags(kgi: KGI, gap: GapAnalysis) -> list[Message]:
    flags = []
    needed = gap.gap_pct if kgi.direction == Direction.UP else (-gap.gap_pct if gap.gap_pct is not None else None)
    if needed is None:
        return flags
    if needed <= 0:
        flags.append(Message("warning", "check.gap_already_met"))
    elif needed < 0.02:
        flags.append(Message("warning", "check.gap_trivial", {"pct": needed}))
    history_says_stretch = gap.best_yoy_growth is not None and needed > max(gap.best_yoy_growth, 0) * 1.5 + 0.05
    if kgi.direction == Direction.UP and needed > 0 and history_says_stretch:
        flags.append(Message("warning", "check.gap_unrealistic", {"needed": needed, "best": gap.best_yoy_growth}))
    return flags
