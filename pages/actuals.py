"""Actuals import: drop monthly CSV exports, check the detection, the column mapping and the preview, commit;
then the import history (with revert) and the history of any metric-month's values."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from kpi_core import ingest
from kpi_core.adapters.store import Store
from kpi_core.adapters.templates import TemplateError, aliases_for, find_template
from kpi_core.domain.goal import check_name
from kpi_core.domain.model import Plan
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.domain.records import ActualEntry, ImportRecord
from kpi_core.domain.units import moment_text
from kpi_core.errors import WorkbenchError
from pages.common import fmt, lang, options_label, records_frame, t
from pages.frame import PageContext

UPLOAD_TYPES = ["csv", "tsv", "txt"]
ENCODING_CHOICES = ["", *ingest.CHOOSABLE_ENCODINGS]
DELIMITER_CHOICES = ["", *ingest.DELIMITER_LABELS]
SCALES = {1.0: "x1", 0.01: "percent", 1000.0: "thousand", 10000.0: "ten_thousand"}
MAX_FILTERS = 3
HISTORY_ROWS = 30
HELPER_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,40}$")
STATUS_STYLE = {"new": "background-color: #dcfce7", "changed": "background-color: #fef3c7",
                "unchanged": "color: #6b7280"}

PARSED = "_actuals_parsed"  # file_id -> (reading settings, ParsedFile), closed when the file leaves
HELPERS = "_actuals_helpers"  # file_id -> helper metric keys added by the user
DONE = "_actuals_done"  # results of the last commit, shown once after the rerun
PENDING_REVERT = "_actuals_pending_revert"
REVERTED = "_actuals_reverted"  # the revert just done, said once after the rerun
COMMITTED = "_actuals_committed"  # file_id -> import id committed from that upload: "imported now", not "again"
LOADED = "_actuals_loaded"  # file_id -> (file name, mapping) loaded from a mapping file
GENERATION = "_actuals_generation"  # file_id -> n: a loaded mapping file restarts the editor's widgets
MAPPING_FILE_ERROR = "_actuals_mapping_file_error"  # why the mapping file just loaded could not be read



@dataclass(frozen=True)
class PageView:
    """What this page works with: the frame's context and the plan's metrics {key: (name, unit)}."""

    ctx: PageContext
    metrics: dict[str, tuple[str, str]]

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def plan(self) -> Plan:
        return self.ctx.plan


# ---------------------------------------------------------------- the plan's metrics
def _plan_metrics(store: Store, plan: Plan) -> dict[str, tuple[str, str]]:
    """{metric key: (name, unit)} of the KGI and the KPIs, in the plan's order."""
    kgi = store.get_kgi(plan.id)
    metrics = {kgi.key: (kgi.name or kgi.key, kgi.unit)} if kgi else {}
    metrics.update({k.key: (k.name or k.key, k.unit) for k in store.list_kpis(plan.id)})
    return metrics


def _aliases(view: PageView) -> dict[str, list[str]]:
    """The plan's names and keys, plus the column aliases of the template it came from (when there is one)."""
    extra: dict[str, list[str]] = {}
    if view.plan.template:
        try:
            template = find_template(view.plan.template)
            extra = aliases_for(template) if template else {}
        except (TemplateError, OSError):  # a broken template file only loses the alias suggestions
            extra = {}
    return ingest.plan_aliases(view.store, view.plan, extra)


def metric_label(view: PageView, key: str) -> str:
    name, _ = view.metrics.get(key, (key, ""))
    return key if name == key else f"{name} ({key})"


def metric_value(view: PageView, key: str, value: float | None) -> str:
    return fmt(value, view.metrics.get(key, (key, ""))[1])


def _inert(values: dict[str, Any]) -> dict[str, Any]:
    """Message values made inert for a markdown box: file text (column names, cells, formulas) is data.
    A nested reason's catalogue key stays as it is."""
    return {k: _inert(v) if isinstance(v, dict) else markdown_text(v) if isinstance(v, str) and k != "reason_key"
            else v for k, v in values.items()}


def _message(key: str, values: dict[str, Any]) -> str:
    return ingest.render(key, _inert(values), lang())


def _error_message(exc: WorkbenchError) -> str:
    return _message(exc.key, exc.values)


def _show_error(exc: WorkbenchError) -> None:
    st.error(_error_message(exc))


