"""Tracking engine of the PDCA loop: attainment, status, pace, forecast, variance attribution and next actions.

Pure Python over plain values: kpi_core.services.tracking reads the plan from the store and hands it in.

Decisions shared by every screen that shows progress:
- attainment is actual / target for "higher is better" and target / actual for "lower is better"; a zero or a
  sign that makes the ratio meaningless gives 1.0 when the target is met and 0.0 when it is not;
- a metric's year to date runs from the start of its horizon to its latest month with an actual; months after that
  are not reported yet (not a miss); months before it without an actual are *missing* and named on every screen;
- YTD figures use the metric's aggregation (drivers.aggregate), RATIO metrics as a ratio of sums weighted by their
  `ratio_weight` formula evaluated month by month. A SUM metric's YTD target covers every month of its year to
  date, missing ones included, as its cumulative chart does; a rate, mean or level compares the months with data;
- the forecast of a SUM metric is the YTD plus the months after the latest actual at the recent run-rate (the mean
  of the last three months with data), the line the chart draws; a rate, mean or level is forecast at its YTD value;
- the overall status of a metric is the status of its YTD attainment.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from kpi_core.domain import drivers
from kpi_core.domain.enums import Aggregation, CSFRole, Direction, Status
from kpi_core.domain.goal import MAX_NAME_LENGTH, MAX_TEXT_LENGTH, months_until
from kpi_core.domain.model import CSF, KGI, KPI, Actual, CheckIn, Plan, add_months
from kpi_core.domain.units import format_value, input_scale, is_rate, parse_typed
from kpi_core.domain.value_rules import ValueKind, range_problem, value_kind
from kpi_core.errors import WorkbenchError

DEFAULT_AMBER = 0.95
DEFAULT_RED = 0.85
RUN_RATE_MONTHS = 3
TOLERANCE = 1e-9  # float noise: (0.021 * 0.95) / 0.021 must count as exactly 95 %

STATUS_EMOJI = {Status.ON_TRACK: "🟢", Status.AT_RISK: "🟡", Status.OFF_TRACK: "🔴", Status.NO_DATA: "⚪"}
STATUS_COLOUR = {Status.ON_TRACK: "#2e7d32", Status.AT_RISK: "#f9a825", Status.OFF_TRACK: "#c62828",
                 Status.NO_DATA: "#9e9e9e"}
STATUS_ORDER = (Status.ON_TRACK, Status.AT_RISK, Status.OFF_TRACK, Status.NO_DATA)


class EntryError(WorkbenchError):
    """A typed actual that cannot be saved. `key` and `values` feed the catalogue (values name metric and month)."""


# ---------------------------------------------------------------- attainment and status
def attainment(actual: float | None, target: float | None, direction: Direction | str = Direction.UP) -> float | None:
    """How much of the target was reached (1.0 = exactly on target), None without both numbers."""
    if actual is None or target is None or _nan(actual) or _nan(target):
        return None
    if Direction(direction) is Direction.UP:
        if target > 0:
            return actual / target
        return 1.0 if actual >= target else 0.0
    if actual > 0 and target >= 0:
        return target / actual
    return 1.0 if actual <= target else 0.0


def status_for(value: float | None, amber: float = DEFAULT_AMBER, red: float = DEFAULT_RED) -> Status:
    """On track at or above the amber threshold, at risk down to the red one, off track below it."""
    if value is None:
        return Status.NO_DATA
    if value >= amber - TOLERANCE:
        return Status.ON_TRACK
    if value >= red - TOLERANCE:
        return Status.AT_RISK
    return Status.OFF_TRACK


def _nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


# ---------------------------------------------------------------- what is tracked
@dataclass(frozen=True)
class MetricSpec:
    """The KGI or one KPI, reduced to what tracking needs."""

    key: str
    name: str
    unit: str
    direction: Direction
    aggregation: Aggregation
    annual_target: float | None
    horizon: tuple[date, ...]  # the months the annual target covers (the KGI's deadline may end it early)
    ratio_weight: str = ""
    amber: float = DEFAULT_AMBER
    red: float = DEFAULT_RED
    is_kgi: bool = False
    owner: str = ""
    recovery_plan: str = ""
    csf_id: int | None = None

    def derived_monthly_target(self) -> float | None:
        """The monthly target implied by the annual one: SUM spreads it evenly, the others hold it every month."""
        if self.annual_target is None or not self.horizon:
            return None
        return drivers.to_monthly(self.annual_target, self.aggregation, len(self.horizon))

    @property
    def kind(self) -> ValueKind:
        """The range its values may take (value_rules): scores and levels such as NPS may go below zero;
        counts, money and rates may not."""
        return value_kind(self.unit, self.aggregation)


def kgi_spec(kgi: KGI, plan: Plan) -> MetricSpec:
    horizon = tuple(plan.month_list()[:months_until(plan, kgi.deadline)])
    return MetricSpec(key=kgi.key, name=kgi.name or kgi.key, unit=kgi.unit, direction=Direction(kgi.direction),
                      aggregation=Aggregation(kgi.aggregation), annual_target=kgi.target, horizon=horizon,
                      is_kgi=True)


def kpi_spec(kpi: KPI, plan: Plan) -> MetricSpec:
    return MetricSpec(key=kpi.key, name=kpi.name or kpi.key, unit=kpi.unit, direction=Direction(kpi.direction),
                      aggregation=Aggregation(kpi.aggregation), annual_target=kpi.annual_target,
                      horizon=tuple(plan.month_list()), ratio_weight=kpi.ratio_weight or "",
                      amber=kpi.amber_threshold, red=kpi.red_threshold, owner=kpi.owner,
                      recovery_plan=kpi.recovery_plan, csf_id=kpi.csf_id)


def effective_targets(spec: MetricSpec, stored: Mapping[date, float] | None) -> dict[date, float]:
    """Monthly targets of the horizon: the stored phasing where there is one, else derived from the annual target."""
    stored = stored or {}
    derived = spec.derived_monthly_target()
    targets = {}
    for month in spec.horizon:
        value = stored.get(month, derived)
        if value is not None:
            targets[month] = float(value)
    return targets


# ---------------------------------------------------------------- per metric
@dataclass(frozen=True)
class MonthRow:
    month: date
    target: float | None
    actual: float | None
    attainment: float | None
    status: Status


@dataclass(frozen=True)
class MetricTracking:
    spec: MetricSpec
    rows: tuple[MonthRow, ...]
    data_months: tuple[date, ...]  # months of the horizon with an actual
    missing_months: tuple[date, ...]  # months before the latest actual without one
    ytd_actual: float | None
    ytd_target: float | None
    pace: float | None  # attainment of the YTD actual against the YTD target
    run_rate: float | None  # SUM only: mean of the last RUN_RATE_MONTHS months with data
    forecast: float | None  # value expected at the end of the horizon
    forecast_attainment: float | None  # forecast against the annual target
    status: Status  # overall, from the pace

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def latest(self) -> MonthRow | None:
        """The latest month with an actual."""
        with_data = [row for row in self.rows if row.actual is not None]
        return with_data[-1] if with_data else None

    @property
    def pace_gap(self) -> float | None:
        if self.ytd_actual is None or self.ytd_target is None:
            return None
        return self.ytd_actual - self.ytd_target

    @property
    def annual_target(self) -> float | None:
        return self.spec.annual_target

    @property
    def forecast_gap(self) -> float | None:
        """The forecast against the annual target (positive: above it)."""
        if self.forecast is None or self.annual_target is None:
            return None
        return self.forecast - self.annual_target

    def row(self, month: date) -> MonthRow | None:
        return next((r for r in self.rows if r.month == month), None)


def _weights(spec: MetricSpec, series: Mapping[str, Mapping[date, float]]) -> dict[date, float] | None:
    if spec.aggregation is not Aggregation.RATIO or not spec.ratio_weight.strip():
        return None
    try:
        return drivers.weight_series(spec.ratio_weight, series)
    except drivers.FormulaError:
        return None  # a broken weight formula falls back to the plain mean rather than hiding the metric


def aggregate_metric(spec: MetricSpec, series: Mapping[str, Mapping[date, float]],
                     months: Iterable[date]) -> float | None:
    """The metric's figure over `months` in its own aggregation; `series` holds every metric for the weights."""
    wanted = set(months)
    values = {m: v for m, v in series.get(spec.key, {}).items() if m in wanted}
    return drivers.aggregate(values, spec.aggregation, _weights(spec, series))


