"""Monthly values from record lists (one row per deal, lead, ticket, applicant), aggregated in DuckDB.

Every cell is normalised in SQL (macros of ingest_values), so a million rows take a fraction of a second. Only the
few rows that look wrong (a blank or impossible date, an unreadable amount, a total or footer line) come back to
Python to be classified: skipped on purpose, or rejected with their line number. Rejected rows count for no metric,
so that rates built from several counts stay consistent.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from kpi_core.ingest.decode import IngestError
from kpi_core.ingest.mapping import RECORD_SOURCES, Mapping
from kpi_core.ingest.summary import filters_sql
from kpi_core.ingest.table import (
    FOOTER_REGEX,
    TOTAL_WORDS,
    Collected,
    Message,
    ParsedFile,
    Rejection,
    Skipped,
    summary_kind,
)
from kpi_core.ingest.values import NumberStyleError, cell_number, is_blank, month_problem

# RE2 versions of the skip rules, used only to pick candidate rows; Python has the last word.
_FOOTER_RE2 = "(?i)" + FOOTER_REGEX
_LABEL_RE2 = r"[\s\[\]【】()<>「」『』:：]"


@dataclass
class _Metric:
    key: str
    source: str
    date: int  # index into the date columns
    value: int | None  # index into the value columns
    filter_sql: str
    params: list[Any]
    scale: float


class _Plan:
    """Which date and value columns the metrics use, each normalised once."""

    def __init__(self, parsed: ParsedFile, mapping: Mapping):
        self.parsed = parsed
        self.column_index = {name: i for i, name in enumerate(parsed.columns)}
        self.dates: list[str] = []
        self.values: list[str] = []  # columns read as numbers (sum, mean)
        self.keys: list[str] = []  # columns whose distinct cells are counted
        self.metrics: list[_Metric] = []
        self.global_sql, self.global_params = filters_sql(parsed, mapping.get("filters"))
        for key, spec in mapping["metrics"].items():
            if spec["source"] not in RECORD_SOURCES:
                continue
            date_column = spec.get("date_column") or mapping["date_column"]
            value = None
            if spec["source"] in ("sum", "mean"):
                value = self._index(self.values, spec["column"])
            elif spec["source"] == "count_distinct":
                value = self._index(self.keys, spec["column"])
            sql, params = filters_sql(parsed, spec.get("filters"))
            self.metrics.append(_Metric(key, spec["source"], self._index(self.dates, date_column), value, sql,
                                        params, float(spec.get("scale", 1))))

    @staticmethod
    def _index(names: list[str], name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    def norm_sql(self) -> tuple[str, list[Any]]:
        """SELECT building the `norm` table: normalised dates (d), numbers (v) and distinct keys (k), filter flags
        (g global, f per metric), and `s`, true for rows that are blank, look like totals or footers, or have a
        problem in a cell a metric uses. Only what the metrics need is computed: a number or key only on the
        rows that pass the filters of a metric using it (won deals' amounts, not every deal's)."""
        p = self.parsed
        parts = ["rowid AS rid"]
        params: list[Any] = list(self.global_params)
        parts.append(f"({self.global_sql}) AS g")
        for i, metric in enumerate(self.metrics):
            parts.append(f"({metric.filter_sql}) AS f{i}")
            params += metric.params
        # Each cell's cheap first try is computed once, as a column, before the rest of the rules (see MACROS).
        fast = [f"kpi_date_fast({p.column_id(name)}) AS df{i}" for i, name in enumerate(self.dates)]
        fast += [f"CASE WHEN {self._needed('v', i)} THEN kpi_num_fast({self._number_text(name)}) END AS vf{i}"
                 for i, name in enumerate(self.values)]
        normal = [f"kpi_month_rest({p.column_id(name)}, df{i}) AS d{i}" for i, name in enumerate(self.dates)]
        normal += [f"CASE WHEN {self._needed('v', i)} THEN kpi_number_rest({self._number_text(name)}, vf{i}) "
                   f"END AS v{i}" for i, name in enumerate(self.values)]
        normal += [f"CASE WHEN {self._needed('k', i)} THEN kpi_key({p.column_id(name)}) END AS k{i}"
                   for i, name in enumerate(self.keys)]
        # The first non-empty cell is only needed (and only computed) where a date is missing.
        no_date = " OR ".join(f"d{i} IS NULL" for i in range(len(self.dates)))
        first = ", ".join(f"nullif(trim(c{i}), '')" for i in range(len(p.columns)))
        first_cell = f"CASE WHEN {no_date} THEN coalesce({first}) END AS first_cell"
        level1 = f"SELECT {p.cells}, {', '.join(parts + fast)} FROM raw"
        level2 = f"SELECT *, {', '.join(normal)} FROM ({level1})"
        level3 = f"SELECT *, {first_cell} FROM ({level2})"
        keep = ", ".join(part.rsplit(" AS ", 1)[1] for part in parts + normal + [first_cell])
        return f"SELECT {keep}, ({self._suspicious(no_date)}) AS s FROM ({level3})", params

    def _number_text(self, name: str) -> str:
        """A value column as the number rules read it: a decimal-comma file's cells rewritten with points."""
        column = self.parsed.column_id(name)
        return f"kpi_decimal_comma({column})" if self.parsed.decimal_comma else column

    def _needed(self, kind: str, index: int) -> str:
        """Rows on which value (v) or key (k) column `index` feeds some metric."""
        users = [i for i, m in enumerate(self.metrics) if m.value == index and
                 (m.source == "count_distinct") == (kind == "k")]
        return f"g AND ({' OR '.join(f'f{i}' for i in users)})"

    def _suspicious(self, no_date: str) -> str:
        words = "|".join(sorted(TOTAL_WORDS))
        label = f"regexp_replace(lower(kpi_text(first_cell)), '{_LABEL_RE2}', '', 'g')"
        # CASE, not AND: DuckDB evaluates both operands of AND on every row, and these patterns (like kpi_blank's
        # below) are needed only on the few rows without a date or without a readable number.
        skip = (f"CASE WHEN {no_date} THEN first_cell IS NULL OR regexp_matches({label}, '^({words})') "
                f"OR regexp_matches(kpi_text(first_cell), '{_FOOTER_RE2}') ELSE false END")
        conditions = [skip]
        for i, metric in enumerate(self.metrics):
            problem = f"d{metric.date} IS NULL"
            if metric.source in ("sum", "mean"):
                column = self.parsed.column_id(self.values[metric.value])
                problem += f" OR CASE WHEN v{metric.value} IS NULL THEN NOT kpi_blank({column}) ELSE false END"
            conditions.append(f"CASE WHEN g AND f{i} THEN {problem} ELSE false END")
        return " OR ".join(f"({c})" for c in conditions)