# ---------------------------------------------------------------- reading a file
def _reading_settings(fid: str) -> tuple[str, str, int, str]:
    """Encoding, delimiter, header line and decimal mark overrides ('' / 0 = automatic), in a collapsed expander."""
    with st.expander(t("actuals.file.settings")):
        auto = t("actuals.file.auto")
        c1, c2, c3, c4 = st.columns(4)
        encoding = c1.selectbox(t("actuals.file.encoding"), ENCODING_CHOICES, key=f"actuals_enc_{fid}",
                                format_func=lambda e: ingest.ENCODING_LABELS.get(e, e) if e else auto)
        language = lang()
        delimiter = c2.selectbox(t("actuals.file.delimiter"), DELIMITER_CHOICES, key=f"actuals_delim_{fid}",
                                 format_func=lambda d: ingest.delimiter_label(d, language) if d else auto)
        header_line = c3.number_input(t("actuals.file.header_line"), min_value=0, max_value=10_000, step=1,
                                      key=f"actuals_header_{fid}")
        marks = {"": auto, "comma": t("actuals.file.decimal_comma"), "point": t("actuals.file.decimal_point")}
        decimal = c4.selectbox(t("actuals.file.decimal"), list(marks), key=f"actuals_decimal_{fid}",
                               format_func=marks.get)
    return encoding, delimiter, int(header_line), decimal


def _parse(upload, fid: str, settings: tuple[str, str, int, str]) -> ingest.ParsedFile:
    """The parsed file, read once per file and reading settings (the DuckDB table stays in the session)."""
    cache = st.session_state.setdefault(PARSED, {})
    cached = cache.get(fid)
    if cached and cached[0] == settings:
        if isinstance(cached[1], Exception):  # a bad file is read once, not again at every rerun
            raise cached[1]
        return cached[1]
    if cached:
        _close(cache.pop(fid)[1])
    encoding, delimiter, header_line, decimal = settings
    upload.seek(0)
    try:
        parsed = ingest.read_export(upload, upload.name, encoding=encoding or None, delimiter=delimiter or None,
                                    header_line=header_line or None, decimal=decimal or None)
    except ingest.IngestError as exc:
        cache[fid] = (settings, exc)
        raise
    cache[fid] = (settings, parsed)
    return parsed


def _close(entry: ingest.ParsedFile | Exception) -> None:
    if isinstance(entry, ingest.ParsedFile):
        entry.close()


def _forget_files(keep: set[str]) -> None:
    """Close the tables of files no longer in the uploader."""
    cache = st.session_state.setdefault(PARSED, {})
    for fid in [f for f in cache if f not in keep]:
        _close(cache.pop(fid)[1])


def _detection(parsed: ingest.ParsedFile) -> None:
    cols = st.columns([3, 2, 2, 2])
    cols[0].metric(t("actuals.file.encoding"), ingest.encoding_label(parsed.encoding))
    cols[1].metric(t("actuals.file.delimiter"), ingest.delimiter_label(parsed.delimiter, lang()))
    cols[2].metric(t("actuals.file.header_found"), parsed.header_line)
    cols[3].metric(t("actuals.file.rows"), f"{parsed.row_count:,}")
    st.caption(ingest.describe(parsed, lang()))


# ---------------------------------------------------------------- the mapping editor
def _base_mapping(view: PageView, parsed: ingest.ParsedFile, shape: str, profile: dict | None) -> dict:
    if profile and profile["mapping"].get("shape") == shape:
        return profile["mapping"]
    return ingest.suggest_mapping(parsed, _aliases(view), list(view.metrics), shape)


def _index(options: list, value: Any, default: int = 0) -> int:
    return options.index(value) if value in options else default


