"""The quarterly review of the KPI set: every decision of one review recorded together, or none."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from kpi_core.adapters.store import Store


def record_review(store: Store, plan_id: int, review_date: date, decisions: Mapping[str, tuple[str, str]],
                  seen_version: int | None) -> int:
    """Record {metric key: (decision, reason)} of one review in one transaction, refused as a whole when the plan
    changed since the user opened it. Returns the number of decisions recorded."""
    def work() -> int:
        for number, (key, (decision, reason)) in enumerate(decisions.items()):
            # the first write checks the version the user saw; the others are part of the same change
            store.add_review(plan_id, review_date, key, decision, reason, seen_version if number == 0 else None)
        return len(decisions)

    return store.atomic(work)
