"""Actuals import: drop monthly CSV exports, check the detection, the column mapping and the preview, commit;
then the import history (with revert) and the history of any metric-month's values (pages.actuals_history).
The mapping editor is pages.actuals_mapping; the use cases are kpi_core.services.actuals."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from kpi_core import ingest
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.domain.records import MappingProfile
from kpi_core.domain.units import moment_text
from kpi_core.errors import WorkbenchError
from kpi_core.services.actuals import import_file, plan_metrics, preview_counts, save_profile
from pages.actuals_history import import_history, value_history
from pages.actuals_mapping import LOADED, base_mapping, mapping_editor, mapping_file_row
from pages.actuals_view import (
    PageView,
    message_text,
    metric_label,
    metric_value,
    option_index,
    show_file_error,
)
from pages.common import lang, options_label, t
from pages.frame import PageContext

UPLOAD_TYPES = ["csv", "tsv", "txt"]
ENCODING_CHOICES = ["", *ingest.CHOOSABLE_ENCODINGS]
DELIMITER_CHOICES = ["", *ingest.DELIMITER_LABELS]
STATUS_STYLE = {"new": "background-color: #dcfce7", "changed": "background-color: #fef3c7",
                "unchanged": "color: #6b7280"}

PARSED = "_actuals_parsed"  # file_id -> (reading settings, ParsedFile), closed when the file leaves
DONE = "_actuals_done"  # results of the last commit, shown once after the rerun
COMMITTED = "_actuals_committed"  # file_id -> import id committed from that upload: "imported now", not "again"


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
    counts = preview_counts(preview)
    cols = st.columns(4)
    cols[0].metric(t("actuals.preview.to_write"), counts.to_write,
                   delta=t("actuals.preview.replacing", n=counts.replacing) if counts.replacing else None,
                   delta_color="orange", delta_arrow="off")
    cols[1].metric(t("actuals.preview.unchanged"), counts.unchanged)
    cols[2].metric(t("actuals.preview.rejected"), len(preview.rejections))
    cols[3].metric(t("actuals.preview.skipped"), len(preview.skipped))


def _csv_download(what: str, data: bytes, fid: str) -> None:
    """The preview's values or rejected rows as a CSV file (key actuals_dlv_/actuals_dlr_ + file id)."""
    st.download_button(t(f"actuals.preview.download_{what}"), data, file_name=f"{what}_{fid[:8]}.csv",
                       mime="text/csv", key=f"actuals_dl{what[0]}_{fid}")


def _preview(view: PageView, parsed: ingest.ParsedFile, preview: ingest.ImportPreview, fid: str) -> None:
    st.subheader(t("actuals.preview.title"))
    _preview_metrics(preview)
    language = lang()
    for message in preview.messages:
        (st.warning if message.level == "warning" else st.info)(message_text(message.key, message.values))
    values_tab, rejected_tab, skipped_tab, file_tab = st.tabs([
        t("actuals.preview.values_tab"), t("actuals.preview.rejected_tab", n=len(preview.rejections)),
        t("actuals.preview.skipped_tab", n=len(preview.skipped)), t("actuals.preview.sample_tab")])
    with values_tab:
        if len(preview.values):
            st.dataframe(_value_matrix(view, preview.values), width="stretch")
            st.caption(t("actuals.preview.legend"))
            with st.expander(t("actuals.preview.details")):
                st.dataframe(_value_rows(view, preview.values), hide_index=True, width="stretch")
                _csv_download("values", ingest.values_csv(preview, language), fid)
        else:
            st.info(t("actuals.preview.no_values"))
    with rejected_tab:
        if preview.rejections:
            st.dataframe(_lines_frame(preview.rejections), hide_index=True, width="stretch")
            _csv_download("rejections", ingest.rejections_csv(preview, language, include_skipped=True), fid)
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
def _commit_section(view: PageView, parsed: ingest.ParsedFile, mapping: dict, preview: ingest.ImportPreview,
                    profile: MappingProfile | None, fid: str) -> None:
    done = preview.already_imported
    if done and st.session_state.get(COMMITTED, {}).get(fid) == done.id:
        st.success(t("actuals.commit.imported_now", import_id=done.id))
        return
    if done:
        st.warning(t("ingest.already_imported", import_id=done.id, date=moment_text(done.created_at)))
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
        if remember_col.button(t("actuals.commit.save_profile"), key=f"actuals_save_profile_{fid}"):
            try:
                save_profile(view.store, view.plan, parsed, mapping, name)
                st.success(t("actuals.commit.profile_saved", name=markdown_text(name.strip())))
            except WorkbenchError as exc:  # a bad name or mapping: said, nothing saved
                show_file_error(exc)
        replace = _remapped_choice(preview, fid)
        accept = bool(preview.rejections)
        if accept:  # all or nothing unless the user, who sees the rejected rows, presses this very button
            st.warning(t("actuals.commit.rejected_warning", rejected=preview.rejected_rows, good=preview.good_rows))
            label = t("actuals.commit.button_accept", good=preview.good_rows, rejected=preview.rejected_rows)
        else:
            label = t("actuals.commit.button", n=preview.to_write)
        blocked = not preview.can_commit or ingest.commit_blocker(preview, accept, replace) is not None
        if st.button(label, type="primary", disabled=blocked, key=f"actuals_commit_{fid}"):
            _commit(view, parsed, mapping, preview, name if remember else None, fid, accept, replace)


