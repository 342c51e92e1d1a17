"""Column mappings: from an export's columns to the plan's KGI and KPI keys.

A mapping is a plain JSON-serialisable dict (stored as a profile keyed by the export's header signature):

    {
      "version": 1,
      "shape": "records",              # long | wide_metrics | wide_months | records
      "date_column": "商談日",          # the column holding months or dates (long, wide_metrics, records)
      "label_column": "指標",           # long, wide_months: the column naming the metric of each row
      "value_column": "値",             # long: the column holding the value
      "filters": [{"column": "部署", "op": "=", "value": "営業部"}],   # rows kept, every shape
      "combine": "reject",             # summary shapes: a second row for the same metric-month: reject | sum
      "metrics": {
        "meetings": {"source": "count"},                                  # records: rows per month
        "revenue": {"source": "sum", "column": "金額", "date_column": "完了日",
                    "filters": [{"column": "フェーズ", "op": "in", "value": ["受注", "won"]}]},
        "won": {"source": "count", "filters": [{"column": "フェーズ", "op": "=", "value": "受注"}]},
        "win_rate": {"source": "formula", "formula": "won / meetings"},   # any shape, over other metrics here
        "leads": {"source": "column", "column": "リード数"},               # wide_metrics
        "churn_rate": {"source": "label", "label": "解約率", "scale": 0.01}  # long / wide_months
      }
    }

Sources: column, label, count, sum, mean, count_distinct, formula. `scale` multiplies the value (bare percentages
0.01, 千円 1000). Filter ops: = != in not_in >= <= > < contains filled blank. Metric keys that are not in the plan
are helpers: computed (e.g. for a formula) but never written.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from kpi_core.domain.drivers import FormulaError, parse_formula
from kpi_core.domain.units import parse_number
from kpi_core.ingest.decode import IngestError
from kpi_core.ingest.names import match_names, scored_matches
from kpi_core.ingest.record_roles import suggest_record_metrics
from kpi_core.ingest.table import SHAPES, ParsedFile, distinct_labels, is_total_label, month_columns
from kpi_core.ingest.values import FILTER_OPS

MAPPING_VERSION = 1
SOURCES = ("column", "label", "count", "sum", "mean", "count_distinct", "formula")
RECORD_SOURCES = ("count", "sum", "mean", "count_distinct")
NEEDS_COLUMN = ("column", "sum", "mean", "count_distinct")
# The sources each shape offers, in the order an editor lists them.
SHAPE_SOURCES = {
    "wide_metrics": ("column", "formula"),
    "long": ("label", "formula"),
    "wide_months": ("label", "formula"),
    "records": ("count", "sum", "mean", "count_distinct", "formula"),
}
# Filter ops by the name of their label (actuals.op.<name>); list ops take several values, the last two none.
OP_NAMES = {"=": "eq", "!=": "ne", "in": "in", "not_in": "not_in", ">=": "ge", "<=": "le", ">": "gt", "<": "lt",
            "contains": "contains", "filled": "filled", "blank": "blank"}
LIST_OPS = ("in", "not_in")
NO_VALUE_OPS = ("filled", "blank")
_LIST_SEPARATORS = re.compile(r"[,、，]")
_PERCENT_HEADER = re.compile(r"[%％]|\(率\)|（率）")
_THOUSAND_YEN_HEADER = re.compile(r"千円")
_TEN_THOUSAND_YEN_HEADER = re.compile(r"万円")

Mapping = dict[str, Any]


# ---------------------------------------------------------------- defaults and validation
def source_of(spec: dict[str, Any], shape: str) -> str:
    """The metric's source, with the shape's default when it is not written."""
    if spec.get("source"):
        return spec["source"]
    if spec.get("formula"):
        return "formula"
    if spec.get("label") is not None:
        return "label"
    return "column" if shape == "wide_metrics" else "count" if shape == "records" else "label"


def _check_column(parsed: ParsedFile, name: Any, where: str) -> None:
    if not isinstance(name, str) or name not in parsed.columns:
        raise IngestError("ingest.mapping.unknown_column", column=str(name), where=where)


def _check_filters(parsed: ParsedFile, filters: Any, where: str) -> None:
    if filters in (None, []):
        return
    if not isinstance(filters, list):
        raise IngestError("ingest.mapping.bad_filter", op=str(filters)[:40])
    for item in filters:
        if not isinstance(item, dict) or item.get("op") not in FILTER_OPS:
            raise IngestError("ingest.mapping.bad_filter", op=str(item.get("op") if isinstance(item, dict)
                                                                   else item)[:40])
        _check_column(parsed, item.get("column"), where)
        if item["op"] not in ("filled", "blank") and item.get("value") is None:
            raise IngestError("ingest.mapping.filter_value", column=item.get("column"))


def validate_mapping(parsed: ParsedFile, mapping: Mapping) -> Mapping:
    """A checked copy of `mapping` with defaults filled in; IngestError names the first problem."""
    if not isinstance(mapping, dict):
        raise IngestError("ingest.mapping.invalid")
    checked = copy.deepcopy(mapping)
    shape = checked.setdefault("shape", parsed.shape)
    if shape not in SHAPES:
        raise IngestError("ingest.mapping.bad_shape", shape=str(shape))
    checked.setdefault("version", MAPPING_VERSION)
    checked.setdefault("filters", [])
    checked.setdefault("combine", "reject")
    if checked["combine"] not in ("reject", "sum"):
        raise IngestError("ingest.mapping.bad_combine", combine=str(checked["combine"]))
    metrics = checked.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise IngestError("ingest.mapping.no_metrics")
    _check_filters(parsed, checked["filters"], "filters")
    needs = {"long": ("date_column", "label_column", "value_column"), "wide_metrics": ("date_column",),
             "wide_months": ("label_column",), "records": ()}[shape]
    for field_name in needs:
        _check_column(parsed, checked.get(field_name), field_name)
    for key, spec in metrics.items():
        _check_metric(parsed, checked, str(key), spec)
    _check_formulas(metrics, shape)
    return checked


def _check_metric(parsed: ParsedFile, mapping: Mapping, key: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        raise IngestError("ingest.mapping.bad_metric", metric=key)
    shape = mapping["shape"]
    source = spec.setdefault("source", source_of(spec, shape))
    allowed = {"long": ("label", "formula"), "wide_months": ("label", "formula"),
               "wide_metrics": ("column", "formula"), "records": RECORD_SOURCES + ("formula",)}[shape]
    if source not in allowed:
        raise IngestError("ingest.mapping.bad_source", metric=key, source=str(source),
                          allowed=", ".join(allowed))
    if source in NEEDS_COLUMN:
        _check_column(parsed, spec.get("column"), key)
    if source == "label" and not str(spec.get("label") or "").strip():
        raise IngestError("ingest.mapping.no_label", metric=key)
    if shape == "records" and source in RECORD_SOURCES:
        date_column = spec.get("date_column") or mapping.get("date_column")
        if not date_column:
            raise IngestError("ingest.mapping.no_date_column", metric=key)
        _check_column(parsed, date_column, key)
        _check_filters(parsed, spec.get("filters"), key)
    scale = spec.get("scale", 1)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale == 0:
        raise IngestError("ingest.mapping.bad_scale", metric=key, scale=str(scale))


def _check_formulas(metrics: dict[str, dict], shape: str) -> None:
    """Formulas parse, use only metrics of this mapping, and do not depend on themselves."""
    depends: dict[str, tuple[str, ...]] = {}
    for key, spec in metrics.items():
        if spec["source"] != "formula":
            continue
        try:
            formula = parse_formula(str(spec.get("formula") or ""), allowed=set(metrics))
        except FormulaError as exc:
            raise IngestError("ingest.mapping.bad_formula", metric=key, formula=str(spec.get("formula") or ""),
                              reason_key=exc.key, reason_values=exc.values) from None
        depends[key] = formula.names
    for key in depends:
        formula_order({k: v for k, v in depends.items()}, key)


def formula_order(depends: dict[str, tuple[str, ...]], key: str, seen: tuple[str, ...] = ()) -> list[str]:
    """Formula metrics in evaluation order for `key` (inputs first); a cycle is an IngestError."""
    if key in seen:
        raise IngestError("ingest.mapping.formula_cycle", metric=key)
    order: list[str] = []
    for name in depends.get(key, ()):
        if name in depends:
            order += [k for k in formula_order(depends, name, seen + (key,)) if k not in order]
    return order + [key]


# ---------------------------------------------------------------- suggestions
def _scale_hint(parsed: ParsedFile, column: str) -> float | None:
    """0.01 for a '%' column written as bare numbers, 1000 for 千円, 10000 for 万円."""
    profile = parsed.profile(column)
    if _PERCENT_HEADER.search(column) and profile.numbers and profile.percents * 2 < profile.numbers:
        return 0.01
    if _THOUSAND_YEN_HEADER.search(column):
        return 1000
    if _TEN_THOUSAND_YEN_HEADER.search(column):
        return 10000
    return None


def _column_metric(parsed: ParsedFile, column: str, source: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"source": source, "column": column}
    scale = _scale_hint(parsed, column)
    if scale is not None:
        spec["scale"] = scale
    return spec


def filter_condition(column: str, op: str, text: str) -> dict[str, Any]:
    """A filter as the mapping stores it, from what a user typed: a list op splits on commas (, 、 ，), an op
    without a value keeps none."""
    condition: dict[str, Any] = {"column": column, "op": op}
    if op in LIST_OPS:
        condition["value"] = [v.strip() for v in _LIST_SEPARATORS.split(text) if v.strip()]
    elif op not in NO_VALUE_OPS:
        condition["value"] = text.strip()
    return condition


def filter_text(value: Any) -> str:
    """A filter's value as a user types it back (the inverse of filter_condition)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _first(profiles, predicate) -> str | None:
    return next((p.name for p in profiles if predicate(p)), None)


