"""Monthly values from summary exports: long, wide with metrics as columns, wide with months as columns.

Cells are parsed in Python with the rules of `units`, so every problem names its line. A large wide-metrics table
(a daily export, millions of cells) is aggregated in DuckDB with the same rules (values.MACROS); only its few rows
that are not clean (totals, footers, blank rows, a cell that is not a number) go through Python for their message.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from kpi_core.domain.value_rules import RATE_RANGE, ValueKind, range_problem, range_problem_sql
from kpi_core.ingest.mapping import Mapping
from kpi_core.ingest.table import (
    Collected,
    Message,
    ParsedFile,
    Rejection,
    Skipped,
    is_footer_text,
    is_total_label,
    month_columns,
    normalise_label,
    split_line,
)
from kpi_core.ingest.values import (
    NumberStyleError,
    cell_month,
    cell_number,
    filter_sql,
    is_blank,
    month_problem,
)


def filters_sql(parsed: ParsedFile, filters: list[dict[str, Any]] | None) -> tuple[str, list[Any]]:
    """All filters ANDed into one SQL condition with its parameters ('true' when there are none)."""
    parts, params = [], []
    for item in filters or []:
        sql, values = filter_sql(parsed.con, parsed.column_id(item["column"]), item["op"], item.get("value"))
        parts.append(f"({sql})")
        params += values
    return (" AND ".join(parts) or "true"), params


def _month_key(month: date) -> str:
    return month.strftime("%Y-%m")


class _Rows:
    """Walks the table once, sorting each row into skipped, rejected or handed to the shape's reader."""

    def __init__(self, parsed: ParsedFile, mapping: Mapping, kinds: dict[str, ValueKind] | None = None):
        self.parsed, self.mapping = parsed, mapping
        self.kinds = kinds or {}
        self.index = {name: i for i, name in enumerate(parsed.columns)}
        self.out = Collected()
        self.labels = {normalise_label(spec["label"]): key for key, spec in mapping["metrics"].items()
                       if spec["source"] == "label"}
        self.unmapped: list[str] = []
        self.filtered = 0

    def cell(self, cells: tuple, column: str) -> str | None:
        return cells[self.index[column]]

    def reject(self, line: int, key: str, raw: str, **values: Any) -> None:
        self.out.rejections.append(Rejection(line, key, {"line": line, **values}, raw))

    def number(self, line: int, raw: str, column: str, text: str | None, scale: float) -> float | None:
        try:
            value = cell_number(text, self.parsed.decimal_comma)
        except NumberStyleError as exc:
            self.reject(line, exc.key, raw, column=column, value=text)
            return None
        except ValueError:
            self.reject(line, "ingest.reject.bad_number", raw, column=column, value=text)
            return None
        return None if value is None else value * scale

    def kind(self, key: str) -> ValueKind:
        """The range rule of a metric; one the plan does not know (a formula's input) is only held to finite."""
        return self.kinds.get(key, ValueKind.SIGNED)

    def in_range(self, line: int, raw: str, column: str, key: str, month: date, text: str | None,
                 value: float) -> bool:
        """The cell's value against its metric's range rule (value_rules); refused with the reason when outside."""
        problem = range_problem(value, self.kind(key))
        if problem:
            reason = "ingest.reject.cell_rate_range" if problem == RATE_RANGE else "ingest.reject.cell_range"
            self.reject(line, reason, raw, column=column, reason_key=problem, reason_values={
                "field": f"{key}, {_month_key(month)}", "value": str(text).strip()[:40]})
        return problem is None

    def month(self, line: int, raw: str, column: str, text: str | None) -> date | None:
        if is_blank(text):
            self.reject(line, "ingest.reject.month_missing", raw, column=column)
            return None
        try:
            return cell_month(text)
        except ValueError:
            self.reject(line, month_problem(text), raw, column=column, value=text)
            return None

    def skip_summary(self, line: int, raw: str, cells: tuple, *markers: str | None) -> bool:
        """True when the row is a total or a report footer: listed as skipped, read no further."""
        kind = self.summary_row(cells, *markers)
        if kind:
            self.out.skipped.append(Skipped(line, kind, raw))
        return kind is not None

    def add_cells(self, line: int, raw: str, cells: tuple, targets: list[tuple[str, str, date, float]]) -> None:
        """A used row: each (column, metric, month, scale) cell's value added, or refused with its reason."""
        self.out.rows_used += 1
        for column, key, month, scale in targets:
            text = self.cell(cells, column)
            value = self.number(line, raw, column, text, scale)
            if value is not None and self.in_range(line, raw, column, key, month, text, value):
                self.out.add(key, month, value, line, self.mapping["combine"])

    def metric_of(self, line: int, raw: str, label: str | None, column: str) -> str | None:
        """The metric a row's label is mapped to; a blank label is refused, an unmapped one is listed."""
        key = self.labels.get(normalise_label(label))
        if key is None:
            if is_blank(label):
                self.reject(line, "ingest.reject.label_missing", raw, column=column)
            else:
                self.unmapped.append(str(label).strip())
        return key

    def summary_row(self, cells: tuple, *markers: str | None) -> str | None:
        """'total' / 'footer' when the row is a total or a report footer, judged on its marker cells."""
        filled = [c for c in cells if not is_blank(c)]
        if any(is_total_label(m) for m in markers if m) or (
                all(is_blank(m) for m in markers) and filled and is_total_label(filled[0])):
            return "total"
        if filled and is_footer_text(filled[0]) and all(is_blank(m) or is_footer_text(m) for m in markers):
            return "footer"
        return None

    def run(self, read_row, where: str = "true") -> Collected:
        condition, params = filters_sql(self.parsed, self.mapping.get("filters"))
        rows = self.parsed.con.execute(f"SELECT rowid, ({condition}) AS keep, {self.parsed.cells} FROM raw "
                                       f"WHERE {where} ORDER BY rowid", params).fetchall()
        for rowid, keep, *cells in rows:
            line = self.parsed.line_of_row(rowid)
            raw = self.parsed.raw_row(cells)
            if all(is_blank(c) for c in cells):
                self.out.skipped.append(Skipped(line, "blank", raw))
            elif not keep:
                self.filtered += 1
            else:
                read_row(line, raw, tuple(cells))
        self._recover_short_rows(read_row)
        self._messages()
        return self.out

    def _recover_short_rows(self, read_row) -> None:
        """Excel leaves out the delimiters of empty cells at the end of a row (months not closed yet, an empty 合計):
        in a wide-months table the parser's short rows are read with those months blank, and said. Other shapes keep
        rejecting short rows (a record cut short is not a record), as do filtered imports (filters run in SQL)."""
        if self.mapping["shape"] != "wide_months" or self.mapping.get("filters"):
            return
        width = len(self.parsed.columns)
        for rejection in self.parsed.rejections:
            if rejection.key != "ingest.reject.fields" or not 1 <= rejection.values["found"] < width:
                continue
            cells = split_line(rejection.raw, self.parsed.delimiter)
            read_row(rejection.line, rejection.raw, tuple(cells) + (None,) * (width - len(cells)))
            self.out.recovered.append(rejection.line)

    def _messages(self) -> None:
        if self.unmapped:
            self.out.messages.append(Message("ingest.msg.unmapped_labels", {
                "labels": ", ".join(dict.fromkeys(self.unmapped))}, "warning"))
        if self.filtered:
            self.out.messages.append(Message("ingest.msg.filtered", {"rows": self.filtered}))
        if self.out.recovered:
            self.out.messages.append(Message("ingest.msg.short_rows", {
                "rows": len(self.out.recovered), "lines": ", ".join(map(str, self.out.recovered[:20]))}))