def track_metric(spec: MetricSpec, targets: Mapping[str, Mapping[date, float]],
                 actuals: Mapping[str, Mapping[date, float]]) -> MetricTracking:
    """Month rows, YTD pace, forecast and status of one metric. `targets` are effective monthly targets."""
    own_targets = targets.get(spec.key, {})
    own_actuals = actuals.get(spec.key, {})
    rows = []
    for month in spec.horizon:
        target, actual = own_targets.get(month), own_actuals.get(month)
        value = attainment(actual, target, spec.direction)
        rows.append(MonthRow(month, target, actual, value, status_for(value, spec.amber, spec.red)))
    data_months = tuple(m for m in spec.horizon if own_actuals.get(m) is not None)
    elapsed = tuple(m for m in spec.horizon if data_months and m <= data_months[-1])
    basis = elapsed if spec.aggregation is Aggregation.SUM else data_months
    ytd_actual = aggregate_metric(spec, actuals, data_months) if data_months else None
    ytd_target = aggregate_metric(spec, targets, basis) if data_months else None
    pace = attainment(ytd_actual, ytd_target, spec.direction)
    run_rate, forecast = _forecast(spec, ytd_actual, [own_actuals[m] for m in data_months],
                                   len(spec.horizon) - len(elapsed))
    return MetricTracking(spec=spec, rows=tuple(rows), data_months=data_months,
                          missing_months=tuple(m for m in elapsed if m not in data_months), ytd_actual=ytd_actual,
                          ytd_target=ytd_target, pace=pace, run_rate=run_rate, forecast=forecast,
                          forecast_attainment=attainment(forecast, spec.annual_target, spec.direction),
                          status=status_for(pace, spec.amber, spec.red))


