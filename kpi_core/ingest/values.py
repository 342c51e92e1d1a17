"""Normalising cells: numbers and months, in Python for small summaries and in DuckDB SQL for record lists.

Both follow the same rules (units.parse_number / units.parse_month): thousands separators, ¥ / 円 / %, full-width
digits, △ ▲ (123) negatives, 万 / 億 / 千 multipliers; a blank cell is missing, never 0. A file written with decimal
commas (1.234,50 / 12,5) is read as such only when the file says so (ParsedFile.decimal_comma); otherwise such a
cell is rejected with its reason, never read as 123450 or 125. Months from 2025/04, 2025-04,
2025/4/1, 2025年4月, Apr 2025, datetimes and Excel serial numbers; a date that does not exist is an error.
"""
from __future__ import annotations

import re
import unicodedata
import weakref
from datetime import date, timedelta
from typing import Any

import duckdb

from kpi_core.domain.units import DATE_NOISE, ERA_FIRST_YEAR, ERA_PATTERN, parse_month, parse_number
from kpi_core.errors import WorkbenchError
from kpi_core.ingest.decode import IngestError

EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_SERIAL = re.compile(r"^\d{5}(\.\d+)?$")  # 1954..2173: five digits, optionally a time fraction
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")  # 20250415
BLANK_TEXTS = ("", "-", "—", "ー", "―", "‐", "–")

# Number cores (the digits, points and commas of a cell): how each style writes a number.
THOUSANDS_COMMA_RE = r"\d{1,3}(,\d{3})+(\.\d+)?"
POINT_NUMBER_RE = r"\d{1,3}(,\d{3})+(\.\d*)?|\d*(\.\d*)?"  # 1,234.50  1234.5  .5
COMMA_NUMBER_RE = r"\d{1,3}(\.\d{3})+(,\d*)?|\d*(,\d*)?"  # 1.234,50  1234,5  ,5
_POINT_NUMBER = re.compile(POINT_NUMBER_RE)
_COMMA_NUMBER = re.compile(COMMA_NUMBER_RE)
_NOT_CORE = re.compile(r"[^0-9.,]")

# A CP932 file's yen sign is byte 0x5C, which decodes as a backslash.
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
FULL_WIDTH = "０１２３４５６７８９．，－＋（）％￥　−／：\\" + "".join(chr(ord(c) + 0xFEE0) for c in _LETTERS)
HALF_WIDTH = "0123456789.,-+()%¥ -/:¥" + _LETTERS

# Formats tried first (fast, in C); anything left over goes through the regular expression below.
DATE_FORMATS = ["%Y/%m/%d", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M",
                "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y/%m", "%Y-%m", "%Y年%m月%d日", "%Y年%m月", "%Y.%m.%d",
                "%b %Y", "%B %Y", "%b-%Y", "%b %d, %Y", "%B %d, %Y"]

_ERA_SQL = "(?i:" + ERA_PATTERN + ")"  # its two groups keep their numbers
_ERA_BASE_SQL = ("CASE upper(regexp_extract(s, '^" + _ERA_SQL + "', 1)) " + " ".join(
    f"WHEN '{era}' THEN {year}" for era, year in ERA_FIRST_YEAR.items()) + " END")

# One definition of the SQL rules, installed as macros on the parsing connection. Each tries a cheap cast first
# and reaches the slow normalisation (translate, regular expressions) only for the cells that need it: CASE
# evaluates its branches lazily where coalesce does not.
# A macro repeats its argument's text wherever its body uses the parameter, and the nesting below would multiply
# that into an expression of thousands of nodes that takes DuckDB longer to plan than a million rows take to run.
# So a body that uses its parameter more than once binds it once, as a lambda's parameter: `kpi_let(value, body)`
# below stands for list_transform([value], lambda name: body)[1].
def kpi_let(value: str, name: str, body: str) -> str:
    """SQL evaluating `body` with `name` bound to `value` (computed once, whatever the size of its text)."""
    return f"list_transform([{value}], lambda {name}: {body})[1]"


_NUM_SLOW = ("(CASE WHEN regexp_matches(n_, '^[△▲-]|^\\(.*\\)$') THEN -1 ELSE 1 END) * " + kpi_let(
    "kpi_num_body(n_)", "b_",
    "(CASE WHEN regexp_matches(b_, '億%?$') THEN 1e8 WHEN regexp_matches(b_, '万%?$') THEN 1e4 "
    "WHEN regexp_matches(b_, '千%?$') THEN 1e3 ELSE 1 END) * (CASE WHEN ends_with(b_, '%') THEN 0.01 ELSE 1 END) "
    "* try_cast(regexp_replace(b_, '[億万千%]+$', '') AS DOUBLE)"))
