"""Plans: the default page. Welcome, the plan list, new plans (template gallery or blank) and plan management."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

import streamlit as st

from kpi_core.adapters import templates as templates_module
from kpi_core.adapters.store import Store
from kpi_core.adapters.templates import (
    Template,
    TemplateError,
    load_templates,
    plan_to_template_yaml,
    save_user_template,
)
from kpi_core.domain.goal import Message, check_name
from kpi_core.domain.model import Plan, PlanStatus
from kpi_core.domain.plan_rules import (
    CURRENCIES,
    DEFAULT_MONTHS,
    MAX_MONTHS,
    MIN_MONTHS,
    PlanInputError,
    PlanRow,
    blank_plan,
    copy_name,
    filter_rows,
    fiscal_start_options,
    format_month,
    format_period,
    markdown_text,
    parse_baseline,
    readable_formula,
    template_tree_dot,
    unarchived_status,
    validate_plan_fields,
)
from kpi_core.services import plans as plan_use_cases
from kpi_core.services.plans import plan_rows, step_progress_for
from pages.common import figure, fmt, fmt_pct, lang, select_plan, t
from pages.frame import STEPS, PageContext, attempt, conflict_notice, run_save, show_error

STATUS_COLOURS = {PlanStatus.DRAFT: "gray", PlanStatus.ACTIVE: "green", PlanStatus.ARCHIVED: "orange"}
SEARCH_FROM = 6  # plans in the list before a search box is worth its space
MANAGED = "plans_manage_plan"
MANAGED_FOR = "_plans_manage_for"  # the current plan when the managed plan was last settled
GALLERY_COLUMNS = 2
TEMPLATE_ICONS = {"sales": "💼", "marketing": "📣", "cs": "🤝", "hr": "🧑‍💼"}


# ---------------------------------------------------------------- small helpers
def _attempt(action: Callable[[], Any], success_key: str) -> tuple[bool, Any]:
    """A plan-list action (no plan version involved): (True, its result), or (False, None) with the error shown."""
    return attempt(action, None, success_key)


def _show_messages(messages: list[Message]) -> bool:
    """Show check messages; True when none of them blocks the action."""
    for message in messages:
        (st.error if message.level == "error" else st.warning)(t(message.key, **message.values))
    return not any(m.level == "error" for m in messages)


def _status_badge(status: PlanStatus) -> str:
    return f":{STATUS_COLOURS[status]}-badge[{t(f'enum.plan_status.{status}')}]"


# ---------------------------------------------------------------- welcome
def _welcome(has_plans: bool) -> None:
    """The five steps in two lines; a new user sees it open, a returning one finds it folded above the list."""
    box = st.expander(t("plans.welcome.title"), icon="🧭") if has_plans else st.container(border=True)
    with box:
        if not has_plans:
            st.subheader(t("plans.welcome.title"))
        st.markdown(t("plans.welcome.line1") + "  \n" + t("plans.welcome.line2"))
        for column, spec in zip(st.columns(len(STEPS)), STEPS, strict=True):
            column.markdown(f"#### {spec.icon} {t(spec.title_key)}")
            column.caption(f"{t('nav.step_prefix', n=spec.step)} · {t(f'plans.step.{spec.slug}')}")
        if not has_plans:
            st.info(t("plans.welcome.start"), icon="👇")


# ---------------------------------------------------------------- plan list
def _plan_list(ctx: PageContext, rows: list[PlanRow]) -> None:
    st.header(t("plans.list.title"))
    visible = rows
    top = st.columns([3, 1]) if len(rows) >= SEARCH_FROM else None
    if top:
        query = top[0].text_input(t("plans.list.search"), key="plans_search")
        visible = filter_rows(rows, query)
    show_archived = (top[1] if top else st).toggle(t("plans.list.show_archived"), key="plans_show_archived")
    if not show_archived:
        visible = [row for row in visible if not row.archived]
    st.caption(t("plans.list.count", n=len(visible)))
    if not visible:
        st.info(t("plans.list.no_match"))
        return
    with st.container(border=True):
        widths = [4, 2, 1.2, 1.6, 1]
        for column, key in zip(st.columns(widths), ["plan", "period", "status", "progress"]):
            column.caption(t(f"plans.list.header_{key}"))
        for row in visible:
            _plan_row(ctx, row, widths)


def _plan_row(ctx: PageContext, row: PlanRow, widths: list[float]) -> None:
    plan = row.plan
    name_col, period_col, status_col, progress_col, open_col = st.columns(widths, vertical_alignment="center")
    marker = f" :blue-badge[⭐ {t('plans.list.current')}]" if row.is_current else ""
    name_col.markdown(f"**{markdown_text(plan.name)}**{marker}")
    name_col.caption(markdown_text(plan.department) if plan.department.strip() else t("plans.list.no_department"))
    period_col.markdown(row.period)
    period_col.caption(t("plans.list.months", n=plan.months))
    status_col.markdown(_status_badge(plan.status))
    progress_col.progress(row.steps_done / row.steps_total, text=row.progress)
    if open_col.button(t("plans.list.open"), key=f"plans_open_{plan.id}", help=t("plans.list.open_help"),
                       type="primary" if row.is_current else "secondary", width="stretch"):
        ctx.go(STEPS[0].slug, plan)


# ---------------------------------------------------------------- new plans
def _new_plan(ctx: PageContext) -> None:
    st.header(t("plans.new.title"))
    st.subheader(t("plans.new.gallery"))
    st.caption(t("plans.new.gallery_help"))
    _gallery(ctx)
    st.subheader(t("plans.new.blank"))
    _blank_form(ctx)


def _fiscal_start_input(label_key: str, key: str) -> date:
    options = fiscal_start_options(date.today())
    default = options[len(options) // 2]
    return st.selectbox(t(label_key), options, index=options.index(default), format_func=format_month, key=key)


def _blank_form(ctx: PageContext) -> None:
    with st.form("plans_blank_form", border=True):
        st.caption(t("plans.new.blank_help"))
        name_col, department_col = st.columns(2)
        name = name_col.text_input(t("plans.field.name"), placeholder=t("plans.field.name_placeholder"),
                                   key="plans_blank_name")
        department = department_col.text_input(t("plans.field.department"),
                                               placeholder=t("plans.field.department_placeholder"),
                                               key="plans_blank_department")
        start_col, months_col, currency_col = st.columns(3)
        with start_col:
            fiscal_start = _fiscal_start_input("plans.field.fiscal_start", "plans_blank_start")
        months = months_col.number_input(t("plans.field.months"), min_value=MIN_MONTHS, max_value=MAX_MONTHS,
                                         value=DEFAULT_MONTHS, step=1, help=t("plans.field.months_help"),
                                         key="plans_blank_months")
        currency = currency_col.selectbox(t("plans.field.currency"), CURRENCIES, key="plans_blank_currency")
        submitted = st.form_submit_button(t("plans.blank.submit"), type="primary")
    if not submitted:
        return
    if not _show_messages(validate_plan_fields(name, department, int(months), currency)):
        return
    ok, created = _attempt(
        lambda: ctx.store.create_plan(blank_plan(name, department, fiscal_start, int(months), currency)),
        "plans.blank.created")
    if ok:
        ctx.go(STEPS[0].slug, created)


def _gallery(ctx: PageContext) -> None:
    """Template cards, two per row; a broken template file is named in a warning and the others still show."""
    templates, errors = load_templates()
    for error in errors:
        st.warning(t("plans.template.load_error", message=error.message(lang())), icon=":material/warning:")
    if not templates:
        st.info(t("plans.template.none"))
        return
    for start in range(0, len(templates), GALLERY_COLUMNS):
        for column, template in zip(st.columns(GALLERY_COLUMNS), templates[start:start + GALLERY_COLUMNS]):
            with column:
                _template_card(ctx, template)


def _template_card(ctx: PageContext, template: Template) -> None:
    preview = template.preview(lang())
    kgi = preview["kgi"]
    with st.container(border=True):
        icon = TEMPLATE_ICONS.get(template.id, "📋")
        st.markdown(f"### {icon} {markdown_text(preview['name'])}")
        badges = [f":blue-badge[{markdown_text(preview['department'])}]"] if preview["department"] else []
        if template.user:
            badges.append(f":violet-badge[{t('plans.template.user')}]")
        if badges:
            st.markdown(" ".join(badges))
        figure(st, f"{t('plans.template.kgi')} · {markdown_text(kgi['name'])}", kgi["target"], kgi["unit"],
                  delta=fmt_pct(kgi["growth"], signed=True) if kgi["growth"] is not None else None,
                  delta_color="normal" if (kgi["growth"] or 0) >= 0 else "inverse")
        st.caption(t("plans.template.from_baseline", baseline=fmt(kgi["baseline"], kgi["unit"])))
        st.markdown(f"**{t('plans.template.kpis')}**\n\n" + "\n".join(_kpi_line(k) for k in preview["kpis"]))
        if kgi["formula"]:
            st.caption(t("plans.template.formula") + ": " + markdown_text(f"{kgi['key']} = {readable_formula(kgi['formula'])}"))
        with st.expander(t("plans.template.details")):
            st.graphviz_chart(template_tree_dot(preview), width="stretch")
            st.caption(markdown_text(preview["description"]))
        _template_form(ctx, template, kgi["unit"])


def _kpi_line(kpi: dict) -> str:
    if kpi["aggregation"] == "sum":
        target = t("plans.template.per_month", value=fmt(kpi["monthly"], kpi["unit"]))
    else:
        target = fmt(kpi["annual_target"], kpi["unit"])
    return "- " + markdown_text(t("plans.template.kpi_line", name=kpi["name"], target=target))


def _template_form(ctx: PageContext, template: Template, unit: str) -> None:
    with st.expander(t("plans.template.use"), icon="🚀"), st.form(f"plans_tpl_form_{template.id}", border=False):
        name = st.text_input(t("plans.field.name"), placeholder=template.text(template.name, lang()),
                             key=f"plans_tpl_name_{template.id}")
        fiscal_start = _fiscal_start_input("plans.field.fiscal_start", f"plans_tpl_start_{template.id}")
        baseline_text = st.text_input(t("plans.template.baseline"), help=t("plans.template.baseline_help"),
                                      placeholder=fmt(template.kgi.baseline, unit),
                                      key=f"plans_tpl_baseline_{template.id}")
        submitted = st.form_submit_button(t("plans.template.submit"), type="primary", width="stretch")
    if not submitted:
        return
    if name.strip() and not _show_messages(check_name(name, "plan_name")):
        return
    try:
        baseline = parse_baseline(baseline_text, unit)
    except PlanInputError as exc:
        show_error(exc)
        return
    ok, created = _attempt(lambda: plan_use_cases.create_plan_from_template(
        ctx.store, template, lang(), name=name.strip() or None, fiscal_start=fiscal_start, baseline=baseline),
        "plans.template.created")
    if ok:
        ctx.go(STEPS[0].slug, created)


# ---------------------------------------------------------------- manage
def _settle_managed_choice(plans: dict[int, Plan], current: Plan | None) -> None:
    """The managed plan follows the current plan when that changes (sidebar, Open, a new copy); otherwise the
    user's own choice stays. Set through session state before the selectbox is drawn."""
    current_id = current.id if current is not None and current.id in plans else next(iter(plans))
    if st.session_state.get(MANAGED_FOR) != current_id or st.session_state.get(MANAGED) not in plans:
        st.session_state[MANAGED] = current_id
    st.session_state[MANAGED_FOR] = current_id


