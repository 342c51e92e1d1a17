"""Health check of a KPI system: the seven pitfalls, SMART per KPI, a 0-100 score and the readiness checklist.

Pure functions over a plan and its actuals (`HealthInput`); the store reads them (services.health) and the pages
render the findings through the catalogue: each finding carries its check id, its figures (`evidence`) and the step
where it is fixed. Texts live under `health.check.<check>.evidence|fix`.

Decisions the checks share:
- rhythm checks (off-track months without a check-in, stale actuals, quarterly review, disconnected targets) judge a
  plan only once it runs, i.e. has an actual inside its period: a plan just drafted is not late on anything;
- a correlation needs MIN_CORRELATION_MONTHS months where the KPI and the KGI both have an actual; below that there
  is no verdict (the figure is still shown with its month count);
- the tree holds bottom-up when the KGI formula on a month's KPI actuals lands within TREE_TOLERANCE of that month's
  KGI actual.
"""
from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import lru_cache

import numpy as np

from kpi_core.domain import drivers
from kpi_core.domain.enums import Aggregation, CSFRole, Direction, Kind, Status
from kpi_core.domain.gap import best_yoy_growth
from kpi_core.domain.kpi_rules import RECOMMENDED_KPIS, SmartFinding, smart_check
from kpi_core.domain.model import CSF, KGI, KPI, CheckIn, Plan, month_start
from kpi_core.domain.tracking import (
    PlanTracking,
    aggregate_metric,
    attainment,
    open_actions,
    review_overdue,
    status_for,
    track_plan,
)

MIN_CORRELATION_MONTHS = 6
WEAK_CORRELATION = 0.3
TREE_TOLERANCE = 0.10
PLAN_TOLERANCE = 0.10
GOODHART_WINDOW = 3
GOODHART_MISSES = 2
STALE_MONTHS = 2
QUARTER = 3
OFF_QUARTERS = 2
MIN_HISTORY_MONTHS = 6  # months on record before a target is judged against the best month


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


SEVERITY_ORDER = (Severity.HIGH, Severity.MEDIUM, Severity.LOW)
PITFALLS = (1, 2, 3, 4, 5, 6, 7)
# The score: 100 (never below 0) minus, per pitfall, the sum of its findings' points (severity points x pitfall weight), each pitfall
# capped at PITFALL_CAP so that one noisy pitfall cannot hide the others.
SEVERITY_POINTS = {Severity.HIGH: 12.0, Severity.MEDIUM: 5.0, Severity.LOW: 1.0}
PITFALL_WEIGHTS = {1: 1.5, 2: 1.0, 3: 1.0, 4: 1.25, 5: 1.0, 6: 1.0, 7: 1.0}
PITFALL_CAP = 30.0

# The step (page slug) where each kind of finding is fixed.
STEP_KGI, STEP_GAP, STEP_CSF, STEP_KPI, STEP_PDCA, STEP_ACTUALS = "kgi", "gap", "csf", "kpi", "pdca", "actuals"

# A count or an amount is defined over a period ("monthly", "月次"); a definition shorter than
# MIN_DEFINITION_LENGTH without a countable word ("件数", "rate", "÷") is a label, not a definition.
MIN_DEFINITION_LENGTH = 20
PERIOD_WORDS = ("月", "週", "日", "年", "期", "四半期", "month", "week", "day", "year", "annual", "quarter",
                "period", "daily")
COUNTABLE_WORDS = ("件", "数", "率", "額", "金額", "割合", "人", "回", "円", "点", "÷", "/", "／", "%", "％",
                   "count", "number", "rate", "share", "amount", "ratio", "total", "sum", "per ", "score",
                   "percentage", "average", "mean", "revenue", "value")


@dataclass(frozen=True)
class Finding:
    """One problem found: pitfall 1-7, the check that found it, how bad, the figures, and where it is fixed."""

    pitfall: int
    check: str
    severity: Severity
    step: str
    metric: str = ""  # the KPI key it concerns, '' for the whole plan
    evidence: dict = field(default_factory=dict)

    @property
    def evidence_key(self) -> str:
        return f"health.check.{self.check}.evidence"

    @property
    def fix_key(self) -> str:
        return f"health.check.{self.check}.fix"


