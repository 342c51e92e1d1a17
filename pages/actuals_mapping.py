"""The Actuals screen's column-mapping editor: the shape's columns, each metric's source (column, label, count,
formula) with its conditions and scale, helper metrics, and mapping files loaded or saved. The widgets build the
mapping; kpi_core.ingest checks and applies it."""
from __future__ import annotations

import re
from typing import Any

import streamlit as st

from kpi_core import ingest
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.domain.records import MappingProfile
from kpi_core.services.actuals import mapping_aliases
from pages.actuals_view import PageView, error_text, metric_label, option_index
from pages.common import options_label, t

SCALES = {1.0: "x1", 0.01: "percent", 1000.0: "thousand", 10000.0: "ten_thousand"}
MAX_FILTERS = 3
HELPER_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,40}$")
HELPERS = "_actuals_helpers"  # file_id -> helper metric keys added by the user
LOADED = "_actuals_loaded"  # file_id -> (file name, mapping) loaded from a mapping file
GENERATION = "_actuals_generation"  # file_id -> n: a loaded mapping file restarts the editor's widgets
MAPPING_FILE_ERROR = "_actuals_mapping_file_error"  # why the mapping file just loaded could not be read


def base_mapping(view: PageView, parsed: ingest.ParsedFile, shape: str, profile: MappingProfile | None) -> dict:
    if profile and profile.mapping.get("shape") == shape:
        return profile.mapping
    return ingest.suggest_mapping(parsed, mapping_aliases(view.store, view.plan), list(view.metrics), shape)


def _column_select(label: str, parsed: ingest.ParsedFile, value: str | None, key: str, container=st) -> str:
    columns = list(parsed.columns)
    return container.selectbox(label, columns, index=option_index(columns, value), key=key)


def _shape_fields(parsed: ingest.ParsedFile, base: dict, shape: str, prefix: str) -> dict:
    """The shape's own columns (month/date, metric names, values) and how repeated rows combine."""
    fields: dict[str, Any] = {}
    needs = {"long": ("date_column", "label_column", "value_column"), "wide_metrics": ("date_column",),
             "wide_months": ("label_column",), "records": ("date_column",)}[shape]
    cols = st.columns(len(needs) + (0 if shape == "records" else 1))
    for col, name in zip(cols, needs):
        fields[name] = _column_select(t(f"actuals.mapping.{name}"), parsed, base.get(name),
                                      f"{prefix}_{name}", col)
    if shape != "records":
        fields["combine"] = cols[-1].selectbox(t("actuals.mapping.combine"), ["reject", "sum"],
                                               index=option_index(["reject", "sum"], base.get("combine")),
                                               format_func=options_label("actuals.combine"),
                                               key=f"{prefix}_combine")
    return fields


# Labels are fixed when the widget is drawn: format functions may run outside the script run (tests, reruns),
# where the session's language is not at hand (see pages.common.options_label).
def _or_text(blank_text: str):
    return lambda value: value or blank_text


def _op_label():
    names = {op: t(f"actuals.op.{name}") for op, name in ingest.OP_NAMES.items()}
    return lambda op: names[op]


def _filters_editor(parsed: ingest.ParsedFile, existing: list[dict], prefix: str) -> list[dict]:
    """Up to MAX_FILTERS conditions (column, test, value); a slot without a column is no condition."""
    columns = ["", *parsed.columns]
    filters = []
    for n in range(min(MAX_FILTERS, len(existing) + 1)):
        old = existing[n] if n < len(existing) else {}
        c1, c2, c3 = st.columns([2, 2, 3])
        column = c1.selectbox(t("actuals.mapping.filter", n=n + 1), columns,
                              index=option_index(columns, old.get("column")), key=f"{prefix}_fc{n}",
                              format_func=_or_text(t("actuals.mapping.filter_none")))
        ops = list(ingest.FILTER_OPS)
        op = c2.selectbox(t("actuals.mapping.filter_op"), ops, index=option_index(ops, old.get("op")),
                          format_func=_op_label(), key=f"{prefix}_fo{n}")
        text = c3.text_input(t("actuals.mapping.filter_value"), value=ingest.filter_text(old.get("value")),
                             help=t("actuals.mapping.filter_value_help"), key=f"{prefix}_fv{n}",
                             max_chars=500)
        if column:
            filters.append(ingest.filter_condition(column, op, text))
    return filters


