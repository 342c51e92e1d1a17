"""CSV import: decoding, parsing, normalising, shapes, record-list aggregation, mapping, preview and commit.

Every file is built here from text, every plan lives in a real DuckDB file in a temp dir.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import json
import unicodedata
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from kpi_core.domain.model import KGI, KPI, Aggregation, Plan
from kpi_core.ingest import (
    IngestError,
    commit_import,
    find_mapping,
    neutralise,
    preview_import,
    read_export,
    rejections_csv,
    revert_import,
    save_mapping_profile,
    suggest_mapping,
    values_csv,
)
from kpi_core.ingest.table import month_columns
from kpi_core.ingest.values import cell_month, cell_number, install_macros
from kpi_core.services.plans import create_plan_from_template

CP932_NAMES = "①㈱テスト商事㍉髙橋"


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


def rows_of(parsed) -> list[list]:
    return [list(r[1:]) for r in parsed.rows()]


# ---------------------------------------------------------------- encodings
@pytest.mark.parametrize(("encoded", "label"), [
    (lambda s: b"\xef\xbb\xbf" + s.encode("utf-8"), "utf-8-sig"),
    (lambda s: s.encode("utf-8"), "utf-8"),
    (lambda s: s.encode("utf-16"), "utf-16-le"),  # Python writes a little-endian BOM
    (lambda s: b"\xfe\xff" + s.encode("utf-16-be"), "utf-16-be"),
    (lambda s: s.encode("cp932"), "cp932"),
])
def test_each_encoding_is_detected_and_named(encoded, label):
    text = f"取引先,金額\r\n{CP932_NAMES},\"1,200\"\r\n"
    parsed = read_export(encoded(text), "deals.csv")
    assert parsed.encoding == label
    assert parsed.columns == ["取引先", "金額"]
    assert rows_of(parsed) == [[CP932_NAMES, "1,200"]]


def test_nec_and_ibm_extension_characters_need_cp932_not_shift_jis():
    data = f"名前,件数\n{CP932_NAMES},1\n".encode("cp932")
    with pytest.raises(UnicodeDecodeError):
        data.decode("shift_jis")
    assert rows_of(read_export(data, "x.csv"))[0][0] == CP932_NAMES


def test_utf16_tab_separated_unicode_text():
    data = "月\tリード数\n2026/07\t400\n2026/08\t410\n".encode("utf-16")
    parsed = read_export(data, "unicode.txt")
    assert (parsed.encoding, parsed.delimiter) == ("utf-16-le", "\t")
    assert rows_of(parsed) == [["2026/07", "400"], ["2026/08", "410"]]


def test_encoding_can_be_forced():
    data = "月,件数\n2026/07,1\n".encode("cp932")
    assert read_export(data, "x.csv", encoding="Shift_JIS").encoding == "cp932"
    with pytest.raises(IngestError) as err:
        read_export(data, "x.csv", encoding="klingon")
    assert err.value.key == "ingest.bad_encoding_choice"


# ---------------------------------------------------------------- delimiters and header row
@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_delimiter_is_detected(delimiter):
    text = delimiter.join(["月", "商談数", "受注率"]) + "\n" + delimiter.join(["2026/07", "50", "25%"]) + "\n"
    parsed = read_export(utf8(text), "x.csv")
    assert parsed.delimiter == delimiter
    assert parsed.columns == ["月", "商談数", "受注率"]


def test_title_lines_above_the_header_are_skipped_and_listed():
    text = ("商談レポート,,,\n出力日: 2025/10/01,,,\n,,,\n"
            "商談ID,フェーズ,金額,商談日\nD1,受注,\"1,000\",2026/07/03\n")
    parsed = read_export(utf8(text), "x.csv")
    assert parsed.header_line == 4
    assert [(s.line, s.reason) for s in parsed.skipped] == [(1, "title"), (2, "title")]
    assert parsed.line_of_row(0) == 5


def test_header_line_can_be_chosen():
    text = "期間:,2026/07,2026/09\n月,件数,金額\n2026/07,1,2\n"
    parsed = read_export(utf8(text), "x.csv", header_line=2)
    assert parsed.columns == ["月", "件数", "金額"]
    with pytest.raises(IngestError) as err:
        read_export(utf8(text), "x.csv", header_line=9)
    assert err.value.key == "ingest.header_not_found"


def test_blank_and_duplicate_header_names_are_made_unique():
    parsed = read_export(utf8("金額,,金額\n1,2,3\n"), "x.csv")
    assert parsed.columns == ["金額", "(2)", "金額 (2)"]


def test_header_signature_ignores_case_width_and_spaces_but_not_names():
    a = read_export(utf8("商談ID, Amount ,商談日\n1,2,2026/07/01\n"), "a.csv")
    b = read_export(utf8("商談ＩＤ,amount,商談日\n9,9,2026/08/01\n"), "b.csv")
    c = read_export(utf8("商談ID,Amount,完了日\n1,2,2026/07/01\n"), "c.csv")
    assert a.header_signature == b.header_signature != c.header_signature


# ---------------------------------------------------------------- line numbers
def test_ragged_rows_are_rejected_with_their_line_numbers():
    text = "a,b,c\n1,2,3\n\n4,5\n6,7,8,9\n10,11,12\n"
    parsed = read_export(utf8(text), "x.csv")
    assert [(r.line, r.key, r.values["found"]) for r in parsed.rejections] == [
        (4, "ingest.reject.fields", 2), (5, "ingest.reject.fields", 4)]
    assert [parsed.line_of_row(r[0]) for r in parsed.rows()] == [2, 6]


def test_line_numbers_survive_quoted_newlines():
    text = 'id,memo,amount\n1,"two\nlines",10\n2,short\n3,"x",30\n4,"a\n\nb",40\n5,y,50\n'
    parsed = read_export(utf8(text), "x.csv")
    assert [(r.line, r.values["found"]) for r in parsed.rejections] == [(4, 2)]
    assert {r[1]: parsed.line_of_row(r[0]) for r in parsed.rows()} == {"1": 2, "3": 5, "4": 6, "5": 9}


def test_unterminated_quote_is_reported_where_it_starts():
    parsed = read_export(utf8('a,b,c\n1,2,3\n4,"open,6\n7,8,9\n'), "x.csv")
    assert [(r.line, r.key) for r in parsed.rejections] == [(3, "ingest.reject.quote")]
    assert rows_of(parsed) == [["1", "2", "3"]]


def test_crlf_and_blank_lines_keep_line_numbers():
    text = "月,件数\r\n\r\n2026/07,1\r\n\r\n\r\n2026/08,2\r\n"
    parsed = read_export(utf8(text), "x.csv")
    assert [parsed.line_of_row(r[0]) for r in parsed.rows()] == [3, 6]


def test_footer_lines_are_skipped_not_rejected():
    text = "商談ID,金額,商談日\nD1,10,2026/07/01\n合計,10,\n出力件数: 1\n※ 税抜金額\n"
    parsed = read_export(utf8(text), "x.csv")
    assert parsed.rejections == []
    assert [(s.line, s.reason) for s in parsed.skipped] == [(4, "footer"), (5, "footer")]


# ---------------------------------------------------------------- bad input
def test_empty_and_whitespace_files_are_refused():
    for data in (b"", b"  \r\n\n", b"\xef\xbb\xbf", b"\xff\xfe"):
        with pytest.raises(IngestError) as err:
            read_export(data, "x.csv")
        assert err.value.key == "ingest.empty"


def test_header_only_is_refused():
    for text in ("月,件数\n", "月,件数\n,\n\n"):
        with pytest.raises(IngestError) as err:
            read_export(utf8(text), "x.csv")
        assert (err.value.key, err.value.values) == ("ingest.header_only", {"line": 1})


def test_png_renamed_csv_is_refused():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    with pytest.raises(IngestError) as err:
        read_export(png, "photo.csv")
    assert (err.value.key, err.value.values["kind"]) == ("ingest.binary", "PNG")
    assert "PNG" in err.value.message("en") and "PNG" in err.value.message("ja")


def test_binary_data_is_refused():
    with pytest.raises(IngestError) as err:
        read_export(bytes(range(256)) * 4, "x.csv")
    assert err.value.key in ("ingest.binary", "ingest.binary_content")
    with pytest.raises(IngestError) as err:
        read_export(b"a,b\n1,2\n3,\x07\n", "x.csv")
    assert (err.value.key, err.value.values["line"]) == ("ingest.binary_content", 3)


def test_unknown_encoding_names_the_line():
    data = "name,city\n東京,Paris\n".encode() + b"caf\xe9\xff,Z\n"  # UTF-8 damaged on line 3
    with pytest.raises(IngestError) as err:
        read_export(data, "x.csv")
    assert (err.value.key, err.value.values["line"]) == ("ingest.unknown_encoding", 3)


def test_single_column_text_is_not_a_table():
    with pytest.raises(IngestError) as err:
        read_export(utf8("just some words\nand more words\n"), "x.csv")
    assert err.value.key == "ingest.no_table"


def test_every_row_ragged_is_an_error():
    with pytest.raises(IngestError) as err:
        read_export(utf8("a,b,c\n1,2\n3,4\n"), "x.csv")
    assert (err.value.key, err.value.values) == ("ingest.no_readable_rows", {"count": 2, "line": 2})


def test_a_300_mb_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(300 * 1024 * 1024)  # sparse: takes no disk space
    with pytest.raises(IngestError) as err:
        read_export(path)
    assert (err.value.key, err.value.values) == ("ingest.too_large", {"size_mb": "300.0", "limit_mb": "200.0"})
    assert "300.0 MB" in err.value.message("en")

    class CountingStream(io.RawIOBase):
        """A seekable 300 MB stream that records how much was read."""
        def __init__(self):
            self.read_bytes, self.position = 0, 0

        def seekable(self):
            return True

        def seek(self, offset, whence=0):
            self.position = offset if whence == 0 else 300 * 1024 * 1024 + offset
            return self.position

        def tell(self):
            return self.position

        def read(self, n=-1):
            self.read_bytes += max(n, 0)
            return b"a" * max(n, 0)

    stream = CountingStream()
    with pytest.raises(IngestError) as err:
        read_export(stream, "huge.csv")
    assert err.value.key == "ingest.too_large" and stream.read_bytes == 0


def test_the_size_limit_is_configurable():
    data = utf8("月,件数\n" + "2026/07,1\n" * 200)
    with pytest.raises(IngestError) as err:
        read_export(data, "x.csv", max_bytes=1000)
    assert err.value.key == "ingest.too_large"
    assert read_export(data, "x.csv", max_bytes=10_000).row_count == 200


def test_missing_path_is_an_ingest_error(tmp_path):
    with pytest.raises(IngestError) as err:
        read_export(tmp_path / "nope.csv")
    assert err.value.key == "ingest.file_not_found"


def test_sql_looking_header_is_just_a_column_name():
    header = '"""; DROP TABLE plans; --"'
    parsed = read_export(utf8(f"月,{header}\n2026/07,5\n"), "x.csv")
    assert parsed.columns == ["月", '"; DROP TABLE plans; --']
    assert parsed.column_id('"; DROP TABLE plans; --') == '"c1"'
    assert rows_of(parsed) == [["2026/07", "5"]]


