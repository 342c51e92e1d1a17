"""Step 4: KPIs — each CSF turned into numbers, the KPI tree, the reverse calculation and the sensitivity."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import pandas as pd
import streamlit as st

from kpi_core.domain import kpi_rules, units
from kpi_core.domain.drivers import to_monthly
from kpi_core.domain.health import count_and_balance
from kpi_core.domain.model import CSF, KGI, KPI, Aggregation, Direction, Kind
from kpi_core.domain.phasing import PhasingError
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.domain.records import target_versions
from kpi_core.domain.tracking import STATUS_EMOJI, STATUS_ORDER
from kpi_core.domain.tree import TreeInput, figures_from_tracking, kpi_tree_dot
from kpi_core.domain.units import typed_text
from kpi_core.services import read_models
from kpi_core.services.health import finding_texts
from kpi_core.services.kpis import save_kpi
from pages import conflicts
from pages.common import (
    confirm_delete,
    figure,
    fmt,
    fmt_pct,
    full_digits,
    inert,
    lang,
    month_text,
    options_label,
    records_frame,
    show_messages,
    t,
)
from pages.frame import ContextView, PageContext, run_save
from pages.kpi_solver import reverse_tab, show_formula

EDIT_KEY = "kpi_editing"
DELETE_KEY = "kpi_deleting"
FORM_FIELDS = ("key", "name", "csf", "definition", "unit", "direction", "kind", "aggregation", "weight", "owner",
               "source", "target", "amber", "red", "recovery", "rationale", "reason")



@dataclass(frozen=True)
class PageView(ContextView):
    """What this page draws from, read once per run."""

    kgi: KGI | None
    csfs: list[CSF]
    kpis: list[KPI]
    stored_targets: dict[str, dict[date, float]]
    actuals: dict[str, dict[date, float]]

    @classmethod
    def load(cls, ctx: PageContext) -> PageView:
        store, plan_id = ctx.store, ctx.plan.id
        return cls(ctx, store.get_kgi(plan_id), store.list_csfs(plan_id), store.list_kpis(plan_id),
                   store.get_monthly_targets(plan_id), store.actual_values(plan_id))

    @property
    def month_list(self) -> list[date]:
        return self.plan.month_list()

    @property
    def csf_names(self) -> dict[int, str]:
        return {c.id: c.name for c in self.csfs}

    @property
    def no_csf_text(self) -> str:
        return t("kpi.field.no_csf")


def csf_label(view: PageView, csf_id: int | None) -> str:
    return view.no_csf_text if csf_id is None else view.csf_names[csf_id][:80]


# ---------------------------------------------------------------- the KPI form
def kpi_form(view: PageView, kpi: KPI | None) -> None:
    """Add (kpi None) or edit one KPI with every field of the model; nothing is saved unless all is valid."""
    suffix = conflicts.form_suffix(view.ctx, "kpi", kpi)
    current = kpi or KPI(plan_id=view.plan.id, key="", name="", csf_id=kpi_rules.default_csf(view.csfs))
    csf_options = kpi_rules.csf_choices(view.csfs, current.csf_id)
    with st.form(f"kpi_form_{suffix}"):
        c1, c2 = st.columns([1, 2])
        key = c1.text_input(t("kpi.field.key"), value=current.key, key=f"kpi_key_{suffix}", disabled=kpi is not None,
                            placeholder="meetings", help=t("kpi.field.key_help"))
        name = c2.text_input(t("kpi.field.name"), value=current.name, key=f"kpi_name_{suffix}",
                             placeholder=t("kpi.field.name_placeholder"), help=t("kpi.field.name_help"))
        csf_id = st.selectbox(t("kpi.field.csf"), csf_options,
                              index=csf_options.index(current.csf_id) if current.csf_id in csf_options else 0,
                              format_func=lambda csf_id: csf_label(view, csf_id),
                              key=f"kpi_csf_{suffix}", help=t("kpi.field.csf_help"))
        definition = st.text_area(t("kpi.field.definition"), value=current.definition, height=70,
                                  key=f"kpi_definition_{suffix}", placeholder=t("kpi.field.definition_placeholder"))
        c3, c4, c5, c6 = st.columns(4)
        unit = c3.text_input(t("kpi.field.unit"), value=current.unit, key=f"kpi_unit_{suffix}", placeholder="件 / % / JPY",
                             help=t("kpi.field.unit_help"))
        direction = c4.selectbox(t("kpi.field.direction"), list(Direction),
                                 index=list(Direction).index(current.direction), key=f"kpi_direction_{suffix}",
                                 format_func=options_label("enum.direction"))
        kind = c5.selectbox(t("kpi.field.kind"), list(Kind), index=list(Kind).index(current.kind),
                            key=f"kpi_kind_{suffix}", format_func=options_label("enum.kind"),
                            help=t("kpi.field.kind_help"))
        aggregation = c6.selectbox(t("kpi.field.aggregation"), list(Aggregation),
                                   index=list(Aggregation).index(current.aggregation),
                                   key=f"kpi_aggregation_{suffix}", format_func=options_label("enum.aggregation"),
                                   help=t("kpi.field.aggregation_help"))
        c7, c8, c9 = st.columns(3)
        target_text = c7.text_input(t("kpi.field.target"), value=typed_text(current.annual_target, current.unit),
                                    key=f"kpi_target_{suffix}", help=t("kpi.field.target_help"))
        amber = c8.number_input(t("kpi.field.amber"), 0.0, 200.0, round(current.amber_threshold * 100, 4), 1.0,
                                key=f"kpi_amber_{suffix}", help=t("kpi.field.amber_help"))
        red = c9.number_input(t("kpi.field.red"), 0.0, 200.0, round(current.red_threshold * 100, 4), 1.0,
                              key=f"kpi_red_{suffix}", help=t("kpi.field.red_help"))
        weight = st.text_input(t("kpi.field.weight"), value=current.ratio_weight, key=f"kpi_weight_{suffix}",
                               placeholder="meetings", help=t("kpi.field.weight_help"))
        c10, c11 = st.columns(2)
        owner = c10.text_input(t("kpi.field.owner"), value=current.owner, key=f"kpi_owner_{suffix}")
        source = c11.text_input(t("kpi.field.source"), value=current.data_source, key=f"kpi_source_{suffix}",
                                placeholder=t("kpi.field.source_placeholder"))
        recovery = st.text_area(t("kpi.field.recovery"), value=current.recovery_plan, height=70,
                                key=f"kpi_recovery_{suffix}", help=t("kpi.field.recovery_help"))
        rationale = st.text_area(t("kpi.field.rationale"), value=current.rationale, height=70,
                                 key=f"kpi_rationale_{suffix}", help=t("kpi.field.rationale_help"))
        reason = st.text_input(t("kpi.field.reason"), key=f"kpi_reason_{suffix}", help=t("kpi.field.reason_help"))
        submitted = st.form_submit_button(t("kpi.add") if kpi is None else t("common.save"), type="primary",
                                          key=f"kpi_submit_{suffix}")
    if kpi is not None:  # under the button just pressed, where the user looks
        conflicts.stale_notice("kpi", kpi.id, view.plan)
    if not submitted:
        return
    unit = unit.strip()
    target, errors = kpi_rules.parse_amount(target_text, unit, t("kpi.field.target"))
    draft = KPI(plan_id=view.plan.id, id=current.id, key=key.strip(), name=name.strip(), csf_id=csf_id,
                definition=definition.strip(), unit=unit, direction=Direction(direction), kind=Kind(kind),
                aggregation=Aggregation(aggregation), ratio_weight=weight.strip(), owner=owner.strip(),
                data_source=source.strip(), annual_target=target, amber_threshold=amber / 100,
                red_threshold=red / 100, recovery_plan=recovery.strip(), rationale=rationale.strip(),
                position=current.position)
    others = [k for k in view.kpis if k.id != current.id]
    if show_messages(errors + kpi_rules.validate_kpi(draft, others, view.kgi.key if view.kgi else "")):
        return
    submit_kpi(view, draft, kpi, reason.strip() or t("kpi.default_reason.created" if kpi is None else "kpi.default_reason.edited"),
             suffix)


def submit_kpi(view: PageView, draft: KPI, before: KPI | None, reason: str, suffix: str) -> None:
    """Save the KPI through its use case (a new or changed annual target re-phases its monthly targets with it)."""
    stored = view.stored_targets.get(draft.key)

    def saved(_: KPI) -> None:
        conflicts.form_saved("kpi", suffix, FORM_FIELDS, before is None, EDIT_KEY)

    if before is None:  # a new KPI: nobody else can have changed it (a clashing key is refused by the store)
        if run_save(lambda: save_kpi(view.store, view.plan, draft, None, None, reason, stored), view.plan) is not None:
            saved(draft)
        return
    # an edit: based on the KPI's own version when the form was first drawn (others' edits elsewhere do not clash)
    conflicts.save("kpi", before.id, view.plan, conflicts.opened("kpi", before.id, before).name,
                   lambda base: save_kpi(view.store, view.plan, replace(draft, version=before.version if base is None
                                                                        else base), before, None, reason, stored),
                   describe=lambda _: stored_differences(view, draft), typed=typed_entries(draft), after=saved)


KPI_LABELS = {"name": "name", "csf_id": "csf", "definition": "definition", "unit": "unit", "direction": "direction",
              "kind": "kind", "aggregation": "aggregation", "ratio_weight": "weight", "owner": "owner",
              "data_source": "source", "annual_target": "target", "amber_threshold": "amber", "red_threshold": "red",
              "recovery_plan": "recovery", "rationale": "rationale"}  # KPI field -> its label in kpi.field.*


def stored_differences(view: PageView, draft: KPI) -> list[conflicts.Line]:
    """What the stored KPI holds now against what this user typed, field by field."""
    stored = next((k for k in view.store.list_kpis(view.plan.id) if k.id == draft.id), None)
    labels = {name: t(f"kpi.field.{label}") for name, label in KPI_LABELS.items()}
    return conflicts.differences(stored, draft, labels, {
        "annual_target": lambda v: fmt(v, draft.unit), "csf_id": lambda v: csf_label(view, v),
        "direction": options_label("enum.direction"), "kind": options_label("enum.kind"),
        "aggregation": options_label("enum.aggregation"),
        "amber_threshold": fmt_pct, "red_threshold": fmt_pct})


def typed_entries(draft: KPI) -> dict[str, str]:
    return {t(f"kpi.field.{label}"): conflicts.shown(getattr(draft, name)) for name, label in KPI_LABELS.items()
            if isinstance(getattr(draft, name), str | float)}


# ---------------------------------------------------------------- one KPI
def smart_line(view: PageView, kpi: KPI) -> None:
    findings = kpi_rules.smart_check(kpi, view.csf_names)
    letters = kpi_rules.smart_letters(findings)
    badges = " ".join(f":{'green' if ok else 'red'}-badge[{'✓' if ok else '✗'} {letter}]"
                      for letter, ok in letters.items())
    owner_ok = not any(f.key == "kpi.smart.no_owner" for f in findings)
    badges += f" :{'green' if owner_ok else 'orange'}-badge[{t('kpi.smart.owner_badge')}]"
    st.markdown(f"{t('kpi.smart.label')} {badges}")
    for finding in findings:
        st.caption("• " + t(finding.key, **inert(finding.values)))


def targets_editor(view: PageView, kpi: KPI) -> None:
    """The KPI's monthly targets: phased by a method, editable in the table, saved as a new version with a reason."""
    stored = view.stored_targets.get(kpi.key, {})
    if kpi.annual_target is None and not stored:
        st.info(t("kpi.targets.need_annual"))
        return
    # the editor is based on the target set's version when it was first drawn; a load of theirs draws it afresh
    conflicts.base_version("targets", kpi.id, view.store.target_set_versions(view.plan.id).get(kpi.key, 0))
    drawn = conflicts.row_key("targets", kpi.id)
    method = st.radio(t("kpi.targets.method"), kpi_rules.phasing_methods(bool(stored)), horizontal=True,
                      key=f"kpi_method_{drawn}",
                      format_func=options_label("kpi.phasing"), help=t("kpi.targets.method_help"))
    try:
        values = kpi_rules.phased_targets(kpi, view.month_list, method, stored, view.actuals.get(kpi.key))
    except PhasingError as exc:
        st.warning(exc.message(lang()))
        return
    scale = units.input_scale(kpi.unit)
    in_cells = {m: v * scale for m, v in values.items()}
    frame = pd.DataFrame({"month": [f"{m:%Y-%m}" for m in in_cells], "target": list(in_cells.values())})
    edited = st.data_editor(
        frame, key=f"kpi_editor_{drawn}_{method}", hide_index=True, disabled=["month"], width="stretch",
        column_config={"month": st.column_config.TextColumn(t("kpi.targets.month")),
                       "target": st.column_config.NumberColumn(t("kpi.targets.value", unit=kpi.unit or "—"),
                                                               min_value=0.0, format="%.10g")})
    typed = dict(zip(values, edited["target"].tolist()))
    entries = {month_text(m): "—" if pd.isna(v) else fmt(v / scale, kpi.unit)
               for m, v in kpi_rules.changed_cells(in_cells, typed).items()}
    conflicts.keep_typed("targets", kpi.id, kpi.name, entries)
    cleaned, errors = kpi_rules.check_monthly(typed, kpi.unit, scale)
    if not errors and kpi.aggregation == Aggregation.SUM and kpi.annual_target is not None:
        st.caption(t("kpi.targets.total", **inert({"total": fmt(sum(cleaned.values()), kpi.unit),
                                                   "annual": fmt(kpi.annual_target, kpi.unit)})))
        if kpi_rules.sum_mismatch(kpi, cleaned):
            st.warning(t("kpi.targets.total_mismatch"))
    elif kpi.aggregation != Aggregation.SUM:
        st.caption(t("kpi.targets.rate_note"))
    reason = st.text_input(t("kpi.targets.reason"), key=f"kpi_targets_reason_{drawn}",
                           placeholder=t("kpi.targets.reason_placeholder"))
    pressed = st.button(t("kpi.targets.save"), key=f"kpi_targets_save_{kpi.id}", type="primary")
    conflicts.stale_notice("targets", kpi.id, view.plan)
    if pressed:
        if show_messages(errors):
            return
        text = reason.strip() or t("kpi.targets.default_reason", method=t(f"kpi.phasing.{method}"))
        conflicts.save("targets", kpi.id, view.plan, t("conflict.targets", name=kpi.name),
                       lambda base: view.store.set_monthly_targets(view.plan.id, kpi.key, cleaned, text, None, base),
                       describe=lambda stale: [(month_text(c.month), fmt(c.theirs, kpi.unit),
                                                fmt(c.yours, kpi.unit)) for c in stale.conflicts],
                       after=lambda _: st.rerun())
    versions = target_versions(view.store.target_history(view.plan.id, kpi.key))
    if versions:
        st.caption(t("kpi.targets.versions", count=len(versions)))
        st.dataframe(records_frame(versions, {
            t("kpi.targets.version"): lambda v: v.version, t("kpi.targets.reason"): lambda v: v.reason,
            t("kpi.targets.version_total"): lambda v: v.total, t("kpi.targets.saved_at"): lambda v: v.saved}),
            hide_index=True, width="stretch")