def _column_select(label: str, parsed: ingest.ParsedFile, value: str | None, key: str, container=st) -> str:
    columns = list(parsed.columns)
    return container.selectbox(label, columns, index=_index(columns, value), key=key)


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
                                               index=_index(["reject", "sum"], base.get("combine")),
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
                              index=_index(columns, old.get("column")), key=f"{prefix}_fc{n}",
                              format_func=_or_text(t("actuals.mapping.filter_none")))
        ops = list(ingest.FILTER_OPS)
        op = c2.selectbox(t("actuals.mapping.filter_op"), ops, index=_index(ops, old.get("op")),
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
                                             index=_index(labels, spec.get("label")), key=f"{prefix}_label")}
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
                                  index=_index(columns, spec.get("date_column")),
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
    source = source_col.selectbox(t("actuals.mapping.source"), sources, index=_index(sources, current),
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


def _mapping_editor(view: PageView, parsed: ingest.ParsedFile, base: dict, shape: str, fid: str) -> dict:
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


# ---------------------------------------------------------------- preview
def _value_matrix(view: PageView, values: pd.DataFrame) -> pd.io.formats.style.Styler:
    """Metric x month table of the values to write, the value each replaces, coloured by change."""
    months = sorted(values["month"].unique())
    columns = [m.strftime("%Y-%m") for m in months]
    labels = [metric_label(view, k) for k in dict.fromkeys(values["metric"])]
    text = pd.DataFrame("", index=labels, columns=columns)
    css = pd.DataFrame("", index=labels, columns=columns)
    for row in values.itertuples(index=False):
        label, column = metric_label(view, row.metric), row.month.strftime("%Y-%m")
        cell = metric_value(view, row.metric, row.value)
        if row.status == "changed":
            cell += f" ({t('actuals.preview.was', value=metric_value(view, row.metric, row.current))})"
        text.loc[label, column] = cell
        css.loc[label, column] = STATUS_STYLE[row.status]
    return text.style.apply(lambda _: css, axis=None)


def _value_rows(view: PageView, values: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        t("actuals.preview.metric"): [metric_label(view, k) for k in values["metric"]],
        t("actuals.preview.month"): [m.strftime("%Y-%m") for m in values["month"]],
        t("actuals.preview.value"): [metric_value(view, k, v) for k, v in zip(values["metric"], values["value"])],
        t("actuals.preview.current"): [metric_value(view, k, None if pd.isna(v) else v)
                                       for k, v in zip(values["metric"], values["current"])],
        t("actuals.preview.status"): [t(f"actuals.status.{s}") for s in values["status"]],
        t("actuals.preview.source_line"): [None if pd.isna(n) else int(n) for n in values["line"]],
        t("actuals.preview.source_rows"): [None if pd.isna(n) else int(n) for n in values["rows"]],
    })


def _lines_frame(items: list) -> pd.DataFrame:
    language = lang()
    return pd.DataFrame({
        t("actuals.preview.line"): [item.line for item in items],
        t("actuals.preview.reason"): [item.message(language) for item in items],
        t("actuals.preview.raw"): [item.raw for item in items],
    }).astype({t("actuals.preview.line"): "Int64"}) if items else pd.DataFrame()


def _preview_metrics(preview: ingest.ImportPreview) -> None:
    values = preview.values
    status = values["status"] if len(values) else pd.Series(dtype=str)
    cols = st.columns(4)
    changed = int((status == "changed").sum())
    cols[0].metric(t("actuals.preview.to_write"), int((status != "unchanged").sum()),
                   delta=t("actuals.preview.replacing", n=changed) if changed else None, delta_color="orange",
                   delta_arrow="off")
    cols[1].metric(t("actuals.preview.unchanged"), int((status == "unchanged").sum()))
    cols[2].metric(t("actuals.preview.rejected"), len(preview.rejections))
    cols[3].metric(t("actuals.preview.skipped"), len(preview.skipped))


def _preview(view: PageView, parsed: ingest.ParsedFile, preview: ingest.ImportPreview, fid: str) -> None:
    st.subheader(t("actuals.preview.title"))
    _preview_metrics(preview)
    language = lang()
    for message in preview.messages:
        (st.warning if message.level == "warning" else st.info)(_message(message.key, message.values))
    values_tab, rejected_tab, skipped_tab, file_tab = st.tabs([
        t("actuals.preview.values_tab"), t("actuals.preview.rejected_tab", n=len(preview.rejections)),
        t("actuals.preview.skipped_tab", n=len(preview.skipped)), t("actuals.preview.sample_tab")])
    with values_tab:
        if len(preview.values):
            st.dataframe(_value_matrix(view, preview.values), width="stretch")
            st.caption(t("actuals.preview.legend"))
            with st.expander(t("actuals.preview.details")):
                st.dataframe(_value_rows(view, preview.values), hide_index=True, width="stretch")
                st.download_button(t("actuals.preview.download_values"), ingest.values_csv(preview, language),
                                   file_name=f"values_{fid[:8]}.csv", mime="text/csv",
                                   key=f"actuals_dlv_{fid}")
        else:
            st.info(t("actuals.preview.no_values"))
    with rejected_tab:
        if preview.rejections:
            st.dataframe(_lines_frame(preview.rejections), hide_index=True, width="stretch")
            st.download_button(t("actuals.preview.download_rejections"),
                               ingest.rejections_csv(preview, language, include_skipped=True),
                               file_name=f"rejections_{fid[:8]}.csv", mime="text/csv",
                               key=f"actuals_dlr_{fid}")
        else:
            st.success(t("actuals.preview.no_rejections"))
    with skipped_tab:
        if preview.skipped:
            st.dataframe(_lines_frame(preview.skipped), hide_index=True, width="stretch")
        else:
            st.caption(t("actuals.preview.no_skipped"))
    with file_tab:
        st.caption(t("actuals.file.sample"))
        st.dataframe(parsed.sample, hide_index=True, width="stretch")