@dataclass(frozen=True)
class Correlation:
    """Spearman rank correlation of a KPI with the KGI, signed so that + means 'moves the KGI the right way'."""

    key: str
    rho: float | None
    months: int

    @property
    def verdict(self) -> bool:
        return self.rho is not None and self.months >= MIN_CORRELATION_MONTHS


@dataclass(frozen=True)
class HealthInput:
    """Everything the health check reads: the plan, its setup, its actuals (history included) and its rhythm."""

    plan: Plan
    kgi: KGI | None
    csfs: Sequence[CSF]
    kpis: Sequence[KPI]
    targets: Mapping[str, Mapping[date, float]]  # stored monthly targets per metric key
    actuals: Mapping[str, Mapping[date, float]]  # every current actual per metric key, before the plan too
    checkins: Sequence[CheckIn] = ()
    review_dates: Sequence[date] = ()  # dates of quarterly reviews of the KPI set
    target_changes: Mapping[str, Sequence[date]] = field(default_factory=dict)  # dates targets were revised
    workshop_decisions: int = 0  # decisions recorded in the plan's workshops
    review_cadence_set: bool = False  # a weekly/monthly review meeting is scheduled (checklist)
    today: date = field(default_factory=date.today)


@dataclass(frozen=True)
class HealthReport:
    findings: tuple[Finding, ...]
    smart: dict[str, tuple[SmartFinding, ...]]  # per KPI key
    correlations: tuple[Correlation, ...]
    score: float
    deductions: dict[int, float]  # points taken per pitfall (after the cap)
    lights: dict[int, Status]  # traffic light per pitfall (status colours: on track / at risk / off track)
    running: bool

    @property
    def high(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.HIGH]


# ---------------------------------------------------------------- the check
def check_health(data: HealthInput) -> HealthReport:
    """Every check of the seven pitfalls, the score and a traffic light per pitfall."""
    tracking = track_plan(data.plan, data.kgi, data.kpis, data.targets, data.actuals)
    running = tracking.has_actuals
    smart = {k.key: tuple(smart_check(k, _live_csf_ids(data.csfs))) for k in data.kpis}
    correlations = tuple(kgi_correlations(data))
    findings: list[Finding] = []
    findings += misaligned(data, smart, tracking, correlations)
    findings += vague(data, smart)
    findings += count_and_balance(data.kpis)
    findings += bad_targets(data, smart)
    findings += no_action(data, smart, tracking)
    findings += disconnected(data, smart, running)
    findings += rigid(data, tracking, running)
    findings.sort(key=lambda f: (SEVERITY_ORDER.index(f.severity), f.pitfall, f.check, f.metric))
    deductions = score_deductions(findings)
    return HealthReport(tuple(findings), smart, correlations, round(max(0.0, 100.0 - sum(deductions.values())), 1),
                        deductions, traffic_lights(findings), running)


def score_deductions(findings: Sequence[Finding]) -> dict[int, float]:
    """Points taken per pitfall: sum of severity points x pitfall weight, capped at PITFALL_CAP."""
    taken = {p: 0.0 for p in PITFALLS}
    for finding in findings:
        taken[finding.pitfall] += SEVERITY_POINTS[finding.severity] * PITFALL_WEIGHTS[finding.pitfall]
    return {p: round(min(PITFALL_CAP, points), 2) for p, points in taken.items()}


def traffic_lights(findings: Sequence[Finding]) -> dict[int, Status]:
    """Red with a high finding, amber with a medium one, green otherwise (low findings are advice)."""
    lights = {}
    for pitfall in PITFALLS:
        severities = {f.severity for f in findings if f.pitfall == pitfall}
        if Severity.HIGH in severities:
            lights[pitfall] = Status.OFF_TRACK
        elif Severity.MEDIUM in severities:
            lights[pitfall] = Status.AT_RISK
        else:
            lights[pitfall] = Status.ON_TRACK
    return lights


def _live_csf_ids(csfs: Sequence[CSF]) -> set[int]:
    return {c.id for c in csfs if c.id is not None and c.role != CSFRole.RETIRED}


def _formula_names(kgi: KGI | None) -> tuple[str, ...]:
    formula = _parsed(kgi.formula if kgi else "")
    return formula.names if formula else ()


