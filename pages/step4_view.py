"""What the parts of the KPI step share: the page view (the plan's KGI, CSFs, KPIs, targets and actuals, read once
per run) and the helpers that show its messages and formula."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import streamlit as st

from kpi_core.domain.drivers import Formula, FormulaError, parse_formula
from kpi_core.domain.model import CSF, KGI, KPI
from kpi_core.domain.plan_rules import markdown_text
from pages.common import t
from pages.frame import ContextView, PageContext


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


def inert(values: dict) -> dict:
    """Message values with user text made inert for markdown (messages render markdown)."""
    return {k: markdown_text(v) if isinstance(v, str) else v for k, v in values.items()}


def csf_label(view: PageView, csf_id: int | None) -> str:
    return view.no_csf_text if csf_id is None else view.csf_names[csf_id][:80]


def messages_out(messages) -> bool:
    """Show errors and warnings; True when there was an error (nothing may be saved)."""
    for message in messages:
        (st.error if message.level == "error" else st.warning)(t(message.key, **inert(message.values)))
    return any(m.level == "error" for m in messages)


def kgi_formula(view: PageView) -> Formula | None:
    if view.kgi is None or not view.kgi.formula:
        return None
    try:
        return parse_formula(view.kgi.formula)
    except FormulaError:
        return None


def show_formula(view: PageView) -> None:
    """The KGI formula, read-only here: it is edited with the KGI in step 1."""
    if view.kgi is not None and view.kgi.formula:
        st.markdown(t("kpi.formula.label", kgi_key=view.kgi.key))
        st.code(f"{view.kgi.key} = {view.kgi.formula}", language=None)
    else:
        st.info(t("kpi.formula.none"))
    view.ctx.link("kgi", t("kpi.formula.edit_in_step1"))
