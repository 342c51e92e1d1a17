"""Loading the decoded export into the parsing database as the table `raw` (c0 .. cN, all text, rowid in file order).

Two readers, one result:

- `load_arrow`: Arrow's multi-threaded CSV reader, registered in DuckDB without a copy. Several times faster, but it
  does not number lines, so it is used only when every record sits on one physical line and every row it could not
  split can be found again in the text: then line numbers follow by counting.
- `load_table`: DuckDB's reader, which numbers lines itself; used for everything else (values spanning lines, many
  broken rows, bytes that are not UTF-8 past the checked head).

Both return the cursor, the rows that could not be split as (body line, error type, text) and the clean-up.
"""
from __future__ import annotations

import functools
import itertools
import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from kpi_core.ingest.table import cell_names, one_line_blanks, split_line
from kpi_core.ingest.values import install_macros


class Loaded(NamedTuple):
    con: duckdb.DuckDBPyConnection
    rejects: list[tuple[int, str, str]]  # (body line, error type, text) of rows that could not be split
    cleanup: Callable[[], None]
    blank: list[int] | None = None  # empty body lines, when every record is known to be one line

# Rows Arrow cannot split are found again by searching the text, once per distinct row: a few footers are cheap,
# thousands of broken rows are DuckDB's job.
MAX_ARROW_INVALID = 200

# One in-memory DuckDB database per process for parsing (opening one costs ~0.1 s); each file gets its own
# cursor and schema, dropped when the ParsedFile is closed or collected.
_SHARED: duckdb.DuckDBPyConnection | None = None
_SHARED_LOCK = threading.Lock()
_SCHEMAS = itertools.count(1)


def _parsing_cursor() -> tuple[duckdb.DuckDBPyConnection, str]:
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = duckdb.connect(":memory:", config={"threads": 2})
            install_macros(_SHARED)
        schema = f"file_{next(_SCHEMAS)}"
        cursor = _SHARED.cursor()
    cursor.execute(f"CREATE SCHEMA {schema}")
    cursor.execute(f"SET search_path = '{schema},main'")
    return cursor, schema


def _drop(cursor: duckdb.DuckDBPyConnection, schema: str) -> None:
    try:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cursor.close()  # also releases a registered Arrow table
    except duckdb.Error:
        pass


def load_table(body: bytes | memoryview, delimiter: str, width: int) -> Loaded:
    """DuckDB's reader: `raw` as a table; rejects are numbered in DuckDB's logical lines (1 = the header)."""
    con, schema = _parsing_cursor()
    cleanup = functools.partial(_drop, con, schema)
    fd, path = tempfile.mkstemp(suffix=".csv", prefix="kpi_ingest_")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        columns = {name: "VARCHAR" for name in cell_names(width)}
        con.execute(
            "CREATE TABLE raw AS SELECT * FROM read_csv(?, delim = ?, quote = '\"', escape = '\"', header = true, "
            "columns = ?, auto_detect = false, ignore_errors = true, store_rejects = true, null_padding = false, "
            "max_line_size = 8388608)", [path, delimiter, columns])
        rejects = con.execute("SELECT line, min(error_type), min(csv_line) FROM reject_errors "
                              "GROUP BY line ORDER BY line").fetchall()
    except BaseException:
        cleanup()
        raise
    finally:
        os.unlink(path)
    return Loaded(con, rejects, cleanup)


def load_arrow(buffer: bytes, start: int, end: int, delimiter: str, width: int) -> Loaded | None:
    """Arrow's reader over the body `buffer[start:end]` (header first), or None when its result cannot be given
    exact line numbers (the caller then uses DuckDB's)."""
    header_end = buffer.find(b"\n", start, end)
    if header_end < 0 or buffer.count(b'"', start, header_end) % 2:
        return None  # a header alone, or one spanning lines
    table, invalid = _read_arrow(memoryview(buffer)[start:end], delimiter, width)
    if table is None:
        return None
    rejects = _locate(buffer, start, end, invalid, delimiter, width)
    blank = None if rejects is None else one_line_blanks(buffer, start, end, table.num_rows + len(rejects))
    if blank is None:
        return None
    con, schema = _parsing_cursor()
    try:
        con.register("raw", table.add_column(0, "rowid", pa.array(np.arange(table.num_rows, dtype=np.int64))))
    except BaseException:
        _drop(con, schema)
        raise
    return Loaded(con, rejects, functools.partial(_drop, con, schema), blank)