# ---------------------------------------------------------------- normalisation: SQL and Python agree
NUMBERS = [
    ("1,200,000", 1_200_000.0), ("¥1,200,000", 1_200_000.0), ("\\1,200,000", 1_200_000.0),
    ("￥1,200,000", 1_200_000.0), ("1200000円", 1_200_000.0),
    ("△5,000", -5000.0), ("▲5,000", -5000.0), ("(5,000)", -5000.0), ("-5", -5.0), ("１２３", 123.0),
    ("25%", 0.25), ("２５％", 0.25), ("1.2万", 12_000.0), ("3億", 300_000_000.0), (" 42 ", 42.0),
    ("", None), ("-", None), ("ー", None), ("abc", "error"), ("12a", "error"), ("inf", "error"),
]


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    install_macros(connection)
    yield connection
    connection.close()


@pytest.mark.parametrize(("cell", "expected"), NUMBERS)
def test_numbers_normalise_the_same_in_sql_and_python(con, cell, expected):
    sql_value, blank = con.execute("SELECT kpi_number(?), kpi_blank(?)", [cell, cell]).fetchone()
    if expected == "error":
        assert sql_value is None and not blank
        with pytest.raises(ValueError):
            cell_number(cell)
    else:
        assert sql_value == pytest.approx(expected) if expected is not None else sql_value is None
        assert cell_number(cell) == pytest.approx(expected) if expected is not None else cell_number(cell) is None
        assert blank == (expected is None)


def test_the_sql_rules_stay_small_when_nested(con):
    """A macro repeats its argument's text at each use of the parameter; the rules bind an argument they use more
    than once, so nesting them stays a small expression (repeated, it grew to hundreds of regular expressions and
    a tenth of a second of planning for every import query)."""
    plan = "".join(row[1] for row in con.execute(
        "EXPLAIN SELECT kpi_month(c), kpi_number(kpi_decimal_comma(c)) FROM (SELECT '1' AS c)").fetchall())
    assert plan.count("regexp_") < 60 and plan.count("translate(") <= 4


EXCEL_SERIAL = (date(2025, 4, 15) - date(1899, 12, 30)).days

MONTHS = [
    ("2025/04", date(2025, 4, 1)), ("2025-04", date(2025, 4, 1)), ("2025/4/1", date(2025, 4, 1)),
    ("2025年4月", date(2025, 4, 1)), ("2025年4月15日", date(2025, 4, 1)), ("Apr 2025", date(2025, 4, 1)),
    ("2025-04-15 10:23:00", date(2025, 4, 1)), ("2025/04/15 9:05", date(2025, 4, 1)),
    ("２０２５／０４／１５", date(2025, 4, 1)), ("202504", date(2025, 4, 1)), ("20250415", date(2025, 4, 1)),
    ("20250230", "error"), (str(EXCEL_SERIAL), date(2025, 4, 1)),
    ("2025/02/30", "error"), ("2025/13", "error"), ("next month", "error"), ("", None),
    # European exports: day first with dots, month/year
    ("15.04.2025", date(2025, 4, 1)), ("1.4.2025", date(2025, 4, 1)), ("15.04.2025 10:30", date(2025, 4, 1)),
    ("04/2025", date(2025, 4, 1)), ("4.2025", date(2025, 4, 1)), ("31.04.2025", "error"), ("13/2025", "error"),
]