@dataclass
class _Cell:
    """Running aggregate of one metric in one month."""

    rows: int = 0  # rows passing the metric's filters
    values: int = 0  # readable numbers among them
    total: float = 0.0
    distinct: int = 0
    first: int | None = None  # rowid of the month's first row

    def value(self, source: str) -> float | None:
        if source == "count":
            return float(self.rows)
        if source == "count_distinct":
            return float(self.distinct)
        if source == "sum":  # no row at all is 0; rows whose amounts are all blank are missing
            return 0.0 if self.rows == 0 else self.total if self.values else None
        return self.total / self.values if self.values else None


def collect_records(parsed: ParsedFile, mapping: Mapping) -> Collected:
    """Monthly values of a record list (mapping already validated), in one pass over the table.

    One GROUP BY (a grouping set per date column) computes every metric over the rows that are not suspicious
    and gathers the suspicious ones (few) into a list; Python sorts those into skipped, rejected or, rarely,
    ordinary rows whose contributions are then added.
    """
    plan = _Plan(parsed, mapping)
    if not plan.metrics:
        raise IngestError("ingest.mapping.no_record_metrics")
    sql, params = plan.norm_sql()
    rows = parsed.con.execute(_one_pass_sql(plan, sql), params).fetchall()
    names = [d[0] for d in parsed.con.description]
    out = Collected()
    cells: dict[tuple[int, date], _Cell] = {}
    months: set[tuple[int, date]] = set()
    suspicious: list[dict] = []
    filtered = 0
    for row in (dict(zip(names, r)) for r in rows):
        date_index = next(i for i in range(len(plan.dates)) if row[f"n{i}"] == 0)
        month = row[f"d{date_index}"]
        if date_index == 0:
            suspicious += row["suspicious"] or []
            out.rows_used += row["present"]
            filtered += row["filtered"]
        if month is not None and row["present"]:
            months.add((date_index, month))
        for i, metric in enumerate(plan.metrics):
            if metric.date == date_index and month is not None:
                cells[(i, month)] = _Cell(row[f"r{i}"], row[f"c{i}"], row[f"t{i}"] or 0.0, row[f"u{i}"],
                                          row["first"])
    ordinary = _classify_suspicious(parsed, plan, sorted(suspicious, key=lambda r: r["rid"]), out)
    if ordinary:
        _add_ordinary(plan, ordinary, cells, months)
        out.rows_used += sum(1 for r in ordinary if r["g"])
        _recount_distinct(parsed, plan, sql, params, ordinary, cells)
    _emit(parsed, plan, cells, months, out)
    if filtered:
        out.messages.append(Message("ingest.msg.filtered", {"rows": filtered}))
    return out