def _remapped_choice(preview: ingest.ImportPreview, fid: str) -> bool | None:
    """The same file imported before with another mapping: replace that import or keep it (no default)."""
    earlier = preview.remapped
    if not earlier or not preview.can_commit:
        return None
    st.info(t("actuals.commit.remapped", import_id=earlier.id, date=moment_text(earlier.created_at)))
    labels = {True: t("actuals.commit.remapped_replace", import_id=earlier.id),
              False: t("actuals.commit.remapped_keep", import_id=earlier.id)}
    return st.radio(t("actuals.commit.remapped_question", import_id=earlier.id), [True, False], index=None,
                    format_func=labels.get, key=f"actuals_remapped_{fid}")


def _commit(view: PageView, parsed: ingest.ParsedFile, mapping: dict, preview: ingest.ImportPreview, profile_name: str | None,
            fid: str, accept_rejected: bool, replace: bool | None) -> None:
    try:
        result = import_file(view.store, view.plan, parsed, mapping, preview, profile_name=profile_name,
                             accept_rejected=accept_rejected, replace=replace)
    except WorkbenchError as exc:  # the engine's, the store's or the profile name's message, nothing written
        show_file_error(exc)
        return
    if result.already_imported:
        st.warning(result.message(lang()))
        return
    done = {"file": parsed.file_name, "import_id": result.import_id, "written": result.written,
            "unchanged": result.unchanged, "rejected": result.rejected, "replaced": result.replaced}
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
            show_file_error(exc)
            st.caption(t("actuals.file.error_hint"))
        return
    with summary:
        _detection(parsed)
    shapes = list(ingest.SHAPES)
    loaded = st.session_state.get(LOADED, {}).get(fid)
    profile = ingest.find_mapping(view.store, parsed, view.plan)
    if loaded:  # a mapping file the user loaded stands in for the saved profile
        profile = MappingProfile(loaded[0], loaded[1], from_file=True)
    default_shape = profile.mapping.get("shape", parsed.shape) if profile else parsed.shape
    shape = st.selectbox(t("actuals.file.shape"), shapes, index=option_index(shapes, default_shape),
                         format_func=options_label("ingest.shape"), help=t("actuals.file.shape_help"),
                         key=f"actuals_shape_{fid}")
    st.subheader(t("actuals.mapping.title"))
    if profile and profile.from_file:
        st.info(t("actuals.mapping.file_applied", name=markdown_text(profile.name)), icon="📂")
    elif profile and profile.mapping.get("shape") == shape:
        st.info(t("actuals.mapping.profile_applied", name=markdown_text(profile.name),
                  date=moment_text(profile.updated_at)), icon="🔁")
    else:
        st.caption(t("actuals.mapping.suggested"))
    try:
        base = base_mapping(view, parsed, shape, profile)
        mapping = mapping_editor(view, parsed, base, shape, fid)
        mapping_file_row(parsed, mapping, fid)
        if not mapping["metrics"]:
            st.info(t("actuals.mapping.start"))
            return
        preview = ingest.preview_import(view.store, view.plan, parsed, mapping, lang())
    except WorkbenchError as exc:  # a mapping problem: say which, keep the editor usable
        show_file_error(exc)
        return
    _preview(view, parsed, preview, fid)
    _commit_section(view, parsed, mapping, preview, profile, fid)


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


# ---------------------------------------------------------------- page


def render(ctx: PageContext) -> None:
    view = PageView(ctx, plan_metrics(ctx.store, ctx.plan))
    import_tab, history_tab, values_tab = st.tabs([t("actuals.tab.import"), t("actuals.tab.history"),
                                                    t("actuals.tab.values")])
    with import_tab:
        _import_tab(view)
    with history_tab:
        import_history(view)
    with values_tab:
        value_history(view)
