"""The decoded export as a DuckDB table: parsing, original line numbers, column profiles and the shape guess.

DuckDB reads the UTF-8 text (all columns VARCHAR, internal names c0..cN so that header text is never SQL) into an
in-memory table `raw` whose rowid follows file order. Rows it cannot split into the header's columns land in its
reject table; they are classified here as blank, footer or total lines (skipped on purpose) or ragged rows
(rejected, with their line number in the original file).
"""
from __future__ import annotations

import bisect
import csv
import hashlib
import io
import re
import unicodedata
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from kpi_core.domain.units import parse_month, parse_number
from kpi_core.i18n import t
from kpi_core.ingest.decode import REPORT_LABELS, IngestError, render
from kpi_core.ingest.values import cell_month

SHAPES = ("long", "wide_metrics", "wide_months", "records")
SAMPLE_ROWS = 500

# Rows that summarise the table: skipped deliberately, matched on the whole cell (合計金額 is not a total), or on a
# total word followed by a colon or a bracket ("総計 (2件)", "小計：山田", "Total (2 records)").
TOTAL_WORDS = {"合計", "総計", "小計", "累計", "計", "総合計", "total", "totals", "grandtotal", "subtotal", "sum",
               "合計値", "全体", "all",
               # European exports: German, French, Spanish, Italian, Dutch
               "summe", "gesamt", "gesamtsumme", "zwischensumme", "totalgénéral", "sous-total", "totale", "totaal"}
_TOTAL_PREFIX = re.compile(r"^(総合計|合計|総計|小計|累計|計|totals?|subtotal|grand\s*total)\s*[:(\[【]")
# Report footers: "出力件数: 123", "Total records: 5", "※ ..." notes, a CRM report's copyright and confidentiality
# lines. One pattern for Python's re and DuckDB's RE2 (record lists pick candidate rows in SQL).
FOOTER_REGEX = (
    rf"^(出力件数|件数|総件数|レコード数|データ件数|{REPORT_LABELS}|"
    r"total\s*records?|records?|rows|row\s*count|exported|printed|generated(\s*by)?)\s*[:：=]"
    r"|^[※＊*]\s*\S|^(copyright\b|©|\(c\)\s*\d|機密情報|社外秘|confidential\b)")
FOOTER_PATTERN = re.compile(FOOTER_REGEX, re.IGNORECASE)


def normalise_label(text: object) -> str:
    """A header or label reduced for comparison: NFKC, case-folded, without spaces and framing brackets."""
    value = unicodedata.normalize("NFKC", str(text or "")).casefold()
    value = re.sub(r"\s+", "", value)
    return value.strip("[]【】()<>「」『』:：")


def is_total_label(text: object) -> bool:
    if normalise_label(text) in TOTAL_WORDS:
        return True
    return bool(_TOTAL_PREFIX.match(unicodedata.normalize("NFKC", str(text or "")).casefold().strip()))


def is_footer_text(text: str) -> bool:
    return bool(FOOTER_PATTERN.search(unicodedata.normalize("NFKC", text).strip()))


def summary_kind(first_cell: str) -> str | None:
    """'total' or 'footer' when a row's first filled cell marks it as a total or a report footer, else None."""
    if is_total_label(first_cell):
        return "total"
    return "footer" if is_footer_text(first_cell) else None


# ---------------------------------------------------------------- findings
@dataclass
class Rejection:
    """A row (or a monthly value) that is not imported, with its line in the original file and the reason."""

    line: int | None
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    raw: str = ""

    def message(self, lang: str) -> str:
        return render(self.key, self.values, lang)