@pytest.mark.parametrize(("cell", "expected"), MONTHS)
def test_months_normalise_the_same_in_sql_and_python(con, cell, expected):
    sql_value = con.execute("SELECT kpi_month(?)", [cell]).fetchone()[0]
    if expected == "error":
        assert sql_value is None
        with pytest.raises(ValueError):
            cell_month(cell)
    else:
        assert sql_value == expected
        assert cell_month(cell) == expected


def test_excel_serials_count_days_from_1899_12_30():
    assert cell_month("45748") == date(2025, 4, 1)  # Excel shows 45748 as 2025/04/01
    assert cell_month("45747.75") == date(2025, 3, 1)


# ================================================================ shapes and aggregation (through the preview)
SALES_KPIS = ["meetings", "win_rate", "avg_deal"]
MARKETING_KPIS = ["leads", "mql_rate", "sql_rate", "win_rate", "avg_deal"]


def make_plan(store, kgi: str = "revenue", kpis: list[str] | None = None, formula: str = "") -> Plan:
    plan = store.create_plan(Plan(name=f"plan {kgi}", fiscal_start=date(2026, 4, 1), months=12))
    store.save_kgi(KGI(plan_id=plan.id, key=kgi, name=kgi, formula=formula), None)
    for key in kpis if kpis is not None else SALES_KPIS:
        store.save_kpi(KPI(plan_id=plan.id, key=key, name=key,
                           aggregation=Aggregation.RATIO if key.endswith(("rate", "deal")) else Aggregation.SUM),
                       None)
    return store.get_plan(plan.id)


def preview(store, plan, text: str | bytes, mapping: dict, lang: str = "en"):
    data = text if isinstance(text, bytes) else utf8(text)
    return preview_import(store, plan, read_export(data, "export.csv"), mapping, lang)


def values_of(result) -> dict[tuple[str, str], float]:
    return {(row.metric, row.month.strftime("%Y-%m")): row.value for row in result.values.itertuples()}


def rejected(result) -> list[tuple[int | None, str]]:
    return [(r.line, r.key) for r in result.rejections]


def skipped(result) -> list[tuple[int, str]]:
    return [(s.line, s.reason) for s in result.skipped]


@pytest.fixture
def sales(store):
    return make_plan(store, "revenue", SALES_KPIS, "meetings * win_rate * avg_deal")


def test_shapes_are_guessed():
    long = "年月,指標,値\n2026/07,商談数,50\n2026/07,受注率,25%\n2026/08,商談数,40\n2026/08,受注率,20%\n"
    wide = "月,商談数,受注率\n2026/07,50,25%\n2026/08,40,20%\n"
    wide_dept = "月,部署,商談数,受注率\n2026/07,A,50,25%\n2026/07,B,5,2%\n2026/08,A,40,20%\n2026/08,B,4,1%\n"
    months = "指標,2026年7月,2026年8月,合計\n商談数,50,40,90\n受注率,25%,20%,22%\n"
    records = "商談ID,フェーズ,金額,商談日\nD1,受注,100,2026/07/03\nD2,失注,,2026/07/15\nD3,受注,50,2026/08/09\n"
    guessed = [read_export(utf8(t), "x.csv").shape for t in (long, wide, wide_dept, months, records)]
    assert guessed == ["long", "wide_metrics", "wide_metrics", "wide_months", "records"]


WIDE_MARKETING = (
    "\ufeff月,リード数,MQL率,SQL率,受注率,平均単価,マーケ起点売上\n"
    "2026/07,400,40%,50%,25%,\"400,000\",\"8,000,000\"\n"
    "2026-08,４１０,40.0%,50%,25%,¥400000,8200000円\n"
    "2026年9月,390,,50%,25%,400000,\n"
    "合計,\"1,200\",,,,,\"16,200,000\"\n")
MARKETING_MAPPING = {"shape": "wide_metrics", "date_column": "月", "metrics": {
    "leads": {"column": "リード数"}, "mql_rate": {"column": "MQL率"}, "sql_rate": {"column": "SQL率"},
    "win_rate": {"column": "受注率"}, "avg_deal": {"column": "平均単価"}, "mkt_revenue": {"column": "マーケ起点売上"}}}


def test_wide_metrics_as_columns(store):
    plan = make_plan(store, "mkt_revenue", MARKETING_KPIS)
    result = preview(store, plan, WIDE_MARKETING, MARKETING_MAPPING)
    got = values_of(result)
    assert got[("leads", "2026-07")] == 400 and got[("leads", "2026-08")] == 410 and got[("leads", "2026-09")] == 390
    assert got[("mql_rate", "2026-07")] == pytest.approx(0.4) and got[("mql_rate", "2026-08")] == pytest.approx(0.4)
    assert ("mql_rate", "2026-09") not in got  # blank is missing, not 0
    assert ("mkt_revenue", "2026-09") not in got
    assert got[("avg_deal", "2026-08")] == 400_000 and got[("mkt_revenue", "2026-08")] == 8_200_000
    assert got[("mkt_revenue", "2026-07")] == 8_000_000
    assert len(got) == 16
    assert skipped(result) == [(5, "total")]
    assert result.rejections == []


def test_zero_is_a_value_and_blank_is_not(store, sales):
    result = preview(store, sales, "月,商談数\n2026/07,0\n2026/08,\n2026/09,-\n",
                     {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "商談数"}}})
    assert values_of(result) == {("meetings", "2026-07"): 0.0}


def test_wide_metrics_per_department_filter_or_sum(store, sales):
    text = "月,部署,商談数\n2026/07,営業1部,30\n2026/07,営業2部,20\n2026/08,営業1部,25\n2026/08,営業2部,15\n"
    mapping = {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "商談数"}}}
    one = preview(store, sales, text, {**mapping, "filters": [{"column": "部署", "op": "=", "value": "営業1部"}]})
    assert values_of(one) == {("meetings", "2026-07"): 30, ("meetings", "2026-08"): 25}
    assert [m.key for m in one.messages if m.key == "ingest.msg.filtered"] == ["ingest.msg.filtered"]
    both = preview(store, sales, text, {**mapping, "combine": "sum"})
    assert values_of(both) == {("meetings", "2026-07"): 50, ("meetings", "2026-08"): 40}
    clash = preview(store, sales, text, mapping)
    assert values_of(clash) == {("meetings", "2026-07"): 30, ("meetings", "2026-08"): 25}
    assert [(r.line, r.key, r.values["first_line"]) for r in clash.rejections] == [
        (3, "ingest.reject.duplicate", 2), (5, "ingest.reject.duplicate", 4)]