# ---------------------------------------------------------------- commit
def _profile_name_ok(name: str) -> bool:
    problems = check_name(name)
    for problem in problems:
        st.error(t(problem.key, **problem.values))
    return not problems


def _save_profile(view: PageView, parsed: ingest.ParsedFile, mapping: dict, name: str) -> str | None:
    """Save the mapping as a profile; the error text when it cannot be saved."""
    try:
        ingest.save_mapping_profile(view.store, parsed, mapping, name.strip(), view.plan)
    except WorkbenchError as exc:  # shown to the user in their language
        return _error_message(exc)
    return None


def _commit_section(view: PageView, parsed: ingest.ParsedFile, mapping: dict, preview: ingest.ImportPreview,
                    profile: dict | None, fid: str) -> None:
    done = preview.already_imported
    if done and st.session_state.get(COMMITTED, {}).get(fid) == done["id"]:
        st.success(t("actuals.commit.imported_now", import_id=done["id"]))
        return
    if done:
        st.warning(t("ingest.already_imported", import_id=done["id"], date=moment_text(done.get("created_at"))))
    elif not preview.actuals:
        st.info(t("actuals.commit.nothing"))
    with st.container(border=True):
        name_col, remember_col = st.columns([3, 2])
        name = name_col.text_input(t("actuals.commit.profile_name"),
                                   value=ingest.default_profile_name(parsed, profile),
                                   help=t("actuals.commit.profile_help"), key=f"actuals_profile_{fid}",
                                   max_chars=200)
        remember = remember_col.checkbox(t("actuals.commit.remember"), value=True,
                                         key=f"actuals_remember_{fid}")
        if remember_col.button(t("actuals.commit.save_profile"), key=f"actuals_save_profile_{fid}") \
                and _profile_name_ok(name):
            problem = _save_profile(view, parsed, mapping, name)
            if problem:
                st.error(problem)
            else:
                st.success(t("actuals.commit.profile_saved", name=markdown_text(name.strip())))
        replace = _remapped_choice(preview, fid)
        accept = bool(preview.rejections)
        if accept:  # all or nothing unless the user, who sees the rejected rows, presses this very button
            st.warning(t("actuals.commit.rejected_warning", rejected=preview.rejected_rows, good=preview.good_rows))
            label = t("actuals.commit.button_accept", good=preview.good_rows, rejected=preview.rejected_rows)
        else:
            label = t("actuals.commit.button", n=preview.to_write)
        blocked = not preview.can_commit or ingest.commit_blocker(preview, accept, replace) is not None
        if st.button(label, type="primary", disabled=blocked, key=f"actuals_commit_{fid}"):
            if remember and not _profile_name_ok(name):
                return
            _commit(view, parsed, mapping, preview, name if remember else "", fid, accept, replace)


def _remapped_choice(preview: ingest.ImportPreview, fid: str) -> bool | None:
    """The same file imported before with another mapping: replace that import or keep it (no default)."""
    earlier = preview.remapped
    if not earlier or not preview.can_commit:
        return None
    st.info(t("actuals.commit.remapped", import_id=earlier["id"], date=moment_text(earlier.get("created_at"))))
    labels = {True: t("actuals.commit.remapped_replace", import_id=earlier["id"]),
              False: t("actuals.commit.remapped_keep", import_id=earlier["id"])}
    return st.radio(t("actuals.commit.remapped_question", import_id=earlier["id"]), [True, False], index=None,
                    format_func=labels.get, key=f"actuals_remapped_{fid}")


