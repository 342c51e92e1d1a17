"""The page frame: the one table of pages, the current plan, the version guard and the top-level error guard.

Every page is a module with `render(ctx: PageContext) -> None`. The frame draws the title (with the plan's name
under it), hands the page its context, adds the step links, remembers the plan version the page was drawn from
(so a save made from that screen is checked against it) and turns any failure into a message, never a traceback.
Adding a page is one row in `PAGES`.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from kpi_core.adapters.store import NotFound, Store, VersionConflict
from kpi_core.domain.model import Plan
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.errors import WorkbenchError
from kpi_core.services import read_models
from pages import common
from pages.common import t

log = logging.getLogger("kpi_workbench.pages")


@dataclass(frozen=True)
class PageSpec:
    """One row of the page table: where it lives, how it is named and shown, what it needs."""

    # The URL path, also the page's id in links. Never the name of a file in pages/: Streamlit's first run in a
    # process (and every AppTest run) looks for a page file of that name before app.py declares the navigation.
    slug: str
    module: str  # the module holding `render(ctx)`
    title_key: str
    icon: str  # a Streamlit Material icon: renders without an emoji font
    group_key: str
    step: int | None = None  # 1-5 for the five steps: numbered title and back/next links
    intro_key: str | None = None
    needs_plan: bool = True
    default: bool = False

    @property
    def path(self) -> str:
        """The page's source file, relative to the app's folder."""
        return self.module.replace(".", "/") + ".py"


PAGES: tuple[PageSpec, ...] = (
    PageSpec("kgi", "pages.step1_kgi", "page.kgi", ":material/flag:", "nav.group.steps", step=1, intro_key="kgi.intro"),
    PageSpec("gap", "pages.step2_gap", "page.gap", ":material/straighten:", "nav.group.steps", step=2,
             intro_key="gap.intro"),
    PageSpec("csf", "pages.step3_csf", "page.csf", ":material/explore:", "nav.group.steps", step=3,
             intro_key="csf.intro"),
    PageSpec("kpi", "pages.step4_kpi", "page.kpi", ":material/monitoring:", "nav.group.steps", step=4,
             intro_key="kpi.intro"),
    PageSpec("pdca", "pages.step5_pdca", "page.pdca", ":material/autorenew:", "nav.group.steps", step=5,
             intro_key="pdca.intro"),
    PageSpec("import", "pages.actuals", "page.actuals", ":material/upload_file:", "nav.group.run",
             intro_key="actuals.intro"),
    PageSpec("overview", "pages.dashboard", "page.dashboard", ":material/dashboard:", "nav.group.run",
             intro_key="dashboard.intro"),
    PageSpec("health", "pages.health_check", "page.health", ":material/health_and_safety:", "nav.group.run",
             intro_key="health.caption"),
    PageSpec("report", "pages.reports", "page.report", ":material/print:", "nav.group.run",
             intro_key="report.page.intro", needs_plan=False),
    PageSpec("workshop", "pages.workshop_host", "page.workshop", ":material/groups:", "nav.group.run",
             intro_key="workshop.intro"),
    PageSpec("start", "pages.plans", "page.plans", ":material/list_alt:", "nav.group.manage", intro_key="plans.intro",
             needs_plan=False,
             default=True),
)
START = "start"  # the plan list: where a user without a plan is sent
STEPS: tuple[PageSpec, ...] = tuple(spec for spec in PAGES if spec.step)
BY_SLUG: dict[str, PageSpec] = {spec.slug: spec for spec in PAGES}

VERSIONS_KEY = "_versions"  # plan id -> the version the last drawn screen was based on
CONFLICT_KEY = "_conflict"  # plan ids whose last save met someone else's change, until the user reloads
FLASH_KEY = "_flash"
GENERATION_KEY = "_form_generation"  # bumped by a reload after a conflict: every form is drawn afresh
DELETED_KEY = "_plan_deleted"  # the id of this session's plan when someone else deleted it


def page_title(spec: PageSpec) -> str:
    prefix = t("nav.step_prefix", n=spec.step) + " " if spec.step else ""
    return prefix + t(spec.title_key)


# ---------------------------------------------------------------- the current plan
def resolve_plan(store: Store) -> Plan | None:
    """The current plan: the link's ?plan= (a shared link, a page change), else this session's, else the first.

    The result is written back to the session, so the plan stays the same on every page until another is picked.
    """
    requested = str(st.query_params.get("plan", ""))
    candidates = [int(requested)] if requested.isdigit() else []
    if st.session_state.get(common.PLAN_KEY) is not None:
        candidates.append(int(st.session_state[common.PLAN_KEY]))
    for plan_id in candidates:
        try:
            plan = store.get_plan(plan_id)
        except NotFound:
            gone = deleted_under_edit(store, plan_id)
            if gone is not None:
                return gone
            continue
        st.session_state[common.PLAN_KEY] = plan.id
        return plan
    plans = store.list_plans(include_archived=False)
    if not plans:
        st.session_state.pop(common.PLAN_KEY, None)
        return None
    st.session_state[common.PLAN_KEY] = plans[0].id
    return plans[0]


def deleted_under_edit(store: Store, plan_id: int) -> Plan | None:
    """This session's plan, deleted by someone else while the user works on it: it stays on screen (with a notice)
    rather than another plan taking its place, so a save is refused with the reason and what was typed stays in the
    form to copy. None for any other missing plan."""
    if st.session_state.get(common.PLAN_KEY) != plan_id:
        return None
    gone = next((p for p in store.deleted_plans() if p.id == plan_id), None)
    if gone is not None:
        st.session_state[DELETED_KEY] = plan_id
    return gone


def link_params(plan: Plan | None) -> dict[str, str]:
    """What a link needs to reproduce the screen: the plan and the language."""
    params = {"lang": common.lang()}
    if plan is not None:
        params["plan"] = str(plan.id)
    return params


def sync_link(plan: Plan | None) -> None:
    """Write ?plan=&lang= only where they differ: every write would add a browser history entry."""
    for name, value in link_params(plan).items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value


# ---------------------------------------------------------------- the context a page gets
@dataclass
class PageContext:
    """What every page works with: the store, the current plan, the language, links and the version guard."""

    store: Store
    plan: Plan | None
    lang: str
    spec: PageSpec
    pages: dict[str, Any] = field(repr=False)  # slug -> st.Page of this run

    def link(self, slug: str, label: str, container: Any = st, icon: str | None = None) -> None:
        """A link to another page that keeps the plan and the language."""
        container.page_link(self.pages[slug], label=label, icon=icon or BY_SLUG[slug].icon,
                            query_params=link_params(self.plan))

    def go(self, slug: str, plan: Plan | None = None) -> None:
        """Switch to another page (on `plan`, when given, which becomes the current plan)."""
        if plan is not None:
            common.select_plan(plan.id)
        st.switch_page(self.pages[slug], query_params=link_params(plan or self.plan))

    guarded: list[Plan] = field(default_factory=list, repr=False)
    version: tuple[int, ...] | None = None  # the plan's data version this run draws (the key of cached models)

    @property
    def seen_version(self) -> int:
        """The current plan's version as this session saw it when it drew the form now being submitted."""
        assert self.plan is not None
        return self.seen_version_of(self.plan)

    def seen_version_of(self, plan: Plan) -> int:
        """The version of `plan` this session last drew; `guard(plan)` makes the frame remember it."""
        return st.session_state.setdefault(VERSIONS_KEY, {}).get(plan.id, plan.version)

    def key(self, name: str) -> str:
        """A widget or form key on this page. A reload after a conflict gives every one a new key, so the browser
        draws the fields afresh with the stored values instead of keeping what was typed before."""
        generation = st.session_state.get(GENERATION_KEY, 0)
        return f"{name}_g{generation}" if generation else name

    def guard(self, plan: Plan) -> None:
        """A plan other than the current one edited on this page: its drawn version is remembered too."""
        self.guarded.append(plan)

    def save(self, action: Callable[[], Any], success_key: str = "common.saved") -> Any | None:
        """Run a save: a success message after the rerun, or the error shown (a conflict offers a reload)."""
        return run_save(action, self.plan, success_key)


