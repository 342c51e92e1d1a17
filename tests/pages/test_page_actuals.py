"""Actuals import page: upload real CSV bytes through the file uploader, map, preview, commit into a real DuckDB
file, re-upload, bad files, profiles, revert and the value history."""
from __future__ import annotations

import csv
import io
import json
import unicodedata
from datetime import date

import pytest
from conftest import ROOT, assert_clean, assert_no_exception

from kpi_core import ingest
from kpi_core.domain.model import KGI, KPI, Actual, Aggregation, Kind, Plan
from kpi_core.i18n import catalogue, t

PAGE = "pages/actuals.py"
JULY, AUGUST, SEPTEMBER = date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)


# ---------------------------------------------------------------- plans and files
def sales_plan(store, with_metrics: bool = True) -> int:
    """The worked sales example over FY2026 (2026-04 .. 2027-03): revenue = meetings * win_rate * avg_deal."""
    plan = store.create_plan(Plan(name="Sales FY2026", department="Sales", fiscal_start=date(2026, 4, 1)))
    if not with_metrics:
        return plan.id
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Annual revenue", unit="JPY", baseline=120_000_000,
                       target=144_000_000, deadline=date(2027, 3, 31), formula="meetings * win_rate * avg_deal"),
                   None)
    store.save_kpi(KPI(plan_id=plan.id, key="meetings", name="Qualified meetings", unit="件", kind=Kind.LEADING,
                       annual_target=600), None)
    store.save_kpi(KPI(plan_id=plan.id, key="win_rate", name="Win rate", unit="%", kind=Kind.LAGGING,
                       aggregation=Aggregation.RATIO, ratio_weight="meetings", annual_target=0.25), None)
    store.save_kpi(KPI(plan_id=plan.id, key="avg_deal", name="Average deal", unit="JPY", kind=Kind.LAGGING,
                       aggregation=Aggregation.RATIO, ratio_weight="meetings * win_rate",
                       annual_target=1_200_000), None)
    return plan.id


DEALS_HEADER = "商談ID,商談名,取引先名,フェーズ,金額,商談日,完了日,担当者"


def deals_csv(rows: list[str], title: bool = True) -> bytes:
    """An SFA deal list as Excel writes it: CP932, a title and a date line above the header, a total footer."""
    lines = (["商談レポート", "出力日: 2026/10/01"] if title else []) + [DEALS_HEADER, *rows, '合計,,,,"9,999,999",,,']
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


JULY_AUGUST_DEALS = [
    '1,A案件,㈱テスト①,受注,"￥1,200,000",2026/07/03,2026/07/20,髙橋',
    "2,B案件,㈱サンプル,失注,800000,2026/07/10,2026/07/25,佐藤",
    '3,C案件,<script>alert(1)</script>,受注,"1,000,000",2026/08/01,2026/08/15,鈴木',
    "4,D案件,X社,提案中,500000,2026/08/05,,鈴木",
]
SEPTEMBER_DEALS = [
    '5,E案件,㈱ミライ,受注,"2,000,000",2026/09/02,2026/09/12,髙橋',
    "6,F案件,Y社,商談化,300000,2026/09/09,,佐藤",
]

# The deal list's mapping: meetings = deals by 商談日; revenue = sum of won amounts by 完了日; helper `won`.
DEALS_MAPPING = {
    "shape": "records", "date_column": "商談日",
    "metrics": {
        "meetings": {"source": "count"},
        "won": {"source": "count", "filters": [{"column": "フェーズ", "op": "=", "value": "受注"}]},
        "revenue": {"source": "sum", "column": "金額", "date_column": "完了日",
                    "filters": [{"column": "フェーズ", "op": "=", "value": "受注"}]},
        "win_rate": {"source": "formula", "formula": "won / meetings"},
        "avg_deal": {"source": "formula", "formula": "revenue / won"},
    },
}


