"""Shared UI helpers for every page: the store, the language, the current plan, messages and formatting.

Pages stay thin: read widgets -> call kpi_core -> render. Anything that is not about widgets belongs in kpi_core.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from kpi_core import i18n
from kpi_core.adapters.store import Store, StoreError, default_db_path, may_create, open_store
from kpi_core.domain import tracking as tr
from kpi_core.domain import units
from kpi_core.domain.model import Direction, Plan, Status
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.services.demo import seed_demo

LANG_KEY = "lang"
PLAN_KEY = "plan_id"
FULL_DIGITS_KEY = "full_digits"
# Session keys that outlive a reload after a save conflict (the frame's own state and the sidebar's choices).
FRAME_KEYS = frozenset({LANG_KEY, PLAN_KEY, FULL_DIGITS_KEY, "sidebar_plan", "sidebar_lang"})


# ---------------------------------------------------------------- store
@st.cache_resource(show_spinner=False)
def _open_store(path: str) -> Store:
    # A new file only at the default path; the file is let go between operations so that a scheduled
    # `kpi-workbench import` can write while the app serves.
    return open_store(path, create=may_create(path), release_when_idle=True)


@st.cache_resource(show_spinner=False)
def _seed_demo_once(path: str, language: str, _store: Store) -> None:
    """The first start of an empty database gets the demo plan, in the language of the session that starts it
    (KPI_WORKBENCH_DEMO=0: not). Once per database and language; seed_demo skips a database that ever had a plan."""
    seed_demo(_store, lang=language)


def get_store() -> Store:
    """The process-wide store; a locked database file stops the page with a clear message."""
    path = str(default_db_path())
    try:
        store = _open_store(path)
        _seed_demo_once(path, lang(), store)
        return store
    except StoreError as exc:
        st.error(exc.message(lang()))
        st.stop()


def read_only_notice(store: Store) -> None:
    """A banner on every page while the database can only be viewed, saying why (saves are refused with it)."""
    if store.read_only:
        st.warning(t("store.read_only_banner", path=str(store.path),
                     reason=t(f"store.read_only_reason.{store.read_only_reason}")), icon="🔒")


# ---------------------------------------------------------------- language
def lang() -> str:
    """The session's language: ?lang=, then the sidebar choice, then the browser's locale."""
    language = st.session_state.get(LANG_KEY)  # one session-state read: every text of a page asks
    if language is None:
        requested = st.query_params.get("lang")
        language = (requested if requested in i18n.LANGUAGES
                    else i18n.normalise_language(getattr(st.context, "locale", None)))
        st.session_state[LANG_KEY] = language
    return language


def t(key: str, **values: Any) -> str:
    return i18n.t(key, lang(), **values)


def options_label(prefix: str) -> Callable[[object], str]:
    """A `format_func` for enum options: shows the catalogue text `prefix.<value>`.

    The language is fixed when the function is made: widgets may call it outside the script run (tests, reruns),
    where the session's language is not at hand.
    """
    language = lang()
    return lambda value: i18n.t(f"{prefix}.{value}", language)


def inert(values: dict[str, Any]) -> dict[str, Any]:
    """Message values with user text made inert for markdown (messages render markdown)."""
    return {k: markdown_text(v) if isinstance(v, str) else v for k, v in values.items()}


def show_messages(messages: Iterable[Any]) -> bool:
    """Show check messages (errors and warnings, each a catalogue key and values); True when one is an error, so
    nothing may be saved."""
    messages = list(messages)
    for message in messages:
        (st.error if message.level == "error" else st.warning)(t(message.key, **inert(message.values)))
    return any(m.level == "error" for m in messages)


# ---------------------------------------------------------------- formatting
def records_frame(records: Iterable[Any], columns: dict[str, Callable[[Any], Any]]) -> pd.DataFrame:
    """The display table of read models (store history rows): one column per label, each cell from its record."""
    rows = list(records)
    return pd.DataFrame({label: [cell(r) for r in rows] for label, cell in columns.items()})


def full_digits() -> bool:
    return bool(st.session_state.get(FULL_DIGITS_KEY, False))


def fmt(value: float | None, unit: str) -> str:
    return units.format_value(value, unit, lang(), full_digits())


# Labels take the language as an argument so that format_funcs can be bound to it (`partial(..., code=lang())`):
# a format_func may be called outside the script run, where the session's language is not at hand.
def status_text(status: Status, code: str | None = None) -> str:
    return f"{tr.STATUS_EMOJI[status]} {i18n.t(f'enum.status.{status}', code or lang())}"


def month_text(month: date | None, code: str | None = None) -> str:
    return tr.month_label(month, code or lang()) if month else i18n.t("common.none", code or lang())


def fmt_delta(value: float | None, unit: str) -> str | None:
    """A signed difference for a metric's delta, compact like the figure above it."""
    return tr.signed_difference(value, unit, lang(), full_digits(), compact=True)


