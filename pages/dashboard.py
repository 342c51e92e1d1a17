"""Dashboard for a shared screen: the KGI's pace and forecast, each KPI's latest month, the KGI's path, what moved
it, KPI small multiples and the open next actions."""
from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from kpi_core import i18n
from kpi_core.adapters.store import Store
from kpi_core.charts import tracking as charts
from kpi_core.domain import drivers
from kpi_core.domain import tracking as tr
from kpi_core.domain.model import Status
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.services import read_models
from kpi_core.services.health import severity_counts
from pages import cached
from pages.common import (
    delta_colour,
    figure,
    fmt,
    fmt_delta,
    fmt_pct,
    lang,
    missing_months_notice,
    month_text,
    pace_tiles,
    status_text,
    t,
)
from pages.frame import PageContext

TILES_PER_ROW = 5


def no_data_yet(ctx: PageContext) -> None:
    st.info(t("dashboard.no_data"))
    first, second = st.columns(2)
    ctx.link("pdca", t("dashboard.go_pdca"), first)
    ctx.link("import", t("dashboard.go_actuals"), second)


def headline(tracking: tr.PlanTracking) -> None:
    counts = {s: sum(1 for m in tracking.kpis if m.status is s) for s in tr.STATUS_ORDER}
    parts = [f"{tr.STATUS_EMOJI[s]} {t(f'enum.status.{s}')} {n}" for s, n in counts.items() if n]
    st.caption(t("dashboard.as_of", month=month_text(tracking.as_of)) + "　·　" + "　".join(parts))


def kgi_tiles(metric: tr.MetricTracking) -> None:
    st.subheader("🎯 " + markdown_text(metric.spec.name))
    pace_tiles(metric, "dashboard.kgi")


def kpi_tile(column, metric: tr.MetricTracking) -> None:
    unit, latest = metric.spec.unit, metric.latest
    actual = latest.actual if latest else None
    target = latest.target if latest else None
    difference = actual - target if actual is not None and target is not None else None
    series = [r.actual for r in metric.rows if r.actual is not None]
    status = latest.status if latest else Status.NO_DATA
    # The card wears the year-to-date status, the one the header counts; the latest month's is in its caption.
    figure(column, f"{tr.STATUS_EMOJI[metric.status]} {markdown_text(metric.spec.name[:40])}", actual, unit,
                  delta=fmt_delta(difference, unit), delta_color=delta_colour(metric.spec.direction),
                  border=True, chart_data=series if len(series) > 1 else None, chart_type="bar",
                  help=t("dashboard.kpi.help", month=month_text(latest.month if latest else None),
                         target=fmt(target, unit)))
    column.caption(t("dashboard.kpi.caption", month=month_text(latest.month if latest else None),
                     latest=status_text(status), ytd=status_text(metric.status)))


def kpi_tiles(metrics: tuple[tr.MetricTracking, ...]) -> None:
    per_row = min(len(metrics), TILES_PER_ROW)
    for start in range(0, len(metrics), per_row):
        row = metrics[start:start + per_row]
        for column, metric in zip(st.columns(per_row), row):
            kpi_tile(column, metric)


def attribution(ctx: PageContext, tracking: tr.PlanTracking) -> None:
    st.subheader(t("dashboard.attribution.title"))
    if not tracking.formula.strip():
        st.caption(t("dashboard.attribution.no_formula"))
        return
    code = lang()
    scope = st.segmented_control(t("dashboard.attribution.scope"), ["ytd", "month"], default="ytd",
                                 format_func=lambda s: i18n.t(f"dashboard.attribution.{s}", code),
                                 key="dashboard_attribution_scope", label_visibility="collapsed") or "ytd"
    try:
        result = tr.attribute_kgi(tracking, scope)
    except drivers.FormulaError as exc:
        st.warning(exc.message(lang()))
        return
    if result is None:
        st.caption(t("dashboard.attribution.no_data"))
        return
    unit = tracking.kgi.spec.unit if tracking.kgi else "JPY"
    names = {m.key: m.spec.name for m in tracking.kpis}
    cached.chart(ctx, "dashboard_attribution", lambda language, full: charts.attribution_chart(result, names, unit, language, full),
                 scope)
    period = (month_text(result.months[0]) if len(result.months) == 1
              else f"{month_text(result.months[0])} – {month_text(result.months[-1])}")
    st.caption(t("dashboard.attribution.caption", period=period, planned=fmt(result.planned, unit),
                 actual=fmt(result.actual, unit), total=fmt_delta(result.total, unit),
                 method=t(f"engine.attribution.method.{result.method}")))