def _one_pass_sql(plan: _Plan, norm_sql: str) -> str:
    dates = [f"d{i}" for i in range(len(plan.dates))]
    parts = [f"GROUPING({d}) AS n{i}" for i, d in enumerate(dates)] + dates
    ok = "g AND NOT s"
    # min(rid): the month's first row in the file, shown as the value's source line (one per month is cheap)
    parts += [f"count(*) FILTER (WHERE {ok}) AS present", "count(*) FILTER (WHERE NOT g AND NOT s) AS filtered",
              "min(rid) AS first"]
    for i, metric in enumerate(plan.metrics):
        where = f"FILTER (WHERE {ok} AND f{i})"
        v = metric.value
        parts.append(f"count(*) {where} AS r{i}")
        if metric.source in ("sum", "mean"):
            parts += [f"count(v{v}) {where} AS c{i}", f"sum(v{v}) {where} AS t{i}"]
        else:
            parts += [f"0 AS c{i}", f"0.0 AS t{i}"]
        parts.append(f"count(DISTINCT k{v}) FILTER (WHERE {ok} AND f{i} AND k{v} <> '') AS u{i}"
                     if metric.source == "count_distinct" else f"0 AS u{i}")
    fields = ["rid", "g", "first_cell", *dates, *(f"v{i}" for i in range(len(plan.values))),
              *(f"f{i}" for i in range(len(plan.metrics)))]
    packed = ", ".join(f"{f} := {f}" for f in fields)
    parts.append(f"list(struct_pack({packed})) FILTER (WHERE s) AS suspicious")
    if len(dates) == 1:  # one date column: a plain GROUP BY
        parts[0] = "0 AS n0"
        return f"SELECT {', '.join(parts)} FROM ({norm_sql}) GROUP BY d0"
    sets = ", ".join(f"({d})" for d in dates)
    return f"SELECT {', '.join(parts)} FROM ({norm_sql}) GROUP BY GROUPING SETS ({sets})"


def _classify_suspicious(parsed: ParsedFile, plan: _Plan, rows: list[dict], out: Collected) -> list[dict]:
    """Sort suspicious rows into skipped / rejected; return the ones that turn out ordinary."""
    if not rows:
        return []
    raw = {r[0]: r[1:] for r in parsed.con.execute(
        f"SELECT rowid, {parsed.cells} FROM raw WHERE rowid IN (SELECT unnest(?::BIGINT[]))", [[r["rid"] for r in rows]]
    ).fetchall()}
    ordinary = []
    for record in rows:
        cells = raw[record["rid"]]
        line = parsed.line_of_row(record["rid"])
        text = parsed.raw_row(cells)
        reason = _skip_reason(plan, record)
        if reason:
            out.skipped.append(Skipped(line, reason, text))
            continue
        problem = _problem(plan, record, cells)
        if problem:
            key, values = problem
            out.rejections.append(Rejection(line, key, {"line": line, **values}, text))
        else:
            ordinary.append(record)
    return ordinary