def delete_kpi(view: PageView, kpi: KPI) -> None:
    """Soft delete: the KPI leaves the view.plan, its targets and view.actuals stay in the database."""
    if run_save(lambda: view.store.delete_kpi(view.plan.id, kpi.id, view.ctx.seen_version), view.plan, "kpi.deleted") is not None:
        st.session_state.pop(DELETE_KEY, None)
        conflicts.forget("targets", kpi.id)  # deleted by this user: nothing to report to them
        st.rerun()


def kpi_card(view: PageView, kpi: KPI) -> None:
    with st.container(border=True):
        head, a, m, tools = st.columns([4, 2, 2, 1], vertical_alignment="top")
        head.markdown(f"**{markdown_text(kpi.name)}** `{kpi.key}`")
        head.caption(" · ".join([t(f"enum.kind.{kpi.kind}"), t(f"enum.direction.{kpi.direction}"),
                                 t(f"enum.aggregation.{kpi.aggregation}"), markdown_text(kpi.unit) or t("kpi.card.no_unit")]))
        figure(a, t("kpi.card.annual"), kpi.annual_target, kpi.unit)
        monthly = to_monthly(kpi.annual_target, kpi.aggregation, view.plan.months) if kpi.annual_target is not None else None
        figure(m, t("kpi.card.monthly"), monthly, kpi.unit)
        conflicts.edit_toggle(tools, "kpi", kpi.id, EDIT_KEY, t("kpi.card.edit"))
        if tools.button("🗑", key=f"kpi_delete_{kpi.id}", help=t("kpi.card.delete")):
            st.session_state[DELETE_KEY] = kpi.id
        facts = [t("kpi.card.owner", owner=kpi.owner or "—"), t("kpi.card.source", source=kpi.data_source or "—"),
                 t("kpi.card.thresholds", amber=f"{kpi.amber_threshold * 100:g}%", red=f"{kpi.red_threshold * 100:g}%")]
        st.caption(markdown_text(" · ".join(facts)))
        if kpi.definition:
            st.caption(t("kpi.card.definition", text=markdown_text(kpi.definition)))
        smart_line(view, kpi)
        confirm_delete(DELETE_KEY, kpi.id, t("kpi.card.confirm_delete", name=markdown_text(kpi.name[:80])),
                       lambda: delete_kpi(view, kpi), "kpi")
        if st.session_state.get(EDIT_KEY) == kpi.id:
            kpi_form(view, kpi)
        # Drawn only while open: twenty closed editors would otherwise be rebuilt on every click of the page.
        targets = st.expander(t("kpi.targets.title"), key=f"kpi_targets_open_{kpi.id}", on_change="rerun")
        if targets.open:
            with targets:
                targets_editor(view, kpi)