_MONTH_SLOW = ("CASE WHEN kpi_month_re(m_).y <> '' THEN try(make_date(CAST(kpi_month_re(m_).y AS INTEGER), "
               "CAST(kpi_month_re(m_).m AS INTEGER), coalesce(CAST(nullif(kpi_month_re(m_).d, '') AS INTEGER), 1))) "
               "WHEN regexp_full_match(m_, '\\d{6}|\\d{8}') THEN try(make_date(CAST(m_[1:4] AS INTEGER), "
               "CAST(m_[5:6] AS INTEGER), coalesce(CAST(nullif(m_[7:8], '') AS INTEGER), 1))) "
               "WHEN regexp_full_match(m_, '\\d{5}(\\.\\d+)?') AND try_cast(m_ AS DOUBLE) BETWEEN 20000 AND 80000 "
               "THEN DATE '1899-12-30' + CAST(floor(CAST(m_ AS DOUBLE)) AS INTEGER) "
               # day first with dots (15.04.2026, as German or Swiss exports write), and month/year (04/2026, 04.2026)
               "WHEN regexp_full_match(m_, '\\d{1,2}\\.\\d{1,2}\\.\\d{4}([ T].*)?') THEN try(make_date("
               "CAST(regexp_extract(m_, '^\\d{1,2}\\.\\d{1,2}\\.(\\d{4})', 1) AS INTEGER), "
               "CAST(regexp_extract(m_, '^\\d{1,2}\\.(\\d{1,2})', 1) AS INTEGER), "
               "CAST(regexp_extract(m_, '^(\\d{1,2})', 1) AS INTEGER))) "
               "WHEN regexp_full_match(m_, '\\d{1,2}[/.]\\d{4}') THEN try(make_date(CAST(regexp_extract(m_, "
               "'(\\d{4})$', 1) AS INTEGER), CAST(regexp_extract(m_, '^(\\d{1,2})', 1) AS INTEGER), 1)) END")
_ERA = (f"CASE WHEN regexp_matches(e_, '^{_ERA_SQL}\\s*[/\\-.年]') THEN "
        f"CAST({_ERA_BASE_SQL} + CAST(replace(regexp_extract(e_, '^{_ERA_SQL}', 2), '元', '1') AS INTEGER) - 1 "
        f"AS VARCHAR) || regexp_replace(e_, '^{_ERA_SQL}\\s*', '') ELSE e_ END")
_NUMBER_SLOW = ("CASE WHEN kpi_blank(x_) THEN NULL "
                f"WHEN contains(x_, ',') AND NOT regexp_full_match(kpi_num_core(kpi_text(x_)), '{POINT_NUMBER_RE}') "
                "THEN NULL ELSE kpi_finite(kpi_num_slow(kpi_text(x_))) END")

