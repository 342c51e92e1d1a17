"""The KPI step's reverse-calculation tab: the KGI the KPI targets imply, the driver solved for the KGI target (and
applied with its monthly targets re-phased, kpi_core.services.kpis), and the sensitivity of the KGI to each driver."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from kpi_core.charts.csf import sensitivity_bars
from kpi_core.domain.drivers import (
    Formula,
    FormulaError,
    implied_kgi,
    monthly_driver_values,
    reverse_calculate,
    sensitivity,
    to_annual,
    to_monthly,
)
from kpi_core.domain.model import KPI
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.services import kpis as kpi_use_cases
from pages import cached
from pages.common import figure, fmt, fmt_pct, lang, t
from pages.frame import run_save
from pages.step4_view import PageView, inert, kgi_formula, show_formula


def kpi_of(view: PageView, key: str) -> KPI | None:
    return next((k for k in view.kpis if k.key == key), None)


def driver_label(view: PageView, key: str) -> str:
    kpi = kpi_of(view, key)
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


def drivers_table(view: PageView, formula: Formula, solved_key: str, monthly: float, annual: float) -> None:
    rows = []
    for key in formula.names:
        kpi = kpi_of(view, key)
        if kpi is None or kpi.annual_target is None:
            continue
        now_monthly = to_monthly(kpi.annual_target, kpi.aggregation, view.plan.months)
        solved = key == solved_key
        rows.append({"": "➜" if solved else "", t("kpi.reverse.col_driver"): driver_label(view, key),
                     t("kpi.reverse.col_now_month"): fmt(now_monthly, kpi.unit),
                     t("kpi.reverse.col_now_year"): fmt(kpi.annual_target, kpi.unit),
                     t("kpi.reverse.col_need_month"): fmt(monthly if solved else now_monthly, kpi.unit),
                     t("kpi.reverse.col_need_year"): fmt(annual if solved else kpi.annual_target, kpi.unit)})
    frame = pd.DataFrame(rows)
    highlight: Callable[[pd.Series], list[str]] = lambda row: [
        "background-color: #fef3c7; font-weight: bold" if row.iloc[0] else ""] * len(row)
    st.dataframe(frame.style.apply(highlight, axis=1), hide_index=True, width="stretch")


def reverse_panel(view: PageView, formula: Formula) -> None:
    st.markdown(f"#### {t('kpi.reverse.solve_title')}")
    candidates = [name for name in formula.names if kpi_of(view, name) is not None]
    if not candidates:
        st.info(t("kpi.reverse.no_drivers"))
        return
    unknown = st.selectbox(t("kpi.reverse.solve_for"), candidates, format_func=lambda key: driver_label(view, key),
                           key="kpi_reverse_unknown", help=t("kpi.reverse.solve_help"))
    result = reverse_calculate(view.kgi, view.kpis, unknown, view.plan.months)
    kpi = kpi_of(view, unknown)
    if not result.valid:
        st.error(t(result.message_key, **inert(result.message_values)))
        return
    c1, c2 = st.columns(2)
    now_monthly = to_monthly(kpi.annual_target, kpi.aggregation, view.plan.months) if kpi.annual_target is not None else None
    delta = change_text(result.monthly / now_monthly - 1) if now_monthly else None
    figure(c1, t("kpi.reverse.need_month", name=markdown_text(kpi.name[:60])), result.monthly, kpi.unit, delta=delta,
              delta_color="off")
    figure(c2, t("kpi.reverse.need_year", name=markdown_text(kpi.name[:60])), result.annual, kpi.unit)
    drivers_table(view, formula, unknown, result.monthly, result.annual)
    if kpi.annual_target is not None and abs(result.annual - kpi.annual_target) <= 1e-9 * max(1.0, result.annual):
        st.caption(t("kpi.reverse.already"))
        return
    reason = st.text_input(t("kpi.reverse.reason"), key="kpi_reverse_reason",
                           placeholder=t("kpi.reverse.default_reason", name=unknown))
    if st.button(t("kpi.reverse.apply", **inert({"name": kpi.name[:60], "value": fmt(result.annual, kpi.unit)})),
                 key="kpi_reverse_apply", type="primary"):
        apply_reverse(view, kpi, result.annual, reason.strip() or t("kpi.reverse.default_reason", name=unknown))


def apply_reverse(view: PageView, kpi: KPI, annual: float, reason: str) -> None:
    """Save the solved annual target and re-phase the KPI's monthly targets (keeping their shape)."""
    if run_save(lambda: kpi_use_cases.apply_solved_target(view.store, view.plan, kpi, annual, view.ctx.seen_version,
                                                          reason, view.stored_targets.get(kpi.key)),
                view.plan, "kpi.reverse.applied") is not None:
        st.rerun()


def sensitivity_panel(view: PageView, formula: Formula) -> None:
    st.markdown(f"#### {t('kpi.sens.title')}")
    st.caption(t("kpi.sens.help"))
    values = monthly_driver_values(view.kpis, view.plan.months)
    try:
        ranked = sensitivity(formula, values)
    except (FormulaError, KeyError):
        st.info(t("kpi.sens.unavailable"))
        return

    def annual(effect: float) -> float:
        return to_annual(effect, view.kgi.aggregation, view.plan.months)

    frame = pd.DataFrame([{
        t("kpi.sens.col_rank"): s.rank, t("kpi.sens.col_driver"): driver_label(view, s.key),
        t("kpi.sens.col_plus1"): fmt(annual(s.effects[0].absolute), view.kgi.unit),
        t("kpi.sens.col_plus10"): fmt(annual(s.effects[-1].absolute), view.kgi.unit),
        t("kpi.sens.col_relative"): fmt_pct(s.effects[-1].relative, signed=True)} for s in ranked])
    left, right = st.columns([3, 2])
    left.dataframe(frame, hide_index=True, width="stretch")
    cached.chart(view.ctx, "kpi_sensitivity", lambda: sensitivity_bars(
        [(driver_label(view, s.key), annual(s.effects[-1].absolute), fmt(annual(s.effects[-1].absolute),
                                                                          view.kgi.unit)) for s in ranked],
        t("kpi.sens.axis"), view.kgi.unit, lang()), container=right, width="stretch")


def reverse_tab(view: PageView) -> None:
    show_formula(view)
    formula = kgi_formula(view)
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
