"""Use cases of the health check: run it on a stored plan, tick a checklist item, take a score snapshot."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from kpi_core.domain.health import (
    MANUAL_ITEMS,
    PITFALL_CAP,
    PITFALL_WEIGHTS,
    SEVERITY_POINTS,
    ChecklistItem,
    Finding,
    HealthInput,
    HealthReport,
    Severity,
    check_health,
    checklist,
    snapshot_due,
)
from kpi_core.domain.model import Plan, month_start
from kpi_core.domain.records import HealthSnapshot
from kpi_core.domain.units import format_percent, format_value
from kpi_core.errors import WorkbenchError
from kpi_core.i18n import t

MAX_WHO_LENGTH = 80


class HealthInputError(WorkbenchError):
    """A hand tick that cannot be stored; `key` and `values` feed the catalogue."""


@dataclass(frozen=True)
class PlanHealth:
    report: HealthReport
    checklist: list[ChecklistItem]
    snapshots: list[HealthSnapshot]


def load_health_input(store, plan_id: int, today: date | None = None) -> HealthInput:
    """Read everything the check needs from the store."""
    plan = store.get_plan(plan_id)
    ticks = store.health_ticks(plan_id)
    return HealthInput(
        plan=plan, kgi=store.get_kgi(plan_id), csfs=store.list_csfs(plan_id), kpis=store.list_kpis(plan_id),
        targets=store.get_monthly_targets(plan_id), actuals=store.actual_values(plan_id),
        checkins=store.list_checkins(plan_id), review_dates=store.review_dates(plan_id),
        target_changes=store.target_change_dates(plan_id),
        workshop_decisions=store.workshop_decision_count(plan_id),
        review_cadence_set=ticks.get("review_meeting", (False, "", None))[0], today=today or date.today())


def plan_health(store, plan_id: int, today: date | None = None, auto_snapshot: bool = True) -> PlanHealth:
    """The health check of a plan with its checklist and score history; the month's snapshot is taken when due."""
    data = load_health_input(store, plan_id, today)
    report = check_health(data)
    snapshots = store.health_snapshots(plan_id)
    if auto_snapshot and snapshot_due(snapshots[-1].month if snapshots else None, data.today):
        take_snapshot(store, plan_id, report, data.today, "monthly")
        snapshots = store.health_snapshots(plan_id)
    return PlanHealth(report, checklist(data, store.health_ticks(plan_id)), snapshots)


def take_snapshot(store, plan_id: int, report: HealthReport, today: date, trigger: str = "manual") -> int:
    counts = severity_counts(report)
    lights = {str(p): str(light) for p, light in report.lights.items()}
    return store.add_health_snapshot(plan_id, month_start(today), report.score, counts, lights, trigger)


def tick_item(store, plan_id: int, item: str, ticked: bool, who: str) -> None:
    """A hand tick (or untick) of a checklist item the app cannot tell by itself, with who did it."""
    name = (who or "").strip()
    if item not in MANUAL_ITEMS:
        raise HealthInputError("health.err.not_manual", item=item[:40])
    if not name:
        raise HealthInputError("health.err.who_needed")
    if len(name) > MAX_WHO_LENGTH:
        raise HealthInputError("health.err.who_too_long", max=MAX_WHO_LENGTH)
    store.get_plan(plan_id)  # a deleted plan raises NotFound
    store.tick_health_item(plan_id, item, ticked, name)


# ---------------------------------------------------------------- texts (shared by the page, Step 4 and the CLI)
_VALUE_FIELDS = ("implied", "target", "baseline", "monthly", "best")


def evidence_values(finding: Finding, lang: str, full_digits: bool = False,
                    escape: Callable[[str], str] | None = None) -> dict[str, object]:
    """The finding's figures formatted for reading: percentages, money and counts in the metric's unit; texts
    (KPI names, owners) passed through `escape` for the element that shows them."""
    shown: dict[str, object] = {}
    unit = str(finding.evidence.get("unit", ""))
    for name, value in finding.evidence.items():
        if name.endswith("_pct") and isinstance(value, float | int):
            shown[name] = format_percent(value, signed=name == "gap_pct")
        elif name in _VALUE_FIELDS and isinstance(value, float | int):
            shown[name] = format_value(value, unit, lang, full_digits)
        elif name in ("rho", "threshold") and isinstance(value, float | int):
            shown[name] = f"{value:+.2f}" if name == "rho" else f"{value:.2f}"
        else:
            shown[name] = escape(str(value)) if escape and isinstance(value, str) else value
    return shown


def finding_texts(finding: Finding, lang: str, full_digits: bool = False,
                  escape: Callable[[str], str] | None = None) -> tuple[str, str]:
    """(evidence, fix) of a finding in `lang`."""
    values = evidence_values(finding, lang, full_digits, escape)
    return t(finding.evidence_key, lang, **values), t(finding.fix_key, lang, **values)


def score_formula(lang: str) -> str:
    """The score formula with its weights, as the page and the CLI show it."""
    weights = " · ".join(f"{p}: ×{w:g}" for p, w in PITFALL_WEIGHTS.items())
    return t("health.formula", lang, cap=f"{PITFALL_CAP:g}", high=f"{SEVERITY_POINTS[Severity.HIGH]:g}",
             medium=f"{SEVERITY_POINTS[Severity.MEDIUM]:g}", low=f"{SEVERITY_POINTS[Severity.LOW]:g}",
             weights=weights)


def severity_counts(report: HealthReport) -> dict[str, int]:
    return {str(s): sum(1 for f in report.findings if f.severity is s) for s in Severity}


def health_summary(plan: Plan, report: HealthReport, lang: str) -> dict[str, Any]:
    """The report as plain data (the CLI's JSON): score, lights, counts and every finding with its figures and
    texts."""
    counts = severity_counts(report)
    return {
        "plan": {"id": plan.id, "name": plan.name},
        "score": report.score,
        "headline": t("health.cli.header", lang, plan=plan.name, score=f"{report.score:g}",
                      counts=t("health.counts", lang, **counts)),
        "counts": counts,
        "lights": {str(p): str(light) for p, light in report.lights.items()},
        "deductions": {str(p): points for p, points in report.deductions.items()},
        "findings": [{"pitfall": f.pitfall, "check": f.check, "severity": str(f.severity), "step": f.step,
                      "metric": f.metric, "evidence": f.evidence,
                      **dict(zip(("evidence_text", "fix_text"), finding_texts(f, lang), strict=True))}
                     for f in report.findings],
    }