def _commit(view: PageView, parsed: ingest.ParsedFile, mapping: dict, preview: ingest.ImportPreview, profile_name: str,
            fid: str, accept_rejected: bool, replace: bool | None) -> None:
    try:
        result = ingest.commit_import(view.store, view.plan, parsed, mapping, preview, accept_rejected=accept_rejected,
                                      replace=replace)
    except WorkbenchError as exc:  # the engine's or the store's message, nothing written
        _show_error(exc)
        return
    if result.already_imported:
        st.warning(result.message(lang()))
        return
    done = {"file": parsed.file_name, "import_id": result.import_id, "written": result.written,
            "unchanged": result.unchanged, "rejected": result.rejected, "profile_error": None,
            "replaced": result.replaced}
    if profile_name:
        done["profile_error"] = _save_profile(view, parsed, mapping, profile_name)
    st.session_state.setdefault(DONE, []).append(done)
    st.session_state.setdefault(COMMITTED, {})[fid] = result.import_id
    st.rerun()


def _show_done(view: PageView) -> None:
    """The results of the commits of the previous run, with the way to the dashboard and step 5."""
    results = st.session_state.pop(DONE, [])
    for done in results:
        st.success(t("actuals.commit.done", file=markdown_text(done["file"]), import_id=done["import_id"],
                     written=done["written"], unchanged=done["unchanged"], rejected=done["rejected"]))
        if done.get("replaced"):
            st.info(t("ingest.replaced", import_id=done["replaced"]))
        if done["profile_error"]:
            st.warning(t("actuals.commit.profile_failed", reason=done["profile_error"]))
    if results:
        cols = st.columns([2, 2, 3])
        view.ctx.link("overview", t("actuals.commit.go_dashboard"), cols[0])
        view.ctx.link("pdca", t("actuals.commit.go_pdca"), cols[1])


# ---------------------------------------------------------------- one uploaded file
def _file_section(view: PageView, upload) -> None:
    fid = upload.file_id
    st.subheader(f"📄 {markdown_text(upload.name)}")
    st.caption(t("actuals.file.size", size=f"{upload.size / 1024:,.1f}"))
    summary = st.container()
    settings = _reading_settings(fid)
    try:
        parsed = _parse(upload, fid, settings)
    except WorkbenchError as exc:  # every bad file ends here with its message
        with summary:
            _show_error(exc)
            st.caption(t("actuals.file.error_hint"))
        return
    with summary:
        _detection(parsed)
    shapes = list(ingest.SHAPES)
    loaded = st.session_state.get(LOADED, {}).get(fid)
    profile = ingest.find_mapping(view.store, parsed, view.plan)
    if loaded:  # a mapping file the user loaded stands in for the saved profile
        profile = {"name": loaded[0], "mapping": loaded[1], "updated_at": None, "from_file": True}
    default_shape = profile["mapping"].get("shape", parsed.shape) if profile else parsed.shape
    shape = st.selectbox(t("actuals.file.shape"), shapes, index=_index(shapes, default_shape),
                         format_func=options_label("ingest.shape"), help=t("actuals.file.shape_help"),
                         key=f"actuals_shape_{fid}")
    st.subheader(t("actuals.mapping.title"))
    if profile and profile.get("from_file"):
        st.info(t("actuals.mapping.file_applied", name=markdown_text(profile["name"])), icon="📂")
    elif profile and profile["mapping"].get("shape") == shape:
        st.info(t("actuals.mapping.profile_applied", name=markdown_text(profile["name"]),
                  date=moment_text(profile.get("updated_at"))), icon="🔁")
    else:
        st.caption(t("actuals.mapping.suggested"))
    try:
        base = _base_mapping(view, parsed, shape, profile)
        mapping = _mapping_editor(view, parsed, base, shape, fid)
        _mapping_file_row(parsed, mapping, fid)
        if not mapping["metrics"]:
            st.info(t("actuals.mapping.start"))
            return
        preview = ingest.preview_import(view.store, view.plan, parsed, mapping, lang())
    except WorkbenchError as exc:  # a mapping problem: say which, keep the editor usable
        _show_error(exc)
        return
    _preview(view, parsed, preview, fid)
    _commit_section(view, parsed, mapping, preview, profile, fid)


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


