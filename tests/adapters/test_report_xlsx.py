"""The Excel workbook re-read with openpyxl gives exactly the store's numbers, typed and formatted."""
from __future__ import annotations

import io
import zipfile
from datetime import datetime

import openpyxl
import pytest

from kpi_core.i18n import t
from kpi_core.services.report import render_report

SHEETS = ("plan", "kpis", "targets", "actuals", "status", "checkins", "reviews")


def _book(store, plan, lang: str) -> tuple[bytes, openpyxl.Workbook]:
    data = render_report(store, plan, "exec", None, "xlsx", lang)
    return data, openpyxl.load_workbook(io.BytesIO(data))


def _as_written(value: float) -> float:
    """xlsx cells hold 16 significant digits (xlsxwriter and openpyxl both write %.16G; Excel shows 15): a win
    rate of 9/47 comes back as the same 16 digits, every integer and every money amount exactly."""
    return float(f"{value:.16g}")


def _rows(sheet) -> list[dict]:
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, (c for c in row))) for row in sheet.iter_rows(min_row=2)]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_sheets_and_headers_are_in_the_users_language(store, demo_plan, lang):
    _, book = _book(store, demo_plan, lang)
    assert book.sheetnames == [t(f"report.xlsx.sheet.{s}", lang) for s in SHEETS]
    kpis = book[t("report.xlsx.sheet.kpis", lang)]
    assert kpis["A1"].value == t("report.xlsx.col.key", lang)
    if lang == "ja":
        assert [c.value for c in book["月次目標"][1]][:3] == ["指標キー", "指標", "版"]


def test_numbers_are_exactly_the_stores_and_formatted(store, demo_plan):
    kpi = store.list_kpis(demo_plan.id)[0]
    months = demo_plan.month_list()
    store.set_monthly_targets(demo_plan.id, kpi.key, {m: 40 + i * 1.25 for i, m in enumerate(months)},
                              reason="seasonal")
    _, book = _book(store, demo_plan, "en")
    col = {name: t(f"report.xlsx.col.{name}", "en") for name in ("key", "annual_target", "metric_key", "month",
                                                                 "value", "version", "reason", "current")}
    by_key = {r[col["key"]].value: r for r in _rows(book["KPIs"])}
    for k in store.list_kpis(demo_plan.id):
        cell = by_key[k.key][col["annual_target"]]
        assert cell.value == k.annual_target and isinstance(cell.value, (int, float))
    assert by_key["win_rate"][col["annual_target"]].number_format == "0.0%"
    assert by_key["avg_deal"][col["annual_target"]].number_format == "¥#,##0"

    targets = {}
    for r in _rows(book["Monthly targets"]):
        targets[(r[col["metric_key"]].value, r[col["version"]].value, r[col["month"]].value.date())] = (
            r[col["value"]].value, r[col["reason"]].value, r[col["current"]].value)
    expected = {}
    for key in [store.get_kgi(demo_plan.id).key] + [k.key for k in store.list_kpis(demo_plan.id)]:
        history = store.target_history(demo_plan.id, key)
        latest = max((e.version for e in history), default=None)
        for row in history:
            expected[(key, row.version, row.month)] = (_as_written(row.value), row.reason, row.version == latest)
    assert targets == expected
    assert targets[(kpi.key, 2, months[1])] == (41.25, "seasonal", True)

    actuals = {(r[col["metric_key"]].value, r[col["month"]].value.date()): r[col["value"]]
               for r in _rows(book["Actuals"])}
    stored = store.actual_values(demo_plan.id)
    assert {k: c.value for k, c in actuals.items()} == {(k, m): _as_written(v) for k, s in stored.items()
                                                        for m, v in s.items()}
    assert actuals[("revenue", months[0])].value == 10_620_000  # money and counts are exact
    assert actuals[("win_rate", months[0])].number_format == "0.0%"
    assert actuals[("revenue", months[0])].number_format == "¥#,##0"
    assert isinstance(actuals[("meetings", months[0])].value, (int, float))


def test_the_plan_sheet_holds_the_kgi_and_a_native_chart(store, demo_plan):
    data, book = _book(store, demo_plan, "en")
    sheet = book["Plan"]
    fields = {sheet.cell(r, 1).value: sheet.cell(r, 2) for r in range(2, sheet.max_row + 1)}
    kgi = store.get_kgi(demo_plan.id)
    assert fields["Target"].value == kgi.target == 144_000_000
    assert fields["Current (confirmed)"].value == kgi.current
    assert fields["Gap"].value == kgi.target - kgi.current
    assert fields["Target"].number_format == "¥#,##0"
    assert fields["First month"].value == datetime(2026, 4, 1)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        charts = [n for n in archive.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 1
        chart = archive.read(charts[0]).decode("utf-8")
    assert "<c:lineChart>" in chart and "Plan!$E$2:$E$13" in chart and "Plan!$F$2:$F$13" in chart


def test_text_that_looks_like_a_formula_is_neutralised(store, demo_plan):
    kpi = store.list_kpis(demo_plan.id)[0]
    kpi.name, kpi.owner, kpi.definition = "=HYPERLINK(\"http://x\")", "@owner", "-1+2"
    store.save_kpi(kpi, None)
    data, book = _book(store, demo_plan, "en")
    row = next(r for r in _rows(book["KPIs"]) if r["Key"].value == kpi.key)
    assert row["Name"].value == "'=HYPERLINK(\"http://x\")"
    assert row["Owner"].value == "'@owner" and row["Definition"].value == "'-1+2"
    assert row["Name"].data_type == "s"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheets = "".join(archive.read(n).decode("utf-8") for n in archive.namelist() if n.startswith("xl/worksheets"))
    assert "<f>" not in sheets


def test_status_by_month_and_checkins(store, demo_plan):
    _, book = _book(store, demo_plan, "en")
    status = [r for r in _rows(book["Status by month"]) if r["Metric key"].value == "win_rate"]
    assert len(status) == 12
    first = status[0]
    assert first["Actual"].value == pytest.approx(9 / 47) and first["Attainment"].number_format == "0.0%"
    assert first["Status"].value == t("enum.status.off_track", "en")
    checkins = _rows(book["Check-ins"])
    assert len(checkins) == len(store.list_checkins(demo_plan.id))


def test_actuals_name_the_import_they_came_from(store, demo_plan):
    from kpi_core.domain.model import Actual

    month = demo_plan.month_list()[6]
    store.commit_import(demo_plan.id, {"file_name": "10月_商談.csv", "sha256": "ab" * 32},
                        [Actual("meetings", month, 49.0)], [])
    _, book = _book(store, demo_plan, "ja")
    rows = {(r["指標キー"].value, r["月"].value.date()): r for r in _rows(book["実績"])}
    imported = rows[("meetings", month)]
    assert (imported["値"].value, imported["入力元"].value, imported["取り込んだファイル"].value) == (
        49, "import", "10月_商談.csv")
    assert rows[("meetings", demo_plan.month_list()[0])]["取り込んだファイル"].value is None  # typed or seeded
