"""Read models of a plan (tracking, step progress, health), computed once per data version of the plan and shared
by every session of the process.

A page rerun (every widget click) reads the plan's data version in one query (`Store.plan_data_version`) and gets
the models computed for that version, instead of reading and recomputing the whole plan. Any write to the plan, from
this process, another app process or the CLI, moves the version, so the next rerun computes afresh: never stale.
The cached objects are shared: callers must not change them (they are frozen dataclasses and tuples).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date
from typing import Any, TypeVar

from kpi_core.domain.model import Plan
from kpi_core.domain.tracking import PlanTracking
from kpi_core.services.health import PlanHealth, plan_health
from kpi_core.services.plans import step_progress_for
from kpi_core.services.tracking import plan_tracking

T = TypeVar("T")

MAX_ENTRIES = 512  # models and chart specs of a few dozen plans and versions; the oldest go first


class Memo:
    """A bounded, thread-safe map from a key to a computed value (least recently used entries dropped)."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.computed = 0  # how many values were computed rather than found (tests and benchmarks read it)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()  # outside the lock: two sessions may compute the same value once each, never wait
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            self.computed += 1
            while len(self._values) > self.max_entries:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


MEMO = Memo()


def plan_key(store, plan: Plan, version: Hashable, name: str, *parts: Hashable) -> tuple:
    """The memo key of a model of `plan` at data `version`: the database (path and store) comes first, so two
    databases served by one process never share an entry."""
    return (str(store.path), id(store), plan.id, version, name, *parts)


def data_version(store, plan: Plan) -> tuple[int, ...]:
    """The plan's data version, read now (one query)."""
    return store.plan_data_version(plan.id)


def tracking(store, plan: Plan, version: Hashable) -> PlanTracking:
    """The plan's tracking (KGI and KPIs against their targets) at `version`."""
    return MEMO.get(plan_key(store, plan, version, "tracking"), lambda: plan_tracking(store, plan))


def step_progress(store, plan: Plan, version: Hashable) -> tuple[bool, ...]:
    """Which of the five steps are done, at `version`."""
    return MEMO.get(plan_key(store, plan, version, "steps"), lambda: tuple(step_progress_for(store, plan)))


def health(store, plan: Plan, version: Hashable, today: date) -> PlanHealth:
    """The health check without taking a snapshot (what the dashboard's tile shows), at `version` and `today`."""
    return MEMO.get(plan_key(store, plan, version, "health", today),
                    lambda: plan_health(store, plan.id, today, auto_snapshot=False))