CS_WIDE_MONTHS = (
    "CS KPIレポート,,,,\n"
    "指標,単位,2026年7月,2026年8月,2026年9月,合計\n"
    "解約率(%),%,1.5,1.2,△0.5,2.2\n"
    "NPS,pt,32,35,38,\n"
    "顧客数,社,120,125,,\n"
    "備考,,,,,\n"
    "合計,,153.5,161.2,37.5,\n")


def test_wide_months_with_total_column_and_row(store):
    plan = make_plan(store, "nrr", ["churn_rate", "nps", "customers"])
    mapping = {"shape": "wide_months", "label_column": "指標", "metrics": {
        "churn_rate": {"label": "解約率(%)", "scale": 0.01}, "nps": {"label": "NPS"},
        "customers": {"source": "label", "label": "顧客数"}}}
    result = preview(store, plan, CS_WIDE_MONTHS, mapping)
    got = values_of(result)
    assert got == {("churn_rate", "2026-07"): pytest.approx(0.015), ("churn_rate", "2026-08"): pytest.approx(0.012),
                   ("churn_rate", "2026-09"): pytest.approx(-0.005), ("nps", "2026-07"): 32, ("nps", "2026-08"): 35,
                   ("nps", "2026-09"): 38, ("customers", "2026-07"): 120, ("customers", "2026-08"): 125}
    assert skipped(result) == [(1, "title"), (2, "column"), (7, "total")]
    assert [m.key for m in result.messages][:2] == ["ingest.msg.ignored_columns", "ingest.msg.unmapped_labels"]
    assert result.messages[1].values["labels"] == "備考"


def test_long_shape_with_labels_duplicates_and_unknown_metric(store, sales):
    text = ("年月,指標,値\n2026/07,商談数,50\n2026/07,受注率,25%\n2026/07,平均単価,\"1,200,000\"\n"
            "2026/07,訪問数,80\n2026/08,商談数,40\n2026/08,商談数,41\n2026/02/30,商談数,1\n合計,,131\n")
    mapping = {"shape": "long", "date_column": "年月", "label_column": "指標", "value_column": "値", "metrics": {
        "meetings": {"label": "商談数"}, "win_rate": {"label": "受注率"}, "avg_deal": {"label": "平均単価"}}}
    result = preview(store, sales, text, mapping)
    assert values_of(result) == {("meetings", "2026-07"): 50, ("win_rate", "2026-07"): 0.25,
                                 ("avg_deal", "2026-07"): 1_200_000, ("meetings", "2026-08"): 40}
    assert rejected(result) == [(7, "ingest.reject.duplicate"), (8, "ingest.reject.no_such_date")]
    assert skipped(result) == [(9, "total")]
    assert result.messages[0].values == {"labels": "訪問数"}


# ---------------------------------------------------------------- record lists
DEALS = (
    "商談レポート,,,,,,\n"
    "出力日: 2026/11/01,,,,,,\n"
    "商談ID,商談名,取引先名,フェーズ,金額,商談日,完了日\n"
    "D001,新規導入,①㈱アルファ,受注,\"1,200,000\",2026/07/03,2026/07/28\n"
    "D002,追加,㈱ベータ,失注,\"800,000\",2026/07/10,2026/07/30\n"
    "D003,更新,髙橋商店,提案中,,2026/07/21,\n"
    "D004,合計,ガンマ㈱,受注,\\600000,2026-08-04 10:23:00,2026/08/25\n"  # ¥ is byte 0x5C in CP932
    "D005,検討,デルタ,商談化,\"300,000\",2026/08/15,\n"
    "D006,大型,イプシロン,受注,\"2,400,000\",2026/08/20,2026/09/05\n"
    "D007,保守,ゼータ,won,\"(100,000)\",2026/09/01,2026/09/10\n"
    "合計,,,,\"5,200,000\",,\n"
    "出力件数: 7,,,,,,\n")
WON = {"column": "フェーズ", "op": "in", "value": ["受注", "Won"]}
DEALS_MAPPING = {"shape": "records", "date_column": "商談日", "metrics": {
    "meetings": {"source": "count"},
    "won": {"source": "count", "filters": [WON]},
    "win_rate": {"source": "formula", "formula": "won / meetings"},
    "revenue": {"source": "sum", "column": "金額", "date_column": "完了日", "filters": [WON]},
    "closed_won": {"source": "count", "date_column": "完了日", "filters": [WON]},
    "avg_deal": {"source": "formula", "formula": "revenue / closed_won"}}}


def test_record_list_counts_sums_and_derived_rates(store, sales):
    result = preview(store, sales, DEALS.encode("cp932"), DEALS_MAPPING)
    assert values_of(result) == {
        ("revenue", "2026-07"): 1_200_000, ("revenue", "2026-08"): 600_000, ("revenue", "2026-09"): 2_300_000,
        ("meetings", "2026-07"): 3, ("meetings", "2026-08"): 3, ("meetings", "2026-09"): 1,
        ("win_rate", "2026-07"): pytest.approx(1 / 3), ("win_rate", "2026-08"): pytest.approx(2 / 3),
        ("win_rate", "2026-09"): 1.0,
        ("avg_deal", "2026-07"): 1_200_000, ("avg_deal", "2026-08"): 600_000, ("avg_deal", "2026-09"): 1_150_000}
    # the deal named 合計 is a record (it has dates); the real total row and the footer are skipped
    assert skipped(result) == [(1, "title"), (2, "title"), (11, "total"), (12, "footer")]
    assert result.rejections == []
    assert result.values.set_index(["metric", "month"]).loc[("meetings", date(2026, 7, 1)), "rows"] == 3
    assert [m.key for m in result.messages] == ["ingest.msg.helpers"]


def test_record_list_rejects_bad_rows_from_every_metric(store, sales):
    text = ("商談ID,フェーズ,金額,商談日,完了日\n"
            "D1,受注,100,2026/07/03,2026/07/20\n"
            "D2,受注,abc,2026/07/05,2026/07/21\n"      # amount unreadable -> whole row out
            "D3,失注,xyz,2026/07/06,2026/07/22\n"      # amount unreadable but no metric sums it: fine
            "D4,受注,50,2026/02/30,2026/07/23\n"       # impossible date
            "D5,失注,,someday,\n"                      # not a date
            "D6,受注,70,,2026/07/25\n"                 # meeting date blank
            "D7,提案中,,2026/07/09,\n")                # open deal, no close date: fine
    result = preview(store, sales, text, DEALS_MAPPING)
    assert rejected(result) == [(3, "ingest.reject.bad_number"), (5, "ingest.reject.no_such_date"),
                                (6, "ingest.reject.bad_month"), (7, "ingest.reject.date_missing")]
    assert values_of(result) == {("meetings", "2026-07"): 3, ("win_rate", "2026-07"): pytest.approx(1 / 3),
                                 ("revenue", "2026-07"): 100, ("avg_deal", "2026-07"): 100}
    assert result.rejections[0].values == {"line": 3, "column": "金額", "value": "abc"}
    assert "abc" in result.rejections[0].message("ja") and "金額" in result.rejections[0].message("en")


