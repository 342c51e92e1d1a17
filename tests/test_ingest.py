"""CSV import: decoding, parsing, normalising, shapes, record-list aggregation, mapping, preview and commit.

Every file is built here from text, every plan lives in a real DuckDB file in a temp dir.
"""
from __future__ import annotations

import io
from datetime import date

import duckdb
import pytest

from kpi_core.ingest import IngestError, read_export
from kpi_core.ingest_values import cell_month, cell_number, install_macros

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
    data = "name,city\ncafe,Paris\ncaf\xe9,Z\xfcrich\n".encode("latin-1")
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
    ("1,200,000", 1_200_000.0), ("¥1,200,000", 1_200_000.0), ("￥1,200,000", 1_200_000.0), ("1200000円", 1_200_000.0),
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


EXCEL_SERIAL = (date(2025, 4, 15) - date(1899, 12, 30)).days

MONTHS = [
    ("2025/04", date(2025, 4, 1)), ("2025-04", date(2025, 4, 1)), ("2025/4/1", date(2025, 4, 1)),
    ("2025年4月", date(2025, 4, 1)), ("2025年4月15日", date(2025, 4, 1)), ("Apr 2025", date(2025, 4, 1)),
    ("2025-04-15 10:23:00", date(2025, 4, 1)), ("2025/04/15 9:05", date(2025, 4, 1)),
    ("２０２５／０４／１５", date(2025, 4, 1)), ("202504", date(2025, 4, 1)), ("20250415", date(2025, 4, 1)),
    ("20250230", "error"), (str(EXCEL_SERIAL), date(2025, 4, 1)),
    ("2025/02/30", "error"), ("2025/13", "error"), ("next month", "error"), ("", None),
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
