"""Each multi-write use case is one transaction: a failure injected between its writes leaves the database as it
was (real DuckDB file; the failure is raised by a store write called after the first one)."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core import ingest
from kpi_core.adapters.templates import find_template
from kpi_core.domain.model import KGI, KPI, Aggregation, Plan
from kpi_core.services import kpis as kpi_use_cases
from kpi_core.services import plans as plan_use_cases
from kpi_core.services.actuals import ProfileNameError, import_file
from kpi_core.services.demo import seed_demo
from kpi_core.services.kpis import save_kpi_with_targets
from kpi_core.services.review import record_review

APRIL = date(2026, 4, 1)
MONTHS = [date(2026, 4 + i, 1) if i < 9 else date(2027, i - 8, 1) for i in range(12)]


class Injected(RuntimeError):
    """The failure a test injects: nothing else raises it."""


def fail_on_call(store, monkeypatch, method: str, call: int = 1) -> None:
    """Make `store.<method>` raise on its `call`-th call (the earlier ones work)."""
    real = getattr(store, method)
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= call:
            raise Injected(method)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, method, wrapped)


def snapshot(store) -> dict:
    """What a user could see of the database: plans (live and deleted) with versions, and each plan's contents."""
    plans = store.list_plans() + store.deleted_plans()
    return {
        "plans": sorted((p.id, p.name, p.version) for p in plans),
        "kpis": {p.id: [(k.key, k.annual_target) for k in store.list_kpis(p.id)] for p in plans},
        "targets": {p.id: store.get_monthly_targets(p.id) for p in plans},
        "reviews": {p.id: len(store.list_reviews(p.id)) for p in plans},
        "actuals": {p.id: store.actual_values(p.id) for p in plans},
        "imports": {p.id: [(i.id, i.status) for i in store.list_imports(p.id)] for p in plans},
        "profiles": {p.id: [r.name for r in store.list_profiles(p.id)] for p in plans},
    }


@pytest.fixture
def sales(store):
    plan = store.create_plan(Plan(name="Sales", fiscal_start=APRIL))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Revenue", target=144e6), None)
    kpi = store.save_kpi(KPI(plan_id=plan.id, key="meetings", name="Meetings", annual_target=600.0), None)
    store.set_monthly_targets(plan.id, "meetings", dict.fromkeys(MONTHS, 50.0), "first")
    return store.get_plan(plan.id), kpi


def test_save_kpi_with_targets_saves_both(store, sales):
    plan, kpi = sales
    kpi.annual_target = 720.0
    save_kpi_with_targets(store, kpi, plan.version, "more meetings", dict.fromkeys(MONTHS, 60.0))
    assert store.list_kpis(plan.id)[0].annual_target == 720.0
    assert set(store.get_monthly_targets(plan.id)["meetings"].values()) == {60.0}


def test_save_kpi_with_targets_failing_at_the_targets_changes_nothing(store, sales, monkeypatch):
    plan, kpi = sales
    before = snapshot(store)
    fail_on_call(store, monkeypatch, "set_monthly_targets")
    kpi.annual_target = 720.0
    with pytest.raises(Injected):
        save_kpi_with_targets(store, kpi, plan.version, "more meetings", dict.fromkeys(MONTHS, 60.0))
    assert snapshot(store) == before


def test_record_review_failing_at_the_second_decision_records_none(store, sales, monkeypatch):
    plan, _ = sales
    store.save_kpi(KPI(plan_id=plan.id, key="win_rate", name="Win rate", unit="%", annual_target=0.25,
                       aggregation=Aggregation.MEAN), None)
    plan = store.get_plan(plan.id)
    decisions = {"meetings": ("keep", "on track"), "win_rate": ("change", "redefine")}
    before = snapshot(store)
    fail_on_call(store, monkeypatch, "add_review", call=2)
    with pytest.raises(Injected):
        record_review(store, plan.id, date(2026, 7, 1), decisions, store.review_version(plan.id))
    assert snapshot(store) == before
    monkeypatch.undo()
    assert record_review(store, plan.id, date(2026, 7, 1), decisions, store.review_version(plan.id)) == 2
    assert len(store.list_reviews(plan.id)) == 2


def test_create_plan_from_template_failing_half_way_leaves_no_plan_at_all(store, monkeypatch):
    fail_on_call(store, monkeypatch, "save_kpi", call=2)
    with pytest.raises(Injected):
        plan_use_cases.create_plan_from_template(store, find_template("sales"), "en", fiscal_start=APRIL)
    assert store.list_plans() == [] and store.deleted_plans() == []


def test_create_plan_from_template_writes_the_whole_plan(store):
    plan = plan_use_cases.create_plan_from_template(store, find_template("sales"), "en", fiscal_start=APRIL)
    assert store.get_kgi(plan.id).target == 144e6
    assert {k.key for k in store.list_kpis(plan.id)} == {"meetings", "win_rate", "avg_deal"}
    assert set(store.get_monthly_targets(plan.id)) == {"meetings", "win_rate", "avg_deal", "revenue"}