def figure(column: Any, label: str, value: float | None, unit: str, *, help: str | None = None,
           **metric_options: Any) -> None:
    """st.metric for a figure: compact (1.44億円, ¥144M) so that narrow tiles never cut it off, the full digits
    in its help (or everywhere with the full-digits toggle)."""
    shown = units.format_value(value, unit, lang(), full_digits(), compact=True)
    full = units.format_value(value, unit, lang(), full_digits=True)
    if full != shown:
        help = f"{help}\n\n{t('room.full_digits', value=full)}" if help else t("room.full_digits", value=full)
    column.metric(label, shown, help=help, **metric_options)


# Figures in tiles scale with their tile (a CSS container) and wrap rather than being cut off with "…".
# A fixed stylesheet: no user text.
FIGURE_STYLE = """<style>
[data-testid='stMetric'] {container-type: inline-size;}
[data-testid='stMetricValue'] {font-size: clamp(1rem, 15cqi, 2.25rem);}
[data-testid='stMetricValue'] *, [data-testid='stMetricDelta'] * {white-space: normal !important;
    overflow-wrap: anywhere; text-overflow: clip;}
</style>"""


def apply_figure_style() -> None:
    st.markdown(FIGURE_STYLE, unsafe_allow_html=True)


def missing_months_notice(ctx: Any, metrics: list) -> None:
    """Name the months without actuals before each metric's latest one; with a page context, link the import."""
    for months, names in tr.missing_groups(metrics, lang()):
        st.warning(t("room.missing_months", months=months, names=names), icon="🕳️")
        if ctx is not None:
            ctx.link("import", t("room.go_actuals"))


def pace_tiles(metric: tr.MetricTracking, texts: str) -> None:
    """One metric's four tiles: the year to date (its delta against the year-to-date target), the pace, the
    forecast (its delta against the annual target) and the status. Labels and help from `texts` in the catalogue."""
    unit, colour = metric.spec.unit, delta_colour(metric.spec.direction)
    ytd, pace, forecast, status = st.columns(4)
    figure(ytd, t(f"{texts}.ytd"), metric.ytd_actual, unit, delta=fmt_delta(metric.pace_gap, unit),
           delta_color=colour, border=True, help=t(f"{texts}.ytd_help", target=fmt(metric.ytd_target, unit)))
    pace.metric(t(f"{texts}.pace"), fmt_pct(metric.pace), border=True, help=t(f"{texts}.pace_help"))
    figure(forecast, t(f"{texts}.forecast"), metric.forecast, unit, delta=fmt_delta(metric.forecast_gap, unit),
           delta_color=colour, border=True, help=t(f"{texts}.forecast_help", target=fmt(metric.annual_target, unit)))
    status.metric(t(f"{texts}.status"), status_text(metric.status), border=True,
                  help=t(f"{texts}.forecast_attainment", pct=fmt_pct(metric.forecast_attainment)))