def test_record_list_mean_distinct_and_filters(store):
    plan = make_plan(store, "kgi", ["tickets", "resolution_hours", "customers", "big", "small", "tagged", "open"])
    text = ("チケットID,顧客,優先度,対応時間,件名,受付日時,状態\n"
            "T1,A社,高,2.5,ログイン不可,2026-07-01 09:00:00,完了\n"
            "T2,B社,低,,請求書の再発行,2026-07-02 10:00:00,完了\n"
            "T3,A社,高,4.5,ログイン遅い,2026-07-15 11:00:00,対応中\n"
            "T4,C社,中,1,ログイン不可,2026-08-01 12:00:00,完了\n")
    mapping = {"shape": "records", "date_column": "受付日時", "metrics": {
        "tickets": {"source": "count"},
        "resolution_hours": {"source": "mean", "column": "対応時間"},
        "customers": {"source": "count_distinct", "column": "顧客"},
        "big": {"source": "count", "filters": [{"column": "対応時間", "op": ">=", "value": 2.5}]},
        "small": {"source": "count", "filters": [{"column": "対応時間", "op": "<=", "value": "1"}]},
        "tagged": {"source": "count", "filters": [{"column": "件名", "op": "contains", "value": "ログイン"}]},
        "open": {"source": "count", "filters": [{"column": "状態", "op": "!=", "value": "完了"}]}}}
    got = values_of(preview(store, plan, text, mapping))
    assert got == {("tickets", "2026-07"): 3, ("tickets", "2026-08"): 1,
                   ("resolution_hours", "2026-07"): 3.5, ("resolution_hours", "2026-08"): 1,  # blank is not 0
                   ("customers", "2026-07"): 2, ("customers", "2026-08"): 1,
                   ("big", "2026-07"): 2, ("big", "2026-08"): 0, ("small", "2026-07"): 0, ("small", "2026-08"): 1,
                   ("tagged", "2026-07"): 2, ("tagged", "2026-08"): 1, ("open", "2026-07"): 1, ("open", "2026-08"): 0}


def test_nps_from_survey_records(store):
    plan = make_plan(store, "nrr", ["nps"])
    rows = ["回答日,スコア"] + [f"2026/07/{d:02d},{s}" for d, s in enumerate([10, 9, 9, 8, 7, 6, 3, 10, 9, 0], 1)]
    mapping = {"shape": "records", "date_column": "回答日", "metrics": {
        "responses": {"source": "count"},
        "promoters": {"source": "count", "filters": [{"column": "スコア", "op": ">=", "value": 9}]},
        "detractors": {"source": "count", "filters": [{"column": "スコア", "op": "<=", "value": 6}]},
        "nps": {"source": "formula", "formula": "(promoters - detractors) / responses * 100"}}}
    assert values_of(preview(store, plan, "\n".join(rows) + "\n", mapping)) == {("nps", "2026-07"): 20.0}


def test_record_list_checks_only_the_rows_that_need_them(store, sales):
    """Blank-looking amounts, totals and footers are recognised on the rows lacking a date or a number, and only
    there: a dated 合計 deal stays a record, a total whose close date alone is given is still a total."""
    text = ("商談ID,フェーズ,金額,商談日,完了日\n"
            "D1,受注,100,2026/07/03,2026/07/20\n"
            "D2,受注,－,2026/07/05,2026/07/21\n"       # full-width dash: a blank amount, not an error
            "合計,受注,200,2026/07/06,2026/07/22\n"     # dated: a record whatever its first cell says
            "D4,受注,n/a,2026/07/07,2026/07/23\n"      # unreadable amount that a metric sums
            "合計,,300,,2026/07/31\n"                   # no meeting date: the total row
            "出力件数: 4,,,,\n")
    result = preview(store, sales, text, DEALS_MAPPING)
    assert skipped(result) == [(6, "total"), (7, "footer")]
    assert rejected(result) == [(5, "ingest.reject.bad_number")]
    assert values_of(result)[("revenue", "2026-07")] == 300
    assert values_of(result)[("meetings", "2026-07")] == 3


def test_record_list_global_filter_and_division_by_zero(store, sales):
    text = ("部署,フェーズ,商談日\n営業1部,受注,2026/07/01\n営業2部,失注,2026/07/02\n営業2部,失注,2026/08/02\n"
            "営業1部,失注,2026/08/03\n")
    mapping = {**DEALS_MAPPING, "filters": [{"column": "部署", "op": "=", "value": "営業2部"}], "metrics": {
        "meetings": {"source": "count"}, "won": {"source": "count", "filters": [WON]},
        "avg_deal": {"source": "formula", "formula": "meetings / won"}}}
    result = preview(store, sales, text, mapping)
    assert values_of(result) == {("meetings", "2026-07"): 1, ("meetings", "2026-08"): 1}
    assert [(r.key, r.values["month"], r.values["reason_key"]) for r in result.rejections] == [
        ("ingest.reject.formula", "2026-07", "engine.formula.division_by_zero"),
        ("ingest.reject.formula", "2026-08", "engine.formula.division_by_zero")]
    assert "0" in result.rejections[0].message("en")


def test_months_outside_the_plan_are_rejected(store, sales):
    text = "月,商談数\n2026/03,10\n2026/04,11\n2027/03,12\n2027/04,13\n"
    result = preview(store, sales, text,
                     {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "商談数"}}})
    assert values_of(result) == {("meetings", "2026-04"): 11, ("meetings", "2027-03"): 12}
    assert [(r.line, r.key, r.values["month"]) for r in result.rejections] == [
        (2, "ingest.reject.outside_plan", "2026-03"), (5, "ingest.reject.outside_plan", "2027-04")]
    assert "2026-04" in result.rejections[0].message("en") and "2027-03" in result.rejections[0].message("ja")


# ================================================================ mapping suggestions and profiles
SALES_ALIASES = {"meetings": ["商談数", "有効商談数", "meetings"], "win_rate": ["受注率", "win rate"],
                 "avg_deal": ["平均単価", "平均受注単価", "average deal"], "revenue": ["売上", "売上高", "revenue"]}


def test_suggest_mapping_from_headers_with_units_and_fuzzy_names():
    text = "対象月,商談数（件）,受注率(%),平均受注単価(円),売上高,メモ\n2026/07,50,25,\"1,200,000\",\"15,000,000\",a\n"
    parsed = read_export(utf8(text), "x.csv")
    mapping = suggest_mapping(parsed, SALES_ALIASES, ["revenue", *SALES_KPIS])
    assert mapping["shape"] == "wide_metrics" and mapping["date_column"] == "対象月"
    assert mapping["metrics"] == {
        "revenue": {"source": "column", "column": "売上高"},
        "meetings": {"source": "column", "column": "商談数（件）"},
        "win_rate": {"source": "column", "column": "受注率(%)", "scale": 0.01},
        "avg_deal": {"source": "column", "column": "平均受注単価(円)"}}
    assert json.loads(json.dumps(mapping)) == mapping  # a plain JSON document