MACROS = [
    f"CREATE OR REPLACE MACRO kpi_text(x) AS translate(trim(x), '{FULL_WIDTH}', '{HALF_WIDTH}')",
    # a regular expression, not IN (...): the planner turns IN lists into joins run on every row, outside CASE
    "CREATE OR REPLACE MACRO kpi_blank(x) AS coalesce(regexp_full_match(x, '[\\s　]*(-|—|ー|－|―|‐|–)?[\\s　]*'), true)",
    # slow path: sign marks, currency, separators, multipliers and percent
    ("CREATE OR REPLACE MACRO kpi_num_body(s) AS regexp_replace(regexp_replace(s, '^[△▲-]|^\\(|\\)$', '', 'g'), "
     "'[,\\s¥$€£円]|JPY|jpy|EUR|eur', '', 'g')"),
    f"CREATE OR REPLACE MACRO kpi_num_slow(s) AS {kpi_let('s', 'n_', _NUM_SLOW)}",
    f"CREATE OR REPLACE MACRO kpi_finite(v) AS {kpi_let('v', 'f_', 'CASE WHEN isfinite(f_) THEN f_ END')}",
    # Macros expand as text, so a value used twice is computed twice: the cheap first try (`fast`) is a separate
    # macro, which a query over many rows computes once into a column of its own and hands to the `_rest` one.
    # commas only as thousands separators in groups of three: 12,5 is not 125
    (f"CREATE OR REPLACE MACRO kpi_num_fast(x) AS CASE WHEN contains(x, ',') THEN CASE WHEN "
     f"regexp_full_match(x, '-?{THOUSANDS_COMMA_RE}') THEN try_cast(replace(x, ',', '') AS DOUBLE) END "
     f"ELSE try_cast(x AS DOUBLE) END"),
    ("CREATE OR REPLACE MACRO kpi_num_core(s) AS regexp_replace(s, '[^0-9.,]', '', 'g')"),
    ("CREATE OR REPLACE MACRO kpi_number_rest(x, fast) AS CASE WHEN fast IS NOT NULL THEN "
     f"CASE WHEN isfinite(fast) THEN fast END ELSE {kpi_let('x', 'x_', _NUMBER_SLOW)} END"),
    # a decimal-comma file's cell rewritten with a decimal point (1.234,50 -> 1234.50); any other cell -> '?'
    ("CREATE OR REPLACE MACRO kpi_decimal_comma(x) AS " + kpi_let(
        "kpi_text(x)", "t_", f"CASE WHEN t_ IS NULL THEN NULL WHEN regexp_full_match(kpi_num_core(t_), "
        f"'{COMMA_NUMBER_RE}') THEN replace(replace(t_, '.', ''), ',', '.') ELSE '?' END")),
    "CREATE OR REPLACE MACRO kpi_number(x) AS kpi_number_rest(x, kpi_num_fast(x))",
    # months: a date cast, then strptime formats, then the general pattern (checking that the date exists),
    # compact 20250415 / 202504, and Excel serial day numbers
    ("CREATE OR REPLACE MACRO kpi_month_re(s) AS regexp_extract(s, "
     "'^(\\d{4})\\s*[/\\-.年]\\s*(\\d{1,2})\\s*月?(?:\\s*[/\\-.]?\\s*(\\d{1,2})\\s*日?)?(?:[ T].*)?$', "
     "['y', 'm', 'd'])"),
    f"CREATE OR REPLACE MACRO kpi_month_slow(s) AS {kpi_let('s', 'm_', _MONTH_SLOW)}",
    # Japanese era years (units.ERA_FIRST_YEAR): R7.4.1 / 令和7年4月 -> 2025.4.1 / 2025年4月
    f"CREATE OR REPLACE MACRO kpi_era(s) AS {kpi_let('s', 'e_', _ERA)}",
    ("CREATE OR REPLACE MACRO kpi_month_more(s) AS " + kpi_let(
        "s", "p_", f"CASE WHEN try_strptime(p_, {DATE_FORMATS!r}) IS NOT NULL "
        f"THEN CAST(try_strptime(p_, {DATE_FORMATS!r}) AS DATE) ELSE kpi_month_slow(kpi_era(p_)) END")),
    "CREATE OR REPLACE MACRO kpi_date_fast(x) AS try_cast(x AS DATE)",
    f"CREATE OR REPLACE MACRO kpi_date_text(x) AS trim(regexp_replace(kpi_text(x), '(?i){DATE_NOISE}', '', 'g'))",
    ("CREATE OR REPLACE MACRO kpi_month_rest(x, fast) AS CAST(date_trunc('month', CASE "
     "WHEN fast IS NOT NULL THEN fast WHEN kpi_blank(x) THEN NULL ELSE kpi_month_more(kpi_date_text(x)) END) AS DATE)"),
    "CREATE OR REPLACE MACRO kpi_month(x) AS kpi_month_rest(x, kpi_date_fast(x))",
    # text compared ignoring case, surrounding spaces and full-width digits (plain ASCII skips the translate)
    "CREATE OR REPLACE MACRO kpi_key(x) AS lower(CASE WHEN strlen(x) = length(x) THEN trim(x) ELSE kpi_text(x) END)",
]


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    for sql in MACROS:
        con.execute(sql)


# ---------------------------------------------------------------- Python, per cell (small shapes)
def is_blank(text: object) -> bool:
    return text is None or unicodedata.normalize("NFKC", str(text)).strip() in BLANK_TEXTS


class NumberStyleError(WorkbenchError):
    """A cell written in the other decimal style than the file's: rejected with `key` as its reason."""

    def __init__(self, key: str, text: object):
        super().__init__(key, value=text)


def number_style(text: object) -> str | None:
    """'comma' for a cell only a decimal-comma writer produces (12,5  1.234,50), 'point' for one only a
    decimal-point writer produces (12.5  1,234.50  1,200,000), None when either could have (1,234  50)."""
    if not isinstance(text, str) or not any(ch.isdigit() for ch in text):
        return None
    core = _NOT_CORE.sub("", unicodedata.normalize("NFKC", text))
    point, comma = bool(_POINT_NUMBER.fullmatch(core)), bool(_COMMA_NUMBER.fullmatch(core))
    return None if point == comma else "point" if point else "comma"