def _manage(ctx: PageContext, rows: list[PlanRow]) -> None:
    """Rename, duplicate, archive, delete or export one plan (its drawn version guards the rename)."""
    store, current = ctx.store, ctx.plan
    st.subheader(t("plans.manage.title"))
    plans = {row.plan.id: row.plan for row in rows}
    _settle_managed_choice(plans, current)
    suffix = " " + t("plans.manage.archived_suffix")
    pid = st.selectbox(t("plans.manage.plan"), list(plans), key=MANAGED,
                       format_func=lambda i: plans[i].name + (suffix if plans[i].status == PlanStatus.ARCHIVED
                                                              else ""))
    plan = plans[pid]
    ctx.guard(plan)
    conflict_notice(plan)
    tabs = st.tabs([t(f"plans.manage.tab_{k}") for k in ("rename", "duplicate", "archive", "delete", "export")])
    with tabs[0]:
        _rename(ctx, plan)
    with tabs[1]:
        _duplicate(store, plan)
    with tabs[2]:
        _archive(store, plan)
    with tabs[3]:
        _delete(store, plan, current)
    with tabs[4]:
        _export(store, plan)


def _rename(ctx: PageContext, plan: Plan) -> None:
    with st.form(ctx.key(f"plans_rename_form_{plan.id}"), border=False):
        name = st.text_input(t("plans.field.name"), value=plan.name, key=f"plans_rename_name_{plan.id}")
        department = st.text_input(t("plans.field.department"), value=plan.department,
                                   key=f"plans_rename_department_{plan.id}")
        submitted = st.form_submit_button(t("plans.rename.submit"))
    if not submitted or not _show_messages(validate_plan_fields(name, department, plan.months, plan.currency)):
        return
    renamed = replace(plan, name=name.strip(), department=department.strip())
    if run_save(lambda: ctx.store.update_plan(renamed, ctx.seen_version_of(plan)), plan) is not None:
        st.rerun()


