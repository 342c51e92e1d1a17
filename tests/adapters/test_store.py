"""Storage: every entity round-trips through a real DuckDB file; migrations, versions, locks, soft deletes."""
from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from kpi_core.adapters import store as store_module
from kpi_core.adapters.store import DatabaseLocked, NotFound, StoreError, VersionConflict, open_store
from kpi_core.domain.model import (
    CSF,
    KGI,
    KPI,
    Actual,
    Aggregation,
    CheckIn,
    CSFRole,
    Direction,
    Kind,
    Plan,
    PlanStatus,
    Status,
)

START = date(2026, 4, 1)


def _plan(store, name="Sales FY2026"):
    return store.create_plan(Plan(name=name, department="Sales", fiscal_start=START))


def test_plan_round_trip_and_listing(store):
    plan = _plan(store)
    loaded = store.get_plan(plan.id)
    assert (loaded.name, loaded.department, loaded.fiscal_start, loaded.months, loaded.status) == (
        "Sales FY2026", "Sales", START, 12, PlanStatus.DRAFT)
    assert loaded.month_list()[0] == START and loaded.month_list()[-1] == date(2027, 3, 1)
    loaded.name = "Renamed"
    updated = store.update_plan(loaded, loaded.version)
    assert updated.name == "Renamed" and updated.version == loaded.version + 1
    store.set_plan_status(plan.id, PlanStatus.ARCHIVED)
    assert [p.id for p in store.list_plans(include_archived=False)] == []
    assert [p.id for p in store.list_plans()] == [plan.id]


def test_kgi_csf_kpi_round_trip(store):
    plan = _plan(store)
    kgi = KGI(plan_id=plan.id, key="revenue", name="年間売上", unit="JPY", direction=Direction.UP,
              aggregation=Aggregation.SUM, baseline=120e6, target=144e6, current=120e6, deadline=date(2027, 3, 31),
              basis="前年実績", formula="meetings * win_rate * avg_deal")
    store.save_kgi(kgi, None)
    assert store.get_kgi(plan.id) == kgi
    csf = store.save_csf(CSF(plan_id=plan.id, name="新規開拓", role=CSFRole.PRIMARY, contribution=12e6,
                             actions=["架電を増やす", "展示会"], description="d"), None)
    assert store.list_csfs(plan.id) == [csf]
    kpi = KPI(plan_id=plan.id, key="win_rate", name="受注率", csf_id=csf.id, definition="受注 ÷ 商談", unit="%",
              direction=Direction.UP, kind=Kind.LAGGING, aggregation=Aggregation.RATIO, ratio_weight="meetings",
              owner="営業部長", data_source="SFA", annual_target=0.25, amber_threshold=0.9, red_threshold=0.8,
              recovery_plan="同行営業", rationale="過去平均")
    store.save_kpi(kpi, None)
    assert store.list_kpis(plan.id) == [kpi]


def test_duplicate_kpi_key_is_refused(store):
    plan = _plan(store)
    store.save_kpi(KPI(plan_id=plan.id, key="meetings", name="A"), None)
    with pytest.raises(StoreError):
        store.save_kpi(KPI(plan_id=plan.id, key="meetings", name="B"), None)
    assert [k.name for k in store.list_kpis(plan.id)] == ["A"]


def test_version_conflict_refuses_the_second_save(store):
    plan = _plan(store)
    seen_by_both = plan.version
    store.save_kgi(KGI(plan_id=plan.id, name="first", baseline=1, target=2), seen_by_both)
    with pytest.raises(VersionConflict):
        store.save_kgi(KGI(plan_id=plan.id, name="second", baseline=1, target=3), seen_by_both)
    assert store.get_kgi(plan.id).name == "first"
    with pytest.raises(VersionConflict):
        store.save_csf(CSF(plan_id=plan.id, name="late"), seen_by_both)
    assert store.list_csfs(plan.id) == []


