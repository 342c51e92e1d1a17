"""KPI use cases: a KPI saved together with its re-phased monthly targets, in one transaction."""
from __future__ import annotations

from datetime import date

from kpi_core.adapters.store import Store
from kpi_core.domain.model import KPI


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