def save_deals_profile(store, plan_id: int, name: str = "SFA deals") -> None:
    parsed = ingest.read_export(deals_csv(JULY_AUGUST_DEALS), "deals.csv")
    try:
        ingest.save_mapping_profile(store, parsed, DEALS_MAPPING, name, store.get_plan(plan_id))
    finally:
        parsed.close()


def summary_csv(meetings: dict[str, int]) -> bytes:
    """A monthly summary (UTF-8 with BOM): one row per month, metrics as columns named by their keys."""
    rows = ["月,meetings,win_rate(%),avg_deal"]
    rows += [f"{month},{n},25.0,\"1,200,000\"" for month, n in meetings.items()]
    return ("\n".join(rows) + "\n").encode("utf-8-sig")


# ---------------------------------------------------------------- driving the page
def open_page(make_app, plan_id: int | None, lang: str = "en"):
    at = make_app(PAGE, lang=lang, plan_id=plan_id)
    assert_clean(at)
    return at


def upload(at, *files: tuple[str, bytes]):
    uploader = at.file_uploader[0]
    uploader.set_value([(name, data, "text/csv") for name, data in files]).run()
    assert_no_exception(at)
    return at


def widget(at, kind: str, suffix: str):
    """The widget of `kind` whose key ends with `suffix` (keys carry the uploaded file's id)."""
    found = [w for w in getattr(at, kind) if w.key and w.key.endswith(suffix)]
    assert len(found) == 1, (suffix, [w.key for w in getattr(at, kind)])
    return found[0]


def button(at, prefix: str):
    found = [b for b in at.button if b.key and b.key.startswith(prefix)]
    assert len(found) == 1, (prefix, [b.key for b in at.button])
    return found[0]


def texts(at, kind: str) -> list[str]:
    """The page's own messages of one kind (the sidebar's are not the page's)."""
    return [str(e.value) for e in getattr(at.main, kind)]


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def preview_matrix(at):
    """The metric x month table of the preview (the first dataframe whose columns are months)."""
    return next(d.value for d in at.dataframe if len(d.value.columns) and str(d.value.columns[0])[:4].isdigit())


def commit(at):
    button(at, "actuals_commit_").click().run()
    assert_clean(at)
    return at


# ---------------------------------------------------------------- rendering
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_empty_database_points_to_plans(make_app, lang):
    at = open_page(make_app, None, lang)
    assert texts(at, "info") == [t("common.no_plan", lang)]
    assert not at.file_uploader


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_plan_renders_uploader_help_and_empty_history(make_app, store, lang):
    pid = sales_plan(store)
    at = open_page(make_app, pid, lang)
    assert at.title[0].value == t("page.actuals", lang)
    assert at.file_uploader[0].allowed_type == [".csv", ".tsv", ".txt"]
    assert at.file_uploader[0].accept_multiple_files
    assert t("actuals.history.empty", lang) in texts(at, "info")
    assert any(f"--plan {pid}" in c.value for c in at.code), "the scheduled-import command names the plan"


def test_plan_without_metrics_says_what_to_do_first(make_app, store):
    pid = sales_plan(store, with_metrics=False)
    at = open_page(make_app, pid, "ja")
    assert t("actuals.no_metrics", "ja") in texts(at, "info")
    assert not at.file_uploader