def suggest_mapping(parsed: ParsedFile, metric_aliases: dict[str, list[str]], plan_keys: Iterable[str],
                    shape: str | None = None) -> Mapping:
    """A first mapping from header names (or metric labels) and the aliases of each plan key.

    Record lists get their date column and sums of matching numeric columns; counts, filters and formulas are
    for the user to add (or come from a saved profile).
    """
    shape = shape or parsed.shape
    keys = list(plan_keys)
    profiles = parsed.profiles
    mapping: Mapping = {"version": MAPPING_VERSION, "shape": shape, "filters": [], "combine": "reject",
                        "metrics": {}}
    if shape == "wide_months":
        label = _first(profiles, lambda p: not p.header_is_month and not is_total_label(p.name) and p.filled)
        mapping["label_column"] = label
        if label:
            months = [name for name, _ in month_columns(parsed, label)[0]]
            mapping["metrics"] = _label_metrics(parsed, label, metric_aliases, keys, months)
        return mapping
    date_column = _first(profiles, lambda p: p.monthly and p.days) or _first(profiles, lambda p: p.monthly)
    mapping["date_column"] = date_column
    others = [p for p in profiles if p.name != date_column]
    if shape == "long":
        label = _first(others, lambda p: p.filled and not p.numeric and not p.monthly)
        value = _first(others, lambda p: p.numeric)
        mapping.update(label_column=label, value_column=value)
        if label:
            mapping["metrics"] = _label_metrics(parsed, label, metric_aliases, keys, [value] if value else [])
        return mapping
    if shape == "records":
        mapping["metrics"] = suggest_record_metrics(parsed, date_column, metric_aliases, keys)
        # Other plan metrics: numeric columns named like them, summed (a few bad cells are rejected later).
        numeric = [p.name for p in others if p.filled and p.numbers >= 0.5 * p.filled]
        rest = [k for k in keys if k not in mapping["metrics"]]
        for key, column in match_names(numeric, metric_aliases, rest).items():
            mapping["metrics"][key] = _column_metric(parsed, column, "sum")
        return mapping
    # A summary's columns are matched by name alone.
    candidates = [p.name for p in others if p.filled]
    for key, (column, score) in scored_matches(candidates, metric_aliases, keys).items():
        mapping["metrics"][key] = _column_metric(parsed, column, "column")
        if score < 1:
            mapping["metrics"][key]["similar"] = True
    return mapping


