"""The quarterly review of the KPI set: every decision of one review recorded together, or none."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from kpi_core.adapters.store import Store


def record_review(store: Store, plan_id: int, review_date: date, decisions: Mapping[str, tuple[str, str]],
                  based_on: int | None) -> int:
    """Record {metric key: (decision, reason)} of one review in one transaction. `based_on` is the review version
    the user saw (`store.review_version`): when someone recorded a decision for one of the same KPIs since, the
    whole review is refused with theirs / yours (StaleEdit). Returns the number of decisions recorded."""
    def work() -> int:
        if based_on is not None:
            store.check_reviews(plan_id, based_on, dict(decisions))
        for key, (decision, reason) in decisions.items():
            store.add_review(plan_id, review_date, key, decision, reason)
        return len(decisions)

    return store.atomic(work)