@dataclass
class Message:
    """Something the user should know about an import that is not a row: unmapped labels, ignored columns..."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)
    level: str = "info"  # info | warning

    def text(self, lang: str) -> str:
        return render(self.key, self.values, lang)


@dataclass
class Skipped:
    """A line left out on purpose: title above the header, blank, total or report footer."""

    line: int
    reason: str  # title | blank | total | footer | column
    raw: str = ""

    def message(self, lang: str) -> str:
        return t(f"ingest.skip.{self.reason}", lang)


@dataclass
class Collected:
    """Monthly values gathered from a file, before formulas and the plan period are applied."""

    values: dict[str, dict[date, float]] = field(default_factory=dict)
    lines: dict[tuple[str, date], int | None] = field(default_factory=dict)  # first source line per value
    counts: dict[tuple[str, date], int] = field(default_factory=dict)  # rows behind a record-list value
    rejections: list[Rejection] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    rows_used: int = 0
    recovered: list[int] = field(default_factory=list)  # lines of short rows read after all (summary shapes)

    def add(self, key: str, month: date, value: float, line: int | None, combine: str = "reject") -> None:
        """Record a value; a second one for the same metric-month is summed or rejected (`combine`)."""
        series = self.values.setdefault(key, {})
        if month not in series:
            series[month] = value
            self.lines[(key, month)] = line
        elif combine == "sum":
            series[month] += value
            first = self.lines.get((key, month))
            if line is not None and (first is None or line < first):  # rows may arrive out of file order
                self.lines[(key, month)] = line
        else:
            self.rejections.append(Rejection(line, "ingest.reject.duplicate", {
                "line": line, "metric": key, "month": month.strftime("%Y-%m"),
                "first_line": self.lines.get((key, month))}))


@dataclass
class ColumnProfile:
    """What a column's sample cells look like (counts over the first SAMPLE_ROWS rows)."""

    name: str
    filled: int = 0
    numbers: int = 0
    months: int = 0
    days: int = 0  # dates whose day is not the 1st: a record list's dates rather than month labels
    percents: int = 0
    distinct: int = 0
    header_is_month: bool = False

    @property
    def numeric(self) -> bool:
        return self.filled > 0 and self.numbers >= 0.8 * self.filled

    @property
    def monthly(self) -> bool:
        return self.filled > 0 and self.months >= 0.8 * self.filled


# ---------------------------------------------------------------- line numbers
class LineMap:
    """Maps DuckDB's rows back to physical lines of the original file.

    DuckDB numbers "logical" lines (a quoted value may span several physical lines) and skips empty lines.
    Fast path: when accepted + rejected + empty lines add up to the physical line count, logical == physical.
    Otherwise the body is scanned once with Python's csv module to find where each record starts.
    The body is `buffer[start:end]`: the UTF-8 text from the header line on.
    """

    def __init__(self, buffer: bytes, start: int, end: int, delimiter: str, first_line: int, accepted: int,
                 rejected: list[int], blank: list[int] | None = None):
        """`blank`: the empty lines when the reader already knows that every record is one line."""
        self.first_line = first_line  # physical line of the header in the original file
        if blank is None:
            blank = one_line_blanks(buffer, start, end, accepted + len(set(rejected)))
        self.starts: list[int] | None = None  # logical line -> physical line (body-relative), fallback only
        if blank is None:
            self.starts, blank = _record_starts(memoryview(buffer)[start:end], delimiter)
        self.excluded = sorted(set(blank) | set(rejected))
        self.blank = blank

    def physical(self, logical: int) -> int:
        """Original-file line of a DuckDB logical line (1 = the header)."""
        if self.starts is None:
            body_line = logical
        elif logical <= len(self.starts):
            body_line = self.starts[logical - 1]
        else:
            body_line = self.starts[-1] + logical - len(self.starts)
        return self.first_line + body_line - 1

    def logical_of_row(self, rowid: int) -> int:
        """DuckDB logical line of the accepted row with this rowid (rows follow file order)."""
        candidate = rowid + 2
        while True:
            skipped = bisect.bisect_right(self.excluded, candidate)
            if rowid + 2 + skipped == candidate:
                return candidate
            candidate = rowid + 2 + skipped

    def line_of_row(self, rowid: int) -> int:
        return self.physical(self.logical_of_row(rowid))


