"""The small things a user reads: counts in the singular, the button's count equal to the preview's, a 合計 line
called a total row (not a report footer)."""
from __future__ import annotations

from datetime import date

from kpi_core import ingest
from kpi_core.domain.model import KPI, Actual, Plan
from kpi_core.i18n import t

MAPPING = {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "商談数"}}}


def test_counts_of_one_are_singular_in_english_and_unchanged_in_japanese():
    assert t("actuals.commit.button", "en", n=1) == "Import 1 value"
    assert t("actuals.commit.button", "en", n=12) == "Import 12 values"
    assert t("actuals.commit.button_accept", "en", good=198, rejected=3) == "Import the 198 good rows, skip 3"
    assert t("actuals.commit.button_accept", "en", good=1, rejected=1) == "Import the 1 good row, skip 1"
    assert "1 row," in t("ingest.detected", "en", encoding="UTF-8", delimiter="comma", line=1, rows="1",
                         shape="x")
    assert "1,200 rows," in t("ingest.detected", "en", encoding="UTF-8", delimiter="comma", line=1, rows="1,200",
                              shape="x")
    assert t("ingest.reverted", "ja", import_id=3, count=1).startswith("取込 #3 を取り消しました: 1件")


def test_the_button_counts_what_the_preview_calls_to_write(store):
    plan = store.create_plan(Plan(name="p", fiscal_start=date(2026, 4, 1)))
    store.save_kpi(KPI(plan_id=plan.id, key="meetings", name="商談数"), None)
    store.save_actuals(plan.id, [Actual("meetings", date(2026, 4, 1), 10), Actual("meetings", date(2026, 5, 1), 11)])
    text = "月,商談数\n2026/04,10\n2026/05,12\n2026/06,13\n"
    shown = ingest.preview_import(store, store.get_plan(plan.id), ingest.read_export(text.encode(), "x.csv"),
                                  MAPPING, "en")
    assert shown.values["status"].tolist() == ["unchanged", "changed", "new"]
    assert shown.to_write == 2 == int((shown.values["status"] != "unchanged").sum())


def test_a_total_line_alone_is_a_total_row_not_a_report_footer():
    text = "月,商談数,受注率\n2026/07,50,25%\n2026/08,40,20%\n合計\n株式会社テスト 営業部\n"
    parsed = ingest.read_export(text.encode(), "x.csv")
    assert [(s.line, s.reason) for s in parsed.skipped] == [(4, "total"), (5, "footer")]
    assert parsed.skipped[0].message("en") == "Total row"