def _forecast(spec: MetricSpec, ytd: float | None, values: Sequence[float],
              remaining: int) -> tuple[float | None, float | None]:
    """(run-rate, forecast at the end of the horizon); `remaining` months follow the latest actual."""
    if ytd is None:
        return None, None
    if spec.aggregation is not Aggregation.SUM:
        return None, ytd
    recent = values[-RUN_RATE_MONTHS:]
    run_rate = math.fsum(recent) / len(recent)
    return run_rate, ytd + run_rate * remaining


# ---------------------------------------------------------------- the whole plan
@dataclass(frozen=True)
class PlanTracking:
    months: tuple[date, ...]
    kgi: MetricTracking | None
    kpis: tuple[MetricTracking, ...]
    targets: dict[str, dict[date, float]]  # effective monthly targets per metric key
    actuals: dict[str, dict[date, float]]  # actuals of the plan period per metric key
    formula: str = ""  # the KGI's driver formula

    @property
    def metrics(self) -> list[MetricTracking]:
        return ([self.kgi] if self.kgi else []) + list(self.kpis)

    def metric(self, key: str) -> MetricTracking | None:
        return next((m for m in self.metrics if m.key == key), None)

    @property
    def as_of(self) -> date | None:
        """The latest month of the plan period with any actual."""
        months = [m for series in self.actuals.values() for m in series]
        return max(months) if months else None

    @property
    def has_actuals(self) -> bool:
        return self.as_of is not None

    @property
    def off_track(self) -> list[MetricTracking]:
        return [m for m in self.kpis if m.status is Status.OFF_TRACK]


