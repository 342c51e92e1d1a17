"""Step 5 PDCA: type the monthly actuals, see actual vs target with status, log check-ins, review the KPI set."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from functools import partial

import pandas as pd
import streamlit as st

from kpi_core import i18n, ingest
from kpi_core.adapters.store import StaleEdit, Store
from kpi_core.charts import tracking as charts
from kpi_core.domain import tracking as tr
from kpi_core.domain.model import CSF, CheckIn, Plan, Status
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.domain.records import Conflict, last_review_date
from kpi_core.domain.units import is_rate, one_line
from kpi_core.services import read_models
from kpi_core.services.review import record_review
from pages import cached, conflicts
from pages.common import (
    add_form_suffix,
    fmt,
    fmt_pct,
    lang,
    missing_months_notice,
    month_text,
    pace_tiles,
    records_frame,
    renew_add_form,
    status_text,
    t,
)
from pages.frame import PageContext, run_save

DECISIONS = ("keep", "change", "drop")
MAX_ERRORS_SHOWN = 8
GRID_ROW_HEIGHT = 35
MONTH_COLUMN = "__month__"  # cannot clash with a metric key


def review_option(decision: str, code: str | None = None) -> str:
    return i18n.t(f"pdca.review.option.{decision}", code or lang())


def metric_names(tracking: tr.PlanTracking) -> dict[str, str]:
    return {m.key: ("🎯 " if m.spec.is_kgi else "") + m.spec.name for m in tracking.metrics}


# ---------------------------------------------------------------- off track: recovery first
def recovery_panel(ctx: PageContext, tracking: tr.PlanTracking, csfs: list[CSF]) -> None:
    recoveries = tr.recovery_suggestions(tracking, csfs)
    if not recoveries:
        return
    with st.container(border=True):
        st.subheader("🔴 " + t("pdca.recovery.title", n=len(recoveries)))
        for rec in recoveries:
            metric = rec.metric
            st.warning(t("pdca.recovery.kpi", name=markdown_text(metric.spec.name), pace=fmt_pct(metric.pace),
                         actual=fmt(metric.ytd_actual, metric.spec.unit),
                         target=fmt(metric.ytd_target, metric.spec.unit)), icon="🔴")
            plan_col, switch_col = st.columns(2)
            with plan_col:
                st.markdown("**" + t("pdca.recovery.plan") + "**")
                if rec.recovery_plan.strip():
                    st.markdown(markdown_text(rec.recovery_plan))
                else:
                    st.warning(t("pdca.recovery.no_plan"))
            with switch_col:
                st.markdown("**" + t("pdca.recovery.switch_to") + "**")
                if not rec.switch_to:
                    st.warning(t("pdca.recovery.no_fallback"))
                    ctx.link("csf", t("pdca.recovery.go_csf"))
                for csf in rec.switch_to:
                    actions = "; ".join(a for a in csf.actions if a.strip())
                    line = "➡️ **" + markdown_text(csf.name) + "**"
                    st.markdown(line + (" — " + markdown_text(actions) if actions else ""))


# ---------------------------------------------------------------- actuals entry grid
def column_label(spec: tr.MetricSpec) -> str:
    unit = "%" if is_rate(spec.unit) else (spec.unit or "")
    return ("🎯 " if spec.is_kgi else "") + one_line(spec.name, 30) + (f" ({unit})" if unit else "")


def entry_grid(ctx: PageContext, tracking: tr.PlanTracking, specs: list[tr.MetricSpec]) -> None:
    plan = ctx.plan
    st.caption(t("pdca.grid.help"))
    months = list(plan.month_list())
    generation = st.session_state.get(f"pdca_grid_gen_{plan.id}", 0)
    # The grid shows, and its save is checked against, the values as they were when this editor opened: a value
    # someone else saves meanwhile is reported as a conflict instead of being overwritten.
    base_values, base_versions = st.session_state.setdefault(
        f"pdca_grid_base_{plan.id}_{generation}", ctx.store.actual_snapshot(plan.id))
    frame = pd.DataFrame([{MONTH_COLUMN: month_text(m), **{
        s.key: tr.entry_text(base_values.get(s.key, {}).get(m), s) for s in specs}} for m in months])
    config = {MONTH_COLUMN: st.column_config.TextColumn(t("pdca.grid.month"), disabled=True)}
    for spec in specs:
        config[spec.key] = st.column_config.TextColumn(column_label(spec), help=spec.name[:200])
    edited = st.data_editor(frame, column_config=config, hide_index=True, num_rows="fixed",
                            height=GRID_ROW_HEIGHT * (len(months) + 1) + 3,  # every month visible, no scrolling
                            key=f"pdca_grid_{plan.id}_{generation}")
    stale_key = f"pdca_grid_stale_{plan.id}"
    keep_mine = False
    if stale_key in st.session_state:
        keep_mine = stale_grid_notice(plan, specs, st.session_state[stale_key], generation)
    if keep_mine:  # save over theirs, knowingly: the cells they changed are now based on their versions
        base_versions.update({(c.metric_key, c.month): c.version for c in st.session_state.pop(stale_key)})
    elif not st.button(t("pdca.grid.save"), type="primary", key=f"pdca_save_actuals_{plan.id}"):
        return
    typed = {s.key: {m: edited.iloc[i][s.key] for i, m in enumerate(months)} for s in specs}
    change = tr.grid_changes(specs, base_values, typed)
    if change.errors:
        st.error(t("pdca.grid.refused", n=len(change.errors)))
        for error in change.errors[:MAX_ERRORS_SHOWN]:
            st.error(t(error.key, **error.values))
        return
    if not change.changed:
        st.info(t("pdca.grid.no_change"))
        return
    stale: list[Conflict] = []
    if run_save(lambda: save_grid(ctx.store, plan, change, base_versions, stale), plan, "pdca.grid.saved") is not None:
        st.session_state.pop(stale_key, None)
        st.session_state[f"pdca_grid_gen_{plan.id}"] = generation + 1  # a fresh editor shows the stored values
        st.rerun()
    if stale:
        st.session_state[stale_key] = stale
        st.rerun()


def stale_grid_notice(plan: Plan, specs: list[tr.MetricSpec], stale: list[Conflict], generation: int) -> bool:
    """Cells someone else saved since this grid opened: theirs / yours for each; the typed grid stays as it is.
    The user chooses: load the stored values, or save theirs over (True: "keep mine" was pressed)."""
    by_key = {s.key: s for s in specs}
    for conflict in stale[:MAX_ERRORS_SHOWN]:
        spec = by_key.get(conflict.metric_key)
        unit = spec.unit if spec else ""
        st.warning(t("store.stale", item=f"{spec.name if spec else conflict.metric_key} · "
                                         f"{month_text(conflict.month)}",
                     theirs=fmt(conflict.theirs, unit), yours=fmt(conflict.yours, unit)))
    if len(stale) > MAX_ERRORS_SHOWN:
        st.warning(t("store.stale_more", n=len(stale) - MAX_ERRORS_SHOWN))
    load, keep, _ = st.columns([2, 2, 3])
    if load.button(t("store.load_theirs"), key=f"pdca_grid_reload_{plan.id}", icon=":material/refresh:"):
        st.session_state.pop(f"pdca_grid_stale_{plan.id}", None)
        st.session_state[f"pdca_grid_gen_{plan.id}"] = generation + 1
        st.rerun()
    return keep.button(t("conflict.keep_mine"), key=f"pdca_grid_keep_{plan.id}", type="primary")


def save_grid(store: Store, plan: Plan, change: tr.GridEdit, based_on: dict, stale: list[Conflict]) -> int:
    """Save the changed cells; cells someone else changed since the grid opened are collected into `stale`
    (for the notice that stays until the user reloads) before the refusal goes on to `run_save`."""
    try:
        return store.save_actuals(plan.id, change.saves, clears=change.clears, based_on=based_on)
    except StaleEdit as exc:
        stale.extend(exc.conflicts)
        raise


# ---------------------------------------------------------------- actual vs target
def summary_table(tracking: tr.PlanTracking) -> None:
    names = metric_names(tracking)
    st.dataframe(records_frame(tracking.metrics, {
        t("pdca.table.metric"): lambda m: names[m.key], t("pdca.table.status"): lambda m: status_text(m.status),
        t("pdca.table.ytd_actual"): lambda m: fmt(m.ytd_actual, m.spec.unit),
        t("pdca.table.ytd_target"): lambda m: fmt(m.ytd_target, m.spec.unit),
        t("pdca.table.pace"): lambda m: fmt_pct(m.pace), t("pdca.table.forecast"): lambda m: fmt(m.forecast, m.spec.unit),
        t("pdca.table.forecast_attainment"): lambda m: fmt_pct(m.forecast_attainment),
        t("pdca.table.latest"): lambda m: month_text(m.latest.month if m.latest else None)}), hide_index=True)


def metric_detail(ctx: PageContext, metric: tr.MetricTracking) -> None:
    unit = metric.spec.unit
    missing_months_notice(None, [metric])
    pace_tiles(metric, "pdca.tile")
    chart_col, table_col = st.columns([3, 2])
    cached.chart(ctx, "pdca_monthly", lambda language, full: charts.monthly_chart(metric, language, full), metric.key,
                 container=chart_col)
    months = records_frame(metric.rows, {
        t("pdca.table.month"): lambda r: month_text(r.month), t("pdca.table.target"): lambda r: fmt(r.target, unit),
        t("pdca.table.actual"): lambda r: fmt(r.actual, unit), t("pdca.table.attainment"): lambda r: fmt_pct(r.attainment),
        t("pdca.table.status"): lambda r: status_text(r.status)})
    table_col.dataframe(months, hide_index=True, height=GRID_ROW_HEIGHT * (len(months) + 1) + 3)


def progress_tab(ctx: PageContext, tracking: tr.PlanTracking) -> None:
    if not tracking.has_actuals:
        st.info(t("pdca.progress.no_actuals"))
    summary_table(tracking)
    names = metric_names(tracking)
    keys = list(names)
    key = st.selectbox(t("pdca.progress.pick"), keys, index=first_off_track(tracking, keys),
                       format_func=lambda k: names[k], key="pdca_progress_metric")
    metric = tracking.metric(key)
    if metric is not None:
        metric_detail(ctx, metric)


# ---------------------------------------------------------------- check-ins
def first_off_track(tracking: tr.PlanTracking, keys: list[str]) -> int:
    """Index of the first off-track KPI (the one the meeting is about), else of the first metric."""
    worst = next((m.key for m in tracking.off_track), keys[0])
    return keys.index(worst)


def checkin_form(ctx: PageContext, tracking: tr.PlanTracking) -> None:
    plan = ctx.plan
    names = metric_names(tracking)
    keys = list(names)
    metric_col, month_col, status_col = st.columns(3)
    key = metric_col.selectbox(t("pdca.checkin.metric"), keys, index=first_off_track(tracking, keys),
                               format_func=lambda k: names[k], key="pdca_ci_metric")
    default_month, _ = tr.default_checkin(tracking, key)
    months = list(plan.month_list())
    month = month_col.selectbox(t("pdca.checkin.month"), months, format_func=partial(month_text, code=lang()),
                                index=months.index(default_month) if default_month in months else 0,
                                key=f"pdca_ci_month_{key}")
    metric = tracking.metric(key)
    row = metric.row(month) if metric else None
    proposed = row.status if row else Status.NO_DATA
    statuses = list(tr.STATUS_ORDER)
    status = status_col.selectbox(t("pdca.checkin.status"), statuses, index=statuses.index(proposed),
                                  format_func=partial(status_text, code=lang()),
                                  key=f"pdca_ci_status_{key}_{month}")
    if row and row.actual is not None:
        st.caption(t("pdca.checkin.figures", actual=fmt(row.actual, metric.spec.unit),
                     target=fmt(row.target, metric.spec.unit), attainment=fmt_pct(row.attainment)))
    why_col, next_col = st.columns(2)
    fresh = add_form_suffix("checkin")
    why = why_col.text_area(t("pdca.checkin.why"), key=f"pdca_ci_why_{fresh}", placeholder=t("pdca.checkin.why_hint"))
    action = next_col.text_area(t("pdca.checkin.next_action"), key=f"pdca_ci_next_{fresh}",
                                placeholder=t("pdca.checkin.next_hint"))
    owner_col, due_col, result_col = st.columns(3)
    owner = owner_col.text_input(t("pdca.checkin.owner"), value=metric.spec.owner if metric else "",
                                 key=f"pdca_ci_owner_{key}")
    due = due_col.date_input(t("pdca.checkin.due"), value=date.today() + timedelta(days=14), key="pdca_ci_due")
    for warning_key, values in tr.due_warnings(due, plan, date.today()):
        due_col.warning(t(warning_key, **values))
    result = result_col.text_input(t("pdca.checkin.result"), key=f"pdca_ci_result_{fresh}")
    if st.button(t("pdca.checkin.save"), type="primary", key="pdca_ci_save"):
        checkin = CheckIn(plan.id, key, month, status, why.strip(), action.strip(), owner.strip(), due,
                          result.strip())
        problems = tr.checkin_problems(checkin)
        for problem_key, values in problems:
            st.error(t(problem_key, **values))
        if not problems and run_save(lambda: ctx.store.save_checkin(checkin), plan, "pdca.checkin.saved"):
            renew_add_form("checkin")
            st.rerun()


def checkin_log(ctx: PageContext, tracking: tr.PlanTracking) -> None:
    plan, store = ctx.plan, ctx.store
    checkins = store.list_checkins(plan.id)
    st.subheader(t("pdca.checkin.log"))
    if not checkins:
        st.caption(t("pdca.checkin.empty"))
        return
    names, code = metric_names(tracking), lang()
    statuses = {s: status_text(s, code) for s in tr.STATUS_ORDER}  # once, not once per row
    log = pd.DataFrame({
        t("pdca.table.month"): [month_text(c.month, code) for c in checkins],
        t("pdca.table.metric"): [names.get(c.metric_key, c.metric_key) for c in checkins],
        t("pdca.table.status"): [statuses[Status(c.status)] for c in checkins],
        t("pdca.checkin.why"): [c.why for c in checkins],
        t("pdca.checkin.next_action"): [c.next_action for c in checkins],
        t("pdca.checkin.owner"): [c.owner for c in checkins],
        t("pdca.checkin.due"): [c.due.isoformat() if c.due else "" for c in checkins],
        t("pdca.checkin.result"): [c.result for c in checkins],
    })
    st.dataframe(log, hide_index=True)
    st.download_button(t("store.download_csv"), ingest.frame_csv(log), file_name=f"checkins-plan-{plan.id}.csv",
                       mime="text/csv", key="pdca_ci_download")
    open_items = [a.checkin for a in tr.open_actions(checkins, date.today())]
    # the item this user is recording a result for stays listed even if someone else closed it meanwhile, so
    # that their save is checked and the conflict reported instead of the click being dropped
    editing = st.session_state.get("pdca_ci_open")
    open_items += [c for c in checkins if c.id == editing and c not in open_items]
    if not open_items:
        return
    with st.expander(t("pdca.checkin.record_result")):
        by_id = {c.id: c for c in open_items}
        code = lang()
        chosen = st.selectbox(t("pdca.checkin.open_item"), list(by_id), key="pdca_ci_open",
                              format_func=lambda i: f"{month_text(by_id[i].month, code)} · "
                                                    f"{names.get(by_id[i].metric_key, '')} · "
                                                    f"{by_id[i].next_action[:60]}")
        # based on the version shown when this item was opened: a result someone else recorded since is shown
        conflicts.base_version("checkin", chosen, by_id[chosen].version)
        outcome = st.text_area(t("pdca.checkin.result"), key=f"pdca_ci_outcome_{conflicts.row_key('checkin', chosen)}",
                               value=by_id[chosen].result)
        pressed = st.button(t("pdca.checkin.save_result"), key="pdca_ci_save_result")
        conflicts.stale_notice("checkin", chosen, plan)
        if pressed:
            checkin = replace(by_id[chosen], result=outcome.strip())
            problems = tr.checkin_problems(checkin) or ([("pdca.checkin.result_empty", {})]
                                                         if not checkin.result else [])
            for problem_key, values in problems:
                st.error(t(problem_key, **values))
            if not problems:
                conflicts.save("checkin", chosen, plan, checkin.next_action[:80],
                               lambda base: store.save_checkin(replace(checkin, version=base)),
                               success_key="pdca.checkin.saved", after=lambda _: st.rerun(),
                               describe=lambda stale: [(t("pdca.checkin.result"), conflicts.shown(c.theirs),
                                                        conflicts.shown(c.yours)) for c in stale.conflicts])


# ---------------------------------------------------------------- quarterly review
def review_tab(ctx: PageContext, tracking: tr.PlanTracking) -> None:
    plan, store = ctx.plan, ctx.store
    reviews = store.list_reviews(plan.id)
    last = last_review_date(reviews)
    if tr.review_overdue(last, date.today(), plan.fiscal_start):
        st.warning(t("pdca.review.due", last=last.isoformat() if last else t("common.none")))
    st.caption(t("pdca.review.help"))
    if not tracking.kpis:
        st.info(t("pdca.review.no_kpis"))
        return
    # based on the last review recorded when the form was first drawn: a decision someone else records meanwhile
    # for the same KPI is shown before anything is overwritten
    conflicts.base_version("review", plan.id, store.review_version(plan.id))
    drawn = f"_g{conflicts.generation('review', plan.id)}" if conflicts.generation("review", plan.id) else ""
    review_date = st.columns(3)[0].date_input(t("pdca.review.date"), value=date.today(), key="pdca_rv_date")
    choices = {}
    for metric in tracking.kpis:
        name_col, decision_col, reason_col = st.columns([2, 2, 3])
        name_col.markdown(f"{tr.STATUS_EMOJI[metric.status]} **{markdown_text(metric.spec.name[:80])}**")
        decision = decision_col.radio(t("pdca.review.decision"), DECISIONS, horizontal=True,
                                      format_func=partial(review_option, code=lang()),
                                      key=f"pdca_rv_decision_{metric.key}{drawn}", label_visibility="collapsed")
        reason = reason_col.text_input(t("pdca.review.reason"), key=f"pdca_rv_reason_{metric.key}{drawn}",
                                       label_visibility="collapsed", placeholder=t("pdca.review.reason"))
        choices[metric.key] = (decision, reason.strip(), metric.spec.name)
    pressed = st.button(t("pdca.review.save"), type="primary", key="pdca_rv_save")
    conflicts.stale_notice("review", plan.id, plan)
    if pressed:
        problems = tr.review_problems(choices)
        for problem_key, values in problems:
            st.error(t(problem_key, **values))
        decisions = {key: (decision, reason) for key, (decision, reason, _) in choices.items()}
        if not problems:
            names = metric_names(tracking)

            def decision_text(parts: tuple[str, str]) -> str:
                return f"{review_option(parts[0])}: {parts[1]}" if parts[1] else review_option(parts[0])

            conflicts.save("review", plan.id, plan, t("conflict.review"),
                           lambda base: record_review(store, plan.id, review_date, decisions, base),
                           success_key="pdca.review.saved", after=lambda _: st.rerun(),
                           describe=lambda stale: [(names.get(c.metric_key, c.metric_key),
                                                    decision_text(c.theirs_decision),
                                                    decision_text(c.yours_decision)) for c in stale.conflicts])
    if reviews:
        names = metric_names(tracking)
        st.dataframe(records_frame(reviews, {
            t("pdca.review.date"): lambda r: r.review_date.isoformat(),
            t("pdca.table.metric"): lambda r: names.get(r.metric_key, r.metric_key),
            t("pdca.review.decision"): lambda r: review_option(r.decision),
            t("pdca.review.reason"): lambda r: r.reason,
        }), hide_index=True)


def render(ctx: PageContext) -> None:
    store, plan = ctx.store, ctx.plan
    tracking = read_models.tracking(store, plan, ctx.version)  # once per data version, not once per click
    if tracking.kgi is None and not tracking.kpis:
        st.info(t("pdca.nothing_to_track"))
        ctx.link("kgi", t("pdca.go_kgi"))
        ctx.link("kpi", t("pdca.go_kpi"))
    else:
        specs = [m.spec for m in tracking.metrics]
        recovery_panel(ctx, tracking, store.list_csfs(plan.id))
        entry, progress, checkins, review = st.tabs([t("pdca.tab.entry"), t("pdca.tab.progress"),
                                                     t("pdca.tab.checkin"), t("pdca.tab.review")])
        with entry:
            entry_grid(ctx, tracking, specs)
        with progress:
            progress_tab(ctx, tracking)
        with checkins:
            checkin_form(ctx, tracking)
            checkin_log(ctx, tracking)
        with review:
            review_tab(ctx, tracking)