def _duplicate(store: Store, plan: Plan) -> None:
    st.caption(t("plans.duplicate.help"))
    name = st.text_input(t("plans.duplicate.name"), value=copy_name(plan.name, t("plans.copy_suffix")),
                         key=f"plans_duplicate_name_{plan.id}")
    if not st.button(t("plans.duplicate.submit"), key=f"plans_duplicate_{plan.id}"):
        return
    if not _show_messages(check_name(name, "plan_name")):
        return
    ok, copy = _attempt(lambda: plan_use_cases.duplicate_plan(store, plan.id, name.strip()), "plans.duplicate.done")
    if ok:
        select_plan(copy.id)  # the managed plan follows: the copy is what the user works on next
        st.rerun()


def _archive(store: Store, plan: Plan) -> None:
    if plan.status == PlanStatus.ARCHIVED:
        st.caption(t("plans.archive.archived_help"))
        if st.button(t("plans.archive.unarchive"), key=f"plans_unarchive_{plan.id}"):
            status = unarchived_status(step_progress_for(store, plan))
            if _attempt(lambda: store.set_plan_status(plan.id, status), "plans.archive.unarchived")[0]:
                st.rerun()
        return
    st.caption(t("plans.archive.help"))
    if st.button(t("plans.archive.submit"), key=f"plans_archive_{plan.id}") and _attempt(
            lambda: store.set_plan_status(plan.id, PlanStatus.ARCHIVED), "plans.archive.done")[0]:
        st.rerun()


