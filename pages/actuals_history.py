"""The Actuals screen's history tabs: the imports of the plan (with revert and their rejected rows) and every value
ever recorded for a metric-month."""
from __future__ import annotations

import streamlit as st

from kpi_core import ingest
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.domain.records import ActualEntry, ImportRecord
from kpi_core.domain.units import moment_text
from kpi_core.errors import WorkbenchError
from kpi_core.services.actuals import latest_recorded_month
from pages.actuals_view import PageView, metric_label, metric_value, show_file_error
from pages.common import lang, records_frame, t

HISTORY_ROWS = 30
PENDING_REVERT = "_actuals_pending_revert"
REVERTED = "_actuals_reverted"  # the revert just done, said once after the rerun


def _revert_confirm(view: PageView, record: ImportRecord, live_values: int) -> None:
    st.warning(t("actuals.history.confirm", import_id=record.id, file=markdown_text(record.file_name),
                 rows=live_values))
    yes, no, _ = st.columns([1, 1, 3])
    if yes.button(t("actuals.history.confirm_yes"), type="primary", key=f"actuals_revert_yes_{record.id}"):
        try:
            reverted = ingest.revert_import(view.store, record.id)
        except WorkbenchError as exc:  # store errors shown, nothing half done (one transaction)
            show_file_error(exc)
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


def import_history(view: PageView) -> None:
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
def _source_text(entry: ActualEntry) -> str:
    if entry.source == "import" and entry.import_id is not None:
        return t("actuals.values.source_import", import_id=entry.import_id)
    return t("actuals.values.source_manual") if entry.source == "manual" else entry.source


def value_history(view: PageView) -> None:
    st.caption(t("actuals.values.intro"))
    recorded = view.store.actual_values(view.plan.id)
    keys = list(dict.fromkeys([*view.metrics, *recorded]))
    if not keys:
        st.info(t("actuals.values.empty"))
        return
    months = view.plan.month_list()
    c1, c2 = st.columns(2)
    key = c1.selectbox(t("actuals.values.metric"), keys, format_func=lambda k: metric_label(view, k),
                       key=f"actuals_values_metric_{view.plan.id}")
    month = c2.selectbox(t("actuals.values.month"), months, index=latest_recorded_month(recorded.get(key, {}), months),
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