def collect_summary(parsed: ParsedFile, mapping: Mapping, kinds: dict[str, ValueKind] | None = None) -> Collected:
    """Monthly values of a long, wide_metrics or wide_months file (mapping already validated). Each cell is held to
    its metric's range rule (`kinds`: metric key -> ValueKind)."""
    walker = _Rows(parsed, mapping, kinds)
    shape = mapping["shape"]
    set_based = {"wide_metrics": _wide_metrics_set_based, "long": _long_set_based,
                 "wide_months": _wide_months_set_based}.get(shape)
    cells = parsed.row_count * (len(parsed.columns) if shape == "wide_months" else 1)
    if set_based and cells >= SET_BASED_ROWS and (shape != "wide_months" or not mapping.get("filters")):
        collected = set_based(walker)
        if collected is not None:
            return collected
    reader = {"wide_metrics": _wide_metrics, "long": _long, "wide_months": _wide_months}[shape]
    return walker.run(reader(walker))


SET_BASED_ROWS = 2_000  # below this many rows (cells of a wide-months table), the row-by-row reader is as fast
MAX_LABELS = 10_000  # a long table's distinct metric names judged in Python
MAX_EXCEPTION_ROWS = 2_000  # more rows than this that are not clean: every row goes through Python


def _wide_metrics_set_based(w: _Rows) -> Collected | None:
    """Clean rows aggregated in DuckDB (month and numbers by the SQL rules), the others read row by row; None when
    the table is not for this (many unclean rows, or a month on several rows that must be rejected as such)."""
    parsed, mapping = w.parsed, w.mapping
    date_id = parsed.column_id(mapping["date_column"])
    columns = [(key, parsed.column_id(spec["column"]), float(spec.get("scale", 1)))
               for key, spec in mapping["metrics"].items() if spec["source"] == "column"]
    number = "kpi_decimal_comma({})" if parsed.decimal_comma else "{}"
    values = ", ".join(f"kpi_number({number.format(column)}) AS v{i}" for i, (_, column, _) in enumerate(columns))
    unclean = " OR ".join(["m IS NULL"] + [f"(v{i} IS NULL AND NOT kpi_blank({column}))"
                                            for i, (_, column, _) in enumerate(columns)]
                          + [f"{range_problem_sql(f'(v{i} * {scale!r})', w.kind(key))} IS NOT NULL"
                             for i, (key, _, scale) in enumerate(columns)])
    con = parsed.con
    kept, kept_params = _kept_sql(w)
    con.execute(f"CREATE OR REPLACE TEMP TABLE wide_rows AS SELECT rid, m, {', '.join(f'v{i}' for i in range(len(columns)))}, "
                f"({unclean}) AS unclean, keep FROM (SELECT rowid AS rid, kpi_month({date_id}) AS m, {values}, "
                f"{', '.join(column for _, column, _ in columns)}, {kept} AS keep FROM raw)", kept_params)
    try:
        exceptions = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM wide_rows WHERE unclean "
                                 f"LIMIT {MAX_EXCEPTION_ROWS + 1})").fetchone()[0]
        sums = ", ".join(f"sum(v{i} * {scale!r}), min(rid) FILTER (WHERE v{i} IS NOT NULL)"
                         for i, (_, _, scale) in enumerate(columns))
        groups = con.execute(f"SELECT m, count(*), {sums} FROM wide_rows WHERE NOT unclean AND keep GROUP BY m "
                             f"ORDER BY min(rid)").fetchall()
        # "reject" refuses a month's second row; counted over unclean rows too, since the row reader adds their
        # good cells later, and which row comes first must be the file's order, not this one's.
        if exceptions > MAX_EXCEPTION_ROWS or (mapping["combine"] == "reject" and con.execute(
                "SELECT count(*) FROM (SELECT m FROM wide_rows WHERE keep AND m IS NOT NULL GROUP BY m "
                "HAVING count(*) > 1)").fetchone()[0]):
            return None
        w.filtered += con.execute("SELECT count(*) FROM wide_rows WHERE NOT unclean AND NOT keep").fetchone()[0]
        for month, rows, *aggregates in groups:
            w.out.rows_used += rows
            for i, (key, _, scale) in enumerate(columns):
                total, first = aggregates[2 * i], aggregates[2 * i + 1]
                if first is not None:
                    w.out.add(key, month, total, parsed.line_of_row(first), mapping["combine"])
        unclean_rows = "rowid IN (SELECT rid FROM wide_rows WHERE unclean)"
        return w.run(_wide_metrics(w), unclean_rows) if exceptions else w.run(lambda *_: None, "false")
    finally:
        con.execute("DROP TABLE IF EXISTS wide_rows")