@dataclass(frozen=True)
class ContextView:
    """Base of a page's view (what the page reads once per run): the frame's context, its store and plan at hand."""

    ctx: PageContext

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def plan(self) -> Plan:
        assert self.ctx.plan is not None
        return self.ctx.plan


def remember_version(plan: Plan, version: int | None = None) -> None:
    st.session_state.setdefault(VERSIONS_KEY, {})[plan.id] = plan.version if version is None else version


def attempt(action: Callable[[], Any], plan: Plan | None, success_key: str = "common.saved") -> tuple[bool, Any]:
    """Run a write: (True, its result) with a success message queued for after the rerun, or (False, None) with
    the error shown. A version conflict reruns the page under a notice with a reload button (see `conflict_notice`):
    until the user reloads, this session stays on the version it saw, so saving again is refused too."""
    try:
        result = action()
    except VersionConflict as exc:
        if plan is None:
            show_error(exc)
            return False, None
        st.session_state.setdefault(CONFLICT_KEY, set()).add(plan.id)
        st.rerun()
    except WorkbenchError as exc:
        show_error(exc)
        return False, None
    flash(t(success_key))
    return True, result


def run_save(action: Callable[[], Any], plan: Plan | None, success_key: str = "common.saved") -> Any | None:
    """`attempt` for writes that return something: the result, or None when it failed (and was shown)."""
    return attempt(action, plan, success_key)[1]