def test_monthly_targets_keep_previous_versions(store):
    plan = _plan(store)
    store.set_monthly_targets(plan.id, "meetings", {START: 50, date(2026, 5, 1): 50})
    store.set_monthly_targets(plan.id, "meetings", {START: 40, date(2026, 5, 1): 40}, reason="reverse calculation")
    assert store.get_monthly_targets(plan.id) == {"meetings": {START: 40.0, date(2026, 5, 1): 40.0}}
    history = store.target_history(plan.id, "meetings")
    assert sorted({e.version for e in history}) == [1, 2]
    assert {e.reason for e in history if e.version == 2} == {"reverse calculation"}
    rows = store.target_versions(plan.id)  # the whole plan's history, typed, by metric, version and month
    assert [(r.metric_key, r.version, r.month, r.value) for r in rows] == [
        ("meetings", 1, START, 50.0), ("meetings", 1, date(2026, 5, 1), 50.0),
        ("meetings", 2, START, 40.0), ("meetings", 2, date(2026, 5, 1), 40.0)]
    assert rows[-1].reason == "reverse calculation"


def test_actuals_supersede_and_keep_history(store):
    plan = _plan(store)
    assert store.save_actuals(plan.id, [Actual("meetings", START, 45)]) == 1
    assert store.save_actuals(plan.id, [Actual("meetings", START, 45)]) == 0  # unchanged value writes nothing
    store.save_actuals(plan.id, [Actual("meetings", START, 48)])
    assert store.actual_values(plan.id) == {"meetings": {START: 48.0}}
    assert [e.value for e in store.actual_history(plan.id, "meetings", START)] == [45.0, 48.0]
    store.save_actuals(plan.id, [], clears=[("meetings", START)])
    assert store.actual_values(plan.id) == {}
    assert len(store.actual_history(plan.id, "meetings")) == 2


def test_import_commit_and_revert_restore_previous_values(store):
    plan = _plan(store)
    store.save_actuals(plan.id, [Actual("meetings", START, 45)])
    result = store.commit_import(plan.id, {"sha256": "abc", "file_name": "deals.csv"},
                                 [Actual("meetings", START, 47), Actual("meetings", date(2026, 5, 1), 52)],
                                 [(7, "bad month", "2025/02/30,3")])
    assert result["written"] == 2
    earlier = store.find_import(plan.id, "abc")  # a typed row: which import, when, with which mapping
    assert (earlier.id, earlier.mapping, earlier.rows_rejected) == (result["import_id"], {}, 1)
    assert earlier.created_at is not None
    assert [r.line_no for r in store.import_rejections(result["import_id"])] == [7]
    store.revert_import(result["import_id"])
    assert store.actual_values(plan.id) == {"meetings": {START: 45.0}}
    assert store.find_import(plan.id, "abc") is None


def test_checkins_reviews_profiles_settings(store):
    plan = _plan(store)
    checkin = store.save_checkin(CheckIn(plan_id=plan.id, metric_key="win_rate", month=START,
                                         status=Status.OFF_TRACK, why="価格競争", next_action="事例を用意",
                                         owner="佐藤", due=date(2026, 5, 15)))
    assert store.list_checkins(plan.id) == [checkin]
    store.add_review(plan.id, date(2026, 6, 30), "win_rate", "change", "定義を見直す")
    assert [r.decision for r in store.list_reviews(plan.id)] == ["change"]
    profile_id = store.save_profile("SFA", "sig1", {"shape": "records"}, plan.id)
    found = store.find_profile("sig1", plan.id)
    assert (found.id, found.name, found.plan_id, found.mapping) == (profile_id, "SFA", plan.id, {"shape": "records"})
    assert not found.from_file and found.updated_at is not None
    assert store.save_profile("SFA v2", "sig1", {"shape": "long"}, plan.id) == profile_id
    assert store.get_profile("SFA v2").mapping == {"shape": "long"}
    assert store.get_profile(str(profile_id)).name == "SFA v2" and store.get_profile("nobody") is None
    global_id = store.save_profile("Any plan", "sig2", {"shape": "long"})
    assert [(p.id, p.plan_id) for p in store.list_profiles(plan.id)] == [(global_id, None), (profile_id, plan.id)]