def track_plan(plan: Plan, kgi: KGI | None, kpis: Sequence[KPI], stored_targets: Mapping[str, Mapping[date, float]],
               actuals: Mapping[str, Mapping[date, float]]) -> PlanTracking:
    """Track the KGI and every KPI of the plan from stored targets (or annual ones) and actuals."""
    specs = ([kgi_spec(kgi, plan)] if kgi else []) + [kpi_spec(k, plan) for k in kpis]
    period = set(plan.month_list())
    in_period = {key: {m: float(v) for m, v in series.items() if m in period and v is not None and not _nan(v)}
                 for key, series in actuals.items()}
    in_period = {key: series for key, series in in_period.items() if series}
    targets = {spec.key: effective_targets(spec, stored_targets.get(spec.key)) for spec in specs}
    tracked = [track_metric(spec, targets, in_period) for spec in specs]
    kgi_tracking = tracked[0] if kgi else None
    return PlanTracking(months=tuple(plan.month_list()), kgi=kgi_tracking,
                        kpis=tuple(tracked[1:] if kgi else tracked), targets=targets, actuals=in_period,
                        formula=(kgi.formula or "") if kgi else "")


# ---------------------------------------------------------------- variance attribution of the KGI
@dataclass(frozen=True)
class VarianceAttribution:
    scope: str  # "month" (the latest month with every driver) or "ytd"
    months: tuple[date, ...]
    method: str  # see drivers.variance_breakdown
    planned: float  # the KGI formula on the drivers' targets
    actual: float  # the KGI formula on the drivers' actuals
    contributions: tuple[tuple[str, float], ...]  # (driver key, share of actual - planned), largest first

    @property
    def total(self) -> float:
        return self.actual - self.planned


def attribute_kgi(tracking: PlanTracking, scope: str = "ytd") -> VarianceAttribution | None:
    """Split actual - planned KGI into each driver's share, for the latest month or the year to date.

    None when the KGI has no formula, a driver is not a KPI of the plan, or no month has every driver's actual.
    A formula that cannot be evaluated raises drivers.FormulaError (with a catalogue key).
    """
    if not tracking.formula.strip():
        return None
    formula = drivers.parse_formula(tracking.formula)
    specs = {m.key: m.spec for m in tracking.kpis}
    if not formula.names or any(name not in specs for name in formula.names):
        return None
    common = [m for m in tracking.months
              if all(m in tracking.actuals.get(n, {}) and m in tracking.targets.get(n, {}) for n in formula.names)]
    if not common:
        return None
    months = common if scope == "ytd" else common[-1:]
    planned = {n: aggregate_metric(specs[n], tracking.targets, months) for n in formula.names}
    actual = {n: aggregate_metric(specs[n], tracking.actuals, months) for n in formula.names}
    breakdown = drivers.variance_breakdown(formula, planned, actual)
    ranked = sorted(breakdown.contributions.items(), key=lambda item: -abs(item[1]))
    return VarianceAttribution(scope, tuple(months), breakdown.method, breakdown.planned, breakdown.actual,
                               tuple(ranked))


# ---------------------------------------------------------------- acting on it
@dataclass(frozen=True)
class Recovery:
    """An off-track KPI, its recovery plan, and the fallback CSFs prepared to switch to."""

    metric: MetricTracking
    recovery_plan: str
    switch_to: tuple[CSF, ...]


def recovery_suggestions(tracking: PlanTracking, csfs: Sequence[CSF]) -> list[Recovery]:
    """One entry per off-track KPI, worst pace first, each offering the plan's fallback CSFs."""
    fallbacks = tuple(sorted((c for c in csfs if c.role == CSFRole.FALLBACK), key=lambda c: (c.position, c.id or 0)))
    off = sorted(tracking.off_track, key=lambda m: m.pace if m.pace is not None else 0.0)
    return [Recovery(m, m.spec.recovery_plan, fallbacks) for m in off]


@dataclass(frozen=True)
class OpenAction:
    checkin: CheckIn
    overdue: bool
    days_left: int | None


