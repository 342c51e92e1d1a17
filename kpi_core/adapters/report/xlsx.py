"""The plan as an Excel workbook (xlsxwriter): Plan (with a native chart of the KGI path), KPIs, Monthly targets
(every version with its reason), Actuals (with the import each came from), Status by month, Check-ins, Reviews.

Numbers are written as numbers with a format (¥#,##0, $#,##0, 0.0%), months as dates; headers and sheet names in
the user's language; text that starts like a formula (= + - @) is neutralised.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime

import xlsxwriter

from kpi_core.adapters.plan_file import PlanSnapshot
from kpi_core.domain.model import Aggregation
from kpi_core.domain.tracking import PlanTracking
from kpi_core.domain.units import is_money, is_rate
from kpi_core.i18n import t
from kpi_core.ingest import neutralise

SHEETS = ("plan", "kpis", "targets", "actuals", "status", "checkins", "reviews")
MONTH_FORMAT, DAY_FORMAT = "yyyy-mm", "yyyy-mm-dd"
COUNT_FORMAT, DECIMAL_FORMAT = "#,##0", "#,##0.00"


def number_format(unit: str) -> str:
    if is_money(unit):
        return "$#,##0" if unit.strip().lower() in {"usd", "$"} else "¥#,##0"
    if is_rate(unit):
        return "0.0%"
    return COUNT_FORMAT


class _Book:
    def __init__(self, lang: str):
        self.lang, self.buffer = lang, io.BytesIO()
        self.book = xlsxwriter.Workbook(self.buffer, {"in_memory": True, "strings_to_formulas": False,
                                                      "strings_to_urls": False, "strings_to_numbers": False})
        self.formats: dict[str, xlsxwriter.format.Format] = {}
        self.header = self.book.add_format({"bold": True, "bg_color": "#e2e8f0", "border": 1, "text_wrap": True})

    def fmt(self, pattern: str):
        if pattern not in self.formats:
            self.formats[pattern] = self.book.add_format({"num_format": pattern})
        return self.formats[pattern]

    def t(self, key: str) -> str:
        return t(key, self.lang)

    def cell(self, sheet, row: int, col: int, value: object, pattern: str | None = None) -> None:
        """A value by type: numbers as numbers (formatted), dates as dates, text neutralised."""
        if value is None or value == "":
            sheet.write_blank(row, col, None)
        elif isinstance(value, bool):
            sheet.write_boolean(row, col, value)
        elif isinstance(value, (int, float)):
            if pattern == COUNT_FORMAT and not float(value).is_integer():
                pattern = DECIMAL_FORMAT  # 2.5 visits, not "3"
            sheet.write_number(row, col, float(value), self.fmt(pattern) if pattern else None)
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
            sheet.write_datetime(row, col, moment, self.fmt(pattern or DAY_FORMAT))
        else:
            sheet.write_string(row, col, neutralise(value))

    def table(self, name: str, headers: Sequence[str], rows: Sequence[Sequence[tuple[object, str | None]]],
              widths: Sequence[int] = ()) -> object:
        """A sheet with one header row (frozen, filtered) and typed rows of (value, number format)."""
        sheet = self.book.add_worksheet(self.t(f"report.xlsx.sheet.{name}"))
        for col, header in enumerate(headers):
            sheet.write_string(0, col, self.t(f"report.xlsx.col.{header}"), self.header)
            sheet.set_column(col, col, widths[col] if col < len(widths) else 14)
        for r, row in enumerate(rows, start=1):
            for col, (value, pattern) in enumerate(row):
                self.cell(sheet, r, col, value, pattern)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(len(rows), 1), len(headers) - 1)
        return sheet

    def close(self) -> bytes:
        self.book.close()
        return self.buffer.getvalue()


def build_workbook(snapshot: PlanSnapshot, tracking: PlanTracking, lang: str) -> bytes:
    book = _Book(lang)
    names = {k.key: k.name for k in snapshot.kpis}
    units = {k.key: k.unit for k in snapshot.kpis}
    if snapshot.kgi is not None:
        names[snapshot.kgi.key], units[snapshot.kgi.key] = snapshot.kgi.name, snapshot.kgi.unit
    _plan_sheet(book, snapshot, tracking)
    _kpi_sheet(book, snapshot)
    book.table("targets", ("metric_key", "metric", "version", "current", "reason", "month", "value"), [
        [(key, None), (names.get(key, key), None), (v.version, "0"), (v is versions[-1], None), (v.reason, None),
         (month, MONTH_FORMAT), (value, number_format(units.get(key, "")))]
        for key, versions in snapshot.targets.items() for v in versions for month, value in sorted(v.values.items())
    ], (14, 24, 8, 8, 30, 10, 16))
    book.table("actuals", ("metric_key", "metric", "month", "value", "source", "import_file"), [
        [(a.metric_key, None), (names.get(a.metric_key, a.metric_key), None), (a.month, MONTH_FORMAT),
         (a.value, number_format(units.get(a.metric_key, ""))), (a.source, None), (a.import_file, None)]
        for a in snapshot.actuals], (14, 24, 10, 16, 10, 30))
    book.table("status", ("metric_key", "metric", "month", "target", "actual", "attainment", "status"), [
        [(m.key, None), (m.spec.name, None), (row.month, MONTH_FORMAT), (row.target, number_format(m.spec.unit)),
         (row.actual, number_format(m.spec.unit)), (row.attainment, "0.0%"),
         (book.t(f"enum.status.{row.status}"), None)]
        for m in tracking.metrics for row in m.rows], (14, 24, 10, 16, 16, 10, 12))
    book.table("checkins", ("metric_key", "month", "status", "why", "next_action", "owner", "due", "result"), [
        [(c.metric_key, None), (c.month, MONTH_FORMAT), (book.t(f"enum.status.{c.status}"), None), (c.why, None),
         (c.next_action, None), (c.owner, None), (c.due, DAY_FORMAT), (c.result, None)]
        for c in snapshot.checkins], (14, 10, 12, 40, 40, 16, 12, 30))
    book.table("reviews", ("date", "metric_key", "decision", "reason"), [
        [(r.review_date, DAY_FORMAT), (r.metric_key, None), (r.decision, None), (r.reason, None)]
        for r in snapshot.reviews], (12, 14, 10, 50))
    return book.close()


def _plan_sheet(book: _Book, snapshot: PlanSnapshot, tracking: PlanTracking) -> None:
    plan, kgi = snapshot.plan, snapshot.kgi
    money = number_format(kgi.unit) if kgi else None
    fields: list[tuple[str, object, str | None]] = [
        ("plan_name", plan.name, None), ("department", plan.department, None),
        ("fiscal_start", plan.fiscal_start, MONTH_FORMAT), ("months", plan.months, "0"),
        ("currency", plan.currency, None), ("plan_status", book.t(f"enum.plan_status.{plan.status}"), None),
    ]
    if kgi is not None:
        gap = kgi.target - kgi.current if kgi.target is not None and kgi.current is not None else None
        fields += [("kgi_key", kgi.key, None), ("kgi_name", kgi.name, None), ("unit", kgi.unit, None),
                   ("direction", book.t(f"enum.direction.{kgi.direction}"), None),
                   ("aggregation", book.t(f"enum.aggregation.{kgi.aggregation}"), None),
                   ("baseline", kgi.baseline, money), ("target", kgi.target, money),
                   ("current", kgi.current, money), ("gap", gap, money), ("deadline", kgi.deadline, DAY_FORMAT),
                   ("basis", kgi.basis, None), ("formula", kgi.formula, None)]
    sheet = book.book.add_worksheet(book.t("report.xlsx.sheet.plan"))
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 40)
    sheet.write_string(0, 0, book.t("report.xlsx.col.field"), book.header)
    sheet.write_string(0, 1, book.t("report.xlsx.col.value"), book.header)
    for row, (key, value, pattern) in enumerate(fields, start=1):
        sheet.write_string(row, 0, book.t(f"report.xlsx.col.{key}"))
        book.cell(sheet, row, 1, value, pattern)
    if tracking.kgi is not None and kgi is not None:
        _kgi_path(book, sheet, tracking, money)


def _kgi_path(book: _Book, sheet, tracking: PlanTracking, pattern: str) -> None:
    """The KGI's path month by month (cumulative for a SUM KGI) and a native line chart of it."""
    metric = tracking.kgi
    cumulative = metric.spec.aggregation is Aggregation.SUM
    first_col, headers = 3, ("month", "target", "actual")
    for col, header in enumerate(headers):
        sheet.write_string(0, first_col + col, book.t(f"report.xlsx.col.{header}"), book.header)
        sheet.set_column(first_col + col, first_col + col, 14)
    running_target = running_actual = 0.0
    for r, row in enumerate(metric.rows, start=1):
        running_target += row.target or 0.0
        running_actual += row.actual or 0.0
        book.cell(sheet, r, first_col, row.month, MONTH_FORMAT)
        book.cell(sheet, r, first_col + 1, running_target if cumulative else row.target, pattern)
        has_actual = row.month in metric.data_months
        book.cell(sheet, r, first_col + 2, (running_actual if cumulative else row.actual) if has_actual else None,
                  pattern)
    last = len(metric.rows)
    name = book.t("report.xlsx.sheet.plan")
    chart = book.book.add_chart({"type": "line"})
    for col, colour in ((first_col + 1, "#64748b"), (first_col + 2, "#2563eb")):
        chart.add_series({"name": [name, 0, col], "categories": [name, 1, first_col, last, first_col],
                          "values": [name, 1, col, last, col], "line": {"color": colour, "width": 2.25},
                          "marker": {"type": "circle", "size": 4}})
    chart.set_title({"name": book.t("report.xlsx.chart_title")})
    chart.set_y_axis({"num_format": pattern})
    chart.set_x_axis({"num_format": MONTH_FORMAT})
    chart.set_legend({"position": "top"})
    chart.set_size({"width": 620, "height": 320})
    sheet.insert_chart(1, first_col + 4, chart)


