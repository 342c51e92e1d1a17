"""Every form saves against the version of its own row as it was drawn: someone else's save meanwhile is shown
(theirs / yours, field by field) and the user chooses: load theirs into the form, or save theirs over. Edits of
different rows never clash; a row deleted under an edit is said so, the entries kept to copy."""
from __future__ import annotations

from datetime import date

from apptest_text import rendered_text
from conftest import assert_clean, assert_no_exception
from test_page_csf import sales_plan
from test_page_pdca import edit_grid, save_button, seed_sales

from kpi_core.domain.model import CSF, Actual, CheckIn, Plan

CSF_PAGE, KPI_PAGE, PDCA_PAGE = "pages/step3_csf.py", "pages/step4_kpi.py", "pages/step5_pdca.py"


def texts(at) -> str:
    return rendered_text(at, ("markdown", "caption", "info", "warning", "error", "success"))


def button(at, key: str):
    return next(b for b in at.button if b.key == key)


def open_csf(make_app, store, lang: str = "en"):
    pid = sales_plan(store)
    quality = store.list_csfs(pid)[1]
    at = make_app(CSF_PAGE, lang=lang, plan_id=pid)
    at.button(key=f"csf_edit_{quality.id}").click().run()  # the form is drawn: based on this version
    return at, pid, quality


def test_a_csf_changed_meanwhile_shows_theirs_and_yours_then_loads_theirs(make_app, store):
    at, pid, quality = open_csf(make_app, store)
    theirs = store.list_csfs(pid)[1]
    theirs.name, theirs.description = "Meeting quality (their words)", "Their description"
    store.save_csf(theirs, None)
    at.text_input(key=f"csf_name_{quality.id}").input("Meeting quality (mine)")
    at.button(key=f"csf_submit_{quality.id}").click().run()
    assert_no_exception(at)
    shown = texts(at).replace("\\", "")
    assert "“Meeting quality” was changed by someone else since you opened it" in shown
    assert "CSF (a process that closes the gap): theirs Meeting quality (their words) / yours Meeting quality " \
           "(mine)" in shown
    assert "Description: theirs Their description / yours —" in shown
    assert store.list_csfs(pid)[1].name == "Meeting quality (their words)"  # nothing overwritten
    assert at.text_input(key=f"csf_name_{quality.id}").value == "Meeting quality (mine)"  # typed text kept
    button(at, f"conflict_load_csf_{quality.id}").click().run()
    assert "someone else" not in texts(at)
    reloaded = at.text_input(key=f"csf_name_{quality.id}r1")
    assert reloaded.value == "Meeting quality (their words)"
    assert at.text_area(key=f"csf_description_{quality.id}r1").value == "Their description"
    reloaded.input("Meeting quality (merged)")
    at.button(key=f"csf_submit_{quality.id}r1").click().run()  # based on their version now: saved
    assert_clean(at)
    saved = store.list_csfs(pid)[1]
    assert (saved.name, saved.description) == ("Meeting quality (merged)", "Their description")


def test_keep_mine_saves_over_theirs_knowingly(make_app, store):
    at, pid, quality = open_csf(make_app, store)
    theirs = store.list_csfs(pid)[1]
    theirs.name = "Theirs"
    store.save_csf(theirs, None)
    at.text_input(key=f"csf_name_{quality.id}").input("Mine")
    at.button(key=f"csf_submit_{quality.id}").click().run()
    assert store.list_csfs(pid)[1].name == "Theirs"
    button(at, f"conflict_keep_csf_{quality.id}").click().run()
    assert_clean(at)
    assert store.list_csfs(pid)[1].name == "Mine"
    assert "Saved." in texts(at)