def _add_ordinary(plan: _Plan, rows: list[dict], cells: dict[tuple[int, date], _Cell],
                  months: set[tuple[int, date]]) -> None:
    """Count the suspicious rows that were fine after all (count, sum and mean; distinct counts are redone)."""
    for record in rows:
        if not record["g"]:
            continue
        for j in range(len(plan.dates)):
            if record[f"d{j}"] is not None:
                months.add((j, record[f"d{j}"]))
        for i, metric in enumerate(plan.metrics):
            month = record[f"d{metric.date}"]
            if not record[f"f{i}"] or month is None:
                continue
            cell = cells.setdefault((i, month), _Cell())
            cell.rows += 1
            cell.first = record["rid"] if cell.first is None else min(cell.first, record["rid"])
            if metric.source in ("sum", "mean") and record[f"v{metric.value}"] is not None:
                cell.values += 1
                cell.total += record[f"v{metric.value}"]


def _recount_distinct(parsed: ParsedFile, plan: _Plan, norm_sql: str, params: list[Any], ordinary: list[dict],
                      cells: dict[tuple[int, date], _Cell]) -> None:
    """Distinct counts cannot be topped up: count them again with the ordinary suspicious rows included."""
    rids = [r["rid"] for r in ordinary]
    for i, metric in enumerate(plan.metrics):
        if metric.source != "count_distinct":
            continue
        k, d = f"k{metric.value}", f"d{metric.date}"
        for month, distinct in parsed.con.execute(
                f"SELECT {d}, count(DISTINCT {k}) FROM ({norm_sql}) WHERE g AND f{i} AND {k} <> '' AND "
                f"{d} IS NOT NULL AND (NOT s OR list_contains(?::BIGINT[], rid)) GROUP BY {d}",
                params + [rids]).fetchall():
            cells.setdefault((i, month), _Cell()).distinct = distinct


def _emit(parsed: ParsedFile, plan: _Plan, cells: dict[tuple[int, date], _Cell], months: set[tuple[int, date]],
          out: Collected) -> None:
    """Monthly values of every metric for each month its date column has rows in."""
    for (date_index, month) in sorted(months, key=lambda m: (m[1], m[0])):
        for i, metric in enumerate(plan.metrics):
            if metric.date != date_index:
                continue
            cell = cells.get((i, month), _Cell())
            value = cell.value(metric.source)
            if value is None:  # no readable value this month (blank amounts): missing, not 0
                continue
            line = parsed.line_of_row(cell.first) if cell.first is not None else None
            out.add(metric.key, month, value * metric.scale, line)
            out.counts[(metric.key, month)] = cell.rows


def _skip_reason(plan: _Plan, record: dict[str, Any]) -> str | None:
    """Blank, total and footer rows all lack a date: a dated row is a record, whatever its first cell says."""
    if all(record[f"d{i}"] is not None for i in range(len(plan.dates))):
        return None
    first = record["first_cell"]
    return "blank" if first is None else summary_kind(first)


def _problem(plan: _Plan, record: dict[str, Any], cells: tuple) -> tuple[str, dict[str, Any]] | None:
    """The first problem in a cell that a metric counting this row needs."""
    index = plan.column_index
    if not record["g"]:
        return None
    for i, metric in enumerate(plan.metrics):
        if not record[f"f{i}"]:
            continue
        date_column = plan.dates[metric.date]
        if record[f"d{metric.date}"] is None:
            text = cells[index[date_column]]
            if is_blank(text):
                return "ingest.reject.date_missing", {"column": date_column, "metric": metric.key}
            return month_problem(text), {"column": date_column, "value": text}
        if metric.source in ("sum", "mean"):
            column = plan.values[metric.value]
            text = cells[index[column]]
            if record[f"v{metric.value}"] is None and not is_blank(text):
                return _number_problem(text, plan.parsed.decimal_comma), {"column": column, "value": text}
    return None


def _number_problem(text: str, decimal_comma: bool) -> str:
    """Why a cell is not a number: written in the other decimal style than the file's, or not a number at all."""
    try:
        cell_number(text, decimal_comma)
    except NumberStyleError as exc:
        return exc.key
    except ValueError:
        pass
    return "ingest.reject.bad_number"
