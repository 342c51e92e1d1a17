"""Use cases of sharing a plan: the report by audience and month (HTML, PDF), the Excel workbook, the plan file."""
from __future__ import annotations

from datetime import date

from kpi_core.adapters.report.html import render_html
from kpi_core.adapters.report.pdf import html_to_pdf
from kpi_core.adapters.report.xlsx import build_workbook
from kpi_core.domain.model import Plan
from kpi_core.domain.report import AUDIENCES, FORMATS, ReportContent, ReportError, build_report, report_month
from kpi_core.domain.tracking import track_plan
from kpi_core.services.plan_file import export_plan_file, read_snapshot
from kpi_core.services.tracking import plan_tracking

MEDIA_TYPES = {"pdf": "application/pdf", "html": "text/html",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "yaml": "application/x-yaml"}


def report_content(store, plan: Plan, audience: str, month: date | None, lang: str) -> ReportContent:
    """Read the plan and build the report as of `month` (default: the latest month with actuals):
    actuals and check-ins after that month are left out."""
    kgi, csfs, kpis = store.get_kgi(plan.id), store.list_csfs(plan.id), store.list_kpis(plan.id)
    targets, every_actual = store.get_monthly_targets(plan.id), store.actual_values(plan.id)
    if month is None:
        month = report_month(plan, track_plan(plan, kgi, kpis, targets, every_actual), None)
    month = report_month(plan, None, month)
    if month not in plan.month_list():
        raise ReportError("report.error.month_outside", month=f"{month:%Y-%m}",
                          start=f"{plan.fiscal_start:%Y-%m}", end=f"{plan.end_month:%Y-%m}")
    until = {key: {m: v for m, v in series.items() if m <= month} for key, series in every_actual.items()}
    tracking = track_plan(plan, kgi, kpis, targets, until)
    checkins = [c for c in store.list_checkins(plan.id) if c.month <= month]
    return build_report(audience, month, plan, kgi, csfs, kpis, tracking, checkins)


def render_report(store, plan: Plan, audience: str, month: date | None, fmt: str, lang: str,
                  generated: date | None = None, full_digits: bool = False) -> bytes:
    """The file a user downloads: report as pdf/html, the workbook as xlsx, or the plan file as yaml."""
    if fmt not in FORMATS:
        raise ReportError("report.error.format", format=str(fmt)[:20])
    if audience not in AUDIENCES:
        raise ReportError("report.error.audience", audience=str(audience)[:20])
    if fmt == "xlsx":
        return build_workbook(read_snapshot(store, plan), plan_tracking(store, plan), lang)
    if fmt == "yaml":
        return export_plan_file(store, plan).encode("utf-8")
    content = report_content(store, plan, audience, month, lang)
    document = render_html(content, lang, generated or date.today(), full_digits)
    return document.encode("utf-8") if fmt == "html" else html_to_pdf(document)


def file_name(plan: Plan, audience: str, month: date | None, fmt: str) -> str:
    """A download name that sorts well and is safe on every system: plan id, audience, month, extension."""
    if fmt in ("xlsx", "yaml"):
        return f"plan{plan.id}.{fmt}"
    return f"plan{plan.id}-{audience}-{month:%Y-%m}.{fmt}" if month else f"plan{plan.id}-{audience}.{fmt}"
