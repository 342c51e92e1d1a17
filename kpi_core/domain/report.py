"""What a shared report says, by audience, for one month: pure, from the plan's objects and its tracking.

- executive: the KGI (baseline, target, confirmed current value, gap), its pace and forecast to the deadline, the
  KPI tree with status, the top risks and the decisions needed;
- field: each KPI's target and actual for the month, the month's check-ins (why, next action, owner, due) and the
  open actions.
The report is "as of" its month: actuals after that month are left out, so a report of September reads the same in
December. Renderers (HTML/PDF) only format what is here.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from kpi_core.domain.model import CSF, KGI, KPI, CheckIn, Plan, Status, month_start
from kpi_core.domain.tracking import (
    MetricTracking,
    OpenAction,
    PlanTracking,
    open_actions,
    recovery_suggestions,
)
from kpi_core.errors import WorkbenchError

AUDIENCES = ("exec", "field")
FORMATS = ("pdf", "html", "xlsx", "yaml")  # the report as PDF or HTML, the workbook, the plan file
MAX_RISKS = 3
MAX_DECISIONS = 4
_RISKY = (Status.OFF_TRACK, Status.AT_RISK)


class ReportError(WorkbenchError):
    """A report that cannot be made; `key` and `values` feed the catalogue."""


@dataclass(frozen=True)
class KPILine:
    """One KPI in the month: its target and actual, attainment and status, and its year to date."""

    kpi: KPI
    target: float | None
    actual: float | None
    attainment: float | None
    status: Status
    ytd: MetricTracking


@dataclass(frozen=True)
class Decision:
    """A decision the reader is asked for: switch an off-track KPI to a fallback CSF, or act on an overdue action."""

    kind: str  # "switch" | "overdue"
    metric: str
    detail: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportContent:
    audience: str
    month: date
    plan: Plan
    kgi: KGI | None
    csfs: tuple[CSF, ...]
    kpis: tuple[KPI, ...]
    tracking: PlanTracking
    lines: tuple[KPILine, ...]
    risks: tuple[MetricTracking, ...]
    decisions: tuple[Decision, ...]
    checkins: tuple[CheckIn, ...]  # of the month
    actions: tuple[OpenAction, ...]  # open next actions, as of the end of the month

    @property
    def gap(self) -> float | None:
        """Target minus the confirmed current value (the gap step's figure)."""
        if self.kgi is None or self.kgi.target is None or self.kgi.current is None:
            return None
        return self.kgi.target - self.kgi.current


def report_month(plan: Plan, tracking: PlanTracking | None, month: date | None) -> date:
    """The month asked for, else the latest month with actuals, else the plan's first month."""
    if month is not None:
        return month_start(month)
    return (tracking.as_of if tracking else None) or plan.fiscal_start


def end_of_month(month: date) -> date:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


def build_report(audience: str, month: date, plan: Plan, kgi: KGI | None, csfs: Sequence[CSF],
                 kpis: Sequence[KPI], tracking: PlanTracking, checkins: Sequence[CheckIn]) -> ReportContent:
    """The report's content; `tracking` must already be cut at `month` (see the services)."""
    if audience not in AUDIENCES:
        raise ReportError("report.error.audience", audience=str(audience)[:20])
    by_key = {m.key: m for m in tracking.kpis}
    lines = []
    for kpi in kpis:
        metric = by_key[kpi.key]
        row = metric.row(month)
        lines.append(KPILine(kpi, row.target if row else None, row.actual if row else None,
                             row.attainment if row else None, row.status if row else Status.NO_DATA, metric))
    risks = sorted((m for m in tracking.kpis if m.status in _RISKY),
                   key=lambda m: (m.status != Status.OFF_TRACK, m.pace if m.pace is not None else 0.0))
    actions = open_actions(checkins, end_of_month(month))
    return ReportContent(
        audience=audience, month=month, plan=plan, kgi=kgi, csfs=tuple(csfs), kpis=tuple(kpis), tracking=tracking,
        lines=tuple(lines), risks=tuple(risks[:MAX_RISKS]),
        decisions=tuple(_decisions(tracking, csfs, actions)[:MAX_DECISIONS]),
        checkins=tuple(c for c in checkins if month_start(c.month) == month), actions=tuple(actions))


def _decisions(tracking: PlanTracking, csfs: Sequence[CSF], actions: Sequence[OpenAction]) -> list[Decision]:
    decisions = [Decision("switch", r.metric.spec.name, r.recovery_plan, tuple(c.name for c in r.switch_to))
                 for r in recovery_suggestions(tracking, csfs)]
    decisions += [Decision("overdue", a.checkin.metric_key, a.checkin.next_action,
                           (a.checkin.owner, f"{a.checkin.due:%Y-%m-%d}" if a.checkin.due else ""))
                  for a in actions if a.overdue]
    return decisions