def _scale_select(value: float, key: str) -> float:
    options = list(SCALES)
    if float(value) not in options:
        options.append(float(value))
    names = {scale: t(f"actuals.scale.{SCALES[scale]}") if scale in SCALES
             else t("actuals.scale.other", value=f"{scale:g}") for scale in options}

    def label(scale: float) -> str:
        return names[scale]
    return st.selectbox(t("actuals.mapping.scale"), options, index=options.index(float(value)),
                        format_func=label, key=key)


def _label_choices(parsed: ingest.ParsedFile, label_column: str | None, current: str | None) -> list[str]:
    labels = ingest.distinct_labels(parsed, label_column) if label_column else []
    if current and current not in labels:
        labels.insert(0, current)
    return labels


def _metric_main(parsed: ingest.ParsedFile, spec: dict, source: str, fields: dict, prefix: str,
                 container) -> dict | None:
    """The source's main setting (column, label or formula); None when it cannot be set."""
    if source in ingest.NEEDS_COLUMN:
        column = spec.get("column") if spec.get("source") == source else None
        return {"column": _column_select(t("actuals.mapping.column"), parsed,
                                         column or ingest.default_column(parsed, source), f"{prefix}_col",
                                         container)}
    if source == "label":
        labels = _label_choices(parsed, fields.get("label_column"), spec.get("label"))
        if not labels:
            container.caption(t("actuals.mapping.no_labels"))
            return None
        return {"label": container.selectbox(t("actuals.mapping.label"), labels,
                                             index=option_index(labels, spec.get("label")), key=f"{prefix}_label")}
    if source == "formula":
        formula = container.text_input(t("actuals.mapping.formula"), value=str(spec.get("formula") or ""),
                                       help=t("actuals.mapping.formula_help"), key=f"{prefix}_formula",
                                       max_chars=500)
        return {"formula": formula}
    container.caption(t("actuals.mapping.count_caption"))
    return {}


def _metric_details(parsed: ingest.ParsedFile, spec: dict, source: str, shape: str, prefix: str) -> dict:
    """Date column and conditions (record lists) and scale, in a collapsed expander."""
    details: dict[str, Any] = {}
    with st.expander(t("actuals.mapping.details")):
        if shape == "records":
            columns = ["", *parsed.columns]
            chosen = st.selectbox(t("actuals.mapping.metric_date"), columns,
                                  index=option_index(columns, spec.get("date_column")),
                                  format_func=_or_text(t("actuals.mapping.same_date")),
                                  key=f"{prefix}_date")
            if chosen:
                details["date_column"] = chosen
            filters = _filters_editor(parsed, list(spec.get("filters") or []), prefix)
            if filters:
                details["filters"] = filters
        if source != "count":
            scale = _scale_select(float(spec.get("scale", 1) or 1), f"{prefix}_scale")
            if scale != 1:
                details["scale"] = scale
    return details


def _describe_filters(filters: list[dict]) -> str:
    parts = [f"{f['column']} {t('actuals.op.' + ingest.OP_NAMES[f['op']])} {ingest.filter_text(f.get('value'))}"
             for f in filters]
    return "; ".join(p.strip() for p in parts)


def _metric_row(view: PageView, parsed: ingest.ParsedFile, key: str, spec: dict, shape: str, fields: dict, prefix: str,
                ) -> dict | None:
    """One metric: how it is taken from the file. None when it is not in this file."""
    sources = ["none", *ingest.SHAPE_SOURCES[shape]]
    current = spec.get("source") if spec else "none"
    name_col, source_col, main_col = st.columns([3, 2, 4])
    helper = key not in view.metrics
    name_col.markdown(f"**{markdown_text(metric_label(view, key))}**" +
                      (f"  \n:gray[{t('actuals.mapping.helper')}]" if helper else ""))
    source = source_col.selectbox(t("actuals.mapping.source"), sources, index=option_index(sources, current),
                                  format_func=options_label("actuals.source"), key=f"{prefix}_src",
                                  label_visibility="collapsed")
    if source == "none":
        return None
    main = _metric_main(parsed, spec or {}, source, fields, prefix, main_col)
    if main is None:
        return None
    result = {"source": source, **main}
    if source != "formula":
        result.update(_metric_details(parsed, spec or {}, source, shape, prefix))
        notes = []
        if result.get("date_column"):
            notes.append(t("actuals.mapping.by_date", column=result["date_column"]))
        if result.get("filters"):
            notes.append(t("actuals.mapping.conditions", conditions=_describe_filters(result["filters"])))
        if notes:
            st.caption(markdown_text(" · ".join(notes)))
    chosen = main.get("column") or main.get("label")
    if spec and spec.get("similar") and chosen == (spec.get("column") or spec.get("label")):
        st.caption(t("actuals.mapping.similar", name=markdown_text(str(chosen))))
        result["similar"] = True  # until the user picks another column or label
    for extra in ("percent_label",):  # hints of the suggestion that the editor does not show
        if spec and extra in spec and source == spec.get("source"):
            result[extra] = spec[extra]
    return result


