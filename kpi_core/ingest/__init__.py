"""Importing monthly actuals from CSV exports: bytes in, validated monthly values out, one transaction.

The flow, and the functions a page (or the CLI) calls in order:

1. `read_export(source, file_name)` -> ParsedFile: bounded read, encoding detection (said out loud), delimiter and
   header row (title lines above it skipped), DuckDB parse, shape guess, header signature, sha256.
2. `find_mapping(store, parsed, plan)` -> a saved profile's mapping for this export's header, or
   `suggest_mapping(parsed, metric_aliases, plan_keys)` -> a first mapping from header names and aliases.
3. `preview_import(store, plan, parsed, mapping, lang)` -> ImportPreview: the monthly values that would be written
   (with the values they replace), skipped and rejected rows with line numbers; nothing is written.
4. `commit_import(store, plan, parsed, mapping, preview)` -> ImportResult: one transaction, or nothing.
   All or nothing: when any row is rejected, nothing is written unless the caller passes `accept_rejected=True`
   (the user saw the rejected rows and chose to import the good ones). `commit_blocker(preview, ...)` says,
   without writing, why a commit would be refused (a dry run's exit code).
   `save_mapping_profile(...)` remembers the mapping so next month's file maps itself.
5. `rejections_csv(preview, lang)` -> CSV bytes of the rejected rows (formula injection neutralised).

Every failure is an IngestError carrying a catalogue key and values (`err.message(lang)`).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from kpi_core.adapters.store import Store
from kpi_core.domain.drivers import FormulaError, parse_formula
from kpi_core.domain.model import Actual, Plan
from kpi_core.domain.records import EarlierImport, MappingProfile
from kpi_core.domain.value_rules import ValueKind, range_problem, shown, value_kind
from kpi_core.i18n import t
from kpi_core.ingest.decode import (
    CHOOSABLE_ENCODINGS,
    DEFAULT_MAX_BYTES,
    DELIMITER_LABELS,
    ENCODING_LABELS,
    MB,
    Decoded,
    IngestError,
    Layout,
    Source,
    decode,
    delimiter_label,
    detect_layout,
    encoding_label,
    read_source,
    render,
)
from kpi_core.ingest.load import Loaded, load_arrow, load_table
from kpi_core.ingest.mapping import (
    LIST_OPS,
    NEEDS_COLUMN,
    NO_VALUE_OPS,
    OP_NAMES,
    SHAPE_SOURCES,
    Mapping,
    distinct_labels,
    filter_condition,
    filter_text,
    formula_order,
    mapping_schema,
    validate_mapping,
)
from kpi_core.ingest.mapping import suggest_mapping as _suggest
from kpi_core.ingest.record_roles import default_column
from kpi_core.ingest.records import collect_records
from kpi_core.ingest.summary import collect_summary
from kpi_core.ingest.table import (
    SAMPLE_ROWS,
    SHAPES,
    Collected,
    LineMap,
    Message,
    ParsedFile,
    Rejection,
    Skipped,
    cell_list,
    classify_rejects,
    display_columns,
    guess_shape,
    header_signature,
    profile_columns,
)
from kpi_core.ingest.values import FILTER_OPS, cell_month, number_style

__all__ = [
    "CHOOSABLE_ENCODINGS",
    "DEFAULT_MAX_BYTES",
    "DELIMITER_LABELS",
    "ENCODING_LABELS",
    "FILTER_OPS",
    "LIST_OPS",
    "MB",
    "NEEDS_COLUMN",
    "NO_VALUE_OPS",
    "OP_NAMES",
    "SHAPES",
    "SHAPE_SOURCES",
    "ImportPreview",
    "ImportResult",
    "IngestError",
    "Mapping",
    "Message",
    "ParsedFile",
    "Rejection",
    "RevertResult",
    "Skipped",
    "commit_blocker",
    "commit_import",
    "default_column",
    "default_profile_name",
    "delimiter_label",
    "describe",
    "distinct_labels",
    "encoding_label",
    "filter_condition",
    "filter_text",
    "find_mapping",
    "frame_csv",
    "live_values",
    "mapping_file_bytes",
    "mapping_schema",
    "metric_kinds",
    "neutralise",
    "plan_aliases",
    "plan_keys",
    "preview_import",
    "read_export",
    "read_mapping_file",
    "rejections_csv",
    "render",
    "revert_import",
    "save_mapping_profile",
    "similar_names",
    "suggest_mapping",
    "validate_mapping",
    "values_csv",
]

SAMPLE_FRAME_ROWS = 20


def _file_name(source: Source, file_name: str | None) -> str:
    if file_name:
        return file_name
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return getattr(source, "name", None) or "upload.csv"


def read_export(source: Source, file_name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES, *,
                encoding: str | None = None, delimiter: str | None = None,
                header_line: int | None = None, decimal: str | None = None) -> ParsedFile:
    """Read an export (bytes, a path or a binary stream) into a ParsedFile.

    `encoding`, `delimiter`, `header_line` (1-based line of the header in the file) and `decimal` ('comma' or
    'point') override the detection.
    Raises IngestError for anything that is not a readable table (too large, empty, binary, undecodable,
    header only, no row readable).
    """
    data = read_source(source, max_bytes)
    digest = _sha256_in_background(data)
    name = _file_name(source, file_name)
    decoded = decode(data, encoding)
    layout = detect_layout(decoded.view, delimiter, header_line)
    loaded = _load(decoded, layout)
    if not decoded.verified and any(r[1] == "INVALID ENCODING" for r in loaded.rejects):
        # Only the head was UTF-8: decode the whole file in Python (CP932, or a precise error) and parse again.
        loaded.cleanup()
        decoded = decode(data, encoding, full=True)
        layout = detect_layout(decoded.view, delimiter, header_line)
        loaded = _load(decoded, layout)
    if decimal not in (None, "comma", "point"):
        loaded.cleanup()
        raise IngestError("ingest.bad_decimal_choice", decimal=decimal)
    try:
        return _parsed(loaded, decoded, layout, name, data, digest, decimal)
    except BaseException:
        loaded.cleanup()
        raise


def _load(decoded: Decoded, layout: Layout) -> Loaded:
    """Arrow's fast reader when its rows can be numbered exactly, DuckDB's otherwise (see ingest_load)."""
    start, width = decoded.start + layout.header_offset, len(layout.columns)
    return (load_arrow(decoded.buffer, start, decoded.end, layout.delimiter, width)
            or load_table(decoded.view[layout.header_offset:], layout.delimiter, width))


def _sha256_in_background(data: bytes):
    """hashlib releases the GIL on large inputs: hash while the file is decoded and parsed."""
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append(hashlib.sha256(data).hexdigest()), daemon=True)
    worker.start()

    def digest() -> str:
        worker.join()
        return result[0]
    return digest


def _parsed(loaded: Loaded, decoded: Decoded, layout: Layout, name: str, data: bytes, digest,
            decimal: str | None = None) -> ParsedFile:
    con, rejects, width = loaded.con, loaded.rejects, len(layout.columns)
    accepted = con.execute("SELECT count(*) FROM raw").fetchone()[0]
    lines = LineMap(decoded.buffer, decoded.start + layout.header_offset, decoded.end, layout.delimiter,
                    layout.header_line, accepted, [int(r[0]) for r in rejects], loaded.blank)
    last_data_line = lines.line_of_row(accepted - 1) if accepted else layout.header_line
    skipped, rejections = classify_rejects(rejects, lines, layout.delimiter, width, last_data_line)
    skipped = [Skipped(n, "title", text) for n, text in layout.title_lines] + skipped
    filled = " OR ".join(f"nullif(trim(c{i}), '') IS NOT NULL" for i in range(width))
    if con.execute(f"SELECT count(*) FROM (SELECT 1 FROM raw WHERE {filled} LIMIT 1)").fetchone()[0] == 0:
        if rejections:
            raise IngestError("ingest.no_readable_rows", count=len(rejections), line=rejections[0].line)
        raise IngestError("ingest.header_only", line=layout.header_line)
    columns = display_columns(layout.columns)
    # The first rows in file order: a scan keeps insertion order (DuckDB's default), so LIMIT stops after them,
    # where a filter on rowid would read the whole table (an Arrow-backed `raw` has rowid as a plain column).
    sample_rows = con.execute(f"SELECT * FROM (SELECT rowid, {cell_list(width)} FROM raw LIMIT {SAMPLE_ROWS}) "
                              f"ORDER BY rowid").fetchall()
    profiles = profile_columns(columns, sample_rows)
    sample = pd.DataFrame([list(r[1:]) for r in sample_rows[:SAMPLE_FRAME_ROWS]], columns=columns, dtype=object)
    return ParsedFile(
        file_name=name, size=len(data), sha256=digest(), encoding=decoded.encoding,
        delimiter=layout.delimiter, header_line=layout.header_line, columns=columns,
        header_signature=header_signature(columns), row_count=accepted, shape=guess_shape(profiles, len(sample_rows)),
        sample=sample, profiles=profiles, skipped=skipped, rejections=rejections, con=con, lines=lines,
        cleanup=loaded.cleanup, decimal_comma=_decimal_comma(sample_rows, layout.delimiter, decimal))


def _decimal_comma(sample_rows: list[tuple], delimiter: str, decimal: str | None) -> bool:
    """Whether the file writes decimal commas: said by the user, else by the file: a cell only a decimal-comma
    writer produces (12,5  1.234,50) and none only a decimal-point writer produces, or a ';' delimiter (how
    spreadsheets write CSV where the comma is the decimal mark) with no decimal-point cell."""
    if decimal:
        return decimal == "comma"
    styles = Counter(number_style(cell) for row in sample_rows for cell in row[1:] if cell and not _is_month(cell))
    return not styles["point"] and (styles["comma"] > 0 or delimiter == ";")


def _is_month(cell: str) -> bool:
    try:
        return cell_month(cell) is not None
    except ValueError:
        return False


def describe(parsed: ParsedFile, lang: str, shape: str | None = None) -> str:
    """One line saying what was detected: encoding, delimiter, header line, rows, and the shape it is read as
    (`shape`: the mapping's, when one is chosen; else the guessed one)."""
    text = t("ingest.detected", lang, encoding=encoding_label(parsed.encoding),
             delimiter=delimiter_label(parsed.delimiter, lang), line=parsed.header_line,
             rows=f"{parsed.row_count:,}", shape=t(f"ingest.shape.{shape or parsed.shape}", lang))
    return text + (" " + t("ingest.decimal_comma_read", lang) if parsed.decimal_comma else "")


# ---------------------------------------------------------------- mapping
def suggest_mapping(parsed: ParsedFile, metric_aliases: dict[str, list[str]], plan_keys: Iterable[str],
                    shape: str | None = None) -> Mapping:
    """A first mapping from header names / metric labels and each plan key's aliases (see ingest_mapping)."""
    return _suggest(parsed, metric_aliases, plan_keys, shape)


def similar_names(mapping: Mapping) -> list[tuple[str, str]]:
    """(metric key, column or label) pairs a suggestion matched by a similar name, for the user to confirm."""
    return [(key, str(spec.get("column") or spec.get("label"))) for key, spec in mapping.get("metrics", {}).items()
            if spec.get("similar")]


MAX_MAPPING_FILE = 1 * MB


def read_mapping_file(data: bytes, name: str) -> Mapping:
    """A mapping from a JSON file's bytes (the format of `mapping --schema`); IngestError when it is not one."""
    if len(data) > MAX_MAPPING_FILE:
        raise IngestError("ingest.mapping_file", file=name, error=f"> {MAX_MAPPING_FILE // MB} MB")
    try:
        mapping = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise IngestError("ingest.mapping_file", file=name, error=str(exc)) from None
    if not isinstance(mapping, dict) or not isinstance(mapping.get("metrics"), dict):
        raise IngestError("ingest.mapping_file", file=name, error="no \"metrics\" object")
    return mapping


def mapping_file_bytes(mapping: Mapping) -> bytes:
    """A mapping as the JSON file read_mapping_file reads back (hints of the suggestion left out)."""
    clean = {**mapping, "metrics": {key: {k: v for k, v in spec.items() if k != "similar"}
                                    for key, spec in mapping.get("metrics", {}).items()}}
    return (json.dumps(clean, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def plan_keys(store: Store, plan: Plan) -> list[str]:
    """The plan's metric keys: the KGI's first, then the KPIs' in their order."""
    kgi = store.get_kgi(plan.id)
    return ([kgi.key] if kgi else []) + [k.key for k in store.list_kpis(plan.id)]


def plan_aliases(store: Store, plan: Plan, extra: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Aliases of each plan key: its key and name, plus `extra` (e.g. a template's alias lists)."""
    aliases: dict[str, list[str]] = {}
    kgi = store.get_kgi(plan.id)
    named = ([(kgi.key, kgi.name)] if kgi else []) + [(k.key, k.name) for k in store.list_kpis(plan.id)]
    for key, name in named:
        aliases[key] = [a for a in (key, name, *((extra or {}).get(key, []))) if a]
    return aliases


def find_mapping(store: Store, parsed: ParsedFile, plan: Plan) -> MappingProfile | None:
    """The saved profile for this export's header signature (the plan's own first), or None."""
    return store.find_profile(parsed.header_signature, plan.id)


_DATED_STEM = re.compile(r"[_\-\s]*\d{4}[-_/]?\d{2}([-_/]?\d{2})?$")


def default_profile_name(parsed: ParsedFile, profile: MappingProfile | None) -> str:
    """The name to offer for saving a mapping: the profile's own, else the file name without its date
    (deals_2026-07.csv -> deals), so that each month's file lands on the same profile."""
    if profile:
        return profile.name
    stem = parsed.file_name.rsplit(".", 1)[0]
    return _DATED_STEM.sub("", stem)[:100] or stem[:100]


def live_values(store: Store, plan: Plan) -> dict[int, int]:
    """{import id: values of it still current}: what reverting each import would take back."""
    return store.live_values_by_import(plan.id)


def save_mapping_profile(store: Store, parsed: ParsedFile, mapping: Mapping, name: str,
                         plan: Plan | None = None) -> int:
    """Remember `mapping` for exports with this header; returns the profile id."""
    checked = validate_mapping(parsed, mapping)
    return store.save_profile(name, parsed.header_signature, checked, plan.id if plan else None)


# ---------------------------------------------------------------- preview
@dataclass
class ImportPreview:
    """What an import would do; nothing has been written.

    `values`: one row per metric-month to write (metric, month, value, current, status new|changed|unchanged,
    line = first source line, rows = records behind it). `actuals` are exactly what commit writes.
    `already_imported`: this file was imported with this same mapping (nothing to do). `remapped`: this file was
    imported with another mapping; the user replaces that import or keeps it beside the new one.
    """

    plan_id: int
    file_name: str
    sha256: str
    mapping: Mapping
    values: pd.DataFrame
    actuals: list[Actual]
    skipped: list[Skipped]
    rejections: list[Rejection]
    messages: list[Message]
    already_imported: EarlierImport | None
    rows_total: int
    rows_used: int
    lang: str = "ja"
    remapped: EarlierImport | None = None

    @property
    def can_commit(self) -> bool:
        """Something to write (rejected rows and an earlier import of the file are choices, see commit_blocker)."""
        return bool(self.actuals) and self.already_imported is None

    @property
    def rejected_rows(self) -> int:
        """Rows set aside: distinct rejected lines (a row with two bad cells is one row), plus rejections of
        derived values that have no line."""
        return len({r.line for r in self.rejections if r.line is not None}) + \
            sum(1 for r in self.rejections if r.line is None)

    @property
    def good_rows(self) -> int:
        return max(self.rows_total - self.rejected_rows, 0)

    @property
    def to_write(self) -> int:
        """Metric-months whose value changes (new or different): the count the button and the preview both say."""
        return self.changes

    @property
    def changes(self) -> int:
        return int((self.values["status"] != "unchanged").sum()) if len(self.values) else 0


VALUE_COLUMNS = ["metric", "month", "value", "current", "status", "line", "rows"]


def preview_import(store: Store, plan: Plan, parsed: ParsedFile, mapping: Mapping, lang: str = "ja",
                   ) -> ImportPreview:
    """Map, normalise and aggregate the file; compare with the plan's current actuals. Writes nothing."""
    checked = validate_mapping(parsed, mapping)
    kinds = metric_kinds(store, plan)
    collected = collect_records(parsed, checked) if checked["shape"] == "records" else \
        collect_summary(parsed, checked, kinds)
    _reject_out_of_range(kinds, collected)  # the monthly values the rows add up to, before formulas use them
    _apply_formulas(checked, collected)
    _reject_out_of_range(kinds, collected)  # and the derived ones
    keys = plan_keys(store, plan)
    _report_keys(checked, keys, collected)
    similar = similar_names(checked)
    if similar:
        collected.messages.append(Message("ingest.msg.similar_names", {
            "pairs": ", ".join(f"{name} → {key}" for key, name in similar)}, "warning"))
    months = set(plan.month_list())
    _reject_outside_plan(plan, keys, months, collected)
    current = store.actual_values(plan.id)
    records, actuals = [], []
    for key in [k for k in keys if k in collected.values]:
        for month, value in sorted(collected.values[key].items()):
            before = current.get(key, {}).get(month)
            status = "new" if before is None else "unchanged" if before == value else "changed"
            records.append([key, month, value, before, status, collected.lines.get((key, month)),
                            collected.counts.get((key, month))])
            actuals.append(Actual(key, month, value))
    frame = pd.DataFrame(records, columns=VALUE_COLUMNS).astype(
        {"value": "float64", "current": "float64", "line": "Int64", "rows": "Int64"})
    read_after_all = set(collected.recovered)
    rejections = sorted([r for r in parsed.rejections if r.line not in read_after_all] + collected.rejections,
                        key=_by_line)
    skipped = sorted(parsed.skipped + collected.skipped, key=lambda s: s.line)
    earlier = store.find_import(plan.id, parsed.sha256)
    same_mapping = earlier is not None and earlier.mapping == checked
    return ImportPreview(
        plan_id=plan.id, file_name=parsed.file_name, sha256=parsed.sha256, mapping=checked, values=frame,
        actuals=actuals, skipped=skipped, rejections=rejections, messages=collected.messages,
        already_imported=earlier if same_mapping else None, rows_total=_data_rows(parsed, collected),
        rows_used=collected.rows_used, lang=lang, remapped=None if same_mapping else earlier)


def _data_rows(parsed: ParsedFile, collected: Collected) -> int:
    """Rows of data in the file: everything read or rejected by the parser, less blank, total and footer rows."""
    summaries = sum(1 for s in collected.skipped if s.reason != "column")
    return parsed.row_count + len(parsed.rejections) - summaries


def _by_line(rejection: Rejection) -> tuple[int, int]:
    return (0, rejection.line) if rejection.line is not None else (1, 0)


def _apply_formulas(mapping: Mapping, collected: Collected) -> None:
    """Derived metrics, month by month, from the metrics gathered (inputs first)."""
    metrics = mapping["metrics"]
    formulas = {key: parse_formula(str(spec["formula"])) for key, spec in metrics.items()
                if spec["source"] == "formula"}
    depends = {key: f.names for key, f in formulas.items()}
    order: list[str] = []
    for key in formulas:
        order += [k for k in formula_order(depends, key) if k not in order]
    for key in order:
        formula, scale = formulas[key], float(metrics[key].get("scale", 1))
        series = [collected.values.get(name, {}) for name in formula.names]
        all_months = sorted(set().union(*series)) if series else []
        incomplete = []
        for month in all_months:
            inputs = {name: s.get(month) for name, s in zip(formula.names, series)}
            if any(v is None for v in inputs.values()):
                incomplete.append(month.strftime("%Y-%m"))
                continue
            try:
                value = formula.evaluate(inputs) * scale
            except FormulaError as exc:
                collected.rejections.append(Rejection(None, "ingest.reject.formula", {
                    "metric": key, "month": month.strftime("%Y-%m"), "reason_key": exc.key,
                    "reason_values": exc.values}))
                continue
            collected.add(key, month, value, None)
        if incomplete:
            collected.messages.append(Message("ingest.msg.formula_incomplete", {
                "metric": key, "months": ", ".join(incomplete)}, "warning"))


def _report_keys(mapping: Mapping, keys: list[str], collected: Collected) -> None:
    """Metrics of the file that the plan does not have, and plan metrics the file does not give."""
    used = {name for spec in mapping["metrics"].values() if spec["source"] == "formula"
            for name in parse_formula(str(spec["formula"])).names}
    extra = [k for k in mapping["metrics"] if k not in keys]
    helpers = [k for k in extra if k in used]
    unused = [k for k in extra if k not in used]
    if unused:
        collected.messages.append(Message("ingest.msg.not_in_plan", {"metrics": ", ".join(unused)}, "warning"))
    if helpers:
        collected.messages.append(Message("ingest.msg.helpers", {"metrics": ", ".join(helpers)}))
    missing = [k for k in keys if k not in mapping["metrics"]]
    if missing:
        collected.messages.append(Message("ingest.msg.unmapped_keys", {"metrics": ", ".join(missing)}))
    empty = [k for k in keys if k in mapping["metrics"] and not collected.values.get(k)]
    if empty:
        collected.messages.append(Message("ingest.msg.no_values", {"metrics": ", ".join(empty)}, "warning"))


def metric_kinds(store: Store, plan: Plan) -> dict[str, ValueKind]:
    """The range rule (value_rules) of each of the plan's metrics, from its unit and aggregation."""
    kgi = store.get_kgi(plan.id)
    metrics = ([kgi] if kgi else []) + list(store.list_kpis(plan.id))
    return {m.key: value_kind(m.unit, m.aggregation) for m in metrics}


def _reject_out_of_range(kinds: dict[str, ValueKind], collected: Collected) -> None:
    """Monthly values outside their metric's range (a month of refunds adding up below zero, a derived rate above
    100 %) are rejected like a bad row, with the first line behind them."""
    for key, series in collected.values.items():
        kind = kinds.get(key, ValueKind.SIGNED)
        for month, value in list(series.items()):
            problem = range_problem(value, kind)
            if problem is None:
                continue
            del series[month]
            line = collected.lines.get((key, month))
            collected.rejections.append(Rejection(line, "ingest.reject.value_range", {
                "line": line, "metric": key, "month": month.strftime("%Y-%m"), "reason_key": problem,
                "reason_values": {"field": f"{key}, {month:%Y-%m}", "value": shown(value, kind)}}))


def _reject_outside_plan(plan: Plan, keys: list[str], months: set[date], collected: Collected) -> None:
    """Values for months outside the plan period are rejected, one line per month naming the metrics."""
    outside: dict[date, list[str]] = {}
    for key in keys:
        for month in [m for m in collected.values.get(key, {}) if m not in months]:
            outside.setdefault(month, []).append(key)
            del collected.values[key][month]
    for month, metrics in sorted(outside.items()):
        lines = [collected.lines.get((k, month)) for k in metrics]
        line = min((n for n in lines if n is not None), default=None)
        collected.rejections.append(Rejection(line, "ingest.reject.outside_plan", {
            "line": line, "month": month.strftime("%Y-%m"), "metrics": ", ".join(metrics),
            "start": plan.fiscal_start.strftime("%Y-%m"), "end": plan.end_month.strftime("%Y-%m")}))


# ---------------------------------------------------------------- commit
@dataclass
class ImportResult:
    import_id: int
    written: int
    unchanged: int
    rejected: int
    already_imported: EarlierImport | None = None
    replaced: int | None = None

    def message(self, lang: str) -> str:
        if self.already_imported:
            return t("ingest.already_imported", lang, import_id=self.import_id,
                     date=_when(self.already_imported.created_at))
        text = t("ingest.committed", lang, import_id=self.import_id, written=self.written,
                 unchanged=self.unchanged, rejected=self.rejected)
        if self.replaced:
            text += " " + t("ingest.replaced", lang, import_id=self.replaced)
        return text


def commit_blocker(preview: ImportPreview, accept_rejected: bool = False,
                   replace: bool | None = None) -> IngestError | None:
    """Why committing `preview` would be refused (nothing written), or None. The same answer for a dry run and
    the real run. A file already imported with the same mapping is no blocker: committing it changes nothing.

    `accept_rejected`: the user saw the rejected rows and imports the others. `replace`: for a file imported
    before with another mapping, True reverts that import in the same transaction, False keeps it beside the
    new one; None (not chosen) refuses."""
    if preview.already_imported:
        return None
    if not preview.actuals:
        return IngestError("ingest.nothing_to_import")
    if preview.rejections and not accept_rejected:
        return IngestError("ingest.rejected_not_accepted", file=preview.file_name, rejected=preview.rejected_rows,
                           good=preview.good_rows)
    if preview.remapped and replace is None:
        earlier = preview.remapped
        return IngestError("ingest.remapped_choice", file=preview.file_name, import_id=earlier.id,
                           date=_when(earlier.created_at))
    return None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "?"


def commit_import(store: Store, plan: Plan, parsed: ParsedFile, mapping: Mapping,
                  preview: ImportPreview | None = None, *, accept_rejected: bool = False,
                  replace: bool | None = None) -> ImportResult:
    """Write the previewed values in one transaction (all or nothing; see `commit_blocker` for the refusals).

    The same file (same sha256) already imported into this plan with the same mapping changes nothing and says so.
    A corrected month supersedes the current value and keeps the old one in the history; `revert_import` undoes an
    import. Rejection reasons are stored as text in the preview's language.
    """
    if preview is None or preview.mapping != validate_mapping(parsed, mapping) or preview.plan_id != plan.id \
            or preview.sha256 != parsed.sha256:
        preview = preview_import(store, plan, parsed, mapping, preview.lang if preview else "ja")
    if preview.already_imported:
        existing = preview.already_imported
        return ImportResult(existing.id, 0, 0, existing.rows_rejected, existing)
    blocker = commit_blocker(preview, accept_rejected, replace)
    if blocker:
        raise blocker
    meta = {"file_name": parsed.file_name, "sha256": parsed.sha256, "encoding": parsed.encoding,
            "delimiter": parsed.delimiter, "shape": preview.mapping["shape"], "mapping": preview.mapping,
            "rows_total": preview.rows_total, "rows_accepted": preview.rows_used}
    rejections = [(r.line, r.message(preview.lang), r.raw) for r in preview.rejections]
    replaces = preview.remapped.id if preview.remapped and replace else None
    outcome = store.commit_import(plan.id, meta, preview.actuals, rejections, replaces=replaces)
    return ImportResult(outcome["import_id"], outcome["written"], outcome["unchanged"], len(rejections),
                        replaced=replaces)


@dataclass
class RevertResult:
    import_id: int
    rows: int
    already: bool
    reverted_at: datetime | None = None

    def message(self, lang: str) -> str:
        if self.already:
            return t("ingest.already_reverted", lang, import_id=self.import_id, date=_when(self.reverted_at))
        return t("ingest.reverted", lang, import_id=self.import_id, count=self.rows)


def revert_import(store: Store, import_id: int) -> RevertResult:
    """Undo an import: every metric-month it wrote gets back its latest write from a manual edit or an import that
    is not reverted, whatever the order of the reverts. Reverting twice changes nothing and says so."""
    outcome = store.revert_import(import_id)
    return RevertResult(import_id, outcome["rows"], outcome["already"], outcome["reverted_at"])


# ---------------------------------------------------------------- downloads
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> str:
    """A cell safe to open in a spreadsheet: text starting like a formula gets a leading apostrophe. Numbers stay
    numbers (a loss of -1234 is not a formula)."""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return "" if math.isnan(cell) else str(cell)
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_bytes(header: list[str], rows: Iterable[Iterable[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    writer.writerows([neutralise(c) for c in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")  # the BOM lets Excel read Japanese correctly


def frame_csv(frame) -> bytes:
    """Any table shown on a page as CSV bytes, its formula-like cells neutralised."""
    return _csv_bytes([str(c) for c in frame.columns], frame.itertuples(index=False))


def rejections_csv(preview: ImportPreview, lang: str, include_skipped: bool = False) -> bytes:
    """The rejected (and optionally skipped) rows as CSV bytes: line, kind, reason, original row."""
    header = [t("ingest.csv.line", lang), t("ingest.csv.kind", lang), t("ingest.csv.reason", lang),
              t("ingest.csv.raw", lang)]
    rows = [[r.line or "", t("ingest.csv.rejected", lang), r.message(lang), r.raw] for r in preview.rejections]
    if include_skipped:
        rows += [[s.line, t("ingest.csv.skipped", lang), s.message(lang), s.raw] for s in preview.skipped]
        rows.sort(key=lambda r: (r[0] == "", r[0] or 0))
    return _csv_bytes(header, rows)


def values_csv(preview: ImportPreview, lang: str) -> bytes:
    """The values an import writes (or wrote) as CSV bytes."""
    header = [t(f"ingest.csv.{c}", lang) for c in VALUE_COLUMNS]
    rows = preview.values.astype(object).where(preview.values.notna(), None).values.tolist()
    return _csv_bytes(header, rows)