def one_line_blanks(buffer: bytes | memoryview, start: int, end: int, records: int) -> list[int] | None:
    """The empty lines of the body (header included) when `records` records plus those lines make up every
    physical line, i.e. no record spans two lines; None when they do not add up."""
    unterminated = end > start and buffer[end - 1] != 0x0A
    physical = buffer.count(b"\n", start, end) + int(unterminated)
    blank: list[int] = [] if records == physical - 1 else _blank_lines(buffer, start, end)
    return blank if records + len(blank) == physical - 1 else None


def _blank_lines(buffer: bytes, start: int, end: int) -> list[int]:
    """Body-relative numbers (1 = header) of the empty lines, which DuckDB skips: bytes.find, no regex."""
    positions = []
    for pattern in (b"\n\n", b"\n\r\n", b"\n\r"):
        at = buffer.find(pattern, start, end)
        while at >= 0:
            if pattern != b"\n\r" or at + 2 == end:  # a lone CR closing the file
                positions.append(at)
            at = buffer.find(pattern, at + 1, end)
    lines, counted, position = [], 0, start
    for at in sorted(set(positions)):
        if at + 1 >= end:
            continue
        counted += buffer.count(b"\n", position, at)
        position = at
        lines.append(counted + 2)  # `at` ends body line counted + 1; the next one is empty
    return lines


def _record_starts(body: bytes | memoryview, delimiter: str) -> tuple[list[int], list[int]]:
    """(physical start line of each logical line, logical numbers of empty lines) by a csv scan of the body."""
    text = bytes(body).decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    starts, blank, start = [], [], 1
    try:
        for cells in reader:
            starts.append(start)
            if not cells:
                blank.append(len(starts))
            start = reader.line_num + 1
    except csv.Error:
        pass
    total = text.count("\n") + (0 if text.endswith("\n") else 1)
    while start <= total:  # an unterminated quote: the csv module gives up; keep numbering physically
        starts.append(start)
        start += 1
    return starts, blank


# ---------------------------------------------------------------- the parsed file
@dataclass
class ParsedFile:
    """An export read into memory and ready to be mapped. Close it (or let it be collected) when done."""

    file_name: str
    size: int
    sha256: str
    encoding: str
    delimiter: str
    header_line: int
    columns: list[str]
    header_signature: str
    row_count: int
    shape: str
    sample: pd.DataFrame
    profiles: list[ColumnProfile]
    skipped: list[Skipped]
    rejections: list[Rejection]  # rows the parser could not split (ragged, broken quotes)
    con: duckdb.DuckDBPyConnection = field(repr=False)
    lines: LineMap = field(repr=False)
    cleanup: Any = field(default=None, repr=False)
    decimal_comma: bool = False  # numbers written 1.234,50 (the file says so: see values.number_style)

    def __post_init__(self) -> None:
        self._finalizer = weakref.finalize(self, self.cleanup) if self.cleanup else None

    def column_id(self, name: str) -> str:
        """The quoted SQL identifier of a column given by its header name."""
        try:
            return f'"c{self.columns.index(name)}"'
        except ValueError:
            raise _unknown_column(name) from None

    def profile(self, name: str) -> ColumnProfile:
        return self.profiles[self.columns.index(name)]

    def line_of_row(self, rowid: int) -> int:
        return self.lines.line_of_row(rowid)

    @property
    def cells(self) -> str:
        """The SQL list of the cell columns, c0 .. cN (never `*`: an Arrow-backed `raw` has a real rowid column)."""
        return cell_list(len(self.columns))

    def rows(self, limit: int | None = None) -> list[tuple]:
        """(rowid, cells...) in file order; for the small summary shapes."""
        sql = f"SELECT rowid, {self.cells} FROM raw ORDER BY rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.con.execute(sql).fetchall()

    def raw_row(self, cells: tuple | list) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.delimiter, lineterminator="").writerow(
            ["" if c is None else c for c in cells])
        return buffer.getvalue()

    def close(self) -> None:
        """Free the table (also done automatically when the ParsedFile is garbage-collected)."""
        if self._finalizer is not None:
            self._finalizer()


def _unknown_column(name: str) -> Exception:
    return IngestError("ingest.mapping.unknown_column", column=name)