def _quiet_arrow_handlers(previous=sys.unraisablehook):
    """Arrow decodes a broken row's text before calling our handler and reports a failure there (bytes that are
    not UTF-8) as an unraisable exception on stderr. Nothing is lost: the read then fails or its lines do not add
    up, and DuckDB's reader takes over. So those reports are dropped; every other one goes on as before."""
    def hook(unraisable) -> None:
        if not getattr(unraisable.object, "quiet_when_unraisable", False):
            previous(unraisable)
    sys.unraisablehook = hook


_quiet_arrow_handlers()


def _read_arrow(body: bytes | memoryview, delimiter: str, width: int) -> tuple[pa.Table | None, list]:
    """All cells as text (empty cells NULL, quoted or not, as DuckDB reads them); the rows of another width aside."""
    invalid: list[tuple[int, str]] = []

    def on_invalid(row) -> str:
        invalid.append((row.actual_columns, row.text))
        return "error" if len(invalid) > MAX_ARROW_INVALID else "skip"
    on_invalid.quiet_when_unraisable = True

    names = cell_names(width)
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(body)),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            # Values spanning lines would make line numbers uncountable anyway: the faster block splitting is safe
            # because any such value is caught below (odd quotes in a broken row, or lines that do not add up).
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                              escape_char=False, newlines_in_values=False, ignore_empty_lines=True,
                                              invalid_row_handler=on_invalid),
            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                  strings_can_be_null=True, null_values=[""],
                                                  quoted_strings_can_be_null=True, check_utf8=True))
    except (pa.ArrowException, UnicodeError):
        return None, invalid
    return table, invalid


def _locate(buffer: bytes, start: int, end: int, invalid: list[tuple[int, str]], delimiter: str, width: int,
            ) -> list[tuple[int, str, str]] | None:
    """(body line, error type, text) of each row Arrow set aside, found by searching the text at line starts;
    None when a row cannot be placed exactly (odd quotes: a value cut across lines; text seen elsewhere)."""
    if not invalid:
        return []
    if any(text.count('"') % 2 for _, text in invalid):
        return None
    if any(found > width and _trailing_empty(text, delimiter, width) for found, text in invalid):
        return None  # DuckDB reads "1,2,3," as a row of three; so should every import
    wanted = Counter(text for _, text in invalid)
    columns = {text: found for found, text in invalid}
    positions: list[tuple[int, str]] = []
    for text, count in wanted.items():
        found = _line_starts_of(buffer, start, end, text.encode("utf-8"))
        if found is None or len(found) != count:
            return None
        positions += [(at, text) for at in found]
    rejects, line, previous = [], 1, start
    for at, text in sorted(positions):
        line += buffer.count(b"\n", previous, at)
        previous = at
        error = "MISSING COLUMNS" if columns[text] < width else "TOO MANY COLUMNS"
        rejects.append((line, error, text))
    return rejects


def _trailing_empty(text: str, delimiter: str, width: int) -> bool:
    return not any(cell.strip() for cell in split_line(text, delimiter)[width:])


def _line_starts_of(buffer: bytes, start: int, end: int, text: bytes, misses: int = 10_000) -> list[int] | None:
    """Offsets where `text` is a whole line of the body (LF or CRLF line ends; never the header). None after
    `misses` hits that are not whole lines: a text that common is not worth the search."""
    found, needle = [], b"\n" + text
    at = buffer.find(needle, start, end)
    while at >= 0:
        line_start, line_end = at + 1, at + len(needle)
        if line_end == end or buffer[line_end] == 0x0A or buffer[line_end:line_end + 2] == b"\r\n":
            found.append(line_start)
        else:
            misses -= 1
            if misses < 0:
                return None
        at = buffer.find(needle, line_start, end)
    return found