def _wide_metrics(w: _Rows):
    date_column = w.mapping["date_column"]
    columns = [(key, spec["column"], float(spec.get("scale", 1))) for key, spec in w.mapping["metrics"].items()
               if spec["source"] == "column"]

    def read(line: int, raw: str, cells: tuple) -> None:
        marker = w.cell(cells, date_column)  # a dated row is read, a total or footer only listed as skipped
        month = None if w.skip_summary(line, raw, cells, marker) else w.month(line, raw, date_column, marker)
        if month is not None:
            w.add_cells(line, raw, cells, [(column, key, month, scale) for key, column, scale in columns])
    return read


def _long(w: _Rows):
    m = w.mapping
    scales = {key: float(spec.get("scale", 1)) for key, spec in m["metrics"].items()}

    def read(line: int, raw: str, cells: tuple) -> None:
        label, month_text = w.cell(cells, m["label_column"]), w.cell(cells, m["date_column"])
        if w.skip_summary(line, raw, cells, label, month_text):
            return
        key = w.metric_of(line, raw, label, m["label_column"])
        if key is None:
            return
        month = w.month(line, raw, m["date_column"], month_text)
        if month is None:
            return
        w.add_cells(line, raw, cells, [(m["value_column"], key, month, scales[key])])
    return read


