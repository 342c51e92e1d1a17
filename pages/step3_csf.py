"""Step 3: CSFs — the processes that close the gap, strongest lever first, with fallbacks prepared in advance."""
from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from kpi_core.charts.coverage import coverage_waterfall, waterfall_steps
from kpi_core.domain.gap import GapAnalysis, analyse_gap
from kpi_core.domain.kpi_rules import (
    Coverage,
    coverage,
    parse_actions,
    parse_amount,
    reorder_within_role,
    validate_csf,
)
from kpi_core.domain.model import CSF, KGI, KPI, CSFRole, Plan
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.domain.units import typed_text
from pages import cached, conflicts
from pages.common import confirm_delete, figure, fmt, fmt_pct, inert, options_label, t
from pages.frame import ContextView, PageContext, run_save

EDIT_KEY = "csf_editing"
DELETE_KEY = "csf_deleting"
FORM_FIELDS = ("name", "role", "contribution", "description", "actions")



@dataclass(frozen=True)
class PageView(ContextView):
    """What this page draws from, read once per run."""

    kgi: KGI | None
    csfs: list[CSF]
    kpis: list[KPI]

    @property
    def unit(self) -> str:
        return self.kgi.unit if self.kgi else "JPY"


def gap_of(kgi: KGI | None, plan: Plan) -> GapAnalysis | None:
    """The gap of step 2: target minus the confirmed current value (the baseline until one is confirmed)."""
    if kgi is None or kgi.target is None:
        return None
    current = kgi.current if kgi.current is not None else kgi.baseline
    return None if current is None else analyse_gap(kgi, plan, current)


def show_gap(view: PageView, gap: GapAnalysis, cover: Coverage) -> None:
    c1, c2, c3, c4 = st.columns(4)
    figure(c1, t("csf.gap.current"), gap.current, view.unit)
    figure(c2, t("csf.gap.target"), gap.target, view.unit)
    figure(c3, t("csf.gap.gap"), gap.gap, view.unit,
              delta=fmt_pct(gap.gap_pct, signed=True) if gap.gap_pct is not None else None, delta_color="off")
    c4.metric(t("csf.gap.covered"), fmt_pct(cover.share) if cover.share is not None else "—",
              delta=t("csf.gap.covered_amount", value=fmt(cover.covered, view.unit)), delta_color="off",
              delta_arrow="off")
    if cover.share is None:
        st.info(t("csf.cov.no_gap"))
    elif cover.covered == 0:
        st.info(t("csf.cov.none"))
    elif cover.over_covered:
        st.info(t("csf.cov.over", value=fmt(-cover.uncovered, view.unit)))
    elif cover.uncovered > 0:
        st.warning(t("csf.cov.under", value=fmt(cover.uncovered, view.unit), pct=fmt_pct(1 - cover.share)))
    else:
        st.success(t("csf.cov.exact"))
    primary = [c for c in view.csfs if c.role == CSFRole.PRIMARY]
    if primary and cover.share is not None:
        steps = waterfall_steps(
            gap.current, gap.target, [(c.name, c.contribution, fmt(c.contribution, view.unit)) for c in primary],
            labels={k: t(f"csf.chart.{k}") for k in ("current", "target", "uncovered", "over")},
            value_texts={"current": fmt(gap.current, view.unit), "target": fmt(gap.target, view.unit),
                         "uncovered": fmt(max(cover.uncovered, 0), view.unit), "over": fmt(max(-cover.uncovered, 0), view.unit)})
        titles = {k: t(f"csf.chart.kind_{k}") for k in ("current", "csf", "uncovered", "over", "target")}
        cached.chart(view.ctx, "csf_coverage", lambda language, _: coverage_waterfall(steps, titles, view.unit, language),
                     gap.current, width="stretch")


