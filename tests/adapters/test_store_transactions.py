"""Transactions: reentrant, `atomic` commits a whole use case once or not at all, conflicts retried then reported."""
from __future__ import annotations

import threading
from datetime import date

import pytest

from kpi_core.adapters.store import WriteConflict, open_store
from kpi_core.domain.model import KPI, Actual, Plan

START = date(2026, 4, 1)


def _plan(store, name="Sales"):
    return store.create_plan(Plan(name=name, department="Sales", fiscal_start=START))


def _count(store, sql: str, params=()) -> int:
    return store.cursor().execute(sql, params).fetchone()[0]


def test_nested_transaction_joins_outer_and_commits_once(store):
    plan = _plan(store)
    with store.transaction() as outer:
        with store.transaction() as inner:
            assert inner is outer
            inner.execute("UPDATE plans SET name = 'inner' WHERE id = ?", [plan.id])
        assert store.in_transaction()
        outer.execute("UPDATE plans SET department = 'outer' WHERE id = ?", [plan.id])
    assert not store.in_transaction()
    loaded = store.get_plan(plan.id)
    assert (loaded.name, loaded.department) == ("inner", "outer")


def test_error_in_nested_transaction_rolls_back_the_outer_one(store):
    plan = _plan(store)
    with pytest.raises(RuntimeError), store.transaction() as outer:
        outer.execute("UPDATE plans SET name = 'half' WHERE id = ?", [plan.id])
        with store.transaction():
            raise RuntimeError("boom")
    assert store.get_plan(plan.id).name == "Sales"
    assert not store.in_transaction()


def test_atomic_runs_several_store_writes_as_one(store):
    plan = _plan(store)

    def use_case():
        store.save_kpi(KPI(plan_id=plan.id, key="meetings", name="Meetings"), None)
        store.set_monthly_targets(plan.id, "meetings", {START: 10.0})
        store.save_actuals(plan.id, [Actual("meetings", START, 8.0)])
        return "done"

    assert store.atomic(use_case) == "done"
    assert [k.key for k in store.list_kpis(plan.id)] == ["meetings"]
    assert store.get_monthly_targets(plan.id) == {"meetings": {START: 10.0}}
    assert store.actual_values(plan.id) == {"meetings": {START: 8.0}}


def test_atomic_failure_midway_leaves_nothing(store):
    plan = _plan(store)
    audit_before = _count(store, "SELECT count(*) FROM audit_log")

    def use_case():
        store.save_kpi(KPI(plan_id=plan.id, key="meetings", name="Meetings"), None)
        store.set_monthly_targets(plan.id, "meetings", {START: 10.0})
        raise ValueError("third step fails")

    with pytest.raises(ValueError):
        store.atomic(use_case)
    assert store.list_kpis(plan.id) == []
    assert store.get_monthly_targets(plan.id) == {}
    assert _count(store, "SELECT count(*) FROM audit_log") == audit_before
    assert store.get_plan(plan.id).version == plan.version


def test_atomic_retries_the_whole_function_on_a_write_conflict(store):
    """A second thread commits a change to the same row between our read and our write: DuckDB refuses our commit
    with a conflict, and atomic runs the function again, which then succeeds."""
    plan = _plan(store)
    calls = []

    def rename_from_other_session():
        store.cursor().execute("UPDATE plans SET name = 'theirs' WHERE id = ?", [plan.id])

    def use_case():
        calls.append(1)
        cur = store.cursor()
        cur.execute("SELECT name FROM plans WHERE id = ?", [plan.id]).fetchone()
        if len(calls) == 1:
            other = threading.Thread(target=rename_from_other_session)
            other.start()
            other.join()
        cur.execute("UPDATE plans SET name = name || '+mine' WHERE id = ?", [plan.id])

    store.atomic(use_case)
    assert len(calls) == 2
    assert store.get_plan(plan.id).name == "theirs+mine"


def test_atomic_reports_a_conflict_it_cannot_resolve(store):
    plan = _plan(store)

    def always_conflicting():
        cur = store.cursor()
        cur.execute("SELECT name FROM plans").fetchall()
        other = threading.Thread(target=lambda: store.cursor().execute(
            "UPDATE plans SET name = name || '!' WHERE id = ?", [plan.id]))
        other.start()
        other.join()
        cur.execute("UPDATE plans SET name = 'mine' WHERE id = ?", [plan.id])

    with pytest.raises(WriteConflict) as caught:
        store.atomic(always_conflicting, retries=3)
    assert caught.value.key == "store.write_conflict" and caught.value.values == {"attempts": 3}
    assert store.get_plan(plan.id).name == "Sales!!!"
    assert not store.in_transaction()


def test_nested_atomic_leaves_the_conflict_to_the_outer_one(store):
    plan = _plan(store)
    with pytest.raises(store.dialect.conflicts), store.transaction():
        def inner():
            store.cursor().execute("SELECT name FROM plans").fetchall()
            other = threading.Thread(target=lambda: store.cursor().execute(
                "UPDATE plans SET name = 'theirs' WHERE id = ?", [plan.id]))
            other.start()
            other.join()
            store.cursor().execute("UPDATE plans SET name = 'mine' WHERE id = ?", [plan.id])
        store.atomic(inner)
    assert store.get_plan(plan.id).name == "theirs"


def test_transaction_state_is_per_thread(db_path):
    store = open_store(db_path)
    plan = _plan(store)
    seen = []
    with store.transaction():
        worker = threading.Thread(target=lambda: seen.append(store.in_transaction()))
        worker.start()
        worker.join()
        store.cursor().execute("UPDATE plans SET name = 'x' WHERE id = ?", [plan.id])
    assert seen == [False]
    store.close()
