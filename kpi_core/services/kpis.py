"""KPI use cases: a KPI saved together with its re-phased monthly targets, in one transaction."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date

from kpi_core.adapters.store import Store
from kpi_core.domain.kpi_rules import rephase
from kpi_core.domain.model import KPI, Plan


def save_kpi_with_targets(store: Store, kpi: KPI, seen_version: int | None, reason: str,
                          targets: dict[date, float] | None = None) -> KPI:
    """Save the KPI (checked against the plan version the user saw) and, when given, its monthly targets as a new
    version with the same reason: both or neither."""
    def work() -> KPI:
        saved = store.save_kpi(kpi, seen_version, reason)
        if targets:
            store.set_monthly_targets(kpi.plan_id, saved.key, targets, reason)
        return saved

    return store.atomic(work)


def target_needs_rephasing(draft: KPI, before: KPI | None) -> bool:
    """A new KPI with a target, or a changed annual target or aggregation: its monthly targets follow."""
    return draft.annual_target is not None and (before is None or before.annual_target != draft.annual_target
                                                or before.aggregation != draft.aggregation)


def save_kpi(store: Store, plan: Plan, draft: KPI, before: KPI | None, seen_version: int | None, reason: str,
             stored_targets: Mapping[date, float] | None) -> KPI:
    """Save a KPI from the form; when its annual target changed, its monthly targets are re-phased (the saved shape
    kept) as a new version in the same transaction. PhasingError when they cannot be, before anything is written."""
    targets = rephase(draft, plan.month_list(), stored_targets) if target_needs_rephasing(draft, before) else None
    return save_kpi_with_targets(store, draft, seen_version, reason, targets)


def apply_solved_target(store: Store, plan: Plan, kpi: KPI, annual: float, seen_version: int | None, reason: str,
                        stored_targets: Mapping[date, float] | None) -> KPI:
    """The reverse calculation's annual target saved on the KPI, its monthly targets re-phased keeping their shape."""
    updated = replace(kpi, annual_target=round(annual, 9))
    return save_kpi_with_targets(store, updated, seen_version, reason,
                                 rephase(updated, plan.month_list(), stored_targets))