def test_soft_delete_restore_and_duplicate(store):
    plan = _plan(store)
    store.save_kgi(KGI(plan_id=plan.id, name="rev", baseline=1, target=2, formula="a * b"), None)
    csf = store.save_csf(CSF(plan_id=plan.id, name="c"), None)
    store.save_kpi(KPI(plan_id=plan.id, key="a", name="A", csf_id=csf.id, annual_target=10), None)
    store.set_monthly_targets(plan.id, "a", {START: 10})
    copy = store.duplicate_plan(plan.id, "copy")
    assert store.get_kgi(copy.id).formula == "a * b"
    copied_csf = store.list_csfs(copy.id)[0]
    assert [(k.key, k.csf_id) for k in store.list_kpis(copy.id)] == [("a", copied_csf.id)]
    assert store.get_monthly_targets(copy.id) == {"a": {START: 10.0}}
    store.delete_plan(plan.id)
    with pytest.raises(NotFound):
        store.get_plan(plan.id)
    assert [p.id for p in store.deleted_plans()] == [plan.id]
    assert "plan.delete" in {e.action for e in store.audit_log(plan.id)}
    store.restore_plan(plan.id)
    assert store.get_plan(plan.id).name == "Sales FY2026"


def test_reopen_keeps_data(db_target):
    first = open_store(db_target)
    plan = _plan(first)
    first.close()
    second = open_store(db_target)
    assert second.get_plan(plan.id).name == "Sales FY2026"
    assert second.schema_version() == max(version for version, _, _ in store_module.MIGRATIONS)
    second.close()


def test_migrations_upgrade_an_older_database(fresh_target, monkeypatch):
    path = fresh_target
    old = open_store(path)
    plan = _plan(old)
    old.close()
    newer = store_module.MIGRATIONS + [(99, "add plan notes", "ALTER TABLE plans ADD COLUMN notes VARCHAR")]
    monkeypatch.setattr(store_module, "MIGRATIONS", newer)
    upgraded = open_store(path)
    assert upgraded.schema_version() == 99
    assert upgraded.get_plan(plan.id).name == "Sales FY2026"
    assert upgraded.migrate() == []  # applied once only
    upgraded.close()


def test_failed_migration_rolls_back_whole(fresh_target, monkeypatch):
    path = fresh_target
    open_store(path).close()
    released = list(store_module.MIGRATIONS)
    latest = max(version for version, _, _ in released)
    broken = released + [(latest + 1, "half", "CREATE TABLE half_done (i INTEGER); SELECT * FROM missing_table")]
    monkeypatch.setattr(store_module, "MIGRATIONS", broken)
    with pytest.raises(store_module.MigrationFailed):
        open_store(path)
    monkeypatch.setattr(store_module, "MIGRATIONS", released)
    reopened = open_store(path)
    assert reopened.schema_version() == latest
    assert not reopened.cursor().execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'half_done'").fetchone()[0]
    reopened.close()


def test_lock_held_by_another_process_gives_a_clear_error(db_path):
    holder = open_store(db_path)
    code = (f"from kpi_core.adapters.store import open_store, DatabaseLocked\n"
            f"import os; os.environ['KPI_WORKBENCH_LOCK_WAIT'] = '0.5'\ntry:\n    open_store({str(db_path)!r})\nexcept DatabaseLocked as exc:\n"
            f"    print('LOCKED', exc.values['pid'])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            check=False)
    holder.close()
    assert result.stdout.startswith("LOCKED"), result.stderr
    assert isinstance(DatabaseLocked("x"), StoreError)
