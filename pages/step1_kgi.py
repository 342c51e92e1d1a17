"""Step 1: the KGI — one quantitative final goal with a baseline, a target, a deadline and a basis."""
from __future__ import annotations

from datetime import date

import streamlit as st

from kpi_core.domain import units
from kpi_core.domain.drivers import FormulaError, implied_kgi, parse_formula
from kpi_core.domain.goal import period_end, summarise_kgi, validate_kgi
from kpi_core.domain.model import KGI, Aggregation, Direction
from pages.common import delta_colour, figure, fmt, fmt_pct, options_label, t
from pages.frame import PageContext, run_save

UNIT_CHOICES = ["JPY", "%", "件", "人", "count"]

def _parse(text: str, unit: str, label: str, errors: list[str]) -> float | None:
    try:
        return units.parse_typed(text, unit)
    except ValueError:
        errors.append(t("check.not_a_number", value=text[:50]) + f" ({label})")
        return None


def render(ctx: PageContext) -> None:
    store, plan = ctx.store, ctx.plan
    kgi = store.get_kgi(plan.id) or KGI(plan_id=plan.id, deadline=period_end(plan))
    kpis = store.list_kpis(plan.id)
    unit_label = options_label("kgi")
    form_col, summary_col = st.columns([3, 2], gap="large")
    with form_col, st.form(ctx.key("kgi_form")):
        name = st.text_input(t("kgi.name"), value=kgi.name, placeholder=t("kgi.name_placeholder"),
                             help=t("kgi.name_help"), key=ctx.key(f"kgi_name_{plan.id}"))
        c1, c2, c3 = st.columns(3)
        unit_options = UNIT_CHOICES if kgi.unit in UNIT_CHOICES else [kgi.unit, *UNIT_CHOICES]
        unit = c1.selectbox(t("kgi.unit"), unit_options, index=unit_options.index(kgi.unit),
                            format_func=lambda u: unit_label(f"unit_{u}") if u in UNIT_CHOICES else u)
        direction = c2.selectbox(t("kgi.direction"), list(Direction), index=list(Direction).index(kgi.direction),
                                 format_func=options_label("enum.direction"))
        aggregation = c3.selectbox(t("kgi.aggregation"), list(Aggregation),
                                   index=list(Aggregation).index(kgi.aggregation),
                                   format_func=options_label("enum.aggregation"), help=t("kgi.aggregation_help"))
        c4, c5 = st.columns(2)
        baseline_text = c4.text_input(t("kgi.baseline"), value=units.typed_text(kgi.baseline, kgi.unit),
                                      help=t("kgi.baseline_help"), key=ctx.key(f"kgi_baseline_{plan.id}"))
        target_text = c5.text_input(t("kgi.target"), value=units.typed_text(kgi.target, kgi.unit), help=t("kgi.target_help"),
                                    key=ctx.key(f"kgi_target_{plan.id}"))
        deadline = st.date_input(t("kgi.deadline"), value=kgi.deadline, min_value=date(2000, 1, 1),
                                 max_value=date(2100, 12, 31), help=t("kgi.deadline_help"), key=ctx.key(f"kgi_deadline_{plan.id}"))
        basis = st.text_area(t("kgi.basis"), value=kgi.basis, placeholder=t("kgi.basis_placeholder"), height=90,
                             key=ctx.key(f"kgi_basis_{plan.id}"))
        with st.expander(t("kgi.formula_section"), expanded=bool(kgi.formula)):
            key = st.text_input(t("kgi.key"), value=kgi.key, help=t("kgi.key_help"), key=ctx.key(f"kgi_key_{plan.id}"))
            formula = st.text_input(t("kgi.formula"), value=kgi.formula, placeholder="meetings * win_rate * avg_deal",
                                    help=t("kgi.formula_help", keys=", ".join(k.key for k in kpis) or "—"),
                                    key=ctx.key(f"kgi_formula_{plan.id}"))
        submitted = st.form_submit_button(t("common.save"), type="primary", width="stretch")

    if submitted:
        errors: list[str] = []
        draft = KGI(plan_id=plan.id, id=kgi.id, key=(key or "kgi").strip(), name=name.strip(), unit=unit,
                    direction=Direction(direction), aggregation=Aggregation(aggregation),
                    baseline=_parse(baseline_text, unit, t("kgi.baseline"), errors),
                    target=_parse(target_text, unit, t("kgi.target"), errors), current=kgi.current,
                    deadline=deadline, basis=basis.strip(), formula=formula.strip())
        if len(basis) > 5000:
            errors.append(t("check.text_too_long", max=5000))
        try:
            if draft.formula:
                parse_formula(draft.formula, allowed=[k.key for k in kpis] or None)
        except FormulaError as exc:
            errors.append(t(exc.key, **exc.values))
        if not errors:  # field checks only make sense once every number parsed
            errors += [t(m.key, **m.values) for m in validate_kgi(draft, plan) if m.level == "error"]
        if errors:
            for message in errors:
                st.error(message)
        elif run_save(lambda: store.save_kgi(draft, ctx.seen_version), plan) is not None:
            st.rerun()

    with summary_col:
        st.subheader(t("kgi.summary"))
        summary = summarise_kgi(kgi, plan) if kgi.id else None
        if summary is None:
            st.info(t("kgi.summary_empty"))
        else:
            m1, m2 = st.columns(2)
            figure(m1, t("kgi.baseline"), kgi.baseline, kgi.unit)
            figure(m2, t("kgi.target"), kgi.target, kgi.unit,
                      delta=fmt_pct(summary.growth_pct, signed=True) if summary.growth_pct is not None else None,
                      delta_color=delta_colour(kgi.direction))
            m3, m4 = st.columns(2)
            figure(m3, t("kgi.growth_abs"), summary.growth_abs, kgi.unit)
            if kgi.aggregation == Aggregation.SUM:
                figure(m4, t("kgi.required_monthly"), summary.required_monthly, kgi.unit,
                          delta=t("kgi.vs_last_year_month", value=fmt(summary.baseline_monthly, kgi.unit)),
                          delta_color="off")
            else:
                figure(m4, t("kgi.required_change"), summary.required_monthly, kgi.unit)
            st.caption(t("kgi.months_to_deadline", months=summary.months,
                         deadline=kgi.deadline.isoformat() if kgi.deadline else "—"))
            for message in validate_kgi(kgi, plan):
                if message.level == "warning":
                    st.warning(t(message.key, **message.values))
            if kgi.formula and kpis:
                try:
                    implied = implied_kgi(kgi, kpis, plan.months)
                except FormulaError as exc:  # missing targets or a bad formula: say so, do not fail
                    st.info(t(exc.key, **exc.values))
                else:
                    st.divider()
                    figure(st, t("kgi.implied"), implied.annual, kgi.unit,
                              delta=t("kgi.implied_delta", pct=fmt_pct(implied.over_plan, signed=True))
                              if implied.over_plan is not None else None, delta_color="off")
                    st.caption(t("kgi.implied_help", formula=kgi.formula))
        with st.expander(t("kgi.guide_title")):
            st.markdown(t("kgi.guide"))
