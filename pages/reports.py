"""Report: share the plan. Pick the audience and the month, preview the report, download it as PDF or HTML, the
workbook as xlsx or the whole plan as a YAML file; and import such a plan file as a new plan."""
from __future__ import annotations

from datetime import date

import streamlit as st

from kpi_core.adapters.plan_file import MAX_FILE_BYTES, PlanFileError
from kpi_core.adapters.store import Store, StoreError
from kpi_core.domain.model import Plan
from kpi_core.domain.report import AUDIENCES, ReportError
from kpi_core.domain.tracking import month_label
from kpi_core.services import read_models
from kpi_core.services.plan_file import import_plan_file
from kpi_core.services.report import MEDIA_TYPES, file_name, render_report
from pages.common import full_digits, lang, options_label, select_plan, t
from pages.frame import PageContext, flash, show_error

PREVIEW_HEIGHT = 720
# Built previews (an HTML document with its charts as images) of the latest data versions and choices.
PREVIEWS = read_models.Memo(max_entries=16)


def _choices(ctx: PageContext, plan: Plan) -> tuple[str, date]:
    """Audience and month, side by side; the month defaults to the latest one with actuals."""
    months = plan.month_list()
    latest, language = read_models.tracking(ctx.store, plan, ctx.version).as_of, lang()
    left, right = st.columns(2)
    audience = left.radio(t("report.page.audience"), AUDIENCES, horizontal=True,
                          format_func=options_label("report.page.audiences"), key=f"report_audience_{plan.id}")
    month = right.selectbox(t("report.page.month"), months, index=months.index(latest) if latest in months else 0,
                            format_func=lambda m: month_label(m, language), key=f"report_month_{plan.id}")
    return audience, month


def _file(store: Store, plan: Plan, audience: str, month: date, fmt: str):
    """Deferred: a file is made only when its button is pressed (outside the script run, so the session's
    language and display choice are read now)."""
    language, full = lang(), full_digits()
    return lambda: render_report(store, plan, audience, month, fmt, language, full_digits=full)


def _preview(ctx: PageContext, plan: Plan, audience: str, month: date) -> bytes:
    """The report as HTML, built once per data version of the plan and choice (and day: it is dated)."""
    language, full, today = lang(), full_digits(), date.today()
    key = read_models.plan_key(ctx.store, plan, ctx.version, "report_preview", audience, month, language, full, today)
    return PREVIEWS.get(key, lambda: render_report(ctx.store, plan, audience, month, "html", language, today, full))


def report_section(ctx: PageContext, plan: Plan) -> None:
    store = ctx.store
    audience, month = _choices(ctx, plan)
    buttons = st.columns(4)
    for column, fmt in zip(buttons, ("pdf", "html", "xlsx", "yaml"), strict=True):
        column.download_button(t(f"report.page.download.{fmt}"), data=_file(store, plan, audience, month, fmt),
                               file_name=file_name(plan, audience, month, fmt), mime=MEDIA_TYPES[fmt],
                               key=f"report_download_{fmt}", width="stretch", on_click="ignore",
                               type="primary" if fmt == "pdf" else "secondary")
    st.caption(t("report.page.download_help"))
    st.subheader(t("report.page.preview"))
    # On demand: drawing the report's charts as images takes longer than the rest of the page, and every click on
    # the page reruns it.
    if not st.toggle(t("report.page.show_preview"), key=f"report_preview_{plan.id}",
                     help=t("report.page.show_preview_help")):
        return
    try:
        preview = _preview(ctx, plan, audience, month)
    except ReportError as exc:
        show_error(exc)
        return
    # The document is the renderer's own: every plan text in it is escaped and it holds no script.
    st.iframe(preview.decode("utf-8"), height=PREVIEW_HEIGHT)


def import_section(store: Store) -> None:
    st.subheader(t("report.page.import.title"))
    st.caption(t("report.page.import.help"))
    upload = st.file_uploader(t("report.page.import.file"), type=["yaml", "yml"], key="plan_file_upload",
                              max_upload_size=max(1, MAX_FILE_BYTES // 1_000_000))
    name = st.text_input(t("report.page.import.name"), key="plan_file_name", max_chars=200)
    if not st.button(t("report.page.import.button"), disabled=upload is None, key="plan_file_import"):
        return
    try:
        text = upload.getvalue().decode("utf-8-sig")
    except UnicodeDecodeError:
        st.error(t("report.page.import.not_utf8"))
        return
    try:
        plan = import_plan_file(store, text, name or None)
    except (PlanFileError, StoreError) as exc:  # a bad file, or the database refused: nothing was written
        show_error(exc)
        return
    select_plan(plan.id)
    flash(t("report.plan_file.imported", name=plan.name))
    st.rerun()


def render(ctx: PageContext) -> None:
    """The report of the current plan (when there is one) and the plan file import (always)."""
    if ctx.plan is None:
        st.info(t("common.no_plan"))
    else:
        report_section(ctx, ctx.plan)
    st.divider()
    import_section(ctx.store)