def _label_metrics(parsed: ParsedFile, label_column: str, metric_aliases: dict[str, list[str]],
                   keys: list[str], value_columns: list[str]) -> dict[str, dict[str, Any]]:
    labels = [v for v in distinct_labels(parsed, label_column) if not is_total_label(v)]
    metrics: dict[str, dict[str, Any]] = {}
    for key, (label, score) in scored_matches(labels, metric_aliases, keys).items():
        metrics[key] = {"source": "label", "label": label}
        if score < 1:
            metrics[key]["similar"] = True
        if _PERCENT_HEADER.search(label) and _bare_numbers(parsed, label_column, label, value_columns):
            metrics[key]["scale"] = 0.01
        elif _THOUSAND_YEN_HEADER.search(label):  # 売上高(千円): the row's numbers are thousands of yen
            metrics[key]["scale"] = 1000
        elif _TEN_THOUSAND_YEN_HEADER.search(label):
            metrics[key]["scale"] = 10000
    return metrics


def _bare_numbers(parsed: ParsedFile, label_column: str, label: str, value_columns: list[str]) -> bool:
    """True when the row(s) of a '%' label hold numbers written without '%' (1.5 meaning 1.5 %)."""
    if not value_columns:
        return False
    columns = ", ".join(parsed.column_id(c) for c in value_columns)
    rows = parsed.con.execute(f"SELECT {columns} FROM raw WHERE trim({parsed.column_id(label_column)}) = ?",
                              [label]).fetchall()
    cells = [c.strip() for row in rows for c in row if c and c.strip()]
    percents = sum(c.endswith(("%", "％")) for c in cells)
    numbers = sum(_parses_number(c) for c in cells)
    return numbers > 0 and percents * 2 < numbers