def test_suggest_mapping_for_labels_and_records():
    months = read_export(utf8("項目,2026年7月,2026年8月,合計\n有効商談数,50,40,90\n受注率,25%,20%,\n"), "m.csv")
    assert suggest_mapping(months, SALES_ALIASES, SALES_KPIS) == {
        "version": 1, "shape": "wide_months", "filters": [], "combine": "reject", "label_column": "項目",
        "metrics": {"meetings": {"source": "label", "label": "有効商談数"},
                    "win_rate": {"source": "label", "label": "受注率"}}}
    cs = read_export(utf8(CS_WIDE_MONTHS), "cs.csv")
    assert suggest_mapping(cs, {"churn_rate": ["解約率"], "nps": ["NPS"]}, ["churn_rate", "nps"])["metrics"] == {
        "churn_rate": {"source": "label", "label": "解約率(%)", "scale": 0.01},  # 1.5 written for 1.5 %
        "nps": {"source": "label", "label": "NPS"}}
    records = read_export(DEALS.encode("cp932"), "deals.csv")
    suggested = suggest_mapping(records, {"revenue": ["金額"]}, ["revenue", *SALES_KPIS])
    assert (suggested["shape"], suggested["date_column"]) == ("records", "商談日")
    won = [{"column": "フェーズ", "op": "in", "value": ["受注", "won"]}]
    assert suggested["metrics"] == {  # a deal list's roles: distinct IDs, won phases, won amounts, two formulas
        "meetings": {"source": "count_distinct", "column": "商談ID"},
        "won": {"source": "count_distinct", "column": "商談ID", "filters": won},
        "revenue": {"source": "sum", "column": "金額", "filters": won},
        "win_rate": {"source": "formula", "formula": "won / meetings"},
        "avg_deal": {"source": "formula", "formula": "revenue / won"}}


def test_profile_round_trip_next_month_maps_itself(store, sales):
    july = read_export(DEALS.encode("cp932"), "deals_2026_07.csv")
    assert find_mapping(store, july, sales) is None
    save_mapping_profile(store, july, DEALS_MAPPING, "SFA 商談一覧", sales)
    august = DEALS.replace("D001", "D101").replace("2026/07/03", "2026/07/04").encode("cp932")
    parsed = read_export(august, "deals_2026_08.csv")
    assert parsed.sha256 != july.sha256 and parsed.header_signature == july.header_signature
    profile = find_mapping(store, parsed, sales)
    assert profile.name == "SFA 商談一覧"
    result = preview_import(store, sales, parsed, profile.mapping, "ja")
    assert values_of(result)[("meetings", "2026-07")] == 3


# ================================================================ preview, commit, re-import, supersede, revert
def test_commit_writes_values_and_reimport_changes_nothing(store, sales):
    data = DEALS.encode("cp932")
    first = commit_import(store, sales, read_export(data, "deals.csv"), DEALS_MAPPING,
                          preview(store, sales, data, DEALS_MAPPING))
    assert (first.written, first.unchanged, first.rejected, first.already_imported) == (12, 0, 0, None)
    actuals = store.actual_values(sales.id)
    assert actuals["revenue"][date(2026, 9, 1)] == 2_300_000 and actuals["meetings"][date(2026, 7, 1)] == 3
    assert "won" not in actuals and "closed_won" not in actuals  # helpers are never written
    imports = store.list_imports(sales.id)
    assert imports[0].encoding == "cp932" and imports[0].rows_total == 7

    again = read_export(data, "deals (1).csv")
    shown = preview_import(store, sales, again, DEALS_MAPPING, "ja")
    assert shown.already_imported.id == first.import_id and not shown.can_commit
    assert set(shown.values["status"]) == {"unchanged"}
    second = commit_import(store, sales, again, DEALS_MAPPING, shown)
    assert second.already_imported and second.import_id == first.import_id
    assert "#1" in second.message("en") and "取り込み済み" in second.message("ja")
    assert len(store.list_imports(sales.id)) == 1
    assert store.actual_values(sales.id) == actuals


def test_corrected_month_supersedes_and_revert_restores(store, sales):
    mapping = {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "商談数"}}}
    first = commit_import(store, sales, read_export(utf8("月,商談数\n2026/07,50\n2026/08,40\n"), "a.csv"), mapping)
    corrected = read_export(utf8("月,商談数\n2026/08,44\n2026/09,45\n"), "b.csv")
    shown = preview_import(store, sales, corrected, mapping, "en")
    assert shown.values[["month", "value", "status"]].values.tolist() == [
        [date(2026, 8, 1), 44.0, "changed"], [date(2026, 9, 1), 45.0, "new"]]
    assert shown.values["current"].iloc[0] == 40.0 and pd.isna(shown.values["current"].iloc[1])
    second = commit_import(store, sales, corrected, mapping, shown)
    assert (second.written, second.unchanged) == (2, 0)
    assert store.actual_values(sales.id)["meetings"] == {date(2026, 7, 1): 50, date(2026, 8, 1): 44,
                                                          date(2026, 9, 1): 45}
    history = store.actual_history(sales.id, "meetings", date(2026, 8, 1))
    assert [e.value for e in history] == [40.0, 44.0]
    assert [e.current for e in history] == [False, True]
    assert [e.file_name for e in history] == ["a.csv", "b.csv"]

    assert revert_import(store, second.import_id).rows == 2
    assert store.actual_values(sales.id)["meetings"] == {date(2026, 7, 1): 50, date(2026, 8, 1): 40}
    # a reverted file can be imported again
    again = commit_import(store, sales, read_export(utf8("月,商談数\n2026/08,44\n2026/09,45\n"), "b.csv"), mapping)
    assert again.already_imported is None and again.import_id != second.import_id
    assert first.import_id != again.import_id


def test_rejections_are_stored_with_the_import(store, sales):
    text = "月,商談数\n2026/07,50\n2026/08,abc\n2026/02/30,1\n"
    mapping = {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "商談数"}}}
    shown = preview(store, sales, text, mapping, lang="ja")
    with pytest.raises(IngestError) as refused:
        commit_import(store, sales, read_export(utf8(text), "x.csv"), mapping, shown)
    assert refused.value.key == "ingest.rejected_not_accepted" and store.list_imports(sales.id) == []
    result = commit_import(store, sales, read_export(utf8(text), "x.csv"), mapping, shown, accept_rejected=True)
    assert result.rejected == 2
    stored = store.import_rejections(result.import_id)
    assert [r.line_no for r in stored] == [3, 4]
    assert "abc" in stored[0].reason and "数値ではありません" in stored[0].reason


