"""Computations and checks of setup steps 1 (KGI) and 2 (gap), and the five-step progress of a plan."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from kpi_core.domain.model import KGI, Aggregation, Direction, Plan, add_months, month_start
from kpi_core.domain.value_rules import range_problem, shown, value_kind

MAX_NAME_LENGTH = 200
MAX_TEXT_LENGTH = 5000


@dataclass
class Message:
    """A check result for the UI: level is 'error' (blocks saving) or 'warning'; key + values for the catalogue."""

    level: str
    key: str
    values: dict = field(default_factory=dict)


def check_name(name: str, field_key: str = "name") -> list[Message]:
    text = (name or "").strip()
    if not text:
        return [Message("error", "check.name_empty", {"field": field_key})]
    if len(text) > MAX_NAME_LENGTH:
        return [Message("error", "check.name_too_long", {"field": field_key, "max": MAX_NAME_LENGTH,
                                                          "length": len(text)})]
    return []


def validate_kgi(kgi: KGI, plan: Plan, today: date | None = None) -> list[Message]:
    """Errors that block saving the KGI, then warnings (no deadline, a past one, no basis) that only advise.
    A past deadline is allowed (a finished plan can be recorded) but said; `today` defaults to the clock."""
    messages = check_name(kgi.name, "kgi_name")
    if kgi.target is None:
        messages.append(Message("error", "check.kgi_no_target"))
    if kgi.baseline is None:
        messages.append(Message("error", "check.kgi_no_baseline"))
    if kgi.target is not None and kgi.baseline is not None:
        if kgi.direction == Direction.UP and kgi.target <= kgi.baseline:
            messages.append(Message("error", "check.kgi_target_not_above"))
        if kgi.direction == Direction.DOWN and kgi.target >= kgi.baseline:
            messages.append(Message("error", "check.kgi_target_not_below"))
    kind = value_kind(kgi.unit, kgi.aggregation)
    for value in (kgi.baseline, kgi.target):
        problem = None if value is None else range_problem(value, kind)
        if problem:
            messages.append(Message("error", problem, {"field": kgi.name or kgi.key, "value": shown(value, kind)}))
    if kgi.deadline is None:
        messages.append(Message("warning", "check.kgi_no_deadline"))
    else:
        end = period_end(plan)
        if kgi.deadline < plan.fiscal_start:
            messages.append(Message("error", "check.deadline_before_start", {"start": plan.fiscal_start}))
        elif kgi.deadline > end:
            messages.append(Message("error", "check.deadline_after_end", {"end": end}))
        if kgi.deadline < (today or date.today()):
            messages.append(Message("warning", "room.deadline_past", {"deadline": kgi.deadline}))
    if not (kgi.basis or "").strip():
        messages.append(Message("warning", "check.kgi_no_basis"))
    if len(kgi.basis or "") > MAX_TEXT_LENGTH:
        messages.append(Message("error", "check.text_too_long", {"max": MAX_TEXT_LENGTH}))
    return messages


def period_end(plan: Plan) -> date:
    """Last day of the plan period."""
    after = add_months(plan.fiscal_start, plan.months)
    return date.fromordinal(after.toordinal() - 1)


def months_until(plan: Plan, deadline: date | None) -> int:
    """Months of the plan period up to and including the deadline's month."""
    if deadline is None:
        return plan.months
    last = month_start(deadline)
    count = (last.year - plan.fiscal_start.year) * 12 + last.month - plan.fiscal_start.month + 1
    return max(1, min(plan.months, count))


@dataclass
class KGISummary:
    growth_abs: float
    growth_pct: float | None
    months: int
    required_monthly: float  # SUM: the monthly run-rate needed; levels: the change needed per month
    baseline_monthly: float | None  # SUM: last year's average month


def summarise_kgi(kgi: KGI, plan: Plan) -> KGISummary | None:
    if kgi.target is None or kgi.baseline is None:
        return None
    growth = kgi.target - kgi.baseline
    months = months_until(plan, kgi.deadline)
    if kgi.aggregation == Aggregation.SUM:
        return KGISummary(growth, _ratio(growth, kgi.baseline), months, kgi.target / plan.months,
                          kgi.baseline / 12)
    return KGISummary(growth, _ratio(growth, kgi.baseline), months, growth / months, None)


def _ratio(part: float, whole: float | None) -> float | None:
    return part / whole if whole else None


# ---------------------------------------------------------------- gap
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


# ---------------------------------------------------------------- progress
def step_progress(kgi: KGI | None, primary_csfs: int, kpis_with_target: int, has_actuals: bool) -> list[bool]:
    """Which of the five steps are complete."""
    kgi_done = bool(kgi and kgi.name and kgi.target is not None and kgi.baseline is not None and kgi.deadline)
    gap_done = bool(kgi_done and kgi.current is not None)
    return [kgi_done, gap_done, primary_csfs > 0, kpis_with_target > 0, has_actuals]


def step_progress_for(store, plan: Plan) -> list[bool]:
    kgi = store.get_kgi(plan.id)
    primary = sum(1 for c in store.list_csfs(plan.id, include_retired=False) if c.role == "primary")
    with_target = sum(1 for k in store.list_kpis(plan.id) if k.annual_target is not None)
    period = set(plan.month_list())
    actuals = store.actual_values(plan.id)
    has_actuals = any(month in period for series in actuals.values() for month in series)
    return step_progress(kgi, primary, with_target, has_actuals)