def csf_form(view: PageView, csf: CSF | None) -> None:
    """Add (csf None) or edit one CSF; saves only when every field is valid."""
    suffix = conflicts.form_suffix(view.ctx, "csf", csf)
    current = csf or CSF(plan_id=view.plan.id, name="")
    with st.form(f"csf_form_{suffix}"):
        name = st.text_input(t("csf.field.name"), value=current.name, key=f"csf_name_{suffix}",
                             placeholder=t("csf.field.name_placeholder"), help=t("csf.field.name_help"))
        c1, c2 = st.columns(2)
        roles = list(CSFRole)
        role = c1.selectbox(t("csf.field.role"), roles, index=roles.index(current.role), key=f"csf_role_{suffix}",
                            format_func=options_label("enum.role"), help=t("csf.field.role_help"))
        contribution_text = c2.text_input(t("csf.field.contribution"), value=typed_text(current.contribution or None,
                                                                                       view.unit),
                                          key=f"csf_contribution_{suffix}", placeholder="10,000,000",
                                          help=t("csf.field.contribution_help"))
        description = st.text_area(t("csf.field.description"), value=current.description, height=80,
                                   key=f"csf_description_{suffix}")
        actions_text = st.text_area(t("csf.field.actions"), value="\n".join(current.actions), height=120,
                                    key=f"csf_actions_{suffix}", placeholder=t("csf.field.actions_placeholder"),
                                    help=t("csf.field.actions_help"))
        submitted = st.form_submit_button(t("csf.add") if csf is None else t("common.save"), type="primary",
                                          key=f"csf_submit_{suffix}")
    if csf is not None:  # under the button just pressed, where the user looks
        conflicts.stale_notice("csf", csf.id, view.plan)
    if submitted:
        save_csf(view, current, name, CSFRole(role), contribution_text, description, actions_text, suffix)


def save_csf(view: PageView, current: CSF, name: str, role: CSFRole, contribution_text: str, description: str,
             actions_text: str, suffix: str) -> None:
    contribution, errors = parse_amount(contribution_text, view.unit, t("csf.field.contribution"))
    draft = CSF(plan_id=view.plan.id, id=current.id, name=name.strip(), role=role,
                contribution=contribution or 0.0,
                actions=parse_actions(actions_text), description=description.strip(), position=current.position)
    errors += [m for m in validate_csf(draft) if m.level == "error"]
    if errors:
        for message in errors:
            st.error(t(message.key, **inert(message.values)))
        return
    def saved(_: CSF) -> None:
        conflicts.form_saved("csf", suffix, FORM_FIELDS, current.id is None, EDIT_KEY)

    if current.id is None:  # a new CSF: nobody else can have changed it
        if run_save(lambda: view.store.save_csf(draft, None), view.plan) is not None:
            saved(draft)
        return
    # an edit: based on the CSF's own version when the form was first drawn (others' edits elsewhere do not clash)
    conflicts.save("csf", current.id, view.plan, conflicts.opened("csf", current.id, current).name,
                   lambda base: view.store.save_csf(replace(draft, version=current.version if base is None else base), None),
                   describe=lambda _: stored_differences(view, draft), typed=typed_entries(draft), after=saved)


def field_labels() -> dict[str, str]:
    return {name: t(f"csf.field.{name}") for name in FORM_FIELDS}


def stored_differences(view: PageView, draft: CSF) -> list[conflicts.Line]:
    """What the stored CSF holds now against what this user typed, field by field."""
    stored = next((c for c in view.store.list_csfs(view.plan.id) if c.id == draft.id), None)
    return conflicts.differences(stored, draft, field_labels(), {"role": options_label("enum.role"),
                                                                 "contribution": lambda v: fmt(v, view.unit)})


def typed_entries(draft: CSF) -> dict[str, str]:
    labels = field_labels()
    return {labels["name"]: draft.name, labels["contribution"]: typed_text(draft.contribution or None, "") or "",
            labels["description"]: draft.description, labels["actions"]: "; ".join(draft.actions)}


def move(view: PageView, csf: CSF, step: int) -> None:
    order = reorder_within_role(view.csfs, csf.id, step)
    if run_save(lambda: view.store.reorder_csfs(view.plan.id, order, view.ctx.seen_version), view.plan) is not None:
        st.rerun()