def _wide_months(w: _Rows):
    m = w.mapping
    label_column = m["label_column"]
    months, totals, ignored = w.month_columns = month_columns(w.parsed, label_column)
    for name in totals:
        w.out.skipped.append(Skipped(w.parsed.header_line, "column", name))
    if ignored:
        w.out.messages.append(Message("ingest.msg.ignored_columns", {"columns": ", ".join(ignored)}))
    if not months:
        w.out.messages.append(Message("ingest.msg.no_month_columns", {}, "warning"))
    scales = {key: float(spec.get("scale", 1)) for key, spec in m["metrics"].items()}

    def read(line: int, raw: str, cells: tuple) -> None:
        label = w.cell(cells, label_column)
        if w.skip_summary(line, raw, cells, label):
            return
        key = w.metric_of(line, raw, label, label_column)
        if key is None:
            return
        w.add_cells(line, raw, cells, [(column, key, month, scales[key]) for column, month in months])
    return read


def _long_set_based(w: _Rows) -> Collected | None:
    """A long table: its distinct metric names are matched in Python, then the rows of mapped names aggregated in
    DuckDB; rows of other names only name them in a message, and rows that are not clean (blank or total names, a
    month or a number that cannot be read) go through the row-by-row reader. None when the table is not for this."""
    parsed, mapping, con = w.parsed, w.mapping, w.parsed.con
    label_id, date_id = parsed.column_id(mapping["label_column"]), parsed.column_id(mapping["date_column"])
    value_id = parsed.column_id(mapping["value_column"])
    kept, kept_params = _kept_sql(w)
    found = _mapped_labels(w, label_id, kept, kept_params)
    if found is None:
        return None
    keys, mapped, by_row = found
    number = f"kpi_decimal_comma({value_id})" if parsed.decimal_comma else value_id
    out_of_range, range_params = _long_range_sql(w, keys, mapped)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE long_rows AS SELECT rid, lab, m, v, (lab IS NULL OR kpi_blank(lab) "
        f"OR list_contains(?::VARCHAR[], lab) OR (list_contains(?::VARCHAR[], lab) AND (m IS NULL "
        f"OR (v IS NULL AND NOT kpi_blank(t)) OR {out_of_range}))) AS unclean, list_contains(?::VARCHAR[], lab) "
        f"AS used, keep FROM (SELECT rowid AS rid, {label_id} AS lab, kpi_month({date_id}) AS m, "
        f"kpi_number({number}) AS v, {value_id} AS t, {kept} AS keep FROM raw)",
        [by_row, mapped, *range_params, mapped, *kept_params])
    try:
        exceptions = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM long_rows WHERE unclean "
                                 f"LIMIT {MAX_EXCEPTION_ROWS + 1})").fetchone()[0]
        scaled, scale_params = _label_scale_sql(w, keys, mapped)
        groups = con.execute(f"SELECT lab, m, count(*), sum({scaled}), min(rid) FILTER (WHERE v IS NOT NULL) "
                             f"FROM long_rows WHERE used AND NOT unclean AND keep GROUP BY lab, m ORDER BY min(rid)",
                             scale_params).fetchall()
        rows_per_cell = con.execute("SELECT lab, m, count(*) FROM long_rows WHERE used AND keep AND m IS NOT NULL "
                                    "GROUP BY lab, m").fetchall()  # unclean rows too: see _wide_metrics_set_based
        if exceptions > MAX_EXCEPTION_ROWS or (mapping["combine"] == "reject" and _several_rows(keys, rows_per_cell)):
            w.unmapped.clear()
            return None
        w.filtered += con.execute("SELECT count(*) FROM long_rows WHERE NOT unclean AND NOT keep").fetchone()[0]
        for label, month, rows, total, first in groups:
            w.out.rows_used += rows
            if first is not None:
                w.out.add(keys[label], month, total, parsed.line_of_row(first), mapping["combine"])
        unclean_rows = "rowid IN (SELECT rid FROM long_rows WHERE unclean)"
        return w.run(_long(w), unclean_rows) if exceptions else w.run(lambda *_: None, "false")
    finally:
        con.execute("DROP TABLE IF EXISTS long_rows")