@lru_cache(maxsize=64)
def _parsed(text: str) -> drivers.Formula | None:
    """The KGI formula parsed once per text (the checks read it several times); None when blank or broken."""
    if not (text or "").strip():
        return None
    try:
        return drivers.parse_formula(text)
    except drivers.FormulaError:
        return None


def _name(kpi: KPI) -> str:
    return (kpi.name or kpi.key)[:80]


def _month(month: date) -> str:
    return f"{month:%Y-%m}"


def _months_text(months: Sequence[date]) -> str:
    return ", ".join(_month(m) for m in months)


# ---------------------------------------------------------------- 1 misaligned
def misaligned(data: HealthInput, smart: Mapping[str, Sequence[SmartFinding]], tracking: PlanTracking,
               correlations: Sequence[Correlation]) -> list[Finding]:
    findings = []
    in_formula = set(_formula_names(data.kgi))
    for kpi in data.kpis:
        no_csf = any(s.key == "kpi.smart.no_csf" for s in smart[kpi.key])
        if no_csf and kpi.key not in in_formula:
            findings.append(Finding(1, "orphan_kpi", Severity.HIGH, STEP_KPI, kpi.key, {"kpi": _name(kpi)}))
        elif no_csf:
            findings.append(Finding(1, "no_csf", Severity.LOW, STEP_KPI, kpi.key, {"kpi": _name(kpi)}))
    findings += goodhart(data, tracking)
    names = {k.key: _name(k) for k in data.kpis}
    for corr in correlations:
        if not corr.verdict:
            continue
        if corr.rho < 0:
            findings.append(Finding(1, "against_kgi", Severity.MEDIUM, STEP_PDCA, corr.key,
                                    {"kpi": names[corr.key], "rho": round(corr.rho, 2), "months": corr.months}))
        elif corr.rho < WEAK_CORRELATION:
            findings.append(Finding(1, "weak_link", Severity.LOW, STEP_PDCA, corr.key,
                                    {"kpi": names[corr.key], "rho": round(corr.rho, 2), "months": corr.months,
                                     "threshold": WEAK_CORRELATION}))
    findings += tree_holds(data)
    return findings


def goodhart(data: HealthInput, tracking: PlanTracking) -> list[Finding]:
    """A KPI on track while the KGI is off track in >= 2 of the last 3 months where both have an actual."""
    if tracking.kgi is None:
        return []
    kgi_rows = {row.month: row for row in tracking.kgi.rows if row.actual is not None}
    findings = []
    for metric in tracking.kpis:
        both = [row for row in metric.rows if row.actual is not None and row.month in kgi_rows]
        recent = both[-GOODHART_WINDOW:]
        hits = [row.month for row in recent
                if row.status is Status.ON_TRACK and kgi_rows[row.month].status is Status.OFF_TRACK]
        if len(hits) >= GOODHART_MISSES:
            findings.append(Finding(1, "goodhart", Severity.HIGH, STEP_PDCA, metric.key,
                                    {"kpi": metric.spec.name[:80], "hits": len(hits), "window": len(recent),
                                     "months": _months_text(hits)}))
    return findings


def _ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    array = np.asarray(values, dtype=float)
    ordered = np.sort(array)
    below = np.searchsorted(ordered, array, side="left")
    up_to = np.searchsorted(ordered, array, side="right")
    return (below + up_to + 1) / 2.0


def _rank_correlation(rx: np.ndarray, ry: np.ndarray) -> float | None:
    """Pearson's correlation of two rank vectors; None when either does not vary."""
    dx, dy = rx - rx.mean(), ry - ry.mean()
    spread = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / spread if spread else None


def kgi_correlations(data: HealthInput) -> list[Correlation]:
    """Each KPI's rank correlation with the KGI over every month both have an actual (history included)."""
    if data.kgi is None:
        return []
    kgi_series = data.actuals.get(data.kgi.key, {})
    kgi_up = Direction(data.kgi.direction) is Direction.UP
    kgi_ranks: dict[tuple[date, ...], np.ndarray] = {}  # KPIs reported over the same months share the KGI's ranks
    result = []
    for kpi in data.kpis:
        series = data.actuals.get(kpi.key, {})
        months = tuple(sorted(m for m in series if m in kgi_series))
        rho = None
        if len(months) >= 2:
            if months not in kgi_ranks:
                kgi_ranks[months] = _ranks([kgi_series[m] for m in months])
            rho = _rank_correlation(_ranks([series[m] for m in months]), kgi_ranks[months])
        if rho is not None and (Direction(kpi.direction) is Direction.UP) != kgi_up:
            rho = -rho  # churn down while revenue goes up is the expected link
        result.append(Correlation(kpi.key, rho, len(months)))
    return result