def test_edits_of_different_csfs_and_adds_do_not_clash(make_app, store):
    at, pid, quality = open_csf(make_app, store)
    other = store.list_csfs(pid)[0]
    other.name = "New customers (edited elsewhere)"
    store.save_csf(other, None)  # another row, and another add, saved meanwhile
    store.save_csf(CSF(plan_id=pid, name="Added elsewhere"), None)
    at.text_input(key=f"csf_name_{quality.id}").input("Meeting quality (mine)")
    at.button(key=f"csf_submit_{quality.id}").click().run()
    assert_clean(at)
    at.text_input(key="csf_name_new").input("Added here")
    at.button(key="csf_submit_new").click().run()
    assert_clean(at)
    names = [c.name for c in store.list_csfs(pid)]
    assert {"New customers (edited elsewhere)", "Meeting quality (mine)", "Added elsewhere", "Added here"} <= set(names)


def test_a_csf_deleted_under_an_edit_is_said_so_and_the_entries_kept(make_app, store):
    at, pid, quality = open_csf(make_app, store, lang="ja")
    store.delete_csf(pid, quality.id, None)
    at.text_input(key=f"csf_name_{quality.id}").input("品質（自分の案）")
    at.button(key=f"csf_submit_{quality.id}").click().run()
    assert_no_exception(at)
    assert "編集中に「Meeting quality」がほかの人によって削除されました" in texts(at)
    assert at.text_input(key=f"csf_name_{quality.id}").value == "品質（自分の案）"
    assert any("品質（自分の案）" in str(c.value) for c in at.code)  # shown to copy
    assert "品質（自分の案）" not in [c.name for c in store.list_csfs(pid)]


def open_kpi(make_app, store, key: str = "meetings"):
    pid = sales_plan(store)
    kpi = next(k for k in store.list_kpis(pid) if k.key == key)
    at = make_app(KPI_PAGE, lang="en", plan_id=pid)
    at.button(key=f"kpi_edit_{kpi.id}").click().run()
    return at, pid, kpi


def test_a_kpi_changed_meanwhile_is_refused_field_by_field(make_app, store):
    at, pid, kpi = open_kpi(make_app, store)
    theirs = next(k for k in store.list_kpis(pid) if k.id == kpi.id)
    theirs.owner, theirs.annual_target = "Tanaka", 650.0
    store.save_kpi(theirs, None)
    at.text_input(key=f"kpi_name_{kpi.id}").input("Qualified meetings (mine)")
    at.button(key=f"kpi_submit_{kpi.id}").click().run()
    assert_no_exception(at)
    shown = texts(at).replace("\\", "")
    assert "“Qualified meetings” was changed by someone else since you opened it" in shown
    assert "Owner: theirs Tanaka / yours Sales lead" in shown
    assert "Annual target: theirs 650 件 / yours 600 件" in shown
    stored = next(k for k in store.list_kpis(pid) if k.id == kpi.id)
    assert (stored.name, stored.owner, stored.annual_target) == ("Qualified meetings", "Tanaka", 650.0)
    button(at, f"conflict_load_kpi_{kpi.id}").click().run()
    assert at.text_input(key=f"kpi_owner_{kpi.id}r1").value == "Tanaka"
    assert at.text_input(key=f"kpi_name_{kpi.id}r1").value == "Qualified meetings"


def test_a_kpi_edit_kept_over_theirs_and_one_deleted_meanwhile(make_app, store):
    at, pid, kpi = open_kpi(make_app, store)
    theirs = next(k for k in store.list_kpis(pid) if k.id == kpi.id)
    theirs.owner = "Tanaka"
    store.save_kpi(theirs, None)
    at.text_input(key=f"kpi_owner_{kpi.id}").input("Mine")
    at.button(key=f"kpi_submit_{kpi.id}").click().run()
    button(at, f"conflict_keep_kpi_{kpi.id}").click().run()
    assert_clean(at)
    assert next(k for k in store.list_kpis(pid) if k.id == kpi.id).owner == "Mine"

    at.button(key=f"kpi_edit_{kpi.id}").click().run()
    store.delete_kpi(pid, kpi.id, None)
    at.text_input(key=f"kpi_owner_{kpi.id}").input("Mine again")
    at.button(key=f"kpi_submit_{kpi.id}").click().run()
    assert_no_exception(at)
    assert "“Qualified meetings” was deleted by someone else while you were editing it" in texts(at)
    assert any("Mine again" in str(c.value) for c in at.code)
    assert kpi.id not in [k.id for k in store.list_kpis(pid)]