def delete(view: PageView, csf: CSF) -> None:
    if run_save(lambda: view.store.delete_csf(view.plan.id, csf.id, view.ctx.seen_version), view.plan, "csf.deleted") is not None:
        st.session_state.pop(DELETE_KEY, None)
        st.rerun()


def csf_card(view: PageView, csf: CSF, number: int, first: bool, last: bool, gap: GapAnalysis | None) -> None:
    with st.container(border=True):
        head, tools = st.columns([5, 2], vertical_alignment="top")
        head.markdown(f"#### {number}. {markdown_text(csf.name)}")
        facts = [t(f"enum.role.{csf.role}"), t("csf.card.contribution", value=fmt(csf.contribution, view.unit))]
        if gap is not None and gap.gap:
            facts.append(t("csf.card.share", pct=fmt_pct(csf.contribution / abs(gap.gap))))
        linked = [markdown_text(k.name) for k in view.kpis if k.csf_id == csf.id]
        facts.append(t("csf.card.kpis", names=", ".join(linked)) if linked else t("csf.card.no_kpis"))
        head.caption(" · ".join(facts))
        if csf.description:
            head.text(csf.description)
        if csf.actions:
            head.markdown("\n".join(f"- {markdown_text(action)}" for action in csf.actions))
        up, down, edit, remove = tools.columns(4)
        if up.button("⬆", key=f"csf_up_{csf.id}", help=t("csf.card.up"), disabled=first):
            move(view, csf, -1)
        if down.button("⬇", key=f"csf_down_{csf.id}", help=t("csf.card.down"), disabled=last):
            move(view, csf, 1)
        conflicts.edit_toggle(edit, "csf", csf.id, EDIT_KEY, t("csf.card.edit"))
        if remove.button("🗑", key=f"csf_delete_{csf.id}", help=t("csf.card.delete")):
            st.session_state[DELETE_KEY] = csf.id
        confirm_delete(DELETE_KEY, csf.id, t("csf.card.confirm_delete", name=markdown_text(csf.name[:80])),
                       lambda: delete(view, csf), "csf")
        if st.session_state.get(EDIT_KEY) == csf.id:
            csf_form(view, csf)


def csf_list(view: PageView, role: CSFRole, gap: GapAnalysis | None) -> None:
    group = [c for c in view.csfs if c.role == role]
    for index, csf in enumerate(group):
        csf_card(view, csf, index + 1, index == 0, index == len(group) - 1, gap)


def render(ctx: PageContext) -> None:
    view = PageView(ctx, ctx.store.get_kgi(ctx.plan.id), ctx.store.list_csfs(ctx.plan.id), ctx.store.list_kpis(ctx.plan.id))
    gap = gap_of(view.kgi, view.plan)
    with st.expander(t("csf.help.title"), expanded=not view.csfs):
        st.markdown(t("csf.help.body"))

    gone = conflicts.deleted_copy("csf", st.session_state.get(EDIT_KEY), {c.id for c in view.csfs})
    if gone is not None:  # deleted by someone else while this user edits it: said so, the form kept to copy from
        with st.container(border=True):
            st.error(t("store.deleted_under_edit", name=markdown_text(gone.name)))
            csf_form(view, gone)

    st.subheader(t("csf.section.gap"))
    if gap is None:
        st.warning(t("csf.gap.missing"))
        ctx.link("kgi", t("csf.gap.go_step1"))
    else:
        show_gap(view, gap, coverage(view.csfs, gap.gap))

    for role in (CSFRole.PRIMARY, CSFRole.FALLBACK):
        st.subheader(t(f"csf.section.{role}"))
        st.caption(t(f"csf.section.{role}_help"))
        if any(c.role == role for c in view.csfs):
            csf_list(view, role, gap)
        else:
            st.info(t(f"csf.empty_{role}"))

    retired = [c for c in view.csfs if c.role == CSFRole.RETIRED]
    if retired:
        with st.expander(t("csf.section.retired", count=len(retired))):
            csf_list(view, CSFRole.RETIRED, gap)

    with st.container(border=True):
        st.subheader(t("csf.section.add"))
        st.caption(t("csf.section.add_help"))
        csf_form(view, None)