def cell_names(width: int) -> list[str]:
    """The internal column names of `raw`: c0 .. cN (header text never becomes SQL)."""
    return [f"c{i}" for i in range(width)]


def cell_list(width: int) -> str:
    return ", ".join(cell_names(width))


def split_line(text: str, delimiter: str) -> list[str]:
    """The cells of one CSV line (a row the parser set aside)."""
    return next(csv.reader([text], delimiter=delimiter), [])


def display_columns(header: list[str]) -> list[str]:
    """Header cells made unique and non-empty: '' -> '(3)', a second '金額' -> '金額 (2)'."""
    names: list[str] = []
    for i, cell in enumerate(header):
        name = cell.strip() or f"({i + 1})"
        candidate, n = name, 2
        while candidate in names:
            candidate, n = f"{name} ({n})", n + 1
        names.append(candidate)
    return names


def header_signature(columns: list[str]) -> str:
    """A stable hash of the normalised header list: the key of a saved mapping profile."""
    joined = "\x1f".join(normalise_label(c) for c in columns)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def classify_rejects(rejects: list, lines: LineMap, delimiter: str, width: int, last_data_line: int,
                     ) -> tuple[list[Skipped], list[Rejection]]:
    """Parser rejects are blank/footer/total lines (skipped) or ragged rows (rejected). A line of one cell after
    the last row of data is a report's trailer (a company name, a note) and is skipped as a footer."""
    skipped, rejections = [], []
    for logical, error_type, csv_line in rejects:
        line = lines.physical(int(logical))
        raw = (csv_line or "").lstrip("\r\n").rstrip("\r\n")
        cells = split_line(raw, delimiter) if "\n" not in raw else []
        filled = [c.strip() for c in cells if c.strip()]
        if not raw.strip(' \t\r"' + delimiter):
            skipped.append(Skipped(line, "blank", raw))
        elif filled and is_total_label(filled[0]):  # before footers: a 合計 line alone is a total, not a trailer
            skipped.append(Skipped(line, "total", raw))
        elif is_footer_text(raw) or (filled and is_footer_text(filled[0])) or (
                line > last_data_line and len(filled) <= 1 and "\n" not in raw):
            skipped.append(Skipped(line, "footer", raw))
        elif error_type == "UNQUOTED VALUE":
            rejections.append(Rejection(line, "ingest.reject.quote", {"line": line}, raw[:500]))
        elif error_type in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
            rejections.append(Rejection(line, "ingest.reject.fields",
                                        {"line": line, "found": len(cells), "expected": width}, raw[:500]))
        else:
            rejections.append(Rejection(line, "ingest.reject.unreadable", {"line": line, "error": error_type},
                                        raw[:500]))
    return skipped, rejections


# ---------------------------------------------------------------- profiles and shape
def _parses(parser, text: str) -> Any:
    try:
        return parser(text)
    except ValueError:
        return None


def profile_columns(columns: list[str], sample_rows: list[tuple]) -> list[ColumnProfile]:
    """Counts over the sample; each distinct cell is parsed once (a column of phases or dates repeats a lot)."""
    profiles = []
    sample_rows = [row for row in sample_rows if not _summary_row(row[1:])]
    for index, name in enumerate(columns):
        cells = Counter(cell for row in sample_rows if (cell := (row[index + 1] or "").strip()))
        profile = ColumnProfile(name, filled=sum(cells.values()), distinct=len(cells),
                                header_is_month=_parses(parse_month, name) is not None)
        for cell, count in cells.items():
            if _parses(parse_month, cell) is not None:
                profile.months += count
                profile.days += count * int(_has_day(cell))
            elif _parses(parse_number, cell) is not None:
                profile.numbers += count
                profile.percents += count * int(cell.endswith(("%", "％")))
        profiles.append(profile)
    return profiles


def _summary_row(cells: tuple) -> bool:
    """A total or footer row, left out of the column profiles."""
    filled = [c.strip() for c in cells if c and c.strip()]
    return bool(filled) and summary_kind(filled[0]) is not None


_DAY = re.compile(r"^\d{4}\s*[/\-.年]\s*\d{1,2}(?!\d)\s*(?:月|[/\-.])\s*(\d{1,2})(?!\d)")


