"""Health check: the score and its formula, a light per pitfall, the findings by severity with a link to the step
that fixes each, SMART per KPI, each KPI's link with the KGI, the readiness checklist and the score's history."""
from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from kpi_core.adapters.store import Store, StoreError
from kpi_core.charts.health import score_history_chart
from kpi_core.domain.health import (
    MIN_CORRELATION_MONTHS,
    PITFALL_CAP,
    PITFALLS,
    SEVERITY_ORDER,
    ChecklistItem,
    Correlation,
    Finding,
    HealthReport,
    snapshot_due,
)
from kpi_core.domain.kpi_rules import SMART_LETTERS, smart_letters
from kpi_core.domain.model import KPI, Plan, Status
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.services import read_models
from kpi_core.services.health import (
    HealthInputError,
    PlanHealth,
    finding_texts,
    plan_health,
    score_formula,
    severity_counts,
    take_snapshot,
    tick_item,
)
from pages import cached
from pages.common import full_digits, lang, t
from pages.frame import PageContext, flash, show_error

STEP_PAGE = {"kgi": "kgi", "gap": "gap", "csf": "csf", "kpi": "kpi", "pdca": "pdca", "actuals": "import"}  # slugs
SEVERITY_COLOUR = {"high": "red", "medium": "orange", "low": "blue"}
LIGHT_BADGE = {Status.ON_TRACK: ":green-badge[:material/check_circle:]",
               Status.AT_RISK: ":orange-badge[:material/warning:]", Status.OFF_TRACK: ":red-badge[:material/error:]"}
WHO_KEY = "health_who"


def severity_badge(severity: str) -> str:
    return f":{SEVERITY_COLOUR[severity]}-badge[{t(f'health.severity.{severity}')}]"


def pitfall_name(pitfall: int) -> str:
    return t(f"health.pitfall.{pitfall}")


def score_panel(report: HealthReport) -> None:
    score, counts = st.columns([1, 3])
    score.metric(t("health.score"), f"{report.score:.0f}", help=t("health.score_help", cap=f"{PITFALL_CAP:g}"))
    counts.caption(t("health.counts", **severity_counts(report)))
    counts.caption(score_formula(lang()))
    if not report.running:
        st.info(t("health.not_running"))


CARDS_SHOWN = 8  # finding cards drawn per severity before the user asks for all of them


def pitfall_lights(report: HealthReport) -> None:
    st.subheader(t("health.section.pitfalls"))
    for row in (PITFALLS[:4], PITFALLS[4:]):
        for column, pitfall in zip(st.columns(4), row, strict=False):
            with column.container(border=True):
                st.markdown(f"{LIGHT_BADGE[report.lights[pitfall]]} **{pitfall}. {pitfall_name(pitfall)}**")
                points = report.deductions[pitfall]
                st.caption(t("health.pitfall_points", points=f"{points:g}") if points else t("health.pitfall_clear"))


def finding_card(ctx: PageContext, finding: Finding) -> None:
    evidence, fix = finding_texts(finding, lang(), full_digits(), markdown_text)
    with st.container(border=True):
        text, link = st.columns([4, 1])
        text.markdown(f"{severity_badge(finding.severity)} {finding.pitfall}. {pitfall_name(finding.pitfall)}")
        text.markdown(evidence)
        text.caption(fix)
        ctx.link(STEP_PAGE[finding.step], t("health.go", step=t(f"health.step.{finding.step}")), link,
                 icon=":material/build:")


def findings_list(ctx: PageContext, report: HealthReport) -> None:
    st.subheader(t("health.section.findings"))
    if not report.findings:
        st.success(t("health.no_findings"))
        return
    for severity in SEVERITY_ORDER:
        # Findings about the whole plan first (stable otherwise): they stay among the cards shown first.
        group = sorted((f for f in report.findings if f.severity is severity), key=lambda f: f.metric != "")
        if not group:
            continue
        label = f"{severity_badge(severity)} ({len(group)})"
        with st.expander(label, expanded=severity != "low"):
            # A long list reads badly on a shared screen and every card costs each rerun: the first few, the rest
            # on demand.
            if len(group) > CARDS_SHOWN and not st.toggle(t("health.show_all", n=len(group)),
                                                          key=f"health_all_{severity}"):
                group = group[:CARDS_SHOWN]
            for finding in group:
                finding_card(ctx, finding)


