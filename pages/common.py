"""Shared UI helpers for every page: the store, the language, the current plan, messages and formatting.

Pages stay thin: read widgets -> call kpi_core -> render. Anything that is not about widgets belongs in kpi_core.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import streamlit as st

from kpi_core import i18n
from kpi_core.adapters.store import (
    DatabaseLocked,
    NotFound,
    Store,
    StoreError,
    VersionConflict,
    default_db_path,
    open_store,
)
from kpi_core.domain import units
from kpi_core.domain.model import KGI, KPI, Plan, PlanStatus
from kpi_core.domain.tracking import missing_groups, signed_difference

LANG_KEY = "lang"
PLAN_KEY = "plan_id"
FULL_DIGITS_KEY = "full_digits"
WORKSHOP_KEY = "workshop_mode"


# ---------------------------------------------------------------- store
@st.cache_resource(show_spinner=False)
def _open_store(path: str) -> Store:
    return open_store(path)


@st.cache_resource(show_spinner=False)
def _seed_demo_once(path: str, language: str, _store: Store) -> None:
    """First start of an empty database gets the demo plan, in the language of the session that starts it
    (KPI_WORKBENCH_DEMO=0 disables it). Once per database and language; seed_demo itself skips a database that
    has ever had a plan."""
    try:
        from kpi_core.services.demo import seed_demo
    except ImportError:  # the demo module is optional for a bare install
        return
    seed_demo(_store, lang=language)


def get_store() -> Store:
    """The process-wide store; a locked database file stops the page with a clear message."""
    path = str(default_db_path())
    try:
        store = _open_store(path)
        _seed_demo_once(path, lang(), store)
        return store
    except DatabaseLocked as exc:
        st.error(t("store.locked", **exc.values))
        st.stop()
    except StoreError as exc:
        st.error(t(exc.key, **exc.values))
        st.stop()


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


# ---------------------------------------------------------------- formatting
def full_digits() -> bool:
    return bool(st.session_state.get(FULL_DIGITS_KEY, False))


def fmt(value: float | None, unit: str) -> str:
    return units.format_value(value, unit, lang(), full_digits())


def fmt_delta(value: float | None, unit: str) -> str | None:
    """A signed difference for a metric's delta, compact like the figure above it."""
    return signed_difference(value, unit, lang(), full_digits(), compact=True)


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


def missing_months_notice(metrics: list) -> None:
    """Name the months without actuals before each metric's latest one (they count as nothing reached)."""
    for months, names in missing_groups(metrics, lang()):
        st.warning(t("room.missing_months", months=months, names=names), icon="🕳️")
        st.page_link("pages/actuals.py", label=t("room.go_actuals"), icon="📥")


def fmt_money(value: float | None) -> str:
    return units.format_money(value, lang(), full_digits())


def fmt_pct(value: float | None, signed: bool = False) -> str:
    return units.format_percent(value, signed)


def input_scale(unit: str) -> float:
    """Rates are stored as fractions but typed as percentages."""
    return 100.0 if units.is_rate(unit) else 1.0


# ---------------------------------------------------------------- plan
def current_plan(store: Store) -> Plan | None:
    """The plan picked in the sidebar (or by ?plan=); None when there is none."""
    plan_id = st.session_state.get(PLAN_KEY)
    if plan_id is None:
        requested = st.query_params.get("plan")
        if requested and str(requested).isdigit():
            plan_id = int(requested)
    plans = store.list_plans(include_archived=False)
    if plan_id is not None:
        try:
            plan = store.get_plan(int(plan_id))
            st.session_state[PLAN_KEY] = plan.id
            return plan
        except NotFound:
            st.session_state.pop(PLAN_KEY, None)
    if plans:
        st.session_state[PLAN_KEY] = plans[0].id
        return plans[0]
    return None


def select_plan(plan_id: int | None) -> None:
    if plan_id is None:
        st.session_state.pop(PLAN_KEY, None)
    else:
        st.session_state[PLAN_KEY] = plan_id
    st.session_state.pop("_versions", None)


def require_plan(store: Store) -> Plan:
    """The current plan, or a friendly pointer to the Plans page and a stop."""
    plan = current_plan(store)
    if plan is None:
        st.info(t("common.no_plan"))
        st.page_link("pages/plans.py", label=t("common.go_plans"), icon="📋")
        st.stop()
    return plan