def add_form_suffix(form: str) -> str:
    """The widget-key suffix of an add form: "new", then "new1", "new2"... after each successful add.

    The browser keeps a submitted widget's value under its key even when the session forgets it, so a form is
    emptied by giving its widgets new keys (see `renew_add_form`)."""
    generation = st.session_state.get(f"_add_form_{form}", 0)
    return "new" if generation == 0 else f"new{generation}"


def renew_add_form(form: str) -> None:
    """Empty an add form after a successful add: its widgets get new keys on the next run."""
    st.session_state[f"_add_form_{form}"] = st.session_state.get(f"_add_form_{form}", 0) + 1


def delta_colour(direction: Direction | str) -> str:
    """st.metric colours a rise green; for "lower is better" a rise is bad."""
    return "inverse" if Direction(direction) is Direction.DOWN else "normal"


def fmt_pct(value: float | None, signed: bool = False) -> str:
    return units.format_percent(value, signed)




# ---------------------------------------------------------------- plan
def select_plan(plan_id: int | None) -> None:
    """Make `plan_id` the current plan of this session and of its link (None: no plan picked)."""
    if plan_id is None:
        st.session_state.pop(PLAN_KEY, None)
        st.query_params.pop("plan", None)
    else:
        st.session_state[PLAN_KEY] = plan_id
        if st.query_params.get("plan") != str(plan_id):
            st.query_params["plan"] = str(plan_id)


def confirm_delete(state_key: str, item_id: int, prompt: str, on_confirm: Callable[[], None],
                   key_prefix: str) -> None:
    """The inline "really delete?" row, shown for the item marked in `st.session_state[state_key]`."""
    if st.session_state.get(state_key) != item_id:
        return
    st.warning(prompt)
    yes, no, _ = st.columns([1, 1, 3])
    if yes.button(t("common.delete"), key=f"{key_prefix}_delete_yes_{item_id}", type="primary"):
        on_confirm()
    if no.button(t("common.cancel"), key=f"{key_prefix}_delete_no_{item_id}"):
        st.session_state.pop(state_key, None)
        st.rerun()


# ---------------------------------------------------------------- printing
# Fixed rules, no user text: on paper the sidebar, toolbar and header go, the page takes the full width and flows
# over as many sheets as it needs (the app's scroll containers would otherwise print one screenful), charts and
# tables are not cut in two, and the print header (plan name and date) appears.
PRINT_CSS = """<style>
.st-key-print_header { display: none; }
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
  [data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stStatusWidget"],
  [data-testid="stBottom"], [data-testid="stToast"], .stDeployButton, header, footer { display: none !important; }
  html, body, .stApp, [data-testid="stAppViewContainer"], [data-testid="stMain"], [data-testid="stMainBlockContainer"],
  section.main { position: static !important; height: auto !important; min-height: 0 !important;
    overflow: visible !important; margin: 0 !important; }
  [data-testid="stMainBlockContainer"] { max-width: 100% !important; padding: 0 !important; }
  [data-testid="stVegaLiteChart"], [data-testid="stArrowVegaLiteChart"], [data-testid="stGraphVizChart"],
  [data-testid="stImage"], [data-testid="stMetric"], svg, canvas, figure, tr {
    break-inside: avoid; page-break-inside: avoid; }
  [data-testid="stVerticalBlock"], [data-testid="stMainBlockContainer"] { display: block !important; }
  [data-testid="stVerticalBlock"] > * { margin-bottom: 0.6rem; }
  [data-testid="stElementContainer"]:has([data-testid="stHeading"]) { break-after: avoid; page-break-after: avoid; }
  .st-key-print_header { display: block !important; border-bottom: 1px solid #94a3b8; margin-bottom: 4mm; }
}
</style>"""


def print_layout(plan: Plan | None) -> None:
    """The print stylesheet and the header printed on paper only; the page frame calls this once per run.
    The header is an ordinary text element (the plan name is never put into HTML)."""
    st.markdown(PRINT_CSS, unsafe_allow_html=True)
    with st.container(key="print_header"):
        st.text(t("print.header", plan=plan.name if plan else t("common.none"), date=f"{date.today():%Y-%m-%d}"))
