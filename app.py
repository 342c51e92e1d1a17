"""KPI Workbench entry point: the navigation from the page table, the sidebar (plan, progress, language, display)
and the current page inside the frame."""
from __future__ import annotations

import streamlit as st

from kpi_core import i18n
from kpi_core.adapters.store import Store
from kpi_core.domain.model import Plan, PlanStatus
from kpi_core.services import read_models
from pages import common, frame
from pages.access import require_password
from pages.common import t
from pages.workshop_ui import JOIN_PARAM, TOKEN_PARAM

st.set_page_config(page_title="KPI Workbench", page_icon=":material/target:", layout="wide")

store = common.get_store()
common.lang()  # settle the language before any text is drawn
common.read_only_notice(store)


def _navigation(store: Store) -> st.Page:
    """One st.Page per row of the page table, grouped as the table says, each run inside the frame."""
    pages: dict[str, st.Page] = {}
    groups: dict[str, list[st.Page]] = {}
    for spec in frame.PAGES:
        page = st.Page(lambda spec=spec: frame.run(spec, pages, store), title=frame.page_title(spec),
                       icon=spec.icon, url_path=spec.slug, default=spec.default)
        pages[spec.slug] = page
        groups.setdefault(t(spec.group_key), []).append(page)
    return st.navigation(groups)


def _plan_picker(store: Store) -> None:
    plans = store.list_plans(include_archived=False)
    plan = frame.resolve_plan(store)
    if not plans or plan is None:
        st.info(t("sidebar.no_plans"))
        return
    ids = [p.id for p in plans]
    if plan.id not in ids:  # an archived plan opened by link stays selectable
        ids.insert(0, plan.id)
    names = {p.id: p.name for p in plans} | {plan.id: plan.name}
    st.session_state["sidebar_plan"] = plan.id  # the picker shows the current plan, however it was reached
    st.selectbox(t("sidebar.plan"), ids, format_func=lambda pid: names[pid], key="sidebar_plan",
                 on_change=lambda: common.select_plan(st.session_state["sidebar_plan"]))
    done = read_models.step_progress(store, plan, read_models.data_version(store, plan))
    st.caption(t("sidebar.progress", done=sum(done), total=len(done)))
    st.progress(sum(done) / len(done))
    st.markdown("  \n".join(f"{'✓' if ok else '○'} {frame.page_title(spec)}"
                            for spec, ok in zip(frame.STEPS, done, strict=True)))
    _offer_activation(store, plan, done)


def _offer_activation(store: Store, plan: Plan, steps_done: tuple[bool, ...]) -> None:
    """A draft plan whose five steps are all done: ask whether it is now the plan in use (Active)."""
    if plan.status != PlanStatus.DRAFT or not all(steps_done):
        return
    st.info(t("room.activate_prompt"))
    activate = st.button(t("room.activate"), key=f"activate_plan_{plan.id}", type="primary")
    if activate and frame.run_save(lambda: store.set_plan_status(plan.id, PlanStatus.ACTIVE), plan,
                                   "room.activated") is not None:
        st.rerun()


def _language_picker() -> None:
    current = common.lang()
    choice = st.radio(t("sidebar.language"), i18n.LANGUAGES, index=i18n.LANGUAGES.index(current),
                      format_func=lambda code: {"ja": "日本語", "en": "English"}[code], horizontal=True,
                      key="sidebar_lang")
    if choice != current:
        st.session_state[common.LANG_KEY] = choice
        st.query_params["lang"] = choice
        st.rerun()


def _sidebar(store: Store) -> None:
    with st.sidebar:
        _plan_picker(store)
        st.divider()
        _language_picker()
        st.toggle(t("sidebar.full_digits"), key=common.FULL_DIGITS_KEY)


def _participant_view() -> None:
    """A workshop participant's link shows only their view: no sidebar, no other page, no password."""
    page = st.Page("pages/workshop_join.py", title=t("page.workshop_join"), icon=":material/groups:",
                   url_path="join")
    st.navigation([page], position="hidden").run()
    st.stop()


if JOIN_PARAM in st.query_params or TOKEN_PARAM in st.query_params:
    _participant_view()
require_password()
page = _navigation(store)
_sidebar(store)
common.apply_figure_style()
page.run()
