"""Step 4's reverse-calculation tab: the KGI the KPI targets imply, the value a chosen driver needs for the KGI
target (applied with its use case), and which driver moves the KGI most."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from kpi_core.charts.sensitivity import sensitivity_bars
from kpi_core.domain import solver
from kpi_core.domain.drivers import Formula, FormulaError, ReverseResult, implied_kgi, reverse_calculate
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.services.kpis import apply_solved_target
from pages import cached
from pages.common import figure, fmt, fmt_pct, inert, lang, records_frame, t
from pages.frame import run_save

if TYPE_CHECKING:
    from pages.step4_kpi import PageView


def show_formula(view: PageView) -> None:
    """The KGI formula, read-only here: it is edited with the KGI in step 1."""
    if view.kgi is not None and view.kgi.formula:
        st.markdown(t("kpi.formula.label", kgi_key=view.kgi.key))
        st.code(f"{view.kgi.key} = {view.kgi.formula}", language=None)
    else:
        st.info(t("kpi.formula.none"))
    view.ctx.link("kgi", t("kpi.formula.edit_in_step1"))


def driver_label(view: PageView, key: str) -> str:
    kpi = solver.kpi_by_key(view.kpis, key)
    return f"{kpi.name[:60]} ({key})" if kpi else key


def change_text(change: float | None) -> str | None:
    """A signed percentage for a metric delta; none when there is no change to show."""
    return None if change is None or abs(change) < 1e-9 else fmt_pct(change, signed=True)


def implied_panel(view: PageView) -> bool:
    """The KGI the KPI targets imply, against the KGI target. False when it cannot be computed."""
    try:
        implied = implied_kgi(view.kgi, view.kpis, view.plan.months)
    except FormulaError as exc:
        st.info(exc.message(lang()))
        return False
    c1, c2, c3 = st.columns(3)
    figure(c1, t("kpi.reverse.implied"), implied.annual, view.kgi.unit,
              delta=change_text(implied.over_plan),
              delta_color="off")
    figure(c2, t("kpi.reverse.kgi_target"), view.kgi.target, view.kgi.unit)
    figure(c3, t("kpi.reverse.implied_monthly"), implied.monthly, view.kgi.unit)
    if implied.over_plan is not None and abs(implied.over_plan) > 1e-9:
        key = "kpi.reverse.over" if implied.over_plan > 0 else "kpi.reverse.under"
        st.warning(t(key, pct=fmt_pct(abs(implied.over_plan)), diff=fmt(abs(implied.difference), view.kgi.unit)))
    elif implied.over_plan is not None:
        st.success(t("kpi.reverse.matches"))
    return True


def drivers_table(view: PageView, formula: Formula, result: ReverseResult) -> None:
    rows = solver.driver_rows(formula, view.kpis, result, view.plan.months)
    frame = records_frame(rows, {
        "": lambda r: "➜" if r.solved else "", t("kpi.reverse.col_driver"): lambda r: driver_label(view, r.key),
        t("kpi.reverse.col_now_month"): lambda r: fmt(r.now_monthly, r.unit),
        t("kpi.reverse.col_now_year"): lambda r: fmt(r.now_annual, r.unit),
        t("kpi.reverse.col_need_month"): lambda r: fmt(r.need_monthly, r.unit),
        t("kpi.reverse.col_need_year"): lambda r: fmt(r.need_annual, r.unit)})
    highlight: Callable[[pd.Series], list[str]] = lambda row: [
        "background-color: #fef3c7; font-weight: bold" if row.iloc[0] else ""] * len(row)
    st.dataframe(frame.style.apply(highlight, axis=1), hide_index=True, width="stretch")


def reverse_panel(view: PageView, formula: Formula) -> None:
    st.markdown(f"#### {t('kpi.reverse.solve_title')}")
    candidates = solver.solvable(formula, view.kpis)
    if not candidates:
        st.info(t("kpi.reverse.no_drivers"))
        return
    unknown = st.selectbox(t("kpi.reverse.solve_for"), candidates, format_func=lambda key: driver_label(view, key),
                           key="kpi_reverse_unknown", help=t("kpi.reverse.solve_help"))
    result = reverse_calculate(view.kgi, view.kpis, unknown, view.plan.months)
    kpi = solver.kpi_by_key(view.kpis, unknown)
    if not result.valid:
        st.error(t(result.message_key, **inert(result.message_values)))
        return
    c1, c2 = st.columns(2)
    delta = change_text(solver.change_against(result.monthly, solver.monthly_target(kpi, view.plan.months)))
    figure(c1, t("kpi.reverse.need_month", name=markdown_text(kpi.name[:60])), result.monthly, kpi.unit, delta=delta,
           delta_color="off")
    figure(c2, t("kpi.reverse.need_year", name=markdown_text(kpi.name[:60])), result.annual, kpi.unit)
    drivers_table(view, formula, result)
    if solver.already_met(kpi, result):
        st.caption(t("kpi.reverse.already"))
        return
    reason = st.text_input(t("kpi.reverse.reason"), key="kpi_reverse_reason",
                           placeholder=t("kpi.reverse.default_reason", name=unknown))
    if st.button(t("kpi.reverse.apply", **inert({"name": kpi.name[:60], "value": fmt(result.annual, kpi.unit)})),
                 key="kpi_reverse_apply", type="primary"):
        text = reason.strip() or t("kpi.reverse.default_reason", name=unknown)
        if run_save(lambda: apply_solved_target(view.store, view.plan, kpi, result.annual, view.ctx.seen_version, text,
                                                view.stored_targets.get(kpi.key)),
                    view.plan, "kpi.reverse.applied") is not None:
            st.rerun()


def sensitivity_panel(view: PageView, formula: Formula) -> None:
    st.markdown(f"#### {t('kpi.sens.title')}")
    st.caption(t("kpi.sens.help"))
    try:
        ranked = solver.levers(formula, view.kgi, view.kpis, view.plan.months)
    except FormulaError:
        st.info(t("kpi.sens.unavailable"))
        return
    unit = view.kgi.unit
    frame = records_frame(ranked, {
        t("kpi.sens.col_rank"): lambda r: r.rank, t("kpi.sens.col_driver"): lambda r: driver_label(view, r.key),
        t("kpi.sens.col_plus1"): lambda r: fmt(r.plus_one, unit),
        t("kpi.sens.col_plus10"): lambda r: fmt(r.plus_ten, unit),
        t("kpi.sens.col_relative"): lambda r: fmt_pct(r.relative, signed=True)})
    left, right = st.columns([3, 2])
    left.dataframe(frame, hide_index=True, width="stretch")
    cached.chart(view.ctx, "kpi_sensitivity", lambda language, _: sensitivity_bars(
        [(driver_label(view, r.key), r.plus_ten, fmt(r.plus_ten, unit)) for r in ranked],
        t("kpi.sens.axis"), unit, language), container=right, width="stretch")


def reverse_tab(view: PageView) -> None:
    show_formula(view)
    formula = solver.kgi_formula(view.kgi)
    if view.kgi is None or formula is None:
        return
    if view.kgi.target is None:
        st.info(t("engine.reverse.no_target"))
        return
    st.divider()
    if not implied_panel(view):
        return
    st.divider()
    reverse_panel(view, formula)
    st.divider()
    sensitivity_panel(view, formula)