def _delete(store: Store, plan: Plan, current: Plan | None) -> None:
    st.caption(t("plans.delete.help"))
    confirm_key = f"plans_delete_confirm_{plan.id}"
    confirmed = st.checkbox(t("plans.delete.confirm"), key=confirm_key)
    if not st.button(t("plans.delete.submit"), key=f"plans_delete_{plan.id}", type="primary"):
        return
    if not confirmed:
        st.warning(t("plans.delete.need_confirm"))
        return
    if not _attempt(lambda: store.delete_plan(plan.id), "plans.delete.done")[0]:
        return
    if current is not None and current.id == plan.id:
        select_plan(None)
    st.session_state.pop(confirm_key, None)  # a restored plan must be confirmed again before a new delete
    st.rerun()


def _export(store: Store, plan: Plan) -> None:
    """The plan's design as a template: a YAML download, or a file in the user templates folder."""
    st.caption(t("plans.export.help"))
    try:
        yaml_text = plan_to_template_yaml(store, plan.id, lang())
    except TemplateError as exc:
        st.info(exc.message(lang()))
        return
    download_col, save_col = st.columns(2)
    download_col.download_button(t("plans.export.download"), yaml_text, file_name=f"plan-{plan.id}.yaml",
                                 mime="application/x-yaml", icon="⬇️", key=f"plans_export_download_{plan.id}")
    folder = templates_module.TEMPLATE_DIR / templates_module.USER_SUBDIR
    if save_col.button(t("plans.export.save"), icon="💾", key=f"plans_export_save_{plan.id}",
                       help=t("plans.export.save_help", folder=str(folder))) and _attempt(
            lambda: save_user_template(yaml_text, folder), "plans.export.saved")[0]:
        st.rerun()


def _recently_deleted(store: Store) -> None:
    deleted = list(reversed(store.deleted_plans()))
    if not deleted:
        return
    with st.expander(t("plans.deleted.title", n=len(deleted))):
        for plan in deleted:
            name_col, period_col, button_col = st.columns([4, 2, 1], vertical_alignment="center")
            name_col.markdown(markdown_text(plan.name))
            period_col.caption(format_period(plan))
            if button_col.button(t("plans.deleted.restore"), key=f"plans_restore_{plan.id}") and _attempt(
                    lambda pid=plan.id: plan_use_cases.restore_plan(store, pid), "plans.deleted.restored")[0]:
                select_plan(plan.id)  # the restored plan is what the user wanted back: it becomes current
                st.rerun()


# ---------------------------------------------------------------- page
def render(ctx: PageContext) -> None:
    rows = plan_rows(ctx.store, ctx.plan.id if ctx.plan else None)
    _welcome(bool(rows))
    if rows:
        _plan_list(ctx, rows)
        with st.container(border=True):
            _manage(ctx, rows)
    _recently_deleted(ctx.store)
    _new_plan(ctx)