def open_actions(checkins: Iterable[CheckIn], today: date) -> list[OpenAction]:
    """Check-ins with a next action and no result yet: overdue first, then by due date (none last)."""
    actions = []
    for checkin in checkins:
        if not (checkin.next_action or "").strip() or (checkin.result or "").strip():
            continue
        days = (checkin.due - today).days if checkin.due else None
        actions.append(OpenAction(checkin, days is not None and days < 0, days))
    return sorted(actions, key=lambda a: (not a.overdue, a.checkin.due or date.max, a.checkin.month))


def default_checkin(tracking: PlanTracking, key: str) -> tuple[date | None, Status]:
    """What the check-in form proposes for a metric: its latest month with data and that month's status."""
    metric = tracking.metric(key)
    if metric is None or metric.latest is None:
        return None, Status.NO_DATA
    return metric.latest.month, metric.latest.status


def checkin_problems(checkin: CheckIn) -> list[tuple[str, dict]]:
    """Why a check-in cannot be saved: a miss needs both why and what happens next; texts have limits."""
    problems: list[tuple[str, dict]] = []
    missed = checkin.status in (Status.AT_RISK, Status.OFF_TRACK)
    if missed and not (checkin.why.strip() and checkin.next_action.strip()):
        problems.append(("pdca.checkin.need_why_next", {}))
    if not missed and not (checkin.why.strip() or checkin.next_action.strip() or checkin.result.strip()):
        problems.append(("pdca.checkin.empty_note", {}))
    for text in (checkin.why, checkin.next_action, checkin.result):
        if len(text) > MAX_TEXT_LENGTH:
            problems.append(("check.text_too_long", {"max": MAX_TEXT_LENGTH}))
            break
    if len(checkin.owner) > MAX_NAME_LENGTH:
        problems.append(("check.name_too_long", {"max": MAX_NAME_LENGTH, "length": len(checkin.owner)}))
    if checkin.next_action.strip() and checkin.due is None:
        problems.append(("pdca.checkin.need_due", {}))
    return problems


def due_warnings(due: date | None, plan: Plan, today: date) -> list[tuple[str, dict]]:
    """A next action's due date in the past or after the plan ends is allowed, but said before saving."""
    if due is None:
        return []
    end = add_months(plan.fiscal_start, plan.months) - timedelta(days=1)
    if due < today:
        return [("room.due_past", {"due": due})]
    if due > end:
        return [("room.due_after_end", {"due": due, "end": end})]
    return []


REVIEW_DECISIONS = ("keep", "change", "drop")
REVIEW_INTERVAL_MONTHS = 3


def review_problems(choices: Mapping[str, tuple[str, str, str]]) -> list[tuple[str, dict]]:
    """Quarterly review: {kpi key: (decision, reason, name)}; changing or dropping a KPI needs a reason."""
    problems: list[tuple[str, dict]] = []
    for decision, reason, name in choices.values():
        if decision not in REVIEW_DECISIONS:
            problems.append(("pdca.review.bad_decision", {"name": name[:80]}))
        elif decision != "keep" and not reason.strip():
            problems.append(("pdca.review.need_reason", {"name": name[:80]}))
        if len(reason) > MAX_TEXT_LENGTH:
            problems.append(("check.text_too_long", {"max": MAX_TEXT_LENGTH}))
    return problems


def review_overdue(last_review: date | None, today: date, started: date | None = None) -> bool:
    """A review of the KPI set is due every quarter: three months after the last one (or after the start)."""
    since = last_review or started
    return since is not None and add_months(since, REVIEW_INTERVAL_MONTHS) <= today