def list_tab(view: PageView) -> None:
    for finding in count_and_balance(view.kpis):  # the health check's own findings (pitfall 3)
        evidence, fix = finding_texts(finding, lang(), full_digits(), markdown_text)
        st.warning(f"{evidence} {fix}")
    conflicts.show_deleted_typed("targets", {k.id for k in view.kpis})
    gone = conflicts.deleted_copy("kpi", st.session_state.get(EDIT_KEY), {k.id for k in view.kpis})
    if gone is not None:  # deleted by someone else while this user edits it: said so, the form kept to copy from
        with st.container(border=True):
            st.error(t("store.deleted_under_edit", name=markdown_text(gone.name)))
            kpi_form(view, gone)
    if not view.csfs:
        st.info(t("kpi.no_csfs"))
        view.ctx.link("csf", t("kpi.go_step3"))
    for csf, group in kpi_rules.kpi_groups(view.csfs, view.kpis):
        st.subheader(markdown_text(t("kpi.group.none") if csf is None else
                                   t("kpi.group.csf", name=csf.name[:120], role=t(f"enum.role.{csf.role}"))))
        if not group:
            st.caption(t("kpi.group.empty"))
        for kpi in group:
            kpi_card(view, kpi)
    with st.container(border=True):
        st.subheader(t("kpi.section.add"))
        st.caption(t("kpi.section.add_help"))
        kpi_form(view, None)


# ---------------------------------------------------------------- tree
def tree_tab(view: PageView) -> None:
    show_formula(view)
    tracked = read_models.tracking(view.store, view.plan, view.ctx.version)  # once per data version
    dot = kpi_tree_dot(TreeInput(view.kgi, view.csfs, view.kpis, figures_from_tracking(tracked)), lang(), full_digits())
    st.graphviz_chart(dot, width="stretch")
    st.caption("  ".join(f"{STATUS_EMOJI[s]} {t(f'enum.status.{s}')}" for s in STATUS_ORDER)
               + " · " + t("kpi.tree.legend"))


def render(ctx: PageContext) -> None:
    view = PageView.load(ctx)
    with st.expander(t("kpi.help.title"), expanded=not view.kpis):
        st.markdown(t("kpi.help.body"))
    list_pane, tree_pane, reverse_pane = st.tabs([t("kpi.tab.list"), t("kpi.tab.tree"), t("kpi.tab.reverse")],
                                                 key=f"kpi_tabs_{lang()}")  # keyed: a save keeps the tab open
    with list_pane:
        list_tab(view)
    with tree_pane:
        tree_tab(view)
    with reverse_pane:
        reverse_tab(view)
