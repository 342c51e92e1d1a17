"""KPI Workbench entry point: navigation, sidebar (plan, progress, language, display) and the current page."""
from __future__ import annotations

import streamlit as st

from kpi_core import i18n
from kpi_core.domain.goal import step_progress_for
from pages import common
from pages.access import require_password
from pages.common import t
from pages.workshop_ui import JOIN_PARAM, TOKEN_PARAM

st.set_page_config(page_title="KPI Workbench", page_icon="🎯", layout="wide")

store = common.get_store()
common.lang()  # settle the language before any text is drawn

STEP_ICONS = ["🎯", "📏", "🧭", "📊", "🔁"]
STEP_TITLES = ["page.kgi", "page.gap", "page.csf", "page.kpi", "page.pdca"]
STEP_SLUGS = ["kgi", "gap", "csf", "kpi", "pdca"]


def _navigation() -> st.navigation:
    steps = [
        st.Page(path, title=t("nav.step_prefix", n=i + 1) + " " + t(title), icon=icon, url_path=slug)
        for i, (path, title, icon, slug) in enumerate(zip(common.STEP_PAGES, STEP_TITLES, STEP_ICONS, STEP_SLUGS))
    ]
    run = [
        st.Page("pages/actuals.py", title=t("page.actuals"), icon="📥", url_path="actuals"),
        st.Page("pages/dashboard.py", title=t("page.dashboard"), icon="📈", url_path="dashboard"),
        st.Page("pages/health.py", title=t("page.health"), icon=":material/health_and_safety:", url_path="health"),
        st.Page("pages/report.py", title=t("page.report"), icon=":material/print:", url_path="report"),
        st.Page("pages/workshop.py", title=t("page.workshop"), icon=":material/groups:", url_path="workshop"),
    ]
    manage = [st.Page("pages/plans.py", title=t("page.plans"), icon="📋", url_path="plans", default=True)]
    return st.navigation({t("nav.group.steps"): steps, t("nav.group.run"): run, t("nav.group.manage"): manage})


def _sidebar() -> None:
    with st.sidebar:
        plans = store.list_plans(include_archived=False)
        plan = common.current_plan(store)
        if plans and plan is not None:
            ids = [p.id for p in plans]
            if plan.id not in ids:  # an archived plan opened by link stays selectable
                ids.insert(0, plan.id)
            names = {p.id: p.name for p in plans} | {plan.id: plan.name}
            chosen = st.selectbox(t("sidebar.plan"), ids, index=ids.index(plan.id),
                                  format_func=lambda pid: names[pid], key="sidebar_plan")
            if chosen != plan.id:
                common.select_plan(chosen)
                st.rerun()
            st.query_params["plan"] = str(plan.id)
            done = step_progress_for(store, plan)
            st.caption(t("sidebar.progress", done=sum(done), total=len(done)))
            st.progress(sum(done) / len(done))
            st.markdown("  \n".join(
                f"{'✓' if ok else '○'} {t('nav.step_prefix', n=i + 1)} {t(STEP_TITLES[i])}"
                for i, ok in enumerate(done)))
            common.offer_activation(store, plan, done)
        else:
            st.info(t("sidebar.no_plans"))
        st.divider()
        current = common.lang()
        choice = st.radio(t("sidebar.language"), i18n.LANGUAGES, index=i18n.LANGUAGES.index(current),
                          format_func=lambda code: {"ja": "日本語", "en": "English"}[code], horizontal=True,
                          key="sidebar_lang")
        if choice != current:
            st.session_state[common.LANG_KEY] = choice
            st.query_params["lang"] = choice
            st.rerun()
        st.query_params["lang"] = current
        st.toggle(t("sidebar.full_digits"), key=common.FULL_DIGITS_KEY)
        st.toggle(t("sidebar.workshop"), key=common.WORKSHOP_KEY, help=t("sidebar.workshop_help"))


def _participant_view() -> None:
    """A workshop participant's link shows only their view: no sidebar, no other page, no password."""
    page = st.Page("pages/workshop_join.py", title=t("page.workshop_join"), icon=":material/groups:",
                   url_path="join")
    st.navigation([page], position="hidden").run()
    st.stop()


if JOIN_PARAM in st.query_params or TOKEN_PARAM in st.query_params:
    _participant_view()
require_password()
page = _navigation()
_sidebar()
if st.session_state.get(common.WORKSHOP_KEY):
    # Larger type for a projector; a fixed stylesheet, no user text involved.
    st.markdown("<style>html, body, [class*='st-'] {font-size: 1.15rem;} h1 {font-size: 2.8rem !important;}"
                "[data-testid='stMetricValue'] {font-size: clamp(1rem, 16cqi, 2.6rem) !important;}</style>",
                unsafe_allow_html=True)
common.apply_figure_style()
common.print_layout(common.current_plan(store))
common.show_flash()
page.run()
