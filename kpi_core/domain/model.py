"""Domain objects of a plan: KGI -> CSF -> KPI, targets, actuals and check-ins.

Plain dataclasses so that every layer (storage, engine, pages, tests) speaks the same types. Their closed sets of
values (direction, kind, aggregation, role, status) are in `enums`, and importable from here too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from kpi_core.domain.enums import Aggregation, CSFRole, Direction, Kind, PlanStatus, Status


@dataclass
class Plan:
    """A department's plan for one fiscal period: the frame every KGI, CSF, KPI, target and actual belongs to."""

    name: str
    department: str = ""
    fiscal_start: date = field(default_factory=lambda: date(date.today().year, 4, 1))
    months: int = 12
    currency: str = "JPY"
    status: PlanStatus = PlanStatus.DRAFT
    template: str = ""
    id: int | None = None
    version: int = 0

    def month_list(self) -> list[date]:
        """First day of each month of the plan period."""
        return [add_months(self.fiscal_start, i) for i in range(self.months)]

    @property
    def end_month(self) -> date:
        return add_months(self.fiscal_start, self.months - 1)


@dataclass
class KGI:
    """The plan's one goal: where it stands (baseline, confirmed current), where it must be by the deadline, and
    the formula that builds it from the KPIs."""

    plan_id: int
    key: str = "kgi"
    name: str = ""
    unit: str = "JPY"
    direction: Direction = Direction.UP
    aggregation: Aggregation = Aggregation.SUM
    baseline: float | None = None
    target: float | None = None
    current: float | None = None  # the confirmed current actual of the gap step
    deadline: date | None = None
    basis: str = ""
    formula: str = ""  # driver formula over KPI keys, e.g. "meetings * win_rate * avg_deal"
    id: int | None = None


@dataclass(kw_only=True)
class StoredRow:
    """What a row others may edit too carries (keyword-only, after its own fields): its id once stored, and the
    version this copy was read at, so that a save based on an older copy is refused."""

    id: int | None = None
    version: int = 0


@dataclass
class CSF(StoredRow):
    """A critical success factor: a process that closes part of the gap (primary), or one kept ready (fallback)."""

    plan_id: int
    name: str
    role: CSFRole = CSFRole.PRIMARY
    contribution: float = 0.0  # expected share of the gap it closes, in KGI units
    actions: list[str] = field(default_factory=list)
    description: str = ""
    position: int = 0


@dataclass
class KPI(StoredRow):
    """A measured driver of a CSF: its definition, annual target, status thresholds and recovery plan."""

    plan_id: int
    key: str
    name: str
    csf_id: int | None = None
    definition: str = ""
    unit: str = ""
    direction: Direction = Direction.UP
    kind: Kind = Kind.LEADING
    aggregation: Aggregation = Aggregation.SUM
    ratio_weight: str = ""  # for RATIO: formula of the denominator, so the annual rate is a ratio of sums
    owner: str = ""
    data_source: str = ""
    annual_target: float | None = None  # in the KPI's own aggregation (sum over the year, or the rate)
    amber_threshold: float = 0.95  # attainment (actual / target, inverted for DOWN) below this is at risk
    red_threshold: float = 0.85  # ... below this is off track
    recovery_plan: str = ""
    rationale: str = ""
    position: int = 0


@dataclass
class Actual:
    """One month's value of a metric (a KPI or the KGI), typed or brought by an import."""

    metric_key: str
    month: date
    value: float
    import_id: int | None = None


@dataclass
class CheckIn(StoredRow):
    """A PDCA check-in on one metric-month: its status, why, the next action with owner and due date, the result."""

    plan_id: int
    metric_key: str
    month: date
    status: Status = Status.NO_DATA
    why: str = ""
    next_action: str = ""
    owner: str = ""
    due: date | None = None
    result: str = ""


def add_months(month: date, n: int) -> date:
    """First day of the month `n` months after `month` (n may be negative)."""
    index = month.year * 12 + (month.month - 1) + n
    return date(index // 12, index % 12 + 1, 1)


def month_start(day: date) -> date:
    return date(day.year, day.month, 1)
