"""Step 5 under concurrent edits: a cell someone else saved since the grid opened is not overwritten; the user sees
theirs / yours, keeps the typed grid, and can load the stored values. A result recorded meanwhile is not lost."""
from __future__ import annotations

from datetime import date

from test_page_pdca import APR, edit_grid, grid_key, save_button, seed_sales, texts

from kpi_core.domain.model import Actual, CheckIn

MAY = date(2025, 5, 1)


def test_stale_cell_is_refused_with_theirs_and_yours_then_reload(make_app, store):
    plan = seed_sales(store)
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)  # the grid opens: May meetings empty
    store.save_actuals(plan.id, [Actual("meetings", MAY, 41)])  # someone else saves 41
    edit_grid(at, {1: {"meetings": "42"}, 0: {"meetings": "30"}})
    save_button(at, "pdca_save_actuals").click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert "changed by someone else since you opened it: theirs 41" in shown and "yours 42" in shown
    assert store.actual_values(plan.id) == {"meetings": {MAY: 41.0}}  # neither cell written
    # the typed grid is kept for the user (same editor, same edits)
    assert at.session_state[grid_key(at)]["edited_rows"] == {1: {"meetings": "42"}, 0: {"meetings": "30"}}
    next(b for b in at.button if b.key == f"pdca_grid_reload_{plan.id}").click().run()
    assert at.data_editor[0].value["meetings"][1] == "41"
    assert "someone else" not in texts(at)
    edit_grid(at, {1: {"meetings": "42"}})
    save_button(at, "pdca_save_actuals").click().run()
    assert store.actual_values(plan.id) == {"meetings": {MAY: 42.0}}


def test_stale_cell_message_in_japanese(make_app, store):
    plan = seed_sales(store)
    at = make_app("pages/step5_pdca.py", lang="ja", plan_id=plan.id)
    store.save_actuals(plan.id, [Actual("meetings", APR, 41)])
    edit_grid(at, {0: {"meetings": "42"}})
    save_button(at, "pdca_save_actuals").click().run()
    assert "ほかの人が変更しました: 相手 41" in texts(at)
    assert store.actual_values(plan.id) == {"meetings": {APR: 41.0}}


def test_result_recorded_by_someone_else_meanwhile_is_not_overwritten(make_app, store):
    plan = seed_sales(store)
    store.save_checkin(CheckIn(plan.id, "meetings", APR, why="few leads", next_action="Call 20 leads",
                               due=date(2025, 5, 1)))
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
    theirs = store.list_checkins(plan.id)[0]
    theirs.result = "They called 25"
    store.save_checkin(theirs)
    at.text_area(key=f"pdca_ci_outcome_{theirs.id}").set_value("I called 20")
    at.button(key="pdca_ci_save_result").click().run()
    assert "Result: theirs They called 25 / yours I called 20" in texts(at)
    assert store.list_checkins(plan.id)[0].result == "They called 25"