# ---------------------------------------------------------------- the main journey
def test_record_list_mapped_by_hand_previewed_committed_and_reimported(make_app, store):
    pid = sales_plan(store)
    at = open_page(make_app, pid, "ja")
    data = deals_csv(JULY_AUGUST_DEALS)
    upload(at, ("商談一覧_202608.csv", data))
    # what was detected, said out loud
    assert metric(at, t("actuals.file.encoding", "ja")) == "Shift_JIS (CP932)"
    assert metric(at, t("actuals.file.header_found", "ja")) == "3"
    assert metric(at, t("actuals.file.rows", "ja")) == "5"
    assert widget(at, "selectbox", "actuals_shape_" + _fid(at)).value == "records"
    # a deal list gets its metrics suggested (a helper `won` among them); here they are then set by hand
    assert widget(at, "selectbox", "_m_won_src").value == "count_distinct"
    widget(at, "text_input", "actuals_helper_name_" + _fid(at)).input("lost").run()
    button(at, "actuals_helper_add_").click().run()
    assert widget(at, "selectbox", "_m_lost_src").value == "none"

    # meetings: rows per month; `won`; revenue: won amounts by completion date; two formulas
    widget(at, "selectbox", "_m_meetings_src").set_value("count").run()
    widget(at, "selectbox", "_m_won_src").set_value("count").run()
    widget(at, "selectbox", "_m_won_fc0").set_value("フェーズ").run()
    widget(at, "selectbox", "_m_won_fo0").set_value("=").run()
    widget(at, "text_input", "_m_won_fv0").input("受注").run()
    widget(at, "selectbox", "_m_revenue_src").set_value("sum").run()
    widget(at, "selectbox", "_m_revenue_col").set_value("金額").run()
    widget(at, "selectbox", "_m_revenue_date").set_value("完了日").run()
    widget(at, "selectbox", "_m_revenue_fc0").set_value("フェーズ").run()
    widget(at, "selectbox", "_m_revenue_fo0").set_value("=").run()
    widget(at, "text_input", "_m_revenue_fv0").input("受注").run()
    widget(at, "selectbox", "_m_win_rate_src").set_value("formula").run()
    widget(at, "text_input", "_m_win_rate_formula").input("won / meetings").run()
    widget(at, "selectbox", "_m_avg_deal_src").set_value("formula").run()
    widget(at, "text_input", "_m_avg_deal_formula").input("revenue / won").run()
    assert_clean(at)
    assert not at.error, texts(at, "error")

    matrix = preview_matrix(at)
    assert list(matrix.columns) == ["2026-07", "2026-08"]
    assert matrix.loc["Qualified meetings (meetings)", "2026-07"] == "2 件"
    assert matrix.loc["Win rate (win_rate)", "2026-08"] == "50.0%"
    assert matrix.loc["Annual revenue (revenue)", "2026-07"] == "120万円"
    assert metric(at, t("actuals.preview.to_write", "ja")) == "8"
    assert metric(at, t("actuals.preview.rejected", "ja")) == "0"
    assert metric(at, t("actuals.preview.skipped", "ja")) == "3"  # title, date line, total row
    assert store.list_imports(pid) == [], "the preview writes nothing"

    commit(at)
    values = store.actual_values(pid)
    assert values["meetings"] == {JULY: 2, AUGUST: 2}
    assert values["win_rate"] == {JULY: 0.5, AUGUST: 0.5}
    assert values["revenue"] == {JULY: 1_200_000, AUGUST: 1_000_000}
    assert values["avg_deal"] == {JULY: 1_200_000, AUGUST: 1_000_000}
    assert "won" not in values, "helpers are never written"
    done = texts(at, "success")
    assert any("#1" in s and "8" in s for s in done), done
    links = [link.proto.page for link in at.get("page_link")]
    assert "overview" in links and "pdca" in links
    profile = store.list_profiles(pid)[0]
    assert profile.name == "商談一覧" and profile.mapping["metrics"]["won"]["filters"][0]["value"] == "受注"

    # the same file again, as a new upload: said, and nothing changes
    upload(at, ("商談一覧_202608.csv", data))
    warnings = " ".join(texts(at, "warning"))
    assert catalogue("ja")["ingest.already_imported"].split("{")[0] in warnings and "#1" in warnings, warnings
    assert button(at, "actuals_commit_").disabled
    assert len(store.list_imports(pid)) == 1
    assert store.actual_values(pid) == values


def _fid(at) -> str:
    return next(s.key for s in at.selectbox if s.key.startswith("actuals_shape_")).removeprefix("actuals_shape_")