def tree_holds(data: HealthInput) -> list[Finding]:
    """The KGI formula on each month's KPI actuals against that month's KGI actual; one finding for all misses."""
    formula = _parsed(data.kgi.formula) if data.kgi else None
    if formula is None or not formula.names:
        return []
    implied = drivers.evaluate_by_month(formula, data.actuals)
    misses = []
    for month, actual in sorted(data.actuals.get(data.kgi.key, {}).items()):
        if month in implied and actual:
            gap = implied[month] / actual - 1
            if abs(gap) > TREE_TOLERANCE:
                misses.append((month, gap))
    if not misses:
        return []
    worst_month, worst_gap = max(misses, key=lambda item: abs(item[1]))
    return [Finding(1, "tree_breaks", Severity.MEDIUM, STEP_KPI, "",
                    {"count": len(misses), "month": _month(worst_month), "gap_pct": worst_gap,
                     "tolerance_pct": TREE_TOLERANCE, "months": _months_text([m for m, _ in misses])})]


# ---------------------------------------------------------------- 2 vague
_SMART_VAGUE = {"kpi.smart.no_definition": ("no_definition", Severity.MEDIUM),
                "kpi.smart.vague": ("vague_word", Severity.MEDIUM),
                "kpi.smart.no_unit": ("no_unit", Severity.MEDIUM),
                "kpi.smart.no_source": ("no_source", Severity.MEDIUM)}


def vague(data: HealthInput, smart: Mapping[str, Sequence[SmartFinding]]) -> list[Finding]:
    findings = []
    for kpi in data.kpis:
        for item in smart[kpi.key]:
            if item.key in _SMART_VAGUE:
                check, severity = _SMART_VAGUE[item.key]
                findings.append(Finding(2, check, severity, STEP_KPI, kpi.key, {"kpi": _name(kpi), **item.values}))
        definition = unicodedata.normalize("NFKC", kpi.definition or "").strip().lower()
        if not definition:
            continue
        if Aggregation(kpi.aggregation) is Aggregation.SUM and not _has_any(definition, PERIOD_WORDS):
            findings.append(Finding(2, "no_period", Severity.LOW, STEP_KPI, kpi.key, {"kpi": _name(kpi)}))
        if len(definition) < MIN_DEFINITION_LENGTH and not _has_any(definition, COUNTABLE_WORDS):
            findings.append(Finding(2, "not_countable", Severity.MEDIUM, STEP_KPI, kpi.key,
                                    {"kpi": _name(kpi), "length": len(definition)}))
    return findings


def _has_any(text: str, words: Sequence[str]) -> bool:
    return any(word in text for word in words)


# ---------------------------------------------------------------- 3 count and balance
def count_and_balance(kpis: Sequence[KPI]) -> list[Finding]:
    """3-5 KPIs, at least one leading and one lagging (Step 4 shows these same findings)."""
    low, high = RECOMMENDED_KPIS
    count = len(kpis)
    figures = {"count": count, "low": low, "high": high}
    findings = []
    if count < low:
        findings.append(Finding(3, "too_few", Severity.HIGH if count == 0 else Severity.MEDIUM, STEP_KPI, "", figures))
    elif count > high:
        findings.append(Finding(3, "too_many", Severity.MEDIUM, STEP_KPI, "", figures))
    if kpis and not any(k.kind == Kind.LEADING for k in kpis):
        findings.append(Finding(3, "no_leading", Severity.MEDIUM, STEP_KPI, "", {"count": count}))
    if kpis and not any(k.kind == Kind.LAGGING for k in kpis):
        findings.append(Finding(3, "no_lagging", Severity.MEDIUM, STEP_KPI, "", {"count": count}))
    return findings