def smart_table(report: HealthReport, kpis: list[KPI]) -> None:
    st.subheader(t("health.section.smart"))
    if not kpis:
        st.caption(t("common.none"))
        return
    rows = []
    for kpi in kpis:
        found = report.smart.get(kpi.key, ())
        letters = smart_letters(found)
        rows.append({t("health.col.kpi"): f"{kpi.name} ({kpi.key})",
                     t("health.col.letters"): " ".join(("✓" if letters[x] else "✗") for x in SMART_LETTERS),
                     t("health.col.misses"): " / ".join(t(f.key, **f.values) for f in found) or "—"})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def correlation_verdict(corr: Correlation) -> str:
    if not corr.verdict:
        return t("health.corr.no_verdict", min=MIN_CORRELATION_MONTHS)
    if corr.rho < 0:
        return t("health.corr.against")
    return t("health.corr.weak") if corr.rho < 0.3 else t("health.corr.good")


def correlation_table(report: HealthReport, kpis: list[KPI]) -> None:
    st.subheader(t("health.section.correlation"))
    names = {k.key: f"{k.name} ({k.key})" for k in kpis}
    rows = [{t("health.col.kpi"): names.get(c.key, c.key),
             t("health.col.rho"): "—" if c.rho is None else f"{c.rho:+.2f}",
             t("health.col.months"): c.months, t("health.col.verdict"): correlation_verdict(c)}
            for c in report.correlations]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def checklist_form(store: Store, plan: Plan, items: list[ChecklistItem]) -> None:
    st.subheader(t("health.section.checklist"))
    st.caption(t("health.checklist.done_count", done=sum(i.done for i in items), total=len(items)))
    with st.form(f"health_checklist_{plan.id}"):
        choices = {}
        for item in items:
            label = t(f"health.checklist.item.{item.item}")
            if item.auto:
                st.checkbox(f"{label} · {t('health.checklist.auto')}", value=item.done, disabled=True,
                            key=f"health_auto_{item.item}")
                continue
            detail = f" · {item.ticked_by} · {item.ticked_at:%Y-%m-%d %H:%M}" if item.ticked_at else ""
            choices[item.item] = st.checkbox(f"{label} · {t('health.checklist.hand')}{detail}", value=item.done,
                                             key=f"health_tick_{item.item}")
        who = st.text_input(t("health.checklist.who"), key=WHO_KEY, max_chars=80)
        if st.form_submit_button(t("health.checklist.save")):
            save_ticks(store, plan, items, choices, who)


def save_ticks(store: Store, plan: Plan, items: list[ChecklistItem], choices: dict[str, bool], who: str) -> None:
    changed = [(item.item, choices[item.item]) for item in items
               if not item.auto and choices[item.item] != item.done]
    if not changed:
        st.info(t("health.checklist.unchanged"))
        return
    try:  # every tick of one save, or none
        store.atomic(lambda: [tick_item(store, plan.id, item, ticked, who) for item, ticked in changed])
    except (HealthInputError, StoreError) as exc:
        show_error(exc)
        return
    flash(t("health.checklist.saved", count=len(changed)))
    st.rerun()


def history_panel(ctx: PageContext, health: PlanHealth) -> None:
    store, plan = ctx.store, ctx.plan
    st.subheader(t("health.section.history"))
    if health.snapshots:
        cached.chart(ctx, "health_history", lambda language, _: score_history_chart(health.snapshots, language), width="stretch")
    else:
        st.caption(t("health.history.none"))
    if st.button(t("health.history.snapshot"), key=f"health_snapshot_{plan.id}"):
        take_snapshot(store, plan.id, health.report, date.today())
        flash(t("health.history.taken", score=f"{health.report.score:g}"))
        st.rerun()


def render(ctx: PageContext) -> None:
    store, plan, today = ctx.store, ctx.plan, date.today()
    current = read_models.health(store, plan, ctx.version, today)  # once per data version, not once per click
    if snapshot_due(current.snapshots[-1].month if current.snapshots else None, today):
        current = plan_health(store, plan.id, today)  # takes the month's snapshot
    kpis = store.list_kpis(plan.id)
    score_panel(current.report)
    pitfall_lights(current.report)
    findings_list(ctx, current.report)
    smart_table(current.report, kpis)
    correlation_table(current.report, kpis)
    checklist_form(store, plan, current.checklist)
    history_panel(ctx, current)
