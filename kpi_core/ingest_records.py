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

from .ingest_decode import IngestError
from .ingest_mapping import RECORD_SOURCES, Mapping
from .ingest_summary import filters_sql
from .ingest_table import (
    TOTAL_WORDS,
    Collected,
    Message,
    ParsedFile,
    Rejection,
    Skipped,
    is_footer_text,
    is_total_label,
)
from .ingest_values import is_blank, month_problem

# RE2 versions of the skip rules, used only to pick candidate rows; Python has the last word.
_FOOTER_RE2 = (r"(?i)^(出力件数|件数|総件数|レコード数|データ件数|出力日時?|作成日時?|抽出日時?|抽出条件|出力者|作成者|"
               r"集計期間|total\s*records?|records?|rows|row\s*count|exported|printed|generated)\s*[:：=]|^[※＊*]\s*\S")
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
        self.values: list[str] = []
        self.metrics: list[_Metric] = []
        self.global_sql, self.global_params = filters_sql(parsed, mapping.get("filters"))
        for key, spec in mapping["metrics"].items():
            if spec["source"] not in RECORD_SOURCES:
                continue
            date_column = spec.get("date_column") or mapping["date_column"]
            value = self._index(self.values, spec["column"]) if spec.get("column") and spec["source"] != "count" \
                else None
            sql, params = filters_sql(parsed, spec.get("filters"))
            self.metrics.append(_Metric(key, spec["source"], self._index(self.dates, date_column), value, sql,
                                        params, float(spec.get("scale", 1))))

    @staticmethod
    def _index(names: list[str], name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    def norm_sql(self) -> tuple[str, list[Any]]:
        """SELECT building the `norm` table: normalised dates and numbers, filter flags, and `s`, true for
        rows that are blank, look like totals or footers, or have a problem in a cell a metric uses."""
        p = self.parsed
        parts = ["rowid AS rid"]
        for i, name in enumerate(self.dates):
            parts += [f"kpi_month({p.column_id(name)}) AS d{i}", f"kpi_blank({p.column_id(name)}) AS db{i}"]
        for i, name in enumerate(self.values):
            parts += [f"kpi_number({p.column_id(name)}) AS v{i}", f"kpi_blank({p.column_id(name)}) AS vb{i}",
                      f"kpi_key({p.column_id(name)}) AS vk{i}"]
        params: list[Any] = list(self.global_params)
        parts.append(f"({self.global_sql}) AS g")
        for i, metric in enumerate(self.metrics):
            parts.append(f"({metric.filter_sql}) AS f{i}")
            params += metric.params
        # The first non-empty cell is only needed (and only computed) where a date is missing.
        no_date = " OR ".join(f"d{i} IS NULL" for i in range(len(self.dates)))
        first = ", ".join(f"nullif(trim(c{i}), '')" for i in range(len(p.columns)))
        columns = ", ".join(f"c{i}" for i in range(len(p.columns)))
        inner = f"SELECT {columns}, {', '.join(parts)} FROM raw"
        middle = f"SELECT *, CASE WHEN {no_date} THEN coalesce({first}) END AS first_cell FROM ({inner})"
        keep = ", ".join(part.rsplit(" AS ", 1)[1] for part in parts) + ", first_cell"
        return f"SELECT {keep}, ({self._suspicious(no_date)}) AS s FROM ({middle})", params

    def _suspicious(self, no_date: str) -> str:
        words = ", ".join(f"'{w}'" for w in sorted(TOTAL_WORDS))
        label = f"regexp_replace(lower(kpi_text(first_cell)), '{_LABEL_RE2}', '', 'g')"
        skip = (f"({no_date}) AND (first_cell IS NULL OR {label} IN ({words}) "
                f"OR regexp_matches(kpi_text(first_cell), '{_FOOTER_RE2}'))")
        conditions = [skip]
        for i, metric in enumerate(self.metrics):
            problem = f"d{metric.date} IS NULL"
            if metric.value is not None and metric.source != "count_distinct":
                problem += f" OR (v{metric.value} IS NULL AND NOT vb{metric.value})"
            conditions.append(f"(g AND f{i} AND ({problem}))")
        return " OR ".join(f"({c})" for c in conditions)


def collect_records(parsed: ParsedFile, mapping: Mapping) -> Collected:
    """Monthly values of a record list (mapping already validated)."""
    plan = _Plan(parsed, mapping)
    if not plan.metrics:
        raise IngestError("ingest.mapping.no_record_metrics")
    con = parsed.con
    sql, params = plan.norm_sql()
    con.execute("DROP TABLE IF EXISTS norm")
    con.execute(f"CREATE TEMP TABLE norm AS {sql}", params)
    out = Collected()
    excluded = _classify_suspicious(parsed, plan, out)
    con.execute("DROP TABLE IF EXISTS excluded")
    con.execute("CREATE TEMP TABLE excluded AS SELECT unnest(?::BIGINT[]) AS rid", [excluded])
    for date_index in range(len(plan.dates)):
        _aggregate(parsed, plan, date_index, out)
    out.rows_used = con.execute(
        "SELECT count(*) FROM norm n ANTI JOIN excluded e ON n.rid = e.rid WHERE n.g").fetchone()[0]
    filtered = con.execute("SELECT count(*) FROM norm WHERE NOT g").fetchone()[0]
    if filtered:
        out.messages.append(Message("ingest.msg.filtered", {"rows": filtered}))
    con.execute("DROP TABLE norm")
    con.execute("DROP TABLE excluded")
    return out


def _classify_suspicious(parsed: ParsedFile, plan: _Plan, out: Collected) -> list[int]:
    """Sort suspicious rows into skipped / rejected; return the rowids that no metric may count."""
    rows = parsed.con.execute(
        "SELECT n.* EXCLUDE (s), r.* FROM norm n JOIN raw r ON r.rowid = n.rid WHERE n.s ORDER BY n.rid").fetchall()
    if not rows:
        return []
    names = [d[0] for d in parsed.con.description]
    width = len(parsed.columns)
    excluded = []
    for row in rows:
        record = dict(zip(names[:-width], row[:-width]))
        cells = row[-width:]
        reason = _skip_reason(plan, record)
        line = parsed.line_of_row(record["rid"])
        raw = parsed.raw_row(cells)
        if reason:
            out.skipped.append(Skipped(line, reason, raw))
            excluded.append(record["rid"])
            continue
        problem = _problem(plan, record, cells)
        if problem:
            key, values = problem
            out.rejections.append(Rejection(line, key, {"line": line, **values}, raw))
            excluded.append(record["rid"])
    return excluded


def _skip_reason(plan: _Plan, record: dict[str, Any]) -> str | None:
    """Blank, total and footer rows all lack a date: a dated row is a record, whatever its first cell says."""
    if all(record[f"d{i}"] is not None for i in range(len(plan.dates))):
        return None
    first = record["first_cell"]
    if first is None:
        return "blank"
    if is_total_label(first):
        return "total"
    if is_footer_text(first):
        return "footer"
    return None


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
        if metric.value is not None and metric.source != "count_distinct":
            v = metric.value
            if record[f"v{v}"] is None and not record[f"vb{v}"]:
                column = plan.values[v]
                return "ingest.reject.bad_number", {"column": column, "value": cells[index[column]]}
    return None


def _aggregate(parsed: ParsedFile, plan: _Plan, date_index: int, out: Collected) -> None:
    """One GROUP BY month for the metrics dated by this column."""
    metrics = [(i, m) for i, m in enumerate(plan.metrics) if m.date == date_index]
    if not metrics:
        return
    selects = []
    for i, metric in metrics:
        passing = f"count(*) FILTER (WHERE f{i})"
        first = f"min(n.rid) FILTER (WHERE f{i})"
        v = metric.value
        if metric.source == "count":
            value = passing
        elif metric.source == "count_distinct":
            value = f"count(DISTINCT vk{v}) FILTER (WHERE f{i} AND vk{v} <> '')"
        elif metric.source == "sum":
            value = f"CASE WHEN {passing} = 0 THEN 0 ELSE sum(v{v}) FILTER (WHERE f{i}) END"
        else:
            value = f"avg(v{v}) FILTER (WHERE f{i})"
        selects += [value, passing, first]
    rows = parsed.con.execute(
        f"SELECT d{date_index} AS month, {', '.join(selects)} FROM norm n ANTI JOIN excluded e ON n.rid = e.rid "
        f"WHERE n.g AND d{date_index} IS NOT NULL GROUP BY month ORDER BY month").fetchall()
    for row in rows:
        month: date = row[0]
        for position, (_, metric) in enumerate(metrics):
            value, passing, first = row[1 + 3 * position: 4 + 3 * position]
            if value is None:  # no readable value this month (blank amounts): missing, not 0
                continue
            line = parsed.line_of_row(first) if first is not None else None
            out.add(metric.key, month, float(value) * metric.scale, line)
            out.lines[(metric.key, month)] = line
            out.counts[(metric.key, month)] = int(passing)
