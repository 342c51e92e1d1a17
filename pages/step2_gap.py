"""Step 2: the gap — confirm the current actual and see how far the target is, against history."""
from __future__ import annotations

import streamlit as st

from kpi_core.charts.gap import gap_bars, history_line
from kpi_core.domain import units
from kpi_core.domain.gap import analyse_gap, current_from_history
from pages import cached
from pages.common import delta_colour, figure, fmt, fmt_pct, options_label, t
from pages.frame import PageContext, run_save


def render(ctx: PageContext) -> None:
    store, plan = ctx.store, ctx.plan
    kgi = store.get_kgi(plan.id)

    if kgi is None or kgi.target is None:
        st.info(t("gap.need_kgi"))
        ctx.link("kgi", t("gap.go_kgi"))
        return

    history = store.actual_values(plan.id).get(kgi.key, {})
    from_history = current_from_history(kgi, plan, history)

    with st.container(border=True):
        st.subheader(t("gap.confirm_current"))
        sources = ["typed", "history"] if from_history is not None else ["typed"]
        source = st.radio(t("gap.source"), sources, horizontal=True, format_func=options_label("gap.source_options"),
                          key=f"gap_source_{plan.id}")
        with st.form(ctx.key("gap_form")):
            if source == "history":
                st.write(t("gap.from_history", value=fmt(from_history, kgi.unit)))
                typed = None
            else:
                default = kgi.current if kgi.current is not None else kgi.baseline
                typed = st.text_input(t("gap.current"), value=units.typed_text(default, kgi.unit),
                                      help=t("gap.current_help"))
            confirmed = st.form_submit_button(t("gap.confirm"), type="primary")

    if confirmed:
        try:
            value = from_history if source == "history" else units.parse_typed(typed, kgi.unit)
        except ValueError:
            st.error(t("check.not_a_number", value=(typed or "")[:50]))
            value = None
        else:
            if value is None:
                st.error(t("gap.current_required"))
            else:
                kgi.current = value
                if run_save(lambda: store.save_kgi(kgi, ctx.seen_version), plan) is not None:
                    st.rerun()

    current = kgi.current if kgi.current is not None else kgi.baseline
    if current is None:
        st.info(t("gap.need_current"))
        return
    if kgi.current is None:
        st.caption(t("gap.using_baseline"))

    gap = analyse_gap(kgi, plan, current, history)
    cols = st.columns(4)
    figure(cols[0], t("gap.current"), gap.current, kgi.unit)
    figure(cols[1], t("gap.target"), gap.target, kgi.unit)
    figure(cols[2], t("gap.gap"), gap.gap, kgi.unit,
                   delta=fmt_pct(gap.gap_pct, signed=True) if gap.gap_pct is not None else None,
                   delta_color=delta_colour(kgi.direction))
    if gap.required_monthly is not None and gap.historical_monthly:
        figure(cols[3], t("gap.required_monthly"), gap.required_monthly, kgi.unit,
                       delta=t("gap.vs_history", value=fmt(gap.historical_monthly, kgi.unit),
                               ratio=f"{gap.required_monthly / gap.historical_monthly:.2f}"), delta_color="off")
    elif gap.best_yoy_growth is not None:
        cols[3].metric(t("gap.best_yoy"), fmt_pct(gap.best_yoy_growth, signed=True))

    for flag in gap.flags:
        st.warning(t(flag.key, **flag.values))

    chart_col, history_col = st.columns(2, gap="large")
    with chart_col:
        st.subheader(t("gap.chart_title"))
        labels = {s: t(f"gap.bar_{s}") for s in ("baseline", "current", "target")}
        values = {"baseline": fmt(kgi.baseline, kgi.unit), "current": fmt(gap.current, kgi.unit),
                  "target": fmt(gap.target, kgi.unit)}
        cached.chart(ctx, "gap_bars", lambda language, _: gap_bars(labels, kgi.baseline, gap.current, gap.target, values,
                                                                    kgi.unit, language), gap.current, width="stretch")
    with history_col:
        st.subheader(t("gap.history_title"))
        if history:
            series = {"actual": t("gap.series_actual"), "required": t("gap.series_required")}
            cached.chart(ctx, "gap_history", lambda language, _: history_line(history, gap.required_monthly, series,
                                                                             kgi.unit, language), gap.current, width="stretch")
            if gap.best_yoy_growth is not None:
                st.caption(t("gap.best_yoy_caption", pct=fmt_pct(gap.best_yoy_growth, signed=True),
                             months=gap.history_months))
        else:
            st.info(t("gap.no_history"))
            ctx.link("import", t("gap.go_actuals"))