def _long_range_sql(w: _Rows, keys: dict, mapped: list) -> tuple[str, list]:
    """The range rule of each mapped name's metric (with its scale) as one SQL condition on a row's `v`."""
    groups: dict[tuple[ValueKind, float], list] = {}
    for label in mapped:
        key = keys[label]
        groups.setdefault((w.kind(key), float(w.mapping["metrics"][key].get("scale", 1))), []).append(label)
    parts = [f"(list_contains(?::VARCHAR[], lab) AND {range_problem_sql(f'(v * {scale!r})', kind)} IS NOT NULL)"
             for kind, scale in groups]
    return "(" + (" OR ".join(parts) or "false") + ")", list(groups.values())


def _kept_sql(w: _Rows) -> tuple[str, list]:
    """Whether a row of `raw` passes the mapping's filters, as the row-by-row reader decides it (unknown is no)."""
    condition, params = filters_sql(w.parsed, w.mapping.get("filters"))
    return f"coalesce(({condition}), false)", params


def _label_scale_sql(w: _Rows, keys: dict, mapped: list) -> tuple[str, list]:
    """A row's value `v` times the scale of its label's metric, each row scaled before the sum as the row-by-row
    reader does (the sum of scaled values and the scaled sum can differ in the last bit)."""
    scales = [float(w.mapping["metrics"][keys[label]].get("scale", 1)) for label in mapped]
    return "v * list_extract(?::DOUBLE[], list_position(?::VARCHAR[], lab))", [scales, mapped]


def _mapped_labels(w: _Rows, label_id: str, kept: str = "true", kept_params: list | None = None,
                   ) -> tuple[dict, list, list] | None:
    """A summary's distinct metric names in file order (of the rows the mapping's filters keep), matched in Python:
    ({name: key or None}, mapped names, names of total or footer rows left to the row-by-row reader); unmapped
    names are noted for the message. None when there are too many names for this."""
    con = w.parsed.con
    labels = [r[0] for r in con.execute(f"SELECT {label_id}, min(rowid) AS first FROM raw WHERE {kept} GROUP BY 1 "
                                        f"ORDER BY first LIMIT {MAX_LABELS + 1}", kept_params or []).fetchall()]
    if len(labels) > MAX_LABELS:
        return None
    keys = {label: w.labels.get(normalise_label(label)) for label in labels if not is_blank(label)}
    mapped = [label for label, key in keys.items() if key]
    by_row = [label for label, key in keys.items() if not key and (is_total_label(label) or is_footer_text(label))]
    w.unmapped += [str(label).strip() for label, key in keys.items() if not key and label not in by_row]
    return keys, mapped, by_row


