"""Tracking use case: the plan's KGI and KPIs read from the store and tracked against their targets and actuals
(what the dashboard, step 5 and the reports show)."""
from __future__ import annotations

from kpi_core.adapters.store import Store
from kpi_core.domain.model import Plan
from kpi_core.domain.tracking import PlanTracking, track_plan


def plan_tracking(store: Store, plan: Plan) -> PlanTracking:
    """The plan tracked as of its latest actuals; `metrics` is empty when it has neither a KGI nor a KPI yet."""
    return track_plan(plan, store.get_kgi(plan.id), store.list_kpis(plan.id),
                      store.get_monthly_targets(plan.id), store.actual_values(plan.id))