def test_mapping_errors_write_nothing(store, sales):
    parsed = read_export(utf8("月,商談数\n2026/07,50\n"), "x.csv")
    bad = [
        ({"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "件数"}}},
         "ingest.mapping.unknown_column"),
        ({"shape": "wide_metrics", "date_column": "年月", "metrics": {"meetings": {"column": "商談数"}}},
         "ingest.mapping.unknown_column"),
        ({"shape": "cubes", "metrics": {"meetings": {}}}, "ingest.mapping.bad_shape"),
        ({"shape": "wide_metrics", "date_column": "月", "metrics": {}}, "ingest.mapping.no_metrics"),
        ({"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"source": "sum", "column": "商談数"}}},
         "ingest.mapping.bad_source"),
        ({"shape": "wide_metrics", "date_column": "月", "metrics": {
            "meetings": {"column": "商談数"}, "win_rate": {"formula": "__import__('os')"}}},
         "ingest.mapping.bad_formula"),
        ({"shape": "wide_metrics", "date_column": "月", "metrics": {
            "meetings": {"column": "商談数"}, "win_rate": {"formula": "meetings / avg_deal"},
            "avg_deal": {"formula": "win_rate * 2"}}}, "ingest.mapping.formula_cycle"),
        ({"shape": "wide_metrics", "date_column": "月", "filters": [{"column": "月", "op": "like", "value": "%"}],
          "metrics": {"meetings": {"column": "商談数"}}}, "ingest.mapping.bad_filter"),
        ({"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "商談数", "scale": 0}}},
         "ingest.mapping.bad_scale"),
        ({"shape": "records", "metrics": {"meetings": {"source": "count"}}}, "ingest.mapping.no_date_column"),
    ]
    for mapping, key in bad:
        with pytest.raises(IngestError) as err:
            commit_import(store, sales, parsed, mapping)
        assert err.value.key == key, mapping
        assert err.value.message("ja") != key and err.value.message("en") != key
    assert store.list_imports(sales.id) == [] and store.actual_values(sales.id) == {}


def test_nothing_to_import_is_an_error_and_writes_nothing(store, sales):
    parsed = read_export(utf8("月,訪問数\n2026/07,50\n"), "x.csv")
    mapping = {"shape": "wide_metrics", "date_column": "月", "metrics": {"visits": {"column": "訪問数"}}}
    shown = preview_import(store, sales, parsed, mapping, "en")
    assert [m.key for m in shown.messages] == ["ingest.msg.not_in_plan", "ingest.msg.unmapped_keys"]
    assert shown.messages[0].values == {"metrics": "visits"}
    with pytest.raises(IngestError) as err:
        commit_import(store, sales, parsed, mapping, shown)
    assert err.value.key == "ingest.nothing_to_import"
    assert store.list_imports(sales.id) == []


def test_hostile_header_and_filter_values_stay_data(store, sales):
    column = '"; DROP TABLE plans; --'
    text = '月,部署,"""; DROP TABLE plans; --"\n2026/07,A,50\n2026/08,x\' OR \'1\'=\'1,60\n'
    mapping = {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": column}},
               "filters": [{"column": "部署", "op": "!=", "value": "x' OR '1'='1"}]}
    result = commit_import(store, sales, read_export(utf8(text), "x.csv"), mapping)
    assert result.written == 1
    assert store.actual_values(sales.id) == {"meetings": {date(2026, 7, 1): 50.0}}
    assert [p.id for p in store.list_plans()] == [sales.id]


def test_rejections_csv_neutralises_formulas_and_keeps_script_as_text(store, sales):
    text = ("商談ID,商談名,フェーズ,商談日\n"
            "=cmd|' /C calc'!A0,<script>alert(1)</script>,受注,2026/13/01\n"
            "@SUM(1),+1,-2,someday\n"
            "D3,<b>ok</b>,受注,2026/07/01\n")
    mapping = {"shape": "records", "date_column": "商談日", "metrics": {"meetings": {"source": "count"}}}
    parsed = read_export(utf8(text), "x.csv")
    assert parsed.sample["商談名"].tolist() == ["<script>alert(1)</script>", "+1", "<b>ok</b>"]
    shown = preview_import(store, sales, parsed, mapping, "en")
    assert rejected(shown) == [(2, "ingest.reject.no_such_date"), (3, "ingest.reject.bad_month")]
    data = rejections_csv(shown, "en")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["line", "kind", "reason", "original row"]
    assert rows[1][3] == "'=cmd|' /C calc'!A0,<script>alert(1)</script>,受注,2026/13/01"
    assert rows[2][3].startswith("'@SUM(1)")
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert neutralise("-2") == "'-2" and neutralise("2") == "2" and neutralise(None) == ""
    japanese = list(csv.reader(io.StringIO(rejections_csv(shown, "ja", include_skipped=True).decode("utf-8-sig"))))
    assert japanese[0] == ["行", "種別", "理由", "元の行"] and len(japanese) == 3
    values = list(csv.reader(io.StringIO(values_csv(shown, "en").decode("utf-8-sig"))))
    assert values == [["metric", "month", "value", "current value", "status", "line", "rows"],
                      ["meetings", "2026-07-01", "1.0", "", "new", "4", "1"]]


# ================================================================ the demo exports in data/samples
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _generator():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES.parent.parent / "bench" / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_samples_are_what_the_generator_writes(tmp_path):
    written = _generator().write_all(tmp_path)
    assert sorted(written) == sorted(p.name for p in SAMPLES.iterdir())
    for name, path in written.items():
        assert path.read_bytes() == (SAMPLES / name).read_bytes(), name


def template_plan(store, template_id: str):
    templates = pytest.importorskip("kpi_core.adapters.templates")
    template = templates.find_template(template_id)
    plan = create_plan_from_template(store, template, "ja", fiscal_start=date(2026, 4, 1))
    return plan, templates.aliases_for(template)


def _deals_by_month() -> dict[str, dict[str, float]]:
    """An independent reading of the SFA sample with the csv module: per month of 商談日."""
    lines = (SAMPLES / "sales_sfa_deals_cp932.csv").read_bytes().decode("cp932").splitlines()
    reader = csv.DictReader(lines[3:])
    result: dict[str, dict[str, float]] = {}
    for row in reader:
        if not row["商談日"]:
            continue
        month = row["商談日"][:7].replace("/", "-")
        slot = result.setdefault(month, {"meetings": 0, "won": 0, "revenue": 0})
        slot["meetings"] += 1
        if row["フェーズ"] == "受注":
            slot["won"] += 1
            slot["revenue"] += int(row["金額"].lstrip("\\").replace(",", ""))
    return result


def test_sales_sample_imports_into_a_plan_from_the_sales_template(store):
    plan, _ = template_plan(store, "sales")
    mapping = json.loads((SAMPLES / "sales_sfa_deals_cp932.mapping.json").read_text(encoding="utf-8"))
    parsed = read_export(SAMPLES / "sales_sfa_deals_cp932.csv")
    assert (parsed.encoding, parsed.header_line, parsed.shape) == ("cp932", 4, "records")
    shown = preview_import(store, plan, parsed, mapping, "ja")
    assert shown.rejections == [] and [s.reason for s in shown.skipped] == ["title", "title", "total", "footer"]
    expected = _deals_by_month()
    assert sorted(expected) == ["2026-07", "2026-08", "2026-09", "2026-10"]
    got = values_of(shown)
    for month, m in expected.items():
        assert got[("meetings", month)] == m["meetings"]
        assert got[("revenue", month)] == m["revenue"]
        assert got[("win_rate", month)] == pytest.approx(m["won"] / m["meetings"])
        assert got[("avg_deal", month)] == pytest.approx(m["revenue"] / m["won"])
        # the driver identity of the template holds month by month
        assert got[("revenue", month)] == pytest.approx(
            got[("meetings", month)] * got[("win_rate", month)] * got[("avg_deal", month)])
    result = commit_import(store, plan, parsed, mapping, shown)
    assert (result.written, result.rejected) == (16, 0)


def test_sales_summary_in_utf16_matches_the_deals(store):
    plan, aliases = template_plan(store, "sales")
    parsed = read_export(SAMPLES / "sales_monthly_long_utf16.csv")
    assert (parsed.encoding, parsed.delimiter, parsed.shape) == ("utf-16-le", "\t", "long")
    mapping = suggest_mapping(parsed, aliases, ["revenue", *SALES_KPIS])
    assert {k: v["label"] for k, v in mapping["metrics"].items()} == {
        "revenue": "売上", "meetings": "商談数", "win_rate": "受注率", "avg_deal": "平均受注単価"}
    got = values_of(preview_import(store, plan, parsed, mapping, "en"))
    for month, m in _deals_by_month().items():
        assert got[("meetings", month)] == m["meetings"] and got[("revenue", month)] == m["revenue"]
        assert got[("win_rate", month)] == pytest.approx(round(m["won"] / m["meetings"], 3))


def test_marketing_summary_sample_maps_itself_from_the_template_aliases(store):
    plan, aliases = template_plan(store, "marketing")
    parsed = read_export(SAMPLES / "marketing_monthly_summary_utf8.csv")
    assert (parsed.encoding, parsed.shape) == ("utf-8-sig", "wide_metrics")
    mapping = suggest_mapping(parsed, aliases, ["mkt_revenue", *MARKETING_KPIS])
    assert set(mapping["metrics"]) == {"mkt_revenue", *MARKETING_KPIS}
    shown = preview_import(store, plan, parsed, mapping, "ja")
    assert shown.rejections == [] and [s.reason for s in shown.skipped] == ["total"]
    rows = list(csv.reader(io.StringIO((SAMPLES / "marketing_monthly_summary_utf8.csv").read_text("utf-8-sig"))))
    got = values_of(shown)
    assert len(got) == 24
    for row in rows[1:5]:
        month = row[0].replace("/", "-")
        assert got[("leads", month)] == int(unicodedata.normalize("NFKC", row[1]))
        assert got[("mql_rate", month)] == pytest.approx(float(row[2].rstrip("%")) / 100)
        assert got[("mkt_revenue", month)] == int(row[6].replace(",", ""))


def test_cs_wide_months_sample(store):
    plan, aliases = template_plan(store, "cs")
    parsed = read_export(SAMPLES / "cs_kpi_wide_months_cp932.csv")
    assert (parsed.encoding, parsed.header_line, parsed.shape) == ("cp932", 2, "wide_months")
    keys = ["retained_revenue", "customers", "avg_mrr", "churn_rate", "expansion_rate", "nps"]
    mapping = suggest_mapping(parsed, aliases, keys)
    assert set(mapping["metrics"]) == set(keys)
    shown = preview_import(store, plan, parsed, mapping, "en")
    assert shown.rejections == []
    assert [(s.reason, s.raw) for s in shown.skipped if s.reason == "column"] == [("column", "合計")]
    got = values_of(shown)
    assert len(got) == 36
    for month in ("2026-04", "2026-09"):
        implied = got[("customers", month)] * got[("avg_mrr", month)] * (
            1 - got[("churn_rate", month)] + got[("expansion_rate", month)])
        assert got[("retained_revenue", month)] == pytest.approx(implied, rel=1e-3)  # rates printed to 0.1 %


def test_hr_applicants_sample(store):
    plan, _ = template_plan(store, "hr")
    mapping = json.loads((SAMPLES / "hr_applicants.mapping.json").read_text(encoding="utf-8"))
    parsed = read_export(SAMPLES / "hr_applicants.csv")
    shown = preview_import(store, plan, parsed, mapping, "ja")
    assert shown.rejections == [] and parsed.shape == "records"
    rows = list(csv.DictReader(io.StringIO((SAMPLES / "hr_applicants.csv").read_text("utf-8"))))
    got = values_of(shown)
    for month in ("2026-04", "2026-05", "2026-06", "2026-07"):
        mine = [r for r in rows if r["応募日"][:7].replace("/", "-") == month]
        offers = [r for r in mine if r["内定日"]]
        hired = [r for r in mine if r["選考ステータス"] == "入社"]
        retained = [r for r in mine if r["3ヶ月在籍"] == "○"]
        accepted = [r for r in mine if r["選考ステータス"] in ("内定承諾", "入社")]
        assert got[("applications", month)] == len(mine)
        assert got[("pass_rate", month)] == pytest.approx(len(offers) / len(mine))
        assert got[("offer_acceptance", month)] == pytest.approx(len(accepted) / len(offers))
        assert got[("retention_3m", month)] == pytest.approx(len(retained) / len(hired))
        assert got[("retained_hires", month)] == len(retained)
    assert sum(got[("retention_3m", m)] < 1 for m in ("2026-04", "2026-05", "2026-06", "2026-07")) >= 1


def test_cp932_whose_first_megabyte_is_ascii_is_still_detected():
    ascii_rows = "".join(f"ID{i:07d},{i % 97},2026/07/{i % 28 + 1:02d}\n" for i in range(50_000))  # > 1 MB
    data = ("code,count,date\n" + ascii_rows + "髙橋①,5,2026/08/01\n").encode("cp932")
    assert len(data) > 1 << 20
    parsed = read_export(data, "late.csv")
    assert parsed.encoding == "cp932" and parsed.row_count == 50_001 and parsed.rejections == []
    assert parsed.con.execute("SELECT c0 FROM raw WHERE rowid = 50000").fetchone()[0] == "髙橋①"


def test_invalid_bytes_after_the_first_megabyte_name_their_line():
    rows = "".join(f"ID{i:07d},{i % 97}\n" for i in range(80_000))
    data = ("code,count\n東京,1\n" + rows).encode() + b"caf\xe9,1\n" + b"x,2\n"  # UTF-8, one bad byte
    with pytest.raises(IngestError) as err:
        read_export(data, "broken.csv")
    assert (err.value.key, err.value.values["line"]) == ("ingest.unknown_encoding", 80_003)


def test_a_metric_named_like_a_total_is_not_a_total(store, sales):
    text = "月,合計金額,商談数\n2026/07,\"1,000\",5\n合計,\"1,000\",5\n"
    mapping = {"shape": "wide_metrics", "date_column": "月", "metrics": {
        "revenue": {"column": "合計金額"}, "meetings": {"column": "商談数"}}}
    result = preview(store, sales, text, mapping)
    assert values_of(result) == {("revenue", "2026-07"): 1000, ("meetings", "2026-07"): 5}
    assert skipped(result) == [(3, "total")]
    months = read_export(utf8("指標,2026年7月,合計金額,合計\n売上,10,10,10\n"), "m.csv")
    assert month_columns(months, "指標") == ([("2026年7月", date(2026, 7, 1))], ["合計"], ["合計金額"])