def _wide_months_set_based(w: _Rows) -> Collected | None:
    """A wide-months table unpivoted in DuckDB (one row per metric name and month column) and aggregated there;
    rows that are not clean (blank, total or footer names, a cell that is not a number or is out of range) go
    through the row-by-row reader, as do short rows. None when the table is not for this."""
    parsed, mapping, con = w.parsed, w.mapping, w.parsed.con
    label_id = parsed.column_id(mapping["label_column"])
    read_row = _wide_months(w)  # notes total and ignored columns once
    months = dict(w.month_columns[0])
    found = _mapped_labels(w, label_id)
    if found is None or not months:
        return _start_over(w)
    keys, mapped, by_row = found
    column_month = {parsed.column_id(name)[1:-1]: month for name, month in months.items()}
    number = "kpi_decimal_comma(t)" if parsed.decimal_comma else "t"
    out_of_range, range_params = _long_range_sql(w, keys, mapped)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE month_cells AS SELECT rid, lab, col, t, kpi_number({number}) AS v FROM "
        f"(SELECT rowid AS rid, {label_id} AS lab, {', '.join(parsed.column_id(n) for n in months)} FROM raw "
        f"WHERE list_contains(?::VARCHAR[], {label_id})) "
        f"UNPIVOT INCLUDE NULLS (t FOR col IN ({', '.join(parsed.column_id(n) for n in months)}))", [mapped])
    try:
        unclean = (f"SELECT DISTINCT rid FROM month_cells WHERE (v IS NULL AND NOT kpi_blank(t)) OR {out_of_range} "
                   f"UNION SELECT rowid FROM raw WHERE {label_id} IS NULL OR kpi_blank({label_id}) "
                   f"OR list_contains(?::VARCHAR[], {label_id})")
        con.execute(f"CREATE OR REPLACE TEMP TABLE unclean_rows AS {unclean}", [*range_params, by_row])
        exceptions = con.execute("SELECT count(*) FROM unclean_rows").fetchone()[0]
        scaled, scale_params = _label_scale_sql(w, keys, mapped)
        groups = con.execute(f"SELECT lab, col, count(*), sum({scaled}), min(rid) FILTER (WHERE v IS NOT NULL) "
                             f"FROM month_cells WHERE rid NOT IN (SELECT rid FROM unclean_rows) "
                             f"AND v IS NOT NULL GROUP BY lab, col ORDER BY min(rid), col", scale_params).fetchall()
        used = con.execute("SELECT count(DISTINCT rid) FROM month_cells "
                           "WHERE rid NOT IN (SELECT rid FROM unclean_rows)").fetchone()[0]
        rows_per_cell = [(label, column_month[column], n) for label, column, n in con.execute(
            "SELECT lab, col, count(*) FROM month_cells WHERE NOT kpi_blank(t) GROUP BY lab, col").fetchall()]
        if exceptions > MAX_EXCEPTION_ROWS or (mapping["combine"] == "reject" and _several_rows(keys, rows_per_cell)):
            return _start_over(w)
        w.out.rows_used += used
        for label, column, _, total, first in groups:
            w.out.add(keys[label], column_month[column], total, parsed.line_of_row(first), mapping["combine"])
        return w.run(read_row, "rowid IN (SELECT rid FROM unclean_rows)" if exceptions else "false")
    finally:
        con.execute("DROP TABLE IF EXISTS month_cells")
        con.execute("DROP TABLE IF EXISTS unclean_rows")


def _several_rows(keys: dict[str, str], rows_per_cell: list[tuple[str, date, int]]) -> bool:
    """Whether a metric-month comes from more than one row (names mapped to one metric counted together)."""
    per_cell: dict[tuple[str, date], int] = {}
    for label, month, rows in rows_per_cell:
        per_cell[(keys[label], month)] = per_cell.get((keys[label], month), 0) + rows
    return any(n > 1 for n in per_cell.values())


def _start_over(w: _Rows) -> None:
    """Leave the table to the row-by-row reader, forgetting what the set-based attempt noted."""
    w.out, w.unmapped = Collected(), []