def test_duplicate_failing_at_its_last_write_copies_nothing(store, sales, monkeypatch):
    plan, _ = sales
    before = snapshot(store)
    fail_on_call(store, monkeypatch, "_audit")
    with pytest.raises(Injected):
        plan_use_cases.duplicate_plan(store, plan.id, "Copy")
    assert snapshot(store) == before


def test_restore_returns_the_plan_and_a_failure_leaves_it_deleted(store, sales, monkeypatch):
    plan, _ = sales
    store.delete_plan(plan.id)
    before = snapshot(store)
    fail_on_call(store, monkeypatch, "get_plan")
    with pytest.raises(Injected):
        plan_use_cases.restore_plan(store, plan.id)
    assert snapshot(store) == before
    monkeypatch.undo()
    assert plan_use_cases.restore_plan(store, plan.id).name == "Sales"


def test_the_demo_seed_failing_at_the_check_ins_leaves_an_empty_database(store, monkeypatch):
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")
    fail_on_call(store, monkeypatch, "save_checkin")
    with pytest.raises(Injected):
        seed_demo(store, today=date(2026, 11, 20), lang="en")
    assert store.list_plans() == [] and store.deleted_plans() == []
    monkeypatch.undo()
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")
    assert seed_demo(store, today=date(2026, 11, 20), lang="en") is not None, "a later start seeds it after all"


MEETINGS_CSV = "月,商談数\n2026/04,45\n2026/05,48\n".encode()


def _previewed(store, plan):
    parsed = ingest.read_export(MEETINGS_CSV, "meetings_2026-05.csv")
    mapping = ingest.suggest_mapping(parsed, {"meetings": ["meetings", "商談数"]}, ["meetings"], parsed.shape)
    return parsed, mapping, ingest.preview_import(store, plan, parsed, mapping, "en")


def test_import_file_writes_the_values_and_the_profile_together(store, sales):
    plan, _ = sales
    parsed, mapping, preview = _previewed(store, plan)
    result = import_file(store, plan, parsed, mapping, preview, profile_name="meetings")
    assert result.written == 2 and store.actual_values(plan.id)["meetings"] == {APRIL: 45.0, date(2026, 5, 1): 48.0}
    assert store.find_profile(parsed.header_signature, plan.id).name == "meetings"


def test_import_file_failing_at_the_profile_writes_no_values(store, sales, monkeypatch):
    plan, _ = sales
    parsed, mapping, preview = _previewed(store, plan)
    before = snapshot(store)
    fail_on_call(store, monkeypatch, "save_profile")
    with pytest.raises(Injected):
        import_file(store, plan, parsed, mapping, preview, profile_name="meetings")
    assert snapshot(store) == before


def test_import_file_with_an_empty_profile_name_is_refused_before_any_write(store, sales):
    plan, _ = sales
    parsed, mapping, preview = _previewed(store, plan)
    before = snapshot(store)
    with pytest.raises(ProfileNameError) as refused:
        import_file(store, plan, parsed, mapping, preview, profile_name="   ")
    assert refused.value.key == "check.name_empty"
    assert snapshot(store) == before


def test_saving_a_changed_annual_target_rephases_the_months_keeping_their_shape(store, sales):
    plan, kpi = sales
    store.set_monthly_targets(plan.id, "meetings", {m: 40.0 if i < 6 else 60.0 for i, m in enumerate(MONTHS)}, "ramp")
    stored = store.get_monthly_targets(plan.id)["meetings"]
    draft = KPI(**{**kpi.__dict__, "annual_target": 1200.0})
    kpi_use_cases.save_kpi(store, plan, draft, kpi, store.get_plan(plan.id).version, "double", stored)
    assert store.get_monthly_targets(plan.id)["meetings"] == {m: 80.0 if i < 6 else 120.0 for i, m in enumerate(MONTHS)}
    saved = store.list_kpis(plan.id)[0]
    renamed = KPI(**{**saved.__dict__, "name": "Visits"})
    before = store.get_monthly_targets(plan.id)
    kpi_use_cases.save_kpi(store, plan, renamed, saved, store.get_plan(plan.id).version, "rename", stored)
    assert store.list_kpis(plan.id)[0].name == "Visits"
    assert store.get_monthly_targets(plan.id) == before, "the same target is not re-phased"


def test_applying_a_solved_target_failing_at_the_months_changes_nothing(store, sales, monkeypatch):
    plan, kpi = sales
    before = snapshot(store)
    fail_on_call(store, monkeypatch, "set_monthly_targets")
    with pytest.raises(Injected):
        kpi_use_cases.apply_solved_target(store, plan, kpi, 720.0, plan.version, "solved", None)
    assert snapshot(store) == before
    monkeypatch.undo()
    kpi_use_cases.apply_solved_target(store, plan, kpi, 720.0, plan.version, "solved", None)
    assert set(store.get_monthly_targets(plan.id)["meetings"].values()) == {60.0}