# ---------------------------------------------------------------- typed actuals (the entry grid)
def entry_text(value: float | None, spec: MetricSpec) -> str:
    """How a stored value appears in the entry grid: rates in %, thousands separated, at most two decimals.
    The text may be rounded (19.15 for 9/47 wins): `grid_changes` treats an untouched text as unchanged."""
    if value is None or _nan(value):
        return ""
    text = f"{value * input_scale(spec.unit):,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_entry(text: object, spec: MetricSpec, month: date) -> float | None:
    """A typed cell as a stored value (None = blank). Rates are typed in % ("25" or "25%" -> 0.25)."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return None
    where = {"metric": spec.name[:80], "month": month.strftime("%Y-%m")}
    raw = str(text).strip()
    try:
        value = parse_typed(raw, spec.unit)
    except ValueError:
        raise EntryError("pdca.entry.not_a_number", value=raw[:40], **where) from None
    if value is None:
        return None
    problem = range_problem(value, spec.kind)
    if problem:
        raise EntryError(problem, field=f"{where['metric']}, {where['month']}", value=raw[:40], **where)
    return value


@dataclass
class GridEdit:
    """What saving the grid would change: values to write, metric-months to clear, and the refusals."""

    saves: list[Actual] = field(default_factory=list)
    clears: list[tuple[str, date]] = field(default_factory=list)
    errors: list[EntryError] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.saves or self.clears)


def grid_changes(specs: Sequence[MetricSpec], current: Mapping[str, Mapping[date, float]],
                 edited: Mapping[str, Mapping[date, object]]) -> GridEdit:
    """Compare the typed grid ({key: {month: text}}) with the stored actuals; only changed cells are kept.
    A cell still showing the text the grid was filled with is unchanged, even when that text is rounded."""
    edit = GridEdit()
    for spec in specs:
        for month, text in edited.get(spec.key, {}).items():
            old = current.get(spec.key, {}).get(month)
            if old is not None and isinstance(text, str) and text.strip() == entry_text(old, spec):
                continue
            try:
                value = parse_entry(text, spec, month)
            except EntryError as exc:
                edit.errors.append(exc)
                continue
            if value is None:
                if old is not None:
                    edit.clears.append((spec.key, month))
            elif old is None or not math.isclose(value, old, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                edit.saves.append(Actual(spec.key, month, value))
    return edit


# ---------------------------------------------------------------- display helpers
def month_runs(months: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive months grouped into (first, last) runs: Apr, May, Jun, Sep -> [(Apr, Jun), (Sep, Sep)]."""
    runs: list[tuple[date, date]] = []
    for month in sorted(months):
        if runs and add_months(runs[-1][1], 1) == month:
            runs[-1] = (runs[-1][0], month)
        else:
            runs.append((month, month))
    return runs


def missing_groups(metrics: Iterable[MetricTracking], lang: str) -> list[tuple[str, str]]:
    """(missing months named, metric names) for the metrics with missing months, one entry per set of months."""
    groups: dict[tuple[date, ...], list[str]] = {}
    for metric in metrics:
        if metric.missing_months:
            groups.setdefault(metric.missing_months, []).append(metric.spec.name)
    return [(months_text(months, lang), ", ".join(names)) for months, names in groups.items()]


def months_text(months: Sequence[date], lang: str) -> str:
    """'2026年4月–6月, 2026年9月' / 'Apr–Jun 2026, Sep 2026': the months named compactly."""
    parts = []
    for first, last in month_runs(months):
        if first == last:
            parts.append(month_label(first, lang))
        elif lang == "ja":
            end = f"{last.month}月" if last.year == first.year else month_label(last, lang)
            parts.append(f"{month_label(first, lang)}–{end}")
        else:
            start = first.strftime("%b") if last.year == first.year else month_label(first, lang)
            parts.append(f"{start}–{month_label(last, lang)}")
    return ", ".join(parts)


def month_label(month: date, lang: str) -> str:
    return f"{month.year}年{month.month}月" if lang == "ja" else month.strftime("%b %Y")


def signed_difference(value: float | None, unit: str, lang: str, full_digits: bool = False,
                      compact: bool = False) -> str | None:
    """A difference with its sign for a metric delta: '+1,200万円', '-3.0 pt' for rates (points, not %)."""
    if value is None or _nan(value):
        return None
    if is_rate(unit):
        return f"{value * 100:+,.1f} pt"
    text = format_value(abs(value), unit, lang, full_digits, compact)
    return ("-" if value < 0 else "+") + text


