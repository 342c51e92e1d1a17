"""One current value per cell enforced by the database, and every user write checked against the version it was
based on: stale saves refused with theirs / yours, edits under a delete reported, nothing written in either case."""
from __future__ import annotations

import threading
from datetime import date

import duckdb
import psycopg
import pytest

from kpi_core.adapters import store as store_module
from kpi_core.adapters.store import DeletedUnderEdit, StaleEdit, open_store
from kpi_core.domain.model import CSF, KPI, Actual, CheckIn, Plan
from kpi_core.domain.records import Rejection

APR, MAY = date(2026, 4, 1), date(2026, 5, 1)


@pytest.fixture
def plan(store):
    made = store.create_plan(Plan(name="Sales", department="Sales", fiscal_start=APR))
    store.save_kpi(KPI(plan_id=made.id, key="meetings", name="Meetings"), None)
    return store.get_plan(made.id)


def _current_rows(store, plan_id: int) -> list[tuple]:
    return store.cursor().execute(
        "SELECT metric_key, month, count(*) FROM actuals WHERE plan_id = ? AND superseded_at IS NULL "
        "GROUP BY metric_key, month ORDER BY metric_key, month", [plan_id]).fetchall()


def test_twenty_sessions_saving_one_cell_leave_one_current_value(store, plan):
    values = list(range(20))
    barrier = threading.Barrier(len(values))

    def session(value: int) -> None:
        barrier.wait()
        store.save_actuals(plan.id, [Actual("meetings", APR, float(value))])

    threads = [threading.Thread(target=session, args=(v,)) for v in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _current_rows(store, plan.id) == [("meetings", APR, 1)]
    stored = store.actual_values(plan.id)["meetings"][APR]
    assert stored in values
    assert store.actual_versions(plan.id)[("meetings", APR)] == 20  # every save changed the value once
    history = store.actual_history(plan.id, "meetings", APR)
    assert sum(e.current for e in history) == 1


def test_twenty_sessions_based_on_the_same_version_one_wins_the_rest_are_told(store, plan):
    seen = store.actual_versions(plan.id)
    barrier = threading.Barrier(20)
    outcome: dict[int, str] = {}

    def session(value: int) -> None:
        barrier.wait()
        try:
            store.save_actuals(plan.id, [Actual("meetings", APR, float(value))], based_on=seen)
            outcome[value] = "stored"
        except StaleEdit as exc:
            assert exc.values["theirs"] != exc.values["yours"]
            outcome[value] = "refused"

    threads = [threading.Thread(target=session, args=(v,)) for v in range(1, 21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [v for v, result in outcome.items() if result == "stored"]
    assert len(outcome) == 20 and len(winners) == 1
    assert store.actual_values(plan.id) == {"meetings": {APR: float(winners[0])}}
    assert _current_rows(store, plan.id) == [("meetings", APR, 1)]


UNIQUE_VIOLATION = {"duckdb": duckdb.ConstraintException, "postgresql": psycopg.errors.UniqueViolation}


def test_the_database_refuses_a_second_current_row_for_a_cell(store, plan):
    store.save_actuals(plan.id, [Actual("meetings", APR, 5.0)])
    refused = UNIQUE_VIOLATION[store.dialect.name]
    with pytest.raises(refused):
        store.cursor().execute("INSERT INTO actual_cells (plan_id, metric_key, month, actual_id, version) "
                               "VALUES (?, 'meetings', ?, NULL, 1)", [plan.id, APR])
    with pytest.raises(refused):
        store.cursor().execute("INSERT INTO target_sets (plan_id, metric_key, version) VALUES (?, 'x', 1), (?, 'x', 2)",
                               [plan.id, plan.id])


def test_stale_actual_is_refused_with_theirs_and_yours(store, plan):
    store.save_actuals(plan.id, [Actual("meetings", APR, 40.0)])
    opened_by_a = store.actual_versions(plan.id)
    opened_by_b = store.actual_versions(plan.id)
    store.save_actuals(plan.id, [Actual("meetings", APR, 41.0)], based_on=opened_by_a)
    with pytest.raises(StaleEdit) as caught:
        store.save_actuals(plan.id, [Actual("meetings", APR, 42.0), Actual("meetings", MAY, 7.0)],
                           based_on=opened_by_b)
    assert caught.value.key == "store.stale"
    assert caught.value.values == {"item": "meetings 2026-04", "theirs": "41", "yours": "42", "more": 0}
    assert [(c.metric_key, c.month, c.theirs, c.yours) for c in caught.value.conflicts] == [
        ("meetings", APR, 41.0, 42.0)]
    assert store.actual_values(plan.id) == {"meetings": {APR: 41.0}}  # May not written either: all or nothing
    # B reloads, sees 41 and its version, and may save over it knowingly
    store.save_actuals(plan.id, [Actual("meetings", APR, 42.0)], based_on=store.actual_versions(plan.id))
    assert store.actual_values(plan.id) == {"meetings": {APR: 42.0}}


def test_a_cell_first_filled_by_someone_else_is_stale_and_a_clear_too(store, plan):
    opened = store.actual_versions(plan.id)
    assert opened == {}
    store.save_actuals(plan.id, [Actual("meetings", APR, 3.0)])
    with pytest.raises(StaleEdit):
        store.save_actuals(plan.id, [Actual("meetings", APR, 4.0)], based_on=opened)
    with pytest.raises(StaleEdit) as caught:
        store.save_actuals(plan.id, [], clears=[("meetings", APR)], based_on=opened)
    assert caught.value.values["yours"] == "—"
    assert store.actual_values(plan.id) == {"meetings": {APR: 3.0}}


def test_saving_the_value_already_stored_is_not_a_conflict(store, plan):
    opened = store.actual_versions(plan.id)
    store.save_actuals(plan.id, [Actual("meetings", APR, 3.0)])
    assert store.save_actuals(plan.id, [Actual("meetings", APR, 3.0)], based_on=opened) == 0


def test_edit_under_a_deleted_plan_or_kpi_is_reported(store, plan):
    kpi = store.list_kpis(plan.id)[0]
    store.delete_kpi(plan.id, kpi.id, None)
    with pytest.raises(DeletedUnderEdit) as caught:
        store.save_actuals(plan.id, [Actual("meetings", APR, 1.0)])
    assert caught.value.values == {"name": "Meetings"}
    with pytest.raises(DeletedUnderEdit):
        store.save_kpi(kpi, None)
    store.delete_plan(plan.id)
    for write in (lambda: store.save_actuals(plan.id, [Actual("kgi", APR, 1.0)]),
                  lambda: store.save_checkin(CheckIn(plan.id, "kgi", APR, why="w")),
                  lambda: store.save_csf(CSF(plan_id=plan.id, name="c"), None),
                  lambda: store.set_monthly_targets(plan.id, "kgi", {APR: 1.0}),
                  lambda: store.add_review(plan.id, APR, "kgi", "keep", "r")):
        with pytest.raises(DeletedUnderEdit) as caught:
            write()
        assert caught.value.values == {"name": "Sales"}
    assert store.actual_values(plan.id) == {}


def test_stale_kpi_csf_and_checkin_are_refused(store, plan):
    kpi_a, kpi_b = store.list_kpis(plan.id)[0], store.list_kpis(plan.id)[0]
    kpi_a.annual_target = 100.0
    store.save_kpi(kpi_a, None)
    assert kpi_a.version == 1
    kpi_b.annual_target = 200.0
    with pytest.raises(StaleEdit) as caught:
        store.save_kpi(kpi_b, None)
    assert (caught.value.values["theirs"], caught.value.values["yours"]) == ("100", "200")
    assert store.list_kpis(plan.id)[0].annual_target == 100.0

    csf = store.save_csf(CSF(plan_id=plan.id, name="Outbound"), None)
    stale_csf = store.list_csfs(plan.id)[0]
    csf.name = "Outbound calls"
    store.save_csf(csf, None)
    stale_csf.name = "Events"
    with pytest.raises(StaleEdit):
        store.save_csf(stale_csf, None)
    assert [c.name for c in store.list_csfs(plan.id)] == ["Outbound calls"]

    checkin = store.save_checkin(CheckIn(plan.id, "meetings", APR, why="slow", next_action="call"))
    theirs, mine = store.list_checkins(plan.id)[0], store.list_checkins(plan.id)[0]
    theirs.result = "done by them"
    store.save_checkin(theirs)
    mine.result = "done by me"
    with pytest.raises(StaleEdit) as caught:
        store.save_checkin(mine)
    assert (caught.value.values["theirs"], caught.value.values["yours"]) == ("done by them", "done by me")
    assert store.list_checkins(plan.id)[0].result == "done by them"
    assert checkin.id == theirs.id


def test_revert_import_keeps_one_current_value_per_cell(store, plan):
    store.save_actuals(plan.id, [Actual("meetings", APR, 10.0)])
    outcome = store.commit_import(plan.id, {"file_name": "a.csv", "sha256": "x"},
                                  [Actual("meetings", APR, 11.0), Actual("meetings", MAY, 12.0)], [])
    assert store.actual_values(plan.id) == {"meetings": {APR: 11.0, MAY: 12.0}}
    store.revert_import(outcome["import_id"])
    assert store.actual_values(plan.id) == {"meetings": {APR: 10.0}}
    assert _current_rows(store, plan.id) == [("meetings", APR, 1)]


def test_upgrade_supersedes_duplicates_left_by_an_older_release(fresh_target, monkeypatch):
    db_path = fresh_target
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    old = open_store(db_path)
    cur = old.cursor()
    plan_id = cur.execute("INSERT INTO plans (name, fiscal_start) VALUES ('Old', ?) RETURNING id", [APR]).fetchone()[0]
    for value in (1.0, 2.0, 3.0):  # three current rows for one cell, as concurrent saves left them
        cur.execute("INSERT INTO actuals (plan_id, metric_key, month, value) VALUES (?, 'm', ?, ?)",
                    [plan_id, APR, value])
    cur.execute("INSERT INTO actuals (plan_id, metric_key, month, value, superseded_at) "
                "VALUES (?, 'm', ?, 9, current_timestamp)", [plan_id, MAY])
    for version, value in ((1, 5.0), (1, 6.0), (2, 7.0)):
        cur.execute("INSERT INTO monthly_targets (plan_id, metric_key, month, value, version) VALUES (?, 'm', ?, ?, ?)",
                    [plan_id, APR, value, version])
    old.close()
    monkeypatch.undo()
    upgraded = open_store(db_path)
    assert upgraded.actual_values(plan_id) == {"m": {APR: 3.0}}
    assert _current_rows(upgraded, plan_id) == [("m", APR, 1)]
    assert upgraded.actual_versions(plan_id) == {("m", APR): 3, ("m", MAY): 1}
    assert upgraded.get_monthly_targets(plan_id) == {"m": {APR: 7.0}}
    history = upgraded.actual_history(plan_id, "m", APR)
    assert len(history) == 3  # nothing deleted, two superseded
    upgraded.save_actuals(plan_id, [Actual("m", APR, 4.0)])
    assert _current_rows(upgraded, plan_id) == [("m", APR, 1)]
    upgraded.close()


def test_rejections_are_stored_set_based_and_bounded(store, plan):
    rejections = [(line, f"“x{line}” is not a number", f"2026/04,x{line}") for line in range(2, 100_002)]
    outcome = store.commit_import(plan.id, {"file_name": "bad.csv", "sha256": "b", "rows_total": 100_000},
                                  [Actual("meetings", APR, 1.0)], rejections)
    listed = store.list_imports(plan.id)
    assert listed[0].rows_rejected == 100_000  # all counted
    kept = store.import_rejections(outcome["import_id"])
    assert len(kept) == store_module.REJECTIONS_KEPT  # the first 1,000 in full
    assert kept[0] == Rejection(2, "“x2” is not a number", "2026/04,x2")
    assert kept[-1].line_no == 1001