def set_target(at, kpi_id: int, rows: dict[int, float], drawn: str | None = None) -> None:
    key = next(d.key for d in at.data_editor if d.key.startswith(f"kpi_editor_{drawn or kpi_id}_"))
    at.session_state[key] = {"edited_rows": {i: {"target": v} for i, v in rows.items()}, "added_rows": [],
                             "deleted_rows": []}


def test_targets_saved_meanwhile_are_shown_month_by_month_then_kept_or_loaded(make_app, store):
    pid = sales_plan(store)
    kpi = next(k for k in store.list_kpis(pid) if k.key == "meetings")
    months = store.get_plan(pid).month_list()
    store.set_monthly_targets(pid, "meetings", {m: 50.0 for m in months}, "even")
    at = make_app(KPI_PAGE, lang="en", plan_id=pid)
    at.session_state[f"kpi_targets_open_{kpi.id}"] = True
    at.run()
    assert any(d.key.startswith(f"kpi_editor_{kpi.id}_") for d in at.data_editor), "the targets editor is open"
    store.set_monthly_targets(pid, "meetings", {m: 60.0 if i == 0 else 50.0 for i, m in enumerate(months)},
                              "theirs")
    set_target(at, kpi.id, {0: 55.0, 1: 45.0})
    button(at, f"kpi_targets_save_{kpi.id}").click().run()
    assert_no_exception(at)
    shown = texts(at).replace("\\", "")
    assert "“Monthly targets of Qualified meetings” was changed by someone else" in shown
    assert "Apr 2025: theirs 60 件 / yours 55 件" in shown and "May 2025: theirs 50 件 / yours 45 件" in shown
    assert store.get_monthly_targets(pid)["meetings"][months[0]] == 60.0
    button(at, f"conflict_keep_targets_{kpi.id}").click().run()
    assert_no_exception(at)
    saved = store.get_monthly_targets(pid)["meetings"]
    assert (saved[months[0]], saved[months[1]]) == (55.0, 45.0)
    assert store.target_set_versions(pid)["meetings"] == 3

    store.set_monthly_targets(pid, "meetings", {m: 70.0 for m in months}, "theirs again")
    set_target(at, kpi.id, {0: 1.0})
    button(at, f"kpi_targets_save_{kpi.id}").click().run()
    button(at, f"conflict_load_targets_{kpi.id}").click().run()
    editor = next(d for d in at.data_editor if d.key.startswith(f"kpi_editor_{kpi.id}r1_"))
    assert list(editor.value["target"])[:2] == [70.0, 70.0]
    assert store.get_monthly_targets(pid)["meetings"][months[0]] == 70.0


def test_targets_typed_for_a_kpi_deleted_meanwhile_are_said_so_and_kept_to_copy(make_app, store):
    pid = sales_plan(store)
    kpi = next(k for k in store.list_kpis(pid) if k.key == "meetings")
    months = store.get_plan(pid).month_list()
    store.set_monthly_targets(pid, "meetings", {m: 50.0 for m in months}, "even")
    at = make_app(KPI_PAGE, lang="en", plan_id=pid)
    at.session_state[f"kpi_targets_open_{kpi.id}"] = True
    at.run()
    set_target(at, kpi.id, {0: 55.0})
    at.run()
    store.delete_kpi(pid, kpi.id, None)
    at.run()  # the Save press of this user finds the card gone
    assert_no_exception(at)
    assert "“Qualified meetings” was deleted by someone else while you were editing it" in texts(at)
    assert any("Apr 2025: 55" in str(c.value) for c in at.code), [c.value for c in at.code]
    button(at, f"conflict_dismiss_targets_{kpi.id}").click().run()
    assert "was deleted by someone else" not in texts(at)