def cell_number(text: object, decimal_comma: bool = False) -> float | None:
    """units.parse_number (None for blank, ValueError for text that is not a number), reading a backslash
    as the yen sign it is in CP932. A cell in the other decimal style than the file's raises NumberStyleError."""
    if isinstance(text, str):
        text = text.replace("\\", "¥")
        style = number_style(text)
        if decimal_comma:
            if style == "point":
                raise NumberStyleError("ingest.reject.decimal_point", text)
            text = unicodedata.normalize("NFKC", text).replace(".", "").replace(",", ".")
        elif style == "comma":
            raise NumberStyleError("ingest.reject.decimal_comma", text)
        elif "," in text and not _POINT_NUMBER.fullmatch(_NOT_CORE.sub("", unicodedata.normalize("NFKC", text))):
            raise ValueError(f"not a number: {text!r}")  # 1,2,3: commas that separate no thousands
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


TEXT_OPS = ("=", "!=", "in", "not_in", "contains")
DISTINCT_LIMIT = 50_000  # beyond this many distinct cells, text filters run per row in SQL


def text_key(value: object) -> str:
    """How text filters compare: NFKC (full/half width), surrounding spaces and case ignored."""
    return unicodedata.normalize("NFKC", str(value)).strip().casefold()


def _text_match(op: str, value: Any):
    wanted = [text_key(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    if op in ("=", "!=", "in", "not_in"):
        return lambda cell: text_key(cell) in wanted
    return lambda cell: wanted[0] in text_key(cell)


_DISTINCT_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def distinct_cells(con: duckdb.DuckDBPyConnection, column_id: str) -> list[str] | None:
    """The distinct non-null cells of a column of `raw` (cached per connection), or None when there are more
    than DISTINCT_LIMIT of them."""
    cache = _DISTINCT_CACHE.setdefault(con, {})
    if column_id not in cache:
        cells = [r[0] for r in con.execute(f"SELECT DISTINCT {column_id} FROM raw WHERE {column_id} IS NOT NULL "
                                           f"LIMIT {DISTINCT_LIMIT + 1}").fetchall()]
        cache[column_id] = cells if len(cells) <= DISTINCT_LIMIT else None
    return cache[column_id]


def _distinct_matches(con: duckdb.DuckDBPyConnection, column_id: str, op: str, value: Any) -> list[str] | None:
    """The column's distinct cells that match a text filter, judged in Python (few values, full NFKC);
    None when the column has too many distinct values for that."""
    cells = distinct_cells(con, column_id)
    if cells is None:
        return None
    matches = _text_match(op, value)
    return [cell for cell in cells if matches(cell)]


def filter_sql(con: duckdb.DuckDBPyConnection, column_id: str, op: str, value: Any) -> tuple[str, list[Any]]:
    """A boolean SQL condition on one column of `raw` (identifier already quoted) with its bound parameters.

    Text comparisons ignore case, surrounding spaces and full/half width; they are decided once per distinct cell
    and become a list lookup. >= <= > < compare numbers when the value is a number, months when it is a month,
    text otherwise. A blank cell matches only != , not_in and blank.
    """
    if op in TEXT_OPS:
        positive = "in" if op in ("=", "in", "!=", "not_in") else "contains"
        matched = _distinct_matches(con, column_id, positive, value)
        if matched is not None:
            sql = f"list_contains(?::VARCHAR[], {column_id})"
            params: list[Any] = [matched]
        else:
            sql, params = _per_row_text(column_id, positive, value)
        return (sql if op in ("=", "in", "contains") else f"coalesce(NOT ({sql}), true)"), params
    if op in (">=", "<=", ">", "<"):
        if _is_number_text(value):
            number = value if isinstance(value, (int, float)) else parse_number(value)
            return f"kpi_number({column_id}) {op} ?", [float(number)]
        if _is_month_text(value):
            return f"kpi_month({column_id}) {op} ?", [cell_month(value)]
        return f"kpi_key({column_id}) {op} ?", [text_key(value)]
    if op == "filled":
        return f"NOT kpi_blank({column_id})", []
    if op == "blank":
        return f"kpi_blank({column_id})", []
    raise IngestError("ingest.mapping.bad_filter", op=op)


def _per_row_text(column_id: str, op: str, value: Any) -> tuple[str, list[Any]]:
    if op == "contains":
        return f"contains(kpi_key({column_id}), ?)", [text_key(value)]
    values = [text_key(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    return f"list_contains(?::VARCHAR[], kpi_key({column_id}))", [values]