def _parses_number(text: str) -> bool:
    try:
        return parse_number(text) is not None
    except ValueError:
        return False


def mapping_schema() -> dict[str, Any]:
    """The JSON Schema of a mapping file (what `--mapping`, the app's mapping file and profiles hold)."""
    filter_item = {
        "type": "object", "required": ["column", "op"], "additionalProperties": False,
        "properties": {
            "column": {"type": "string", "description": "A column of the file (its header, as written)."},
            "op": {"enum": list(OP_NAMES)},
            "value": {"description": "A text or number; a list for in / not_in; none for filled / blank.",
                      "oneOf": [{"type": ["string", "number"]}, {"type": "array", "items": {"type": ["string", "number"]}}]},
        },
    }
    metric = {
        "type": "object", "required": ["source"],
        "properties": {
            "source": {"enum": list(SOURCES), "description": "column (wide_metrics), label (long, wide_months), "
                       "count / sum / mean / count_distinct (records), formula (any shape)."},
            "column": {"type": "string", "description": "The column read (column, sum, mean, count_distinct)."},
            "label": {"type": "string", "description": "The metric's name in the label column (long, wide_months)."},
            "formula": {"type": "string", "description": "+ - * / and parentheses over other metrics of this mapping."},
            "date_column": {"type": "string", "description": "records: this metric's own date column."},
            "filters": {"type": "array", "items": filter_item, "description": "records: rows this metric counts."},
            "scale": {"type": "number", "not": {"const": 0}, "description": "Multiplies the value (0.01, 1000)."},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "KPI Workbench import mapping",
        "type": "object", "required": ["shape", "metrics"],
        "properties": {
            "version": {"const": MAPPING_VERSION},
            "shape": {"enum": list(SHAPES)},
            "date_column": {"type": "string", "description": "Months or dates (long, wide_metrics, records)."},
            "label_column": {"type": "string", "description": "The metric names (long, wide_months)."},
            "value_column": {"type": "string", "description": "The values (long)."},
            "filters": {"type": "array", "items": filter_item, "description": "Rows kept, every shape."},
            "combine": {"enum": ["reject", "sum"], "description": "A second row for the same metric-month."},
            "metrics": {"type": "object", "minProperties": 1, "additionalProperties": metric,
                        "description": "Plan metric keys (others are helpers, computed but not written)."},
        },
    }