def _kpi_sheet(book: _Book, snapshot: PlanSnapshot) -> None:
    headers = ("key", "name", "csf", "csf_role", "definition", "unit", "direction", "kind", "aggregation",
               "ratio_weight", "owner", "data_source", "annual_target", "amber_threshold", "red_threshold",
               "recovery_plan", "rationale")
    rows = []
    for kpi, index in zip(snapshot.kpis, snapshot.kpi_csf, strict=True):
        csf = snapshot.csfs[index] if index is not None else None
        rows.append([(kpi.key, None), (kpi.name, None), (csf.name if csf else "", None),
                     (book.t(f"enum.role.{csf.role}") if csf else "", None), (kpi.definition, None), (kpi.unit, None),
                     (book.t(f"enum.direction.{kpi.direction}"), None), (book.t(f"enum.kind.{kpi.kind}"), None),
                     (book.t(f"enum.aggregation.{kpi.aggregation}"), None), (kpi.ratio_weight, None),
                     (kpi.owner, None), (kpi.data_source, None), (kpi.annual_target, number_format(kpi.unit)),
                     (kpi.amber_threshold, "0%"), (kpi.red_threshold, "0%"), (kpi.recovery_plan, None),
                     (kpi.rationale, None)])
    book.table("kpis", headers, rows, (12, 24, 20, 10, 40, 8, 12, 12, 14, 14, 14, 16, 14, 8, 8, 40, 40))
