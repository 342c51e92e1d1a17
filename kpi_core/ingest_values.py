"""Normalising cells: numbers and months, in Python for small summaries and in DuckDB SQL for record lists.

Both follow the same rules (units.parse_number / units.parse_month): thousands separators, ¥ / 円 / %, full-width
digits, △ ▲ (123) negatives, 万 / 億 / 千 multipliers; a blank cell is missing, never 0. Months from 2025/04, 2025-04,
2025/4/1, 2025年4月, Apr 2025, datetimes and Excel serial numbers; a date that does not exist is an error.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any

import duckdb

from .ingest_decode import IngestError
from .units import parse_month, parse_number

EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_SERIAL = re.compile(r"^\d{5}(\.\d+)?$")  # 1954..2173: five digits, optionally a time fraction
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")  # 20250415
BLANK_TEXTS = ("", "-", "—", "ー")

# A CP932 file's yen sign is byte 0x5C, which decodes as a backslash.
FULL_WIDTH = "０１２３４５６７８９．，－＋（）％￥　−／：\\"
HALF_WIDTH = "0123456789.,-+()%¥ -/:¥"

# Formats tried first (fast, in C); anything left over goes through the regular expression below.
DATE_FORMATS = ["%Y/%m/%d", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M",
                "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y/%m", "%Y-%m", "%Y年%m月%d日", "%Y年%m月", "%Y.%m.%d",
                "%b %Y", "%B %Y", "%b-%Y"]

# One definition of the SQL rules, installed as macros on each parsing connection.
MACROS = [
    f"CREATE OR REPLACE MACRO kpi_text(x) AS translate(trim(x), '{FULL_WIDTH}', '{HALF_WIDTH}')",
    "CREATE OR REPLACE MACRO kpi_blank(x) AS x IS NULL OR list_contains(['', '-', '—', 'ー'], kpi_text(x))",
    # slow path: sign marks, currency, separators, multipliers and percent
    ("CREATE OR REPLACE MACRO kpi_num_body(s) AS regexp_replace(regexp_replace(s, '^[△▲-]|^\\(|\\)$', '', 'g'), "
    "'[,\\s¥$円]|JPY|jpy', '', 'g')"),
    ("CREATE OR REPLACE MACRO kpi_num_slow(s) AS "
    "(CASE WHEN regexp_matches(s, '^[△▲-]|^\\(.*\\)$') THEN -1 ELSE 1 END) "
    "* (CASE WHEN regexp_matches(kpi_num_body(s), '億%?$') THEN 1e8 WHEN regexp_matches(kpi_num_body(s), '万%?$') "
    "THEN 1e4 WHEN regexp_matches(kpi_num_body(s), '千%?$') THEN 1e3 ELSE 1 END) "
    "* (CASE WHEN ends_with(kpi_num_body(s), '%') THEN 0.01 ELSE 1 END) "
    "* try_cast(regexp_replace(kpi_num_body(s), '[億万千%]+$', '') AS DOUBLE)"),
    "CREATE OR REPLACE MACRO kpi_finite(v) AS CASE WHEN isfinite(v) THEN v END",
    ("CREATE OR REPLACE MACRO kpi_number(x) AS CASE WHEN kpi_blank(x) THEN NULL ELSE kpi_finite(coalesce("
    "try_cast(replace(kpi_text(x), ',', '') AS DOUBLE), kpi_num_slow(kpi_text(x)))) END"),
    # months: strptime formats, then the general pattern (with a check that the date exists), then Excel serials
    ("CREATE OR REPLACE MACRO kpi_month_re(s) AS regexp_extract(s, "
    "'^(\\d{4})\\s*[/\\-.年]\\s*(\\d{1,2})\\s*月?(?:\\s*[/\\-.]?\\s*(\\d{1,2})\\s*日?)?(?:[ T].*)?$', "
    "['y', 'm', 'd'])"),
    ("CREATE OR REPLACE MACRO kpi_month_slow(s) AS CASE "
    "WHEN kpi_month_re(s).y <> '' THEN try(make_date(CAST(kpi_month_re(s).y AS INTEGER), "
    "CAST(kpi_month_re(s).m AS INTEGER), coalesce(CAST(nullif(kpi_month_re(s).d, '') AS INTEGER), 1))) "
    "WHEN regexp_full_match(s, '\\d{6}|\\d{8}') THEN try(make_date(CAST(s[1:4] AS INTEGER), "
    "CAST(s[5:6] AS INTEGER), coalesce(CAST(nullif(s[7:8], '') AS INTEGER), 1))) "
    "WHEN regexp_full_match(s, '\\d{5}(\\.\\d+)?') AND try_cast(s AS DOUBLE) BETWEEN 20000 AND 80000 "
    "THEN DATE '1899-12-30' + CAST(floor(CAST(s AS DOUBLE)) AS INTEGER) END"),
    ("CREATE OR REPLACE MACRO kpi_month(x) AS CASE WHEN kpi_blank(x) THEN NULL ELSE CAST(date_trunc('month', "
    f"coalesce(CAST(try_strptime(kpi_text(x), {DATE_FORMATS!r}) AS DATE), kpi_month_slow(kpi_text(x)))) AS DATE) END"),
    "CREATE OR REPLACE MACRO kpi_key(x) AS lower(kpi_text(x))",
]


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    for sql in MACROS:
        con.execute(sql)


# ---------------------------------------------------------------- Python, per cell (small shapes)
def is_blank(text: object) -> bool:
    return text is None or unicodedata.normalize("NFKC", str(text)).strip() in BLANK_TEXTS


def cell_number(text: object) -> float | None:
    """units.parse_number (None for blank, ValueError for text that is not a number), reading a backslash
    as the yen sign it is in CP932."""
    if isinstance(text, str):
        text = text.replace("\\", "¥")
    return parse_number(text)


def cell_month(text: object) -> date | None:
    """units.parse_month plus Excel serial day numbers (45474 -> 2024-07-01) and 20250415."""
    if text is not None:
        raw = unicodedata.normalize("NFKC", str(text)).strip()
        if _EXCEL_SERIAL.match(raw) and 20000 <= float(raw) <= 80000:
            day = EXCEL_EPOCH + timedelta(days=int(float(raw)))
            return date(day.year, day.month, 1)
        compact = _COMPACT_DATE.match(raw)
        if compact:
            try:
                day = date(*(int(g) for g in compact.groups()))
            except ValueError:
                raise ValueError(f"no such date: {text!r}") from None
            return date(day.year, day.month, 1)
    return parse_month(text)


def month_problem(text: object) -> str:
    """The catalogue key saying why a non-blank cell is not a month."""
    try:
        cell_month(text)
    except ValueError as exc:
        return "ingest.reject.no_such_date" if "no such date" in str(exc) else "ingest.reject.bad_month"
    return "ingest.reject.bad_month"


# ---------------------------------------------------------------- filters (SQL, one semantics for all shapes)
FILTER_OPS = ("=", "!=", "in", "not_in", ">=", "<=", ">", "<", "contains", "filled", "blank")


def _is_number_text(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    try:
        return parse_number(value) is not None
    except (ValueError, TypeError):
        return False


def _is_month_text(value: Any) -> bool:
    try:
        return cell_month(value) is not None
    except (ValueError, TypeError):
        return False


def filter_sql(column_id: str, op: str, value: Any) -> tuple[str, list[Any]]:
    """A boolean SQL condition on one column (identifier already quoted) with its bound parameters.

    Text comparisons ignore case, surrounding spaces and full/half width digits. >= <= > < compare numbers when
    the value is a number, months when it is a month, text otherwise. A blank cell matches only != and blank.
    """
    if op in ("=", "!="):
        sql = f"kpi_key({column_id}) = kpi_key(?)"
        return (sql if op == "=" else f"coalesce(NOT ({sql}), true)"), [str(value)]
    if op in ("in", "not_in"):
        values = [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        marks = ", ".join("kpi_key(?)" for _ in values) or "NULL"
        sql = f"kpi_key({column_id}) IN ({marks})"
        return (sql if op == "in" else f"coalesce(NOT ({sql}), true)"), values
    if op in (">=", "<=", ">", "<"):
        if _is_number_text(value):
            number = value if isinstance(value, (int, float)) else parse_number(value)
            return f"kpi_number({column_id}) {op} ?", [float(number)]
        if _is_month_text(value):
            return f"kpi_month({column_id}) {op} ?", [cell_month(value)]
        return f"kpi_key({column_id}) {op} kpi_key(?)", [str(value)]
    if op == "contains":
        return f"contains(kpi_key({column_id}), kpi_key(?))", [str(value)]
    if op == "filled":
        return f"NOT kpi_blank({column_id})", []
    if op == "blank":
        return f"kpi_blank({column_id})", []
    raise IngestError("ingest.mapping.bad_filter", op=op)