def recoveries(tracking: tr.PlanTracking, csfs) -> None:
    items = tr.recovery_suggestions(tracking, csfs)
    if not items:
        return
    with st.container(border=True):
        st.subheader("🔴 " + t("dashboard.off_track.title"))
        for rec in items:
            switch = ", ".join(markdown_text(c.name) for c in rec.switch_to) or t("dashboard.off_track.no_fallback")
            st.warning(t("dashboard.off_track.line", name=markdown_text(rec.metric.spec.name),
                         pace=fmt_pct(rec.metric.pace), switch=switch), icon="🔴")


def open_checkins(store: Store, plan_id: int, tracking: tr.PlanTracking) -> None:
    st.subheader(t("dashboard.actions.title"))
    actions = tr.open_actions(store.list_checkins(plan_id), date.today())
    if not actions:
        st.caption(t("dashboard.actions.none"))
        return
    overdue = sum(1 for a in actions if a.overdue)
    if overdue:
        st.warning(t("dashboard.actions.overdue", n=overdue))
    names, none = {m.key: m.spec.name for m in tracking.metrics}, t("common.none")
    statuses = {s: status_text(s) for s in tr.STATUS_ORDER}  # labels once, not once per row
    # Overdue rows are marked ⚠️ and listed first; a styled (per-cell) table costs seconds with many actions.
    st.dataframe(pd.DataFrame({
        t("dashboard.actions.due"): [(("⚠️ " if a.overdue else "") + a.checkin.due.isoformat()) if a.checkin.due
                                     else none for a in actions],
        t("dashboard.actions.owner"): [a.checkin.owner for a in actions],
        t("dashboard.actions.next"): [a.checkin.next_action for a in actions],
        t("dashboard.actions.metric"): [names.get(a.checkin.metric_key, a.checkin.metric_key) for a in actions],
        t("dashboard.actions.month"): [month_text(a.checkin.month) for a in actions],
        t("dashboard.actions.status"): [statuses[Status(a.checkin.status)] for a in actions],
    }), hide_index=True)


def dashboard(ctx: PageContext, tracking: tr.PlanTracking) -> None:
    store, plan = ctx.store, ctx.plan
    headline(tracking)
    missing_months_notice(ctx, tracking.metrics)
    health_tile(ctx)
    if tracking.kgi:
        kgi_tiles(tracking.kgi)
    if tracking.kpis:
        st.subheader(t("dashboard.kpis"))
        kpi_tiles(tracking.kpis)
    path, moved = st.columns([3, 2])
    with path:
        if tracking.kgi:
            st.subheader(t("dashboard.kgi_path"))
            cached.chart(ctx, "dashboard_kgi_path", lambda language, full: charts.cumulative_chart(tracking.kgi, language, full))
    with moved:
        attribution(ctx, tracking)
    recoveries(tracking, store.list_csfs(plan.id))
    if tracking.kpis:
        st.subheader(t("dashboard.multiples"))
        cached.chart(ctx, "dashboard_multiples",
                     lambda language, full: charts.kpi_small_multiples(tracking.kpis, language, full_digits=full))
    open_checkins(store, plan.id, tracking)


def health_tile(ctx: PageContext) -> None:
    """The health score beside the numbers, with the way to its findings (read only: no snapshot taken here)."""
    report = read_models.health(ctx.store, ctx.plan, ctx.version, date.today()).report
    score, counts, link = st.columns([1, 2, 1])
    score.metric(t("health.score"), f"{report.score:.0f}")
    counts.caption(t("health.counts", **severity_counts(report)))
    ctx.link("health", t("page.health"), link)


def render(ctx: PageContext) -> None:
    # Read and computed once per data version of the plan: a click on the page does not recompute it.
    tracking = read_models.tracking(ctx.store, ctx.plan, ctx.version)
    if tracking.kgi is None and not tracking.kpis:
        st.info(t("dashboard.nothing_to_show"))
        ctx.link("kgi", t("pdca.go_kgi"))
    elif tracking.has_actuals:
        dashboard(ctx, tracking)
    else:
        no_data_yet(ctx)