def _mapping_file_row(parsed: ingest.ParsedFile, mapping: dict, fid: str) -> None:
    """Load a mapping file (e.g. a shipped *.mapping.json) into the editor, or save the editor's mapping as one."""
    load_col, save_col = st.columns([3, 2], vertical_alignment="bottom")
    load_col.file_uploader(t("actuals.mapping.load_file"), type=["json"], help=t("actuals.mapping.load_file_help"),
                           key=f"actuals_mapfile_{fid}", on_change=_load_mapping_file, args=(fid,))
    problem = st.session_state.pop(MAPPING_FILE_ERROR, None)
    if problem is not None:
        load_col.error(_error_message(problem))
    save_col.download_button(t("actuals.mapping.save_file"), ingest.mapping_file_bytes(mapping),
                             file_name=f"{ingest.default_profile_name(parsed, None)}.mapping.json",
                             mime="application/json", key=f"actuals_mapsave_{fid}")


def _help_box(view: PageView) -> None:
    with st.expander(t("actuals.help.title"), icon="💡"):
        st.markdown(t("actuals.help.body"))
        st.caption(t("actuals.help.cli"))
        st.code(f"kpi-workbench import --plan {view.plan.id} --profile <name> FILE.csv", language="bash")


def _import_tab(view: PageView) -> None:
    _show_done(view)
    _help_box(view)
    if not view.metrics:
        st.info(t("actuals.no_metrics"))
        cols = st.columns([2, 2, 3])
        view.ctx.link("kgi", t("actuals.go_kgi"), cols[0])
        view.ctx.link("kpi", t("actuals.go_kpi"), cols[1])
        return
    uploads = st.file_uploader(t("actuals.upload.label"), type=UPLOAD_TYPES, accept_multiple_files=True,
                               help=t("actuals.upload.help", limit_mb=ingest.DEFAULT_MAX_BYTES // ingest.MB),
                               key=f"actuals_upload_{view.plan.id}") or []
    _forget_files({u.file_id for u in uploads})
    if not uploads:
        st.caption(t("actuals.upload.empty"))
        return
    if len(uploads) == 1:
        _file_section(view, uploads[0])
        return
    for tab, upload in zip(st.tabs([markdown_text(u.name) for u in uploads]), uploads):
        with tab:
            _file_section(view, upload)


# ---------------------------------------------------------------- import history and revert
def _revert_confirm(view: PageView, record: ImportRecord, live_values: int) -> None:
    st.warning(t("actuals.history.confirm", import_id=record.id, file=markdown_text(record.file_name),
                 rows=live_values))
    yes, no, _ = st.columns([1, 1, 3])
    if yes.button(t("actuals.history.confirm_yes"), type="primary", key=f"actuals_revert_yes_{record.id}"):
        try:
            reverted = ingest.revert_import(view.store, record.id)
        except WorkbenchError as exc:  # store errors shown, nothing half done (one transaction)
            _show_error(exc)
            return
        st.session_state.pop(PENDING_REVERT, None)
        st.session_state[REVERTED] = reverted
        st.rerun()
    if no.button(t("actuals.history.cancel"), key=f"actuals_revert_no_{record.id}"):
        st.session_state.pop(PENDING_REVERT, None)
        st.rerun()


HISTORY_WIDTHS = [3, 2, 2.4, 3, 2, 2, 1.8]


def _history_row(view: PageView, record: ImportRecord, live_values: dict[int, int]) -> None:
    cols = st.columns(HISTORY_WIDTHS, vertical_alignment="center")
    cols[0].markdown(f"**#{record.id}** {markdown_text(record.file_name)}")
    cols[1].write(ingest.encoding_label(record.encoding))
    cols[2].write(t(f"ingest.shape.{record.shape}") if record.shape in ingest.SHAPES else record.shape)
    cols[3].write(t("actuals.history.rows_text", total=record.rows_total, accepted=record.rows_accepted,
                    rejected=record.rows_rejected))
    if record.reverted:
        cols[4].markdown(f":orange-badge[{t('actuals.history.reverted', date=moment_text(record.reverted_at))}]")
    else:
        cols[4].markdown(f":green-badge[{t('actuals.history.committed')}]")
    cols[5].write(moment_text(record.created_at))
    if not record.reverted and cols[6].button(t("actuals.history.revert"), key=f"actuals_revert_{record.id}",
                                              help=t("actuals.history.revert_help")):
        st.session_state[PENDING_REVERT] = record.id
        st.rerun()
    if st.session_state.get(PENDING_REVERT) == record.id and not record.reverted:
        _revert_confirm(view, record, live_values.get(record.id, 0))


def _rejections_of_imports(view: PageView, imports: list[ImportRecord]) -> None:
    with_rejections = [i for i in imports if i.rows_rejected]
    if not with_rejections:
        return
    st.markdown(f"##### {t('actuals.history.rejections_title')}")
    names = {i.id: f"#{i.id} {i.file_name}" for i in with_rejections}
    chosen = st.selectbox(t("actuals.history.rejections_pick"), list(names), format_func=lambda i: names[i],
                          key=f"actuals_rejections_pick_{view.plan.id}")
    rejections = view.store.import_rejections(chosen)
    if not rejections:
        st.caption(t("actuals.history.no_rejections"))
        return
    st.dataframe(records_frame(rejections, {t("actuals.preview.line"): lambda r: r.line_no,
                                            t("actuals.preview.reason"): lambda r: r.reason,
                                            t("actuals.preview.raw"): lambda r: r.raw}),
                 hide_index=True, width="stretch")


def _history_tab(view: PageView) -> None:
    reverted = st.session_state.pop(REVERTED, None)
    if reverted:
        (st.warning if reverted.already else st.success)(reverted.message(lang()))
    imports = view.store.list_imports(view.plan.id)
    if not imports:
        st.info(t("actuals.history.empty"))
        return
    live_values = ingest.live_values(view.store, view.plan)
    head = st.columns(HISTORY_WIDTHS)
    for col, key in zip(head, ("file", "encoding", "shape", "rows", "status", "date", "action")):
        col.caption(t(f"actuals.history.{key}"))
    for record in imports[:HISTORY_ROWS]:
        _history_row(view, record, live_values)
    if len(imports) > HISTORY_ROWS:
        st.caption(t("actuals.history.more", shown=HISTORY_ROWS, total=len(imports)))
    _rejections_of_imports(view, imports)


# ---------------------------------------------------------------- value history of one metric-month
def _history_month_default(view: PageView, key: str, months: list[date]) -> int:
    """The latest month of the view.plan that has a value for the metric (else the first)."""
    recorded = view.store.actual_values(view.plan.id).get(key, {})
    filled = [i for i, m in enumerate(months) if m in recorded]
    return filled[-1] if filled else 0


def _source_text(entry: ActualEntry) -> str:
    if entry.source == "import" and entry.import_id is not None:
        return t("actuals.values.source_import", import_id=entry.import_id)
    return t("actuals.values.source_manual") if entry.source == "manual" else entry.source


def _values_tab(view: PageView) -> None:
    st.caption(t("actuals.values.intro"))
    keys = list(dict.fromkeys([*view.metrics, *view.store.actual_values(view.plan.id)]))
    if not keys:
        st.info(t("actuals.values.empty"))
        return
    months = view.plan.month_list()
    c1, c2 = st.columns(2)
    key = c1.selectbox(t("actuals.values.metric"), keys, format_func=lambda k: metric_label(view, k),
                       key=f"actuals_values_metric_{view.plan.id}")
    month = c2.selectbox(t("actuals.values.month"), months, index=_history_month_default(view, key, months),
                         format_func=lambda m: m.strftime("%Y-%m"),
                         key=f"actuals_values_month_{view.plan.id}_{key}")
    history = view.store.actual_history(view.plan.id, key, month)
    if not history:
        st.info(t("actuals.values.empty"))
        return
    st.dataframe(records_frame(history, {
        t("actuals.values.value"): lambda e: metric_value(view, key, e.value),
        t("actuals.values.state"): lambda e: t("actuals.values.current" if e.current else "actuals.values.old"),
        t("actuals.values.source"): _source_text,
        t("actuals.values.file"): lambda e: e.file_name or "",
        t("actuals.values.recorded"): lambda e: moment_text(e.created_at),
        t("actuals.values.superseded"): lambda e: moment_text(e.superseded_at),
    }), hide_index=True, width="stretch")


# ---------------------------------------------------------------- page


def render(ctx: PageContext) -> None:
    view = PageView(ctx, _plan_metrics(ctx.store, ctx.plan))
    import_tab, history_tab, values_tab = st.tabs([t("actuals.tab.import"), t("actuals.tab.history"),
                                                    t("actuals.tab.values")])
    with import_tab:
        _import_tab(view)
    with history_tab:
        _history_tab(view)
    with values_tab:
        _values_tab(view)
