"""The two readers behind read_export: Arrow's (fast, used when rows can be numbered exactly) and DuckDB's.

Whatever the text, when the Arrow reader answers it must give exactly DuckDB's rows, cells and rejected lines.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi_core import ingest
from kpi_core.ingest.load import MAX_ARROW_INVALID, load_arrow, load_table

WIDTH = 3


def _read(loader_result, width: int = WIDTH) -> tuple[list[tuple], list[tuple[int, str]]]:
    con, rejects, cleanup, _ = loader_result
    try:
        cells = ", ".join(f"c{i}" for i in range(width))
        rows = con.execute(f"SELECT rowid, {cells} FROM raw ORDER BY rowid").fetchall()
        return rows, [(int(line), (text or "").strip("\r\n")) for line, _, text in rejects]
    finally:
        cleanup()


def _both(text: str, width: int = WIDTH, delimiter: str = ","):
    body = text.encode("utf-8")
    arrow = load_arrow(body, 0, len(body), delimiter, width)
    duck = _read(load_table(body, delimiter, width), width)
    return (_read(arrow, width) if arrow else None), duck


def test_a_clean_file_is_read_by_arrow_with_its_cells():
    arrow, duck = _both('a,b,c\n1,"2,5",\n"",x,"say ""hi"""\n')
    assert arrow == duck
    assert arrow[0] == [(0, "1", "2,5", None), (1, None, "x", 'say "hi"')]


def test_footers_blank_lines_and_ragged_rows_keep_their_line_numbers():
    text = "a,b,c\r\n1,2,3\r\n\r\n4,5\r\n6,7,8\r\n出力件数: 3\r\n9,10,11,12\r\n出力件数: 3\r\n"
    arrow, duck = _both(text)
    assert arrow == duck
    assert arrow[1] == [(4, "4,5"), (6, "出力件数: 3"), (7, "9,10,11,12"), (8, "出力件数: 3")]


def test_a_value_spanning_lines_is_left_to_duckdb():
    body = b'a,b,c\n1,"two\nlines",3\n4,5,6\n'
    assert load_arrow(body, 0, len(body), ",", WIDTH) is None
    rows, rejects = _read(load_table(body, ",", WIDTH))
    assert rows[0] == (0, "1", "two\nlines", "3") and not rejects


def test_a_value_spanning_lines_across_arrow_blocks_is_left_to_duckdb():
    filler = "".join(f"{i},x,y\n" for i in range(120_000))  # > 1 MB: Arrow splits the text into blocks
    body = f'a,b,c\n{filler}1,"two\nlines",3\n{filler}'.encode()
    assert load_arrow(body, 0, len(body), ",", WIDTH) is None


def test_many_broken_rows_are_left_to_duckdb():
    body = ("a,b,c\n" + "".join(f"{i},x\n" for i in range(MAX_ARROW_INVALID + 5))).encode()
    assert load_arrow(body, 0, len(body), ",", WIDTH) is None


def test_bytes_that_are_not_utf8_are_left_to_duckdb():
    body = "a,b,c\n1,受注,3\n".encode("cp932")
    assert load_arrow(body, 0, len(body), ",", WIDTH) is None


def test_read_export_uses_arrow_and_reports_the_same_lines():
    rows = "".join(f"2026/04/{1 + i % 28:02d},{i}\n" for i in range(3000))
    text = f"日付,件数\n{rows}合計,99\n※ 出力件数: 3000\n"
    parsed = ingest.read_export(text.encode("utf-8"), "x.csv")
    try:
        assert "rowid" in [d[0] for d in parsed.con.execute("DESCRIBE raw").fetchall()]  # the Arrow view
        assert parsed.row_count == 3001  # the total row is a row until a mapping skips it
        assert [(s.line, s.reason) for s in parsed.skipped] == [(3003, "footer")]
        assert (parsed.line_of_row(2999), parsed.line_of_row(3000)) == (3001, 3002)
    finally:
        parsed.close()


_CELL = st.one_of(
    st.sampled_from(["", " ", "受注", "㈱テスト", "1,234", "2025/04/01", "-", "合計"]),
    st.text(alphabet='ab1 ,"\r\t', max_size=6),
)


def _quoted(cell: str) -> str:
    if any(ch in cell for ch in ',"\r\n') or cell.startswith(" "):
        return '"' + cell.replace('"', '""') + '"'
    return cell


_LINE = st.one_of(
    st.lists(_CELL, min_size=WIDTH, max_size=WIDTH).map(lambda cells: ",".join(map(_quoted, cells))),
    st.lists(_CELL, min_size=1, max_size=WIDTH + 2).map(lambda cells: ",".join(map(_quoted, cells))),
    st.sampled_from(["", "出力件数: 12", "※ 社外秘", "  ", ",,"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_LINE, max_size=12), ending=st.sampled_from(["\n", "\r\n"]), final=st.booleans())
def test_arrow_agrees_with_duckdb_whenever_it_answers(lines, ending, final):
    text = "h1,h2,h3" + ending + ending.join(lines) + (ending if final and lines else "")
    arrow, duck = _both(text)
    if arrow is not None:
        assert arrow == duck


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters(delimiter):
    text = delimiter.join(["a", "b", "c"]) + "\n" + delimiter.join(["1", "x,y", "3"]) + "\n"
    arrow, duck = _both(text, delimiter=delimiter)
    assert arrow == duck and arrow[0] == [(0, "1", "x,y", "3")]


def test_trailing_empty_cells_are_left_to_duckdb_which_keeps_the_row():
    body = b"a,b,c\n1,2,3,\n"
    assert load_arrow(body, 0, len(body), ",", WIDTH) is None
    assert _read(load_table(body, ",", WIDTH)) == ([(0, "1", "2", "3")], [])