# ---------------------------------------------------------------- 4 bad targets
def bad_targets(data: HealthInput, smart: Mapping[str, Sequence[SmartFinding]]) -> list[Finding]:
    findings = []
    kgi = data.kgi
    if kgi is None:
        return [Finding(4, "no_kgi", Severity.HIGH, STEP_KGI)]
    if kgi.target is None:
        findings.append(Finding(4, "no_kgi_target", Severity.HIGH, STEP_KGI))
    if not (kgi.basis or "").strip():
        findings.append(Finding(4, "no_basis", Severity.MEDIUM, STEP_KGI))
    if kgi.target is not None and kgi.baseline is not None:
        up = Direction(kgi.direction) is Direction.UP
        if (up and kgi.target < kgi.baseline) or (not up and kgi.target > kgi.baseline):
            findings.append(Finding(4, "below_baseline" if up else "above_baseline", Severity.HIGH, STEP_KGI, "",
                                    {"target": kgi.target, "baseline": kgi.baseline, "unit": kgi.unit}))
        findings += _growth_vs_history(data, kgi)
    findings += _run_rates_vs_record(data)
    for kpi in data.kpis:
        if any(s.key == "kpi.smart.no_target" for s in smart[kpi.key]):
            findings.append(Finding(4, "no_kpi_target", Severity.MEDIUM, STEP_KPI, kpi.key, {"kpi": _name(kpi)}))
    findings += _plan_vs_kgi(data, kgi)
    return findings


def _growth_vs_history(data: HealthInput, kgi: KGI) -> list[Finding]:
    """The KGI's growth against the best year-on-year growth on record (needs a month a year apart)."""
    if not kgi.baseline or Direction(kgi.direction) is not Direction.UP:
        return []
    best = best_yoy_growth(dict(data.actuals.get(kgi.key, {})))
    needed = kgi.target / kgi.baseline - 1
    if best is None or needed <= best:
        return []
    return [Finding(4, "growth_beyond_history", Severity.HIGH, STEP_GAP, "",
                    {"needed_pct": needed, "best_pct": best})]


def _run_rates_vs_record(data: HealthInput) -> list[Finding]:
    """A monthly target above the best month on record (UP metrics with at least MIN_HISTORY_MONTHS on record)."""
    findings = []
    months = data.plan.months
    metrics: list[tuple[str, str, float | None, Aggregation, Direction, str]] = []
    if data.kgi is not None:
        metrics.append((data.kgi.key, data.kgi.name or data.kgi.key, data.kgi.target,
                        Aggregation(data.kgi.aggregation), Direction(data.kgi.direction), data.kgi.unit))
    metrics += [(k.key, _name(k), k.annual_target, Aggregation(k.aggregation), Direction(k.direction), k.unit)
                for k in data.kpis]
    for key, name, annual, aggregation, direction, unit in metrics:
        record = data.actuals.get(key, {})
        if annual is None or direction is not Direction.UP or len(record) < MIN_HISTORY_MONTHS:
            continue
        stored = data.targets.get(key, {})
        monthly = max(stored.values()) if stored else drivers.to_monthly(annual, aggregation, months)
        best_month, best = max(record.items(), key=lambda item: item[1])
        if monthly > best * (1 + 1e-9):
            findings.append(Finding(4, "run_rate_above_record", Severity.MEDIUM,
                                    STEP_GAP if key == (data.kgi.key if data.kgi else None) else STEP_KPI,
                                    "" if data.kgi and key == data.kgi.key else key,
                                    {"metric": name[:80], "monthly": monthly, "best": best,
                                     "best_month": _month(best_month), "unit": unit}))
    return findings


def _plan_vs_kgi(data: HealthInput, kgi: KGI) -> list[Finding]:
    """KPI targets reproduce the KGI through the formula within PLAN_TOLERANCE."""
    if not _formula_names(kgi) or kgi.target is None:
        return []
    try:
        implied = drivers.implied_kgi(kgi, data.kpis, data.plan.months)
    except drivers.FormulaError:
        return []
    if implied.over_plan is None or abs(implied.over_plan) <= PLAN_TOLERANCE:
        return []
    over = implied.over_plan > 0
    return [Finding(4, "over_plan" if over else "under_plan", Severity.MEDIUM if over else Severity.HIGH, STEP_KPI,
                    "", {"implied": implied.annual, "target": kgi.target, "gap_pct": implied.over_plan,
                         "tolerance_pct": PLAN_TOLERANCE, "unit": kgi.unit})]