def _has_day(cell: str) -> bool:
    match = _DAY.match(unicodedata.normalize("NFKC", cell))
    return bool(match) and int(match.group(1)) != 1


def guess_shape(profiles: list[ColumnProfile], sample_rows: int) -> str:
    """The most likely shape; the user can override it."""
    if sum(p.header_is_month for p in profiles) >= 2:
        return "wide_months"
    dates = [p for p in profiles if p.monthly]
    if not dates:
        return "records"
    date_profile = dates[0]
    others = [p for p in profiles if p is not date_profile and p.filled]
    numeric = [p for p in others if p.numbers >= 0.5 * p.filled]  # lenient: a bad cell is reported later
    text = [p for p in others if p not in numeric and not p.monthly]
    rows_per_month = sample_rows / max(1, date_profile.distinct)
    if date_profile.days > 0.2 * date_profile.filled:
        return "records"
    if rows_per_month <= 1.01:
        return "wide_metrics"
    if len(numeric) == 1 and text and len(profiles) <= 5 and min(p.distinct for p in text) <= 60:
        return "long"
    if len(numeric) >= 2 and rows_per_month <= 20 and len(text) <= 2:
        return "wide_metrics"
    return "records"


# A month header may carry what its column holds: "2025/04 実績" is the actual; "2025/04 予算" (budget), "差異"
# (variance) or "見込" (forecast) are not, and reading them as that month would import the budget as the actual.
ACTUAL_WORDS = {"実績", "実績値", "結果", "actual", "actuals", "act", "result", "results"}
_DATE_HEAD = re.compile(r"^\d{4}\s*[/\-.年]\s*\d{1,2}\s*月?(?:\s*[/\-.]?\s*\d{1,2}\s*日?)?(?:分)?")
_TIME = re.compile(r"^[T\s]*\d{1,2}:\d{2}(:\d{2})?\s*$")


def header_qualifier(name: str) -> str:
    """The words after the month in a month header ('' for '2025年4月', '2025/04/01 0:00'), normalised."""
    text = unicodedata.normalize("NFKC", name).strip()
    match = _DATE_HEAD.match(text)
    rest = text[match.end():] if match else ""
    return "" if _TIME.match(rest) else normalise_label(rest)


def _header_month(name: str) -> date | None:
    """The month of a month header, also when words follow it without a space ('2026年4月実績')."""
    for text in (name, (_DATE_HEAD.match(unicodedata.normalize("NFKC", name).strip()) or [""])[0]):
        try:
            month = cell_month(text) if text else None
        except ValueError:
            month = None
        if month:
            return month
    return None


def month_columns(parsed: ParsedFile, label_column: str | None) -> tuple[list[tuple[str, date]], list[str],
                                                                          list[str]]:
    """(month columns with their month, total columns, other ignored columns) of a wide-months header.
    Qualified month headers count when they are actuals, or when every month header has the same qualifier."""
    dated, totals, ignored = [], [], []
    for name in parsed.columns:
        if name == label_column:
            continue
        if is_total_label(name):
            totals.append(name)
            continue
        month = _header_month(name)
        (dated.append((name, month, header_qualifier(name))) if month else ignored.append(name))
    qualifiers = {q for _, _, q in dated}
    months = []
    for name, month, qualifier in dated:
        if not qualifier or qualifier in ACTUAL_WORDS or len(qualifiers) == 1:
            months.append((name, month))
        else:
            ignored.append(name)
    return months, totals, ignored


def distinct_labels(parsed: ParsedFile, column: str, limit: int = 500) -> list[str]:
    """The distinct non-blank cells of a column in file order (metric names of a long or wide-months file)."""
    rows = parsed.con.execute(
        f"SELECT trim({parsed.column_id(column)}) AS v, min(rowid) AS first FROM raw "
        f"WHERE nullif(trim({parsed.column_id(column)}), '') IS NOT NULL GROUP BY v ORDER BY first LIMIT {int(limit)}"
    ).fetchall()
    return [r[0] for r in rows]