def test_targets_only_looked_at_leave_nothing_to_report_when_the_kpi_goes(make_app, store):
    pid = sales_plan(store)
    kpi = next(k for k in store.list_kpis(pid) if k.key == "meetings")
    store.set_monthly_targets(pid, "meetings", {m: 50.0 for m in store.get_plan(pid).month_list()}, "even")
    at = make_app(KPI_PAGE, lang="ja", plan_id=pid)
    at.session_state[f"kpi_targets_open_{kpi.id}"] = True
    at.run()
    store.delete_kpi(pid, kpi.id, None)
    at.run()
    assert_clean(at)
    assert "削除されました" not in texts(at)


def test_a_result_recorded_meanwhile_then_loaded_or_kept(make_app, store):
    plan = seed_sales(store)
    store.save_checkin(CheckIn(plan.id, "meetings", plan.fiscal_start, why="few leads", next_action="Call 20 leads",
                               due=date(2025, 5, 1)))
    at = make_app(PDCA_PAGE, lang="en", plan_id=plan.id)
    theirs = store.list_checkins(plan.id)[0]
    theirs.result = "They called 25"
    store.save_checkin(theirs)
    at.text_area(key=f"pdca_ci_outcome_{theirs.id}").set_value("I called 20")
    at.button(key="pdca_ci_save_result").click().run()
    assert "Result: theirs They called 25 / yours I called 20" in texts(at)
    button(at, f"conflict_load_checkin_{theirs.id}").click().run()
    assert at.text_area(key=f"pdca_ci_outcome_{theirs.id}r1").value == "They called 25"
    at.text_area(key=f"pdca_ci_outcome_{theirs.id}r1").set_value("They called 25, I called 20 more")
    at.button(key="pdca_ci_save_result").click().run()
    assert store.list_checkins(plan.id)[0].result == "They called 25, I called 20 more"


def test_a_review_recorded_meanwhile_for_the_same_kpi_is_shown_then_kept(make_app, store):
    plan = seed_sales(store, months_of_actuals=1)
    at = make_app(PDCA_PAGE, lang="en", plan_id=plan.id)
    store.add_review(plan.id, plan.fiscal_start, "avg_deal", "drop", "covered by revenue")  # someone else
    at.button(key="pdca_rv_save").click().run()
    assert_no_exception(at)
    assert "Average deal: theirs Drop: covered by revenue / yours Keep" in texts(at).replace("\\", ""), texts(at)
    assert len(store.list_reviews(plan.id)) == 1
    button(at, f"conflict_keep_review_{plan.id}").click().run()
    assert_no_exception(at)
    assert len(store.list_reviews(plan.id)) == 4


def test_grid_keep_mine_saves_over_the_cells_changed_meanwhile(make_app, store):
    plan = seed_sales(store)
    may = plan.month_list()[1]
    at = make_app(PDCA_PAGE, lang="en", plan_id=plan.id)
    store.save_actuals(plan.id, [Actual("meetings", may, 41)])
    edit_grid(at, {1: {"meetings": "42"}})
    save_button(at, "pdca_save_actuals").click().run()
    assert store.actual_values(plan.id) == {"meetings": {may: 41.0}}
    button(at, f"pdca_grid_keep_{plan.id}").click().run()
    assert_no_exception(at)
    assert store.actual_values(plan.id) == {"meetings": {may: 42.0}}


def test_a_plan_deleted_under_an_edit_stays_on_screen_saves_refused_entries_kept(make_app, store):
    other = store.create_plan(Plan(name="Another plan", fiscal_start=date(2025, 4, 1)))
    pid = sales_plan(store)
    at = make_app(CSF_PAGE, lang="en", plan_id=pid)
    store.delete_plan(pid)  # someone else deletes the plan this user works on
    at.text_input(key="csf_name_new").input("Referral programme")
    at.button(key="csf_submit_new").click().run()
    assert_no_exception(at)
    shown = texts(at)
    assert "The plan “Sales FY2025” was deleted by someone else while you were working on it" in shown
    assert "“Sales FY2025” was deleted by someone else while you were editing it" in shown
    assert at.text_input(key="csf_name_new").value == "Referral programme"  # still there to copy
    assert store.list_csfs(other.id) == [] and "Referral programme" not in [c.name for c in store.list_csfs(pid)]
    assert at.query_params["plan"] == str(pid)  # not switched to another plan behind the user's back