# ---------------------------------------------------------------- 5 no action
def _complete(checkin: CheckIn) -> bool:
    return all((checkin.why.strip(), checkin.next_action.strip(), checkin.owner.strip(), checkin.due is not None))


def no_action(data: HealthInput, smart: Mapping[str, Sequence[SmartFinding]],
              tracking: PlanTracking) -> list[Finding]:
    findings = []
    for kpi in data.kpis:
        if any(s.key == "kpi.smart.no_owner" for s in smart[kpi.key]):
            findings.append(Finding(5, "no_owner", Severity.MEDIUM, STEP_KPI, kpi.key, {"kpi": _name(kpi)}))
        if not (kpi.recovery_plan or "").strip():
            findings.append(Finding(5, "no_recovery", Severity.LOW, STEP_KPI, kpi.key, {"kpi": _name(kpi)}))
    answered = {(c.metric_key, month_start(c.month)) for c in data.checkins if _complete(c)}
    for metric in tracking.kpis:
        missed = [row.month for row in metric.rows
                  if row.status is Status.OFF_TRACK and (metric.key, row.month) not in answered]
        if missed:
            findings.append(Finding(5, "off_track_no_checkin", Severity.HIGH, STEP_PDCA, metric.key,
                                    {"kpi": metric.spec.name[:80], "count": len(missed),
                                     "months": _months_text(missed)}))
    overdue = [a for a in open_actions(data.checkins, data.today) if a.overdue]
    if overdue:
        oldest = min(a.checkin.due for a in overdue)
        findings.append(Finding(5, "overdue_actions", Severity.MEDIUM, STEP_PDCA, "",
                                {"count": len(overdue), "oldest": oldest.isoformat(),
                                 "days": (data.today - oldest).days}))
    if not data.review_cadence_set:
        findings.append(Finding(5, "no_cadence", Severity.LOW, STEP_PDCA))
    return findings


# ---------------------------------------------------------------- 6 disconnected
def disconnected(data: HealthInput, smart: Mapping[str, Sequence[SmartFinding]], running: bool) -> list[Finding]:
    findings = []
    for kpi in data.kpis:
        if any(s.key == "kpi.smart.no_rationale" for s in smart[kpi.key]):
            findings.append(Finding(6, "no_rationale", Severity.MEDIUM, STEP_KPI, kpi.key, {"kpi": _name(kpi)}))
    if not running:
        return findings
    if not data.checkins and not data.review_dates and not data.workshop_decisions:
        findings.append(Finding(6, "untouched_targets", Severity.MEDIUM, STEP_PDCA, "",
                                {"checkins": 0, "reviews": 0, "decisions": 0}))
    by_owner = {(c.metric_key, c.owner.strip()) for c in data.checkins}
    for kpi in data.kpis:
        owner = (kpi.owner or "").strip()
        if owner and (kpi.key, owner) not in by_owner:
            findings.append(Finding(6, "owner_silent", Severity.LOW, STEP_PDCA, kpi.key,
                                    {"kpi": _name(kpi), "owner": owner[:80]}))
    return findings


