"""Step 1 (KGI): the checks of a goal and what it asks for (growth, months, run-rate); the check of any name.
The gap of step 2 is kpi_core.domain.gap; the five-step progress of a plan is in plan_rules."""
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
