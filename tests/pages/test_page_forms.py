"""Add forms come back empty after a successful add (a second add is not a duplicate of the first), a success
message never stands beside an error, and due dates in the past or after the plan warn."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import assert_clean

from kpi_core import i18n
from kpi_core.domain.model import CSF, KGI, KPI, CSFRole, Plan


def plan_with_csf(store) -> Plan:
    plan = store.create_plan(Plan(name="Forms", fiscal_start=date(2025, 4, 1)))
    store.save_csf(CSF(plan.id, "New customers", CSFRole.PRIMARY), None)
    return store.get_plan(plan.id)


def add_field(at, kind: str, name: str):
    """The add form's field: its key ends with a generation number after each successful add."""
    widgets = at.text_input if kind == "text" else at.text_area
    return next(w for w in widgets if w.key and w.key.startswith(f"{name}_new"))


def add_button(at, prefix: str):
    return next(b for b in at.button if b.key and b.key.startswith(f"{prefix}_submit_new"))


def test_kpi_form_is_empty_after_an_add_and_a_second_add_works(make_app, store):
    plan = plan_with_csf(store)
    at = make_app("pages/step4_kpi.py", lang="en", plan_id=plan.id)
    add_field(at, "text", "kpi_key").input("calls")
    add_field(at, "text", "kpi_name").input("Outbound calls")
    add_field(at, "text", "kpi_target").input("1,200")
    add_button(at, "kpi").click().run()
    assert_clean(at)
    assert [k.key for k in store.list_kpis(plan.id)] == ["calls"]
    assert add_field(at, "text", "kpi_key").value == "" and add_field(at, "text", "kpi_name").value == ""
    assert not at.error
    add_field(at, "text", "kpi_key").input("visits")
    add_field(at, "text", "kpi_name").input("Customer visits")
    add_button(at, "kpi").click().run()
    assert not at.error, [e.value for e in at.error]
    assert sorted(k.key for k in store.list_kpis(plan.id)) == ["calls", "visits"]


def test_csf_form_is_empty_after_an_add(make_app, store):
    plan = plan_with_csf(store)
    at = make_app("pages/step3_csf.py", lang="ja", plan_id=plan.id)
    add_field(at, "text", "csf_name").input("紹介制度")
    add_button(at, "csf").click().run()
    assert_clean(at)
    assert add_field(at, "text", "csf_name").value == ""
    assert [c.name for c in store.list_csfs(plan.id)] == ["New customers", "紹介制度"]


def test_an_error_after_a_save_shows_no_stale_success(make_app, store):
    plan = plan_with_csf(store)
    at = make_app("pages/step4_kpi.py", lang="en", plan_id=plan.id)
    add_field(at, "text", "kpi_key").input("calls")
    add_field(at, "text", "kpi_name").input("Outbound calls")
    add_button(at, "kpi").click().run()
    assert [s.value for s in at.success] == ["Saved."] and not at.toast
    add_field(at, "text", "kpi_key").input("calls")  # the same key again: refused
    add_field(at, "text", "kpi_name").input("Calls again")
    add_button(at, "kpi").click().run()
    assert at.error and not at.success and not at.toast


def test_checkin_due_date_in_the_past_or_after_the_plan_warns(make_app, store):
    today = date.today()
    plan = store.create_plan(Plan(name="Now", fiscal_start=date(today.year, today.month, 1), months=12))
    store.save_kpi(KPI(plan.id, "calls", "Calls", unit="件", annual_target=1200), None)
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
    assert_clean(at)
    due = at.date_input(key="pdca_ci_due")
    assert not [w for w in at.warning if "due date" in w.value]
    due.set_value(today - timedelta(days=3)).run()
    past = i18n.t("room.due_past", "en", due=today - timedelta(days=3))
    assert past in [w.value for w in at.warning]
    late = date(today.year + 2, 1, 15)
    at.date_input(key="pdca_ci_due").set_value(late).run()
    assert any(w.value.startswith(f"This due date ({late}) is after the plan ends") for w in at.warning)


def test_kgi_deadline_in_the_past_warns(make_app, store):
    plan = store.create_plan(Plan(name="Last year", fiscal_start=date(2024, 4, 1)))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Revenue", unit="JPY", baseline=100, target=120,
                       deadline=date(2025, 3, 31), basis="history"), None)
    at = make_app("pages/step1_kgi.py", lang="ja", plan_id=plan.id)
    assert_clean(at)
    assert i18n.t("room.deadline_past", "ja", deadline=date(2025, 3, 31)) in [w.value for w in at.warning]


def test_a_draft_with_five_steps_done_is_offered_active(make_app, store, demo_plan):
    from kpi_core.domain.model import PlanStatus

    store.set_plan_status(demo_plan.id, PlanStatus.DRAFT)
    at = make_app("pages/step2_gap.py", lang="en", plan_id=demo_plan.id)
    assert i18n.t("room.activate_prompt", "en") in [i.value for i in at.sidebar.info]
    at.sidebar.button(key=f"activate_plan_{demo_plan.id}").click().run()
    assert_clean(at)
    assert store.get_plan(demo_plan.id).status is PlanStatus.ACTIVE
    assert i18n.t("room.activated", "en") in [s.value for s in at.success]
    assert i18n.t("room.activate_prompt", "en") not in [i.value for i in at.sidebar.info]


def test_an_unfinished_draft_is_not_offered_active(make_app, store):
    plan = plan_with_csf(store)
    at = make_app("pages/step3_csf.py", lang="en", plan_id=plan.id)
    assert i18n.t("room.activate_prompt", "en") not in [i.value for i in at.sidebar.info]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_demo_plan_is_seeded_in_the_language_of_the_first_session(make_app, store, monkeypatch, lang):
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")
    at = make_app("pages/plans.py", lang=lang)
    assert_clean(at)
    plans = store.list_plans()
    assert [p.name for p in plans] == [i18n.t("engine.demo.plan_name", lang)]
    kgi = store.get_kgi(plans[0].id)
    assert kgi.name == ("Annual revenue" if lang == "en" else "年間売上")