def test_next_months_file_maps_itself_from_the_profile(make_app, store):
    pid = sales_plan(store)
    save_deals_profile(store, pid, "SFA 商談一覧")
    at = open_page(make_app, pid, "en")
    upload(at, ("deals_202609.csv", deals_csv(SEPTEMBER_DEALS)))
    info = " ".join(texts(at, "info"))
    assert "SFA 商談一覧" in info.replace("\\", "")
    matrix = preview_matrix(at)
    assert list(matrix.columns) == ["2026-09"]
    assert matrix.loc["Average deal (avg_deal)", "2026-09"] == "¥2.0M"
    commit(at)
    assert store.actual_values(pid)["meetings"] == {SEPTEMBER: 2}
    assert store.actual_values(pid)["win_rate"] == {SEPTEMBER: 0.5}


def test_summary_columns_suggested_and_a_corrected_month_supersedes(make_app, store):
    pid = sales_plan(store)
    store.save_actuals(pid, [Actual("meetings", JULY, 40)])
    at = open_page(make_app, pid, "en")
    upload(at, ("summary.csv", summary_csv({"2026/07": 44, "2026年8月": 48})))
    assert metric(at, "Character encoding") == "UTF-8 (BOM)"
    matrix = preview_matrix(at)
    assert matrix.loc["Qualified meetings (meetings)", "2026-07"] == "44 件 (was 40 件)"
    assert matrix.loc["Win rate (win_rate)", "2026-08"] == "25.0%"
    assert matrix.loc["Average deal (avg_deal)", "2026-08"] == "¥1.2M"
    commit(at)
    assert store.actual_values(pid)["meetings"] == {JULY: 44, AUGUST: 48}
    history = store.actual_history(pid, "meetings", JULY)
    assert [e.value for e in history] == [40, 44] and [e.current for e in history] == [False, True]


def test_revert_with_confirmation_brings_the_previous_value_back(make_app, store):
    pid = sales_plan(store)
    store.save_actuals(pid, [Actual("meetings", JULY, 40)])
    at = open_page(make_app, pid, "en")
    upload(at, ("summary.csv", summary_csv({"2026/07": 44})))
    commit(at)
    assert store.actual_values(pid)["meetings"][JULY] == 44
    import_id = store.list_imports(pid)[0].id

    button(at, f"actuals_revert_{import_id}").click().run()
    assert_clean(at)
    # the confirmation names the import and the three values (meetings, win_rate, avg_deal) it would withdraw
    assert t("actuals.history.confirm", "en", import_id=import_id, file="summary\\.csv", rows=3) \
        in texts(at, "warning")
    assert store.actual_values(pid)["meetings"][JULY] == 44, "nothing happens before the confirmation"
    button(at, f"actuals_revert_yes_{import_id}").click().run()
    assert_clean(at)
    assert store.actual_values(pid)["meetings"] == {JULY: 40}
    assert store.list_imports(pid)[0].status == "reverted"
    assert t("ingest.reverted", "en", import_id=import_id, count=3) in texts(at, "success")
    assert not [b for b in at.button if b.key == f"actuals_revert_{import_id}"], "a reverted import has no button"


def test_cancel_keeps_the_import(make_app, store):
    pid = sales_plan(store)
    at = open_page(make_app, pid, "ja")
    upload(at, ("summary.csv", summary_csv({"2026/07": 44})))
    commit(at)
    button(at, "actuals_revert_1").click().run()
    button(at, "actuals_revert_no_1").click().run()
    assert_clean(at)
    assert store.list_imports(pid)[0].status == "committed"
    assert store.actual_values(pid)["meetings"] == {JULY: 44}


def test_value_history_lists_every_value_of_a_metric_month(make_app, store):
    pid = sales_plan(store)
    store.save_actuals(pid, [Actual("meetings", JULY, 40)])
    store.save_actuals(pid, [Actual("meetings", JULY, 42)])
    at = open_page(make_app, pid, "en")
    widget(at, "selectbox", f"actuals_values_metric_{pid}").set_value("meetings").run()
    widget(at, "selectbox", f"actuals_values_month_{pid}_meetings").set_value(JULY).run()
    assert_clean(at)
    table = at.dataframe[-1].value
    assert list(table["Value"]) == ["40 件", "42 件"]
    assert list(table["State"]) == ["earlier", "current"]