# ---------------------------------------------------------------- 7 rigid
def rigid(data: HealthInput, tracking: PlanTracking, running: bool) -> list[Finding]:
    if not running:
        return []
    findings = []
    last_review = max(data.review_dates) if data.review_dates else None
    if review_overdue(last_review, data.today, data.plan.fiscal_start):
        since = last_review or data.plan.fiscal_start
        findings.append(Finding(7, "no_quarterly_review", Severity.MEDIUM, STEP_PDCA, "",
                                {"since": since.isoformat(), "months": _months_between(since, data.today)}))
    closed = [m for m in data.plan.month_list() if m < month_start(data.today)]
    expected = closed[-STALE_MONTHS:]
    if len(expected) == STALE_MONTHS:
        for metric in tracking.kpis:
            series = tracking.actuals.get(metric.key, {})
            if not any(m in series for m in expected):
                last = max(series) if series else None
                findings.append(Finding(7, "stale_actuals", Severity.MEDIUM, STEP_ACTUALS, metric.key,
                                        {"kpi": metric.spec.name[:80], "months": _months_text(expected),
                                         "last": _month(last) if last else "-"}))
    findings += _never_revised(data, tracking)
    return findings


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _never_revised(data: HealthInput, tracking: PlanTracking) -> list[Finding]:
    """Two (or more) off-track quarters and no target revision or review since the second one began."""
    findings = []
    months = list(tracking.months)
    quarters = [tuple(months[i:i + QUARTER]) for i in range(0, len(months), QUARTER)]
    for metric in tracking.kpis:
        if sum(row.status is Status.OFF_TRACK for row in metric.rows) < OFF_QUARTERS:
            continue  # a quarter can only be off track with an off-track month in it
        off = []
        for quarter in quarters:
            with_data = [m for m in quarter if m in tracking.actuals.get(metric.key, {})]
            if len(with_data) < len(quarter):
                continue  # only complete quarters count
            actual = aggregate_metric(metric.spec, tracking.actuals, quarter)
            target = aggregate_metric(metric.spec, tracking.targets, quarter)
            value = attainment(actual, target, metric.spec.direction)
            if status_for(value, metric.spec.amber, metric.spec.red) is Status.OFF_TRACK:
                off.append(quarter)
        if len(off) < OFF_QUARTERS:
            continue
        second_start = off[OFF_QUARTERS - 1][0]
        revisions = [d for d in data.target_changes.get(metric.key, ()) if d >= second_start]
        if not revisions:
            findings.append(Finding(7, "never_revised", Severity.MEDIUM, STEP_KPI, metric.key,
                                    {"kpi": metric.spec.name[:80], "quarters": len(off),
                                     "months": _months_text([q[0] for q in off])}))
    return findings


# ---------------------------------------------------------------- readiness checklist
CHECKLIST = ("kgi_set", "causality_written", "tree_drawn", "one_system", "kpis_defined", "data_sources",
             "input_rules", "handoff_criteria", "dashboard_covers", "audience_views", "action_per_kpi",
             "review_meeting", "refresh_cadence", "review_cycle", "data_quality")
MANUAL_ITEMS = ("one_system", "input_rules", "handoff_criteria", "audience_views", "review_meeting",
                "refresh_cadence", "data_quality")
AUTO_ITEMS = tuple(item for item in CHECKLIST if item not in MANUAL_ITEMS)


def auto_checklist(data: HealthInput) -> dict[str, bool]:
    """The checklist items the app can tell from the plan itself."""
    kgi, kpis = data.kgi, list(data.kpis)
    live = _live_csf_ids(data.csfs)
    names = set(_formula_names(kgi))
    period = set(data.plan.month_list())
    last_review = max(data.review_dates) if data.review_dates else None
    return {
        "kgi_set": bool(kgi and kgi.name and kgi.target is not None and kgi.baseline is not None and kgi.deadline),
        "causality_written": bool(kpis) and all(k.csf_id in live for k in kpis) and bool(names),
        "tree_drawn": bool(names) and bool(kpis) and names <= {k.key for k in kpis},
        "kpis_defined": bool(kpis) and all((k.definition or "").strip() for k in kpis),
        "data_sources": bool(kpis) and all((k.data_source or "").strip() for k in kpis),
        "dashboard_covers": bool(kpis) and all(
            k.annual_target is not None and any(m in period for m in data.actuals.get(k.key, {})) for k in kpis),
        "action_per_kpi": bool(kpis) and all((k.owner or "").strip() and (k.recovery_plan or "").strip()
                                             for k in kpis),
        "review_cycle": last_review is not None and not review_overdue(last_review, data.today),
    }


@dataclass(frozen=True)
class ChecklistItem:
    item: str
    done: bool
    auto: bool
    ticked_by: str = ""
    ticked_at: object = None  # a timestamp for a hand tick


def checklist(data: HealthInput, ticks: Mapping[str, tuple[bool, str, object]]) -> list[ChecklistItem]:
    """The 15 items in order: automatic ones from the plan, the others from the latest hand tick (done, who, when)."""
    auto = auto_checklist(data)
    items = []
    for item in CHECKLIST:
        if item in auto:
            items.append(ChecklistItem(item, auto[item], True))
        else:
            done, who, when = ticks.get(item, (False, "", None))
            items.append(ChecklistItem(item, done, False, who, when))
    return items


def snapshot_due(last_snapshot_month: date | None, today: date) -> bool:
    """A monthly snapshot is due when none was taken in today's month."""
    return last_snapshot_month is None or month_start(last_snapshot_month) < month_start(today)
