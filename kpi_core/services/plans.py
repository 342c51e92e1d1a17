"""Plan use cases: a plan from a template, a copy, a restore. Each owns one transaction: all or nothing."""
from __future__ import annotations

from datetime import date

from kpi_core.adapters.store import Store
from kpi_core.adapters.templates import (
    Scaled,
    Template,
    kgi_model,
    kpi_model,
    localized,
    plan_deadline,
    scaled,
)
from kpi_core.domain.model import CSF, Aggregation, Plan, PlanStatus
from kpi_core.domain.phasing import phase_kpi, phase_target, precision_for
from kpi_core.domain.plan_rules import PlanRow, default_fiscal_start, format_period, step_progress
from kpi_core.i18n import normalise_language, t


def create_plan_from_template(store: Store, template: Template, lang: str, name: str | None = None,
                              fiscal_start: date | None = None, baseline: float | None = None,
                              status: PlanStatus = PlanStatus.DRAFT, months: int = 12) -> Plan:
    """A whole plan from a template: plan, KGI, CSFs, KPIs and their monthly targets, in one transaction.
    With `baseline`, the example is scaled to it. A failure anywhere leaves no trace of the plan."""
    lang = normalise_language(lang)
    scale = scaled(template, baseline, lang)  # a bad baseline is refused before anything is written
    start = fiscal_start or default_fiscal_start(date.today())
    start = date(start.year, start.month, 1)
    draft = Plan(name=(name or "").strip() or localized(template.name, lang),
                 department=localized(template.department, lang), fiscal_start=start, months=months,
                 status=status, template=template.id)

    def work() -> Plan:
        plan = store.create_plan(draft)
        _fill_plan(store, plan, template, lang, scale)
        return store.get_plan(plan.id)

    return store.atomic(work)


def _fill_plan(store: Store, plan: Plan, template: Template, lang: str, scale: Scaled) -> None:
    kgi = kgi_model(template, lang, plan.id, plan_deadline(plan.fiscal_start, plan.months))
    kgi.baseline, kgi.target = scale.baseline, scale.target
    store.save_kgi(kgi, None)
    csf_ids = {}
    for csf in template.csfs:
        saved = store.save_csf(CSF(plan_id=plan.id, name=localized(csf.name, lang), role=csf.role,
                                   contribution=csf.contribution * scale.factor,
                                   actions=template.texts(csf.actions, lang),
                                   description=localized(csf.description, lang)), None)
        csf_ids[csf.key] = saved.id
    month_list = plan.month_list()
    reason = t("engine.template.targets_reason", lang, template=localized(template.name, lang))
    for kpi in template.kpis:
        model = kpi_model(template, kpi, lang, plan.id, csf_ids.get(kpi.csf), scale.kpi_targets[kpi.key])
        store.save_kpi(model, None)
        store.set_monthly_targets(plan.id, kpi.key, phase_kpi(model, month_list), reason)
    if kgi.target is not None:
        precision = precision_for(kgi.target) if kgi.aggregation is Aggregation.SUM else 0
        values = phase_target(round(kgi.target, precision), plan.months, "even", kgi.aggregation,
                              precision=precision)
        store.set_monthly_targets(plan.id, kgi.key, dict(zip(month_list, values, strict=True)), reason)


def duplicate_plan(store: Store, plan_id: int, name: str) -> Plan:
    """A copy of the plan's design (KGI, CSFs, KPIs, current targets) under a new name."""
    return store.atomic(lambda: store.duplicate_plan(plan_id, name))


def restore_plan(store: Store, plan_id: int) -> Plan:
    """A deleted plan back among the live ones; returns it, as it is what the user wants to open next."""
    def work() -> Plan:
        store.restore_plan(plan_id)
        return store.get_plan(plan_id)

    return store.atomic(work)


def step_progress_for(store: Store, plan: Plan) -> list[bool]:
    """Which of the five steps of the plan are complete, read from the store."""
    kgi = store.get_kgi(plan.id)
    primary = sum(1 for c in store.list_csfs(plan.id, include_retired=False) if c.role == "primary")
    with_target = sum(1 for k in store.list_kpis(plan.id) if k.annual_target is not None)
    period = set(plan.month_list())
    actuals = store.actual_values(plan.id)
    has_actuals = any(month in period for series in actuals.values() for month in series)
    return step_progress(kgi, primary, with_target, has_actuals)


def plan_rows(store: Store, current_id: int | None, include_archived: bool = True) -> list[PlanRow]:
    """One row per live plan: open plans first, newest first, then archived ones."""
    rows = []
    for plan in store.list_plans(include_archived=include_archived):
        done = step_progress_for(store, plan)
        rows.append(PlanRow(plan, format_period(plan), sum(done), len(done), plan.id == current_id))
    return sorted(rows, key=lambda row: (row.archived, -(row.plan.id or 0)))