def _helper_adder(fid: str, present: list[str]) -> None:
    with st.popover(t("actuals.mapping.add_helper"), help=t("actuals.mapping.add_helper_help")):
        name = st.text_input(t("actuals.mapping.helper_name"), key=f"actuals_helper_name_{fid}", max_chars=41)
        if st.button(t("actuals.mapping.add"), key=f"actuals_helper_add_{fid}"):
            key = (name or "").strip()
            if not HELPER_KEY.match(key):
                st.error(t("actuals.mapping.helper_invalid"))
            elif key in present:
                st.error(t("actuals.mapping.helper_exists", key=key))
            else:
                st.session_state.setdefault(HELPERS, {}).setdefault(fid, []).append(key)
                st.rerun()


def mapping_editor(view: PageView, parsed: ingest.ParsedFile, base: dict, shape: str, fid: str) -> dict:
    """The mapping as the widgets show it; defaults come from the saved profile or the suggestion."""
    generation = st.session_state.get(GENERATION, {}).get(fid, 0)
    prefix = f"actuals_{fid}_{shape}" + (f"_g{generation}" if generation else "")
    fields = _shape_fields(parsed, base, shape, prefix)
    mapping: dict[str, Any] = {"version": base.get("version", 1), "shape": shape, **fields, "metrics": {}}
    with st.expander(t("actuals.mapping.global_filters"), expanded=bool(base.get("filters"))):
        mapping["filters"] = _filters_editor(parsed, list(base.get("filters") or []), f"{prefix}_global")
    base_metrics = base.get("metrics") or {}
    added = st.session_state.get(HELPERS, {}).get(fid, [])
    keys = list(dict.fromkeys([*view.metrics, *base_metrics, *added]))
    head = st.columns([3, 2, 4])
    head[0].caption(t("actuals.mapping.metric"))
    head[1].caption(t("actuals.mapping.source"))
    for key in keys:
        spec = _metric_row(view, parsed, key, base_metrics.get(key), shape, fields, f"{prefix}_m_{key}")
        if spec is not None:
            mapping["metrics"][key] = spec
    _helper_adder(fid, keys)
    return mapping


def _load_mapping_file(fid: str) -> None:
    """on_change of the mapping-file uploader: runs before the page, so the shape picker can follow the file."""
    mapping_file = st.session_state.get(f"actuals_mapfile_{fid}")
    if mapping_file is None:
        return
    try:
        loaded = ingest.read_mapping_file(mapping_file.getvalue(), mapping_file.name)
    except ingest.IngestError as exc:
        st.session_state[MAPPING_FILE_ERROR] = exc
        return
    st.session_state.setdefault(LOADED, {})[fid] = (mapping_file.name, loaded)
    generations = st.session_state.setdefault(GENERATION, {})
    generations[fid] = generations.get(fid, 0) + 1
    if loaded.get("shape") in ingest.SHAPES:
        st.session_state[f"actuals_shape_{fid}"] = loaded["shape"]


def mapping_file_row(parsed: ingest.ParsedFile, mapping: dict, fid: str) -> None:
    """Load a mapping file (e.g. a shipped *.mapping.json) into the editor, or save the editor's mapping as one."""
    load_col, save_col = st.columns([3, 2], vertical_alignment="bottom")
    load_col.file_uploader(t("actuals.mapping.load_file"), type=["json"], help=t("actuals.mapping.load_file_help"),
                           key=f"actuals_mapfile_{fid}", on_change=_load_mapping_file, args=(fid,))
    problem = st.session_state.pop(MAPPING_FILE_ERROR, None)
    if problem is not None:
        load_col.error(error_text(problem))
    save_col.download_button(t("actuals.mapping.save_file"), ingest.mapping_file_bytes(mapping),
                             file_name=f"{ingest.default_profile_name(parsed, None)}.mapping.json",
                             mime="application/json", key=f"actuals_mapsave_{fid}")