def conflict_notice(plan: Plan) -> None:
    """After a refused save: say so above the page, with a reload that shows what the other person saved."""
    if plan.id not in st.session_state.get(CONFLICT_KEY, set()):
        return
    show_error(t("store.version_conflict"))
    if st.button(t("common.reload"), key=f"reload_{plan.id}", type="primary", icon=":material/refresh:"):
        reload_plan(plan)
        st.rerun()


def reload_plan(plan: Plan) -> None:
    """Forget what this session typed (widget state, and a new generation of form keys for the unkeyed widgets)
    so every form is drawn from the stored values; the stored version becomes the one this session saw."""
    for key in [k for k in st.session_state if not str(k).startswith("_") and k not in common.FRAME_KEYS]:
        del st.session_state[key]
    st.session_state[GENERATION_KEY] = st.session_state.get(GENERATION_KEY, 0) + 1
    st.session_state.get(CONFLICT_KEY, set()).discard(plan.id)
    st.session_state.get(VERSIONS_KEY, {}).pop(plan.id, None)


def flash(message: str) -> None:
    """A message shown once, after the rerun that follows a save."""
    st.session_state.setdefault(FLASH_KEY, []).append(message)


def show_flash() -> None:
    """Inline, not a toast: the next run replaces it, so a success never stands beside a later error. Its slot is
    drawn on every run, message or not, so that what follows keeps its place on the page between runs."""
    with st.container():
        for message in st.session_state.pop(FLASH_KEY, []):
            st.success(message, icon=":material/check_circle:")


def show_error(error: WorkbenchError | str, container: Any = st) -> None:
    """The one way a page shows a failure: a catalogue message in the user's language."""
    container.error(error if isinstance(error, str) else error.message(common.lang()))


# ---------------------------------------------------------------- running a page
def run(spec: PageSpec, pages: dict[str, Any], store: Store) -> None:
    """Draw one page inside the frame. The only broad `except` of the app is here: it logs, the user reads a
    message in their language."""
    plan = resolve_plan(store)
    sync_link(plan)
    common.print_layout(plan)
    show_flash()
    st.title(page_title(spec))
    if plan is not None and spec.needs_plan:
        st.caption(t("frame.plan_caption", name=markdown_text(plan.name)))
        conflict_notice(plan)
        if st.session_state.get(DELETED_KEY) == plan.id:
            show_error(t("conflict.plan_deleted", name=markdown_text(plan.name)))
            PageContext(store=store, plan=plan, lang=common.lang(), spec=spec, pages=pages).link(
                START, t("common.go_plans"))
    if spec.intro_key:
        st.caption(t(spec.intro_key))
    ctx = PageContext(store=store, plan=plan, lang=common.lang(), spec=spec, pages=pages,
                      version=read_models.data_version(store, plan) if plan is not None else None)
    if spec.needs_plan and plan is None:
        st.info(t("common.no_plan"))
        ctx.link(START, t("common.go_plans"))
        return
    try:
        importlib.import_module(spec.module).render(ctx)
    except WorkbenchError as exc:
        show_error(exc)
    except Exception:  # the one top-level guard: logged with its traceback, shown as a message
        log.exception("page %s failed", spec.slug)
        show_error(t("frame.page_failed"))
    if spec.step:
        step_links(ctx)
    conflicted = st.session_state.get(CONFLICT_KEY, set())
    for drawn in ([plan] if plan is not None else []) + ctx.guarded:
        if drawn.id not in conflicted:
            remember_version(drawn)


def step_links(ctx: PageContext) -> None:
    """Back / next links so a workshop walks the steps in order."""
    step = ctx.spec.step or 0
    st.divider()
    back, _, forward = st.columns([1, 2, 1])
    if step > 1:
        ctx.link(STEPS[step - 2].slug, t("common.back"), back, icon=":material/arrow_back:")
    if step < len(STEPS):
        ctx.link(STEPS[step].slug, t("common.next"), forward, icon=":material/arrow_forward:")