# ---------------------------------------------------------------- bad input
BAD_FILES = {  # case: (bytes, the engine's message key, the language it is checked in)
    "empty": (b"", "ingest.empty", "ja"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "ingest.binary", "en"),
    "header_only": ("月,meetings\n".encode(), "ingest.header_only", "ja"),
    "unknown_encoding": (b"month,meetings\n2026/07,\xfd\xfd\n", "ingest.unknown_encoding", "en"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_says_why_and_writes_nothing(make_app, store, case):
    pid = sales_plan(store)
    data, key, lang = BAD_FILES[case]
    at = open_page(make_app, pid, lang)
    upload(at, (f"{case}.csv", data))
    errors = texts(at, "error")
    assert len(errors) == 1
    assert errors[0].startswith(catalogue(lang)[key].split("{")[0]), (errors, key)
    assert store.list_imports(pid) == [] and store.actual_values(pid) == {}
    assert not [b for b in at.button if b.key and b.key.startswith("actuals_commit_")]


def test_hostile_cells_and_headers_are_inert_data_and_ragged_rows_are_rejected(make_app, store):
    pid = sales_plan(store)
    body = ('月,meetings,"""; DROP TABLE plans; --",note\n'
            "2026/07,44,x,<script>alert(1)</script>\n"
            "2026/08,48,y\n"                       # ragged: 3 fields
            "2031/01,50,z,=cmd|' /C calc'!A0\n")  # outside the plan period
    at = open_page(make_app, pid, "en")
    upload(at, ("<b>hostile</b>.csv", body.encode()))
    assert "<b>" not in at.subheader[0].value.replace("\\<b\\>", "")
    assert metric(at, "Rows") == "2"
    rejected = next(d.value for d in at.dataframe if "Reason" in d.value.columns and "Line" in d.value.columns
                    and (d.value["Line"] == 3).any())
    assert set(rejected["Line"]) == {3, 4}
    assert any("2031-01" in r for r in rejected["Reason"])
    # all or nothing: the only way to write is the button that says it skips the rejected rows
    go = button(at, "actuals_commit_")
    assert go.label == "Import the 1 good row, skip 2" and not go.disabled
    assert t("actuals.commit.rejected_warning", "en", rejected=2, good=1) in texts(at, "warning")
    commit(at)
    assert store.actual_values(pid)["meetings"] == {JULY: 44}
    assert store.list_plans()[0].id == pid, "the plans table is untouched"
    assert store.list_imports(pid)[0].rows_rejected == 2


def test_a_formula_over_an_unknown_metric_says_which_and_writes_nothing(make_app, store):
    pid = sales_plan(store)
    at = open_page(make_app, pid, "en")
    upload(at, ("deals.csv", deals_csv(SEPTEMBER_DEALS)))
    widget(at, "selectbox", "_m_meetings_src").set_value("count").run()
    widget(at, "selectbox", "_m_win_rate_src").set_value("formula").run()
    widget(at, "text_input", "_m_win_rate_formula").input("wins / meetings").run()
    assert_no_exception(at)
    assert len(at.error) == 1
    reason = catalogue("en")["engine.formula.unknown_name"].split("{")[0]
    assert "win\\_rate" in at.error[0].value and reason in at.error[0].value, at.error[0].value
    assert not [b for b in at.button if b.key.startswith("actuals_commit_")]
    widget(at, "text_input", "_m_win_rate_formula").input("meetings / meetings").run()
    assert not at.error
    commit(at)
    assert store.actual_values(pid)["win_rate"] == {SEPTEMBER: 1.0}


def test_file_text_in_messages_is_shown_as_text_not_markdown(make_app, store):
    pid = sales_plan(store)
    body = "年月,指標,値\n2026/07,meetings,44\n2026/07,![x](http://example.invalid/x.png),1\n2026/08,meetings,46\n"
    at = open_page(make_app, pid, "en")
    upload(at, ("long.csv", body.encode()))
    shape = widget(at, "selectbox", "actuals_shape_" + _fid(at))
    if shape.value != "long":
        shape.set_value("long").run()
    warning = next(w for w in texts(at, "warning") if "example" in w)
    assert "![x](" not in warning and "\\!\\[x\\]" in warning, warning
    commit(at)
    assert store.actual_values(pid)["meetings"] == {JULY: 44, AUGUST: 46}


def test_reading_overrides_can_break_and_mend_the_reading(make_app, store):
    pid = sales_plan(store)
    save_deals_profile(store, pid)
    at = open_page(make_app, pid, "en")
    upload(at, ("deals.csv", deals_csv(SEPTEMBER_DEALS)))
    fid = _fid(at)
    widget(at, "selectbox", f"actuals_enc_{fid}").set_value("utf-8").run()
    assert_no_exception(at)
    assert len(at.error) == 1 and at.error[0].value.startswith(catalogue("en")["ingest.unknown_encoding"][:20])
    assert not [b for b in at.button if b.key.startswith("actuals_commit_")]
    widget(at, "selectbox", f"actuals_enc_{fid}").set_value("").run()
    widget(at, "number_input", f"actuals_header_{fid}").set_value(1).run()
    assert_no_exception(at)
    assert at.error[0].value == t("ingest.header_not_table", "en", line=1)
    widget(at, "number_input", f"actuals_header_{fid}").set_value(3).run()
    assert not at.error
    assert metric(at, "Header on line") == "3"
    commit(at)
    assert store.actual_values(pid)["meetings"] == {SEPTEMBER: 2}


def test_two_files_at_once_each_get_their_section(make_app, store):
    pid = sales_plan(store)
    save_deals_profile(store, pid)
    at = open_page(make_app, pid, "ja")
    upload(at, ("summary.csv", summary_csv({"2026/07": 44})), ("deals.csv", deals_csv(SEPTEMBER_DEALS)))
    assert len([b for b in at.button if b.key.startswith("actuals_commit_")]) == 2
    encodings = [m.value for m in at.metric if m.label == t("actuals.file.encoding", "ja")]
    assert encodings == ["UTF-8 (BOM)", "Shift_JIS (CP932)"]
    for key in [b.key for b in at.button if b.key.startswith("actuals_commit_")]:
        at.button(key=key).click().run()
        assert_clean(at)
    assert store.actual_values(pid)["meetings"] == {JULY: 44, SEPTEMBER: 2}
    assert len(store.list_imports(pid)) == 2


# ---------------------------------------------------------------- the demo exports of data/samples
SAMPLES = ROOT / "data" / "samples"


def template_plan(store, template_id: str) -> int:
    from kpi_core.adapters.templates import find_template
    from kpi_core.services.plans import create_plan_from_template

    plan = create_plan_from_template(store, find_template(template_id), "ja", fiscal_start=date(2026, 4, 1))
    return plan.id


def sample_deals_by_month() -> dict[date, dict[str, float]]:
    """The SFA sample read independently with the csv module: meetings, won and won amounts per 商談日 month."""
    lines = (SAMPLES / "sales_sfa_deals_cp932.csv").read_bytes().decode("cp932").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("商談ID"))
    months: dict[date, dict[str, float]] = {}
    for row in csv.DictReader(lines[header:]):
        if not (row["商談日"] or "").strip():
            continue
        year, month = (int(part) for part in row["商談日"].split("/")[:2])
        slot = months.setdefault(date(year, month, 1), {"meetings": 0, "won": 0, "revenue": 0})
        slot["meetings"] += 1
        if row["フェーズ"] == "受注":
            slot["won"] += 1
            slot["revenue"] += int(row["金額"].lstrip("\\￥¥").replace(",", ""))
    return months


def test_sfa_sample_in_cp932_maps_itself_from_its_profile_into_a_sales_template_plan(make_app, store):
    pid = template_plan(store, "sales")
    data = (SAMPLES / "sales_sfa_deals_cp932.csv").read_bytes()
    mapping = json.loads((SAMPLES / "sales_sfa_deals_cp932.mapping.json").read_text(encoding="utf-8"))
    parsed = ingest.read_export(data, "sales_sfa_deals_cp932.csv")
    ingest.save_mapping_profile(store, parsed, mapping, "SFA", store.get_plan(pid))
    parsed.close()

    at = open_page(make_app, pid, "ja")
    upload(at, ("商談一覧_2026-10.csv", data))
    assert metric(at, t("actuals.file.encoding", "ja")) == "Shift_JIS (CP932)"
    assert metric(at, t("actuals.file.header_found", "ja")) == "4"
    assert any("SFA" in i for i in texts(at, "info")), "the remembered mapping is named"
    assert metric(at, t("actuals.preview.rejected", "ja")) == "0"
    assert metric(at, t("actuals.preview.skipped", "ja")) == "4"  # title, date line, 合計, 出力件数
    commit(at)
    expected = sample_deals_by_month()
    assert sorted(expected) == [JULY, AUGUST, SEPTEMBER, date(2026, 10, 1)]
    values = store.actual_values(pid)
    for month, m in expected.items():
        assert values["meetings"][month] == m["meetings"]
        assert values["revenue"][month] == m["revenue"]
        assert values["win_rate"][month] == pytest.approx(m["won"] / m["meetings"])
        assert values["avg_deal"][month] == pytest.approx(m["revenue"] / m["won"])


def test_marketing_summary_maps_itself_from_the_template_aliases(make_app, store):
    pid = template_plan(store, "marketing")
    at = open_page(make_app, pid, "en")
    upload(at, ("marketing_monthly_summary_utf8.csv", (SAMPLES / "marketing_monthly_summary_utf8.csv").read_bytes()))
    assert metric(at, "Character encoding") == "UTF-8 (BOM)"
    assert metric(at, "Values to write") == "24"
    commit(at)
    rows = list(csv.reader(io.StringIO((SAMPLES / "marketing_monthly_summary_utf8.csv").read_text("utf-8-sig"))))
    values = store.actual_values(pid)
    for row in rows[1:5]:
        year, month = (int(part) for part in row[0].split("/"))
        assert values["leads"][date(year, month, 1)] == int(unicodedata.normalize("NFKC", row[1]))
        assert values["mql_rate"][date(year, month, 1)] == pytest.approx(float(row[2].rstrip("%")) / 100)


def test_utf16_tab_export_is_detected_and_read_as_long(make_app, store):
    pid = template_plan(store, "sales")
    at = open_page(make_app, pid, "en")
    upload(at, ("sales_monthly_long_utf16.csv", (SAMPLES / "sales_monthly_long_utf16.csv").read_bytes()))
    assert metric(at, "Character encoding") == "UTF-16 LE (BOM)"
    assert metric(at, "Delimiter") == "tab"
    assert widget(at, "selectbox", "actuals_shape_" + _fid(at)).value == "long"
    matrix = preview_matrix(at)
    assert list(matrix.columns) == ["2026-07", "2026-08", "2026-09", "2026-10"]
    expected = sample_deals_by_month()
    meetings_row = next(label for label in matrix.index if label.endswith("(meetings)"))
    assert matrix.loc[meetings_row, "2026-07"].split()[0] == str(expected[JULY]["meetings"])


def test_same_file_with_another_mapping_offers_replace_or_keep(make_app, store):
    pid = sales_plan(store)
    data = summary_csv({"2026/07": 44})
    parsed = ingest.read_export(data, "summary.csv")
    try:
        ingest.commit_import(store, store.get_plan(pid), parsed, {
            "shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "avg_deal"}}})
    finally:
        parsed.close()
    at = open_page(make_app, pid, "en")
    upload(at, ("summary.csv", data))
    assert any(i.startswith("This file was already imported on ") and i.endswith("as import #1, with another mapping.")
               for i in texts(at, "info"))
    go = button(at, "actuals_commit_")
    assert go.disabled, "no default: the user chooses"
    widget(at, "radio", "actuals_remapped_" + _fid(at)).set_value(True).run()
    assert not button(at, "actuals_commit_").disabled
    commit(at)
    assert store.actual_values(pid)["meetings"] == {JULY: 44}
    assert [i.status for i in store.list_imports(pid)] == ["committed", "reverted"]
    assert t("ingest.replaced", "en", import_id=1) in texts(at, "info")


def test_a_deal_list_is_mapped_in_the_app_without_a_mapping_file(make_app, store):
    pid = template_plan(store, "sales")
    at = open_page(make_app, pid, "en")
    upload(at, ("deals_2026-10.csv", (SAMPLES / "sales_sfa_deals_cp932.csv").read_bytes()))
    assert metric(at, t("actuals.preview.rejected", "en")) == "0"
    expected = sample_deals_by_month()
    matrix = preview_matrix(at)
    assert len(matrix.columns) == len(expected)
    commit(at)
    values = store.actual_values(pid)
    for month, m in expected.items():
        assert values["meetings"][month] == m["meetings"]
        assert values["revenue"][month] == m["revenue"]
        assert values["win_rate"][month] == pytest.approx(m["won"] / m["meetings"])
        assert values["avg_deal"][month] == pytest.approx(m["revenue"] / m["won"])
    assert "won" not in values, "the helper is computed, never written"


def test_a_mapping_file_is_loaded_into_the_editor_and_saved_from_it(make_app, store):
    pid = sales_plan(store)
    at = open_page(make_app, pid, "en")
    upload(at, ("deals.csv", deals_csv(JULY_AUGUST_DEALS)))
    loader = next(u for u in at.file_uploader if u.key and u.key.startswith("actuals_mapfile_"))
    mapping_json = json.dumps(DEALS_MAPPING, ensure_ascii=False).encode()
    loader.set_value([("deals.mapping.json", mapping_json, "application/json")]).run()
    assert_clean(at)
    assert t("actuals.mapping.file_applied", "en", name="deals\\.mapping\\.json") in texts(at, "info")
    commit(at)
    assert store.actual_values(pid)["win_rate"] == {JULY: 0.5, AUGUST: 0.5}
    assert store.actual_values(pid)["revenue"] == {JULY: 1_200_000, AUGUST: 1_000_000}


def test_a_broken_mapping_file_says_why_and_changes_nothing(make_app, store):
    pid = sales_plan(store)
    at = open_page(make_app, pid, "en")
    upload(at, ("summary.csv", summary_csv({"2026/07": 44})))
    loader = next(u for u in at.file_uploader if u.key and u.key.startswith("actuals_mapfile_"))
    loader.set_value([("bad.json", b"{not json", "application/json")]).run()
    assert_no_exception(at)
    assert any(e.startswith("The mapping file bad\\.json cannot be read") for e in texts(at, "error"))
    assert store.list_imports(pid) == []


def test_a_similar_metric_name_is_matched_and_shown_for_confirmation(make_app, store):
    pid = sales_plan(store)
    at = open_page(make_app, pid, "en")
    upload(at, ("summary.csv", "月,all meetings\n2026/07,44\n".encode()))
    assert t("actuals.mapping.similar", "en", name="all meetings") in [c.value for c in at.caption]
    assert t("ingest.msg.similar_names", "en", pairs="all meetings → meetings") in texts(at, "warning")
    commit(at)
    assert store.actual_values(pid)["meetings"] == {JULY: 44}


@pytest.mark.parametrize("lang, reason", [("en", "-3 is negative"), ("ja", "-3 はマイナス")])
def test_out_of_range_cells_are_listed_with_their_reason_and_nothing_is_written_unless_accepted(
        make_app, store, lang, reason):
    pid = sales_plan(store)
    at = open_page(make_app, pid, lang)
    upload(at, ("summary.csv", summary_csv({"2026/07": -3, "2026/08": 48})))
    rejected = next(d.value for d in at.dataframe if any(reason in str(v) for v in d.value.astype(str).values.ravel()))
    assert len(rejected) == 1
    assert store.actual_values(pid) == {}
    commit(at)  # the only button offered: import the good rows, skip the bad one, said on its face
    assert store.actual_values(pid)["meetings"] == {AUGUST: 48}