# ---------------------------------------------------------------- optimistic concurrency
def seen_version(plan: Plan) -> int:
    """The plan version this session saw when it drew the form now being submitted.

    Each rerun records the version it rendered; a save uses the one recorded by the previous rerun, so an edit
    made by someone else in between is detected as a conflict instead of being overwritten silently.
    """
    versions = st.session_state.setdefault("_versions", {})
    return versions.get(plan.id, plan.version)


def remember_version(plan: Plan, version: int | None = None) -> None:
    st.session_state.setdefault("_versions", {})[plan.id] = plan.version if version is None else version


def run_save(action: Callable[[], Any], plan: Plan, success_key: str = "common.saved") -> Any | None:
    """Run a save; show success, a version conflict with a reload button, or the error in the user's language."""
    try:
        result = action()
    except VersionConflict:
        st.error(t("store.version_conflict"))
        if st.button(t("common.reload"), key=f"reload_{plan.id}"):
            remember_version(plan)
            st.rerun()
        return None
    except StoreError as exc:
        st.error(t(exc.key, **exc.values))
        return None
    except Exception as exc:  # noqa: BLE001 - a domain error with a catalogue key, or a message, never a traceback
        key = getattr(exc, "key", None)
        st.error(t(key, **getattr(exc, "values", {})) if key else t("common.unexpected", detail=str(exc)[:300]))
        return None
    st.session_state.setdefault("_flash", []).append(t(success_key))
    return result


def show_flash() -> None:
    """Messages queued before a rerun (saves) shown once after it, inline: the next run replaces them, so a
    success can never stand beside a later error (a toast outlives the run that drew it)."""
    for message in st.session_state.pop("_flash", []):
        st.success(message, icon="✅")


def offer_activation(store: Store, plan: Plan, steps_done: list[bool]) -> None:
    """A draft plan whose five steps are all done: ask whether it is now the plan in use (Active)."""
    if plan.status != PlanStatus.DRAFT or not all(steps_done):
        return
    st.info(t("room.activate_prompt"))
    activate = st.button(t("room.activate"), key=f"activate_plan_{plan.id}", type="primary")
    if activate and run_save(lambda: store.set_plan_status(plan.id, PlanStatus.ACTIVE), plan,
                             "room.activated") is not None:
        st.rerun()


def add_form_suffix(form: str) -> str:
    """The widget-key suffix of an add form: "new", then "new1", "new2"... after each successful add.

    The browser keeps a submitted widget's value under its key even when the session forgets it, so a form is
    emptied by giving its widgets new keys (see `renew_add_form`)."""
    generation = st.session_state.get(f"_add_form_{form}", 0)
    return "new" if generation == 0 else f"new{generation}"


def renew_add_form(form: str) -> None:
    """Empty an add form after a successful add: its widgets get new keys on the next run."""
    st.session_state[f"_add_form_{form}"] = st.session_state.get(f"_add_form_{form}", 0) + 1


def error_text(exc: Exception) -> str:
    key = getattr(exc, "key", None)
    return t(key, **getattr(exc, "values", {})) if key else t("common.unexpected", detail=str(exc)[:300])


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


# ---------------------------------------------------------------- layout
STEP_PAGES = ["pages/step1_kgi.py", "pages/step2_gap.py", "pages/step3_csf.py", "pages/step4_kpi.py",
              "pages/step5_pdca.py"]


def page_header(step: int | None, title_key: str, intro_key: str | None = None) -> None:
    prefix = t("nav.step_prefix", n=step) + " " if step else ""
    st.title(prefix + t(title_key))
    if intro_key:
        st.caption(t(intro_key))


def step_footer(step: int) -> None:
    """Back / next links so a workshop walks the steps in order."""
    st.divider()
    back, _, forward = st.columns([1, 2, 1])
    if step > 1:
        back.page_link(STEP_PAGES[step - 2], label=t("common.back"), icon="⬅️")
    if step < len(STEP_PAGES):
        forward.page_link(STEP_PAGES[step], label=t("common.next"), icon="➡️")


def kgi_unit(kgi: KGI | None) -> str:
    return kgi.unit if kgi else "JPY"


def kpi_label(kpi: KPI) -> str:
    return f"{kpi.name} ({kpi.key})"


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
