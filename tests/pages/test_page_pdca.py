"""Step 5 PDCA page: actuals grid, status, check-ins, quarterly review, recovery when off track."""
from __future__ import annotations

from datetime import date

import pytest
from apptest_text import rendered_text

from kpi_core import i18n
from kpi_core.domain.model import CSF, KGI, KPI, Actual, Aggregation, CSFRole, Plan, Status

APR = date(2025, 4, 1)
GRID_COLUMNS = ["__month__", "revenue", "meetings", "win_rate", "avg_deal"]


def seed_sales(store, months_of_actuals: int = 0) -> Plan:
    """The sales worked example; with actuals, win rate runs at 20 % against 25 % (off track)."""
    plan = store.create_plan(Plan(name="Sales 2025", fiscal_start=APR))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Revenue", unit="JPY", baseline=120_000_000,
                       target=144_000_000, deadline=date(2026, 3, 31), basis="last year",
                       formula="meetings * win_rate * avg_deal"), None)
    primary = store.save_csf(CSF(plan.id, "New-customer development"), None)
    store.save_csf(CSF(plan.id, "Meeting quality", CSFRole.FALLBACK, actions=["Sharper discovery"]), None)
    store.save_csf(CSF(plan.id, "Existing customers", CSFRole.FALLBACK, actions=["Upsell"]), None)
    for kpi in [
        KPI(plan.id, "meetings", "Qualified meetings", csf_id=primary.id, unit="件", annual_target=600,
            owner="Sato"),
        KPI(plan.id, "win_rate", "Win rate", csf_id=primary.id, unit="%", aggregation=Aggregation.RATIO,
            ratio_weight="meetings", annual_target=0.25, owner="Suzuki",
            recovery_plan="Review lost deals every Friday"),
        KPI(plan.id, "avg_deal", "Average deal", csf_id=primary.id, unit="JPY", aggregation=Aggregation.RATIO,
            ratio_weight="meetings * win_rate", annual_target=1_200_000),
    ]:
        store.save_kpi(kpi, None)
    months = plan.month_list()[:months_of_actuals]
    store.save_actuals(plan.id, [Actual(key, m, value) for m in months for key, value in
                                 [("meetings", 50), ("win_rate", 0.20), ("avg_deal", 1_200_000),
                                  ("revenue", 12_000_000)]])
    return store.get_plan(plan.id)


def grid_key(at) -> str:
    return at.data_editor[0].key


def edit_grid(at, rows: dict[int, dict[str, str]]) -> None:
    at.session_state[grid_key(at)] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}


def save_button(at, prefix: str):
    return next(b for b in at.button if b.key and b.key.startswith(prefix))


def tables(at) -> list:
    """Read-only tables (at.dataframe lists the data editor too)."""
    return [d.value for d in at.dataframe if d.editing_mode == "read_only"]


def texts(at) -> str:
    return rendered_text(at, ("markdown", "caption", "info", "warning", "error", "success", "subheader"))


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_renders_on_an_empty_database(make_app, lang):
    at = make_app("pages/step5_pdca.py", lang=lang)
    assert not at.exception
    assert at.info[0].value == i18n.t("common.no_plan", lang)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_plan_without_kgi_or_kpis_points_to_the_steps(make_app, store, lang):
    plan = store.create_plan(Plan(name="Blank"))
    at = make_app("pages/step5_pdca.py", lang=lang, plan_id=plan.id)
    assert not at.exception
    assert at.info[0].value == {"ja": "まだ追跡する指標がありません。先にステップ1でKGIを、ステップ4でKPIを設定してください。",
                                "en": "There is nothing to track yet: set the KGI in Step 1 and the KPIs in Step 4 "
                                      "first."}[lang]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_renders_on_a_populated_plan_with_the_recovery_first(make_app, store, lang):
    plan = seed_sales(store, months_of_actuals=6)
    at = make_app("pages/step5_pdca.py", lang=lang, plan_id=plan.id)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    text = texts(at)
    assert "Win rate" in text and "Review lost deals every Friday" in text
    assert "Meeting quality" in text and "Existing customers" in text
    assert "Qualified meetings" not in at.warning[0].value  # meetings are on plan
    grid = at.data_editor[0].value
    assert list(grid.columns) == GRID_COLUMNS and len(grid) == 12
    assert list(grid["win_rate"][:2]) == ["20", "20"] and grid["avg_deal"][0] == "1,200,000"
    assert grid["meetings"][6] == ""


def test_enter_two_months_and_see_a_status(make_app, store):
    plan = seed_sales(store)
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
    edit_grid(at, {0: {"meetings": "48", "win_rate": "25", "avg_deal": "1,200,000", "revenue": "14,400,000"},
                   1: {"meetings": "40", "win_rate": "20%", "avg_deal": "¥1,100,000", "revenue": "8,800,000"}})
    save_button(at, "pdca_save_actuals").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    values = store.actual_values(plan.id)
    assert values["meetings"] == {APR: 48.0, date(2025, 5, 1): 40.0}
    assert values["win_rate"][date(2025, 5, 1)] == pytest.approx(0.20)
    assert values["avg_deal"][date(2025, 5, 1)] == 1_100_000
    # the fresh grid shows the stored values; the summary shows the statuses
    assert at.data_editor[0].value["win_rate"][1] == "20"
    summary = tables(at)[0]
    statuses = dict(zip(summary["Metric"], summary["Status"]))
    # meetings 88 against 100 -> 88 % (at risk); win rate (12 + 8) / 88 = 22.7 % against 25 % -> 91 % (at risk)
    assert statuses["Qualified meetings"] == "🟡 At risk"
    assert statuses["Win rate"] == "🟡 At risk"
    assert statuses["🎯 Revenue"] == "🟢 On track"  # 23.2M against 24M: 96.7 %
    # saving the same grid again changes nothing
    save_button(at, "pdca_save_actuals").click().run()
    assert at.info[0].value == "Nothing changed: no actual was saved."


@pytest.mark.parametrize(("cell", "message"), [
    ({"meetings": "many"}, "Qualified meetings, 2025-05: “many” is not a number."),
    ({"meetings": "-5"}, "Qualified meetings, 2025-05: -5 is negative; counts, amounts and money cannot be below zero."),
    ({"avg_deal": "-1,000"},
     "Average deal, 2025-05: -1,000 is negative; counts, amounts and money cannot be below zero."),
    ({"win_rate": "130"}, "Win rate, 2025-05: 130 is outside 0–100 %, the range of a rate."),
    ({"meetings": "1e308"}, ("Qualified meetings, 2025-05: 1e308 is larger than any real figure (the limit is "
                             "10^15 = 1,000,000,000,000,000); check the unit or the cell.")),
    ({"win_rate": "<script>alert(1)</script>"}, "Win rate, 2025-05: “<script>alert(1)</script>” is not a number."),
])
def test_bad_values_are_refused_and_nothing_is_stored(make_app, store, cell, message):
    plan = seed_sales(store)
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
    edit_grid(at, {0: {"meetings": "50"}, 1: cell})
    save_button(at, "pdca_save_actuals").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors[0].startswith("1 cell(s) cannot be saved, so nothing was saved.")
    assert errors[1] == message
    assert store.actual_values(plan.id) == {}  # the valid April cell was not saved either


def test_bad_value_message_in_japanese(make_app, store):
    plan = seed_sales(store)
    at = make_app("pages/step5_pdca.py", lang="ja", plan_id=plan.id)
    edit_grid(at, {2: {"win_rate": "150"}})
    save_button(at, "pdca_save_actuals").click().run()
    assert at.error[1].value.startswith("Win rate, 2025-06：150 は率の範囲（0〜100 %）を外れています。")
    assert store.actual_values(plan.id) == {}


def test_clearing_a_cell_removes_the_value_but_keeps_history(make_app, store):
    plan = seed_sales(store, months_of_actuals=2)
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
    edit_grid(at, {1: {"meetings": ""}, 0: {"meetings": "55"}})
    save_button(at, "pdca_save_actuals").click().run()
    assert not at.error, [e.value for e in at.error]
    assert store.actual_values(plan.id)["meetings"] == {APR: 55.0}
    history = store.actual_history(plan.id, "meetings")
    assert len(history) == 3 and sum(not e.current for e in history) == 2


def test_checkin_form_proposes_latest_month_and_status_then_saves(make_app, store):
    plan = seed_sales(store, months_of_actuals=3)
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
    at.selectbox(key="pdca_ci_metric").set_value("win_rate").run()
    month = at.selectbox(key="pdca_ci_month_win_rate")
    assert month.value == date(2025, 6, 1)
    status = at.selectbox(key="pdca_ci_status_win_rate_2025-06-01")
    assert status.value == Status.OFF_TRACK
    assert at.text_input(key="pdca_ci_owner_win_rate").value == "Suzuki"
    # a miss needs why and what next
    at.button(key="pdca_ci_save").click().run()
    assert at.error[0].value == "This metric is at risk or off track: write both why it moved and the next action."
    assert store.list_checkins(plan.id) == []
    at.text_area(key="pdca_ci_why_new").input("Two big deals lost on price")
    at.text_area(key="pdca_ci_next_new").input("Price review with the manager")
    at.date_input(key="pdca_ci_due").set_value(date(2025, 7, 10))
    at.button(key="pdca_ci_save").click().run()
    assert not at.error, [e.value for e in at.error]
    saved = store.list_checkins(plan.id)
    assert len(saved) == 1
    checkin = saved[0]
    assert (checkin.metric_key, checkin.month, checkin.status) == ("win_rate", date(2025, 6, 1), Status.OFF_TRACK)
    assert (checkin.why, checkin.next_action, checkin.owner, checkin.due) == (
        "Two big deals lost on price", "Price review with the manager", "Suzuki", date(2025, 7, 10))
    log = tables(at)[-1]
    assert list(log["Next action"]) == ["Price review with the manager"]
    # the result of the open action is recorded later
    at.text_area(key=f"pdca_ci_outcome_{checkin.id}").input("Won one back")
    at.button(key="pdca_ci_save_result").click().run()
    assert store.list_checkins(plan.id)[0].result == "Won one back"


def test_quarterly_review_needs_a_reason_to_change_or_drop(make_app, store):
    plan = seed_sales(store, months_of_actuals=1)
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
    at.radio(key="pdca_rv_decision_avg_deal").set_value("drop")
    at.button(key="pdca_rv_save").click().run()
    assert at.error[0].value == "“Average deal”: changing or dropping a KPI needs a reason."
    assert store.list_reviews(plan.id) == []
    at.text_input(key="pdca_rv_reason_avg_deal").input("Tracked in the revenue KPI already")
    at.button(key="pdca_rv_save").click().run()
    assert not at.error, [e.value for e in at.error]
    reviews = store.list_reviews(plan.id)
    assert sorted((r.metric_key, r.decision) for r in reviews) == [
        ("avg_deal", "drop"), ("meetings", "keep"), ("win_rate", "keep")]


def test_very_long_and_markup_names_render_safely(make_app, store):
    plan = seed_sales(store, months_of_actuals=2)
    kpi = store.list_kpis(plan.id)[1]
    kpi.name = "<script>alert('x')</script> " + "率" * 10_000
    store.save_kpi(kpi, None)
    for lang in ("ja", "en"):
        at = make_app("pages/step5_pdca.py", lang=lang, plan_id=plan.id)
        assert not at.exception, [e.value for e in at.exception]
        assert "<script>" not in texts(at).replace("\\<script\\>", "")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_demo_plan_untouched_grid_saves_nothing(make_app, store, demo_plan, lang):
    plan = demo_plan
    before = store.actual_values(plan.id)
    at = make_app("pages/step5_pdca.py", lang=lang, plan_id=plan.id)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.data_editor[0].value["win_rate"][0] == "19.15"  # 9 wins of 47 meetings, shown rounded
    off = at.warning[0].value
    assert i18n.t("pdca.recovery.kpi", lang).split("{name}")[1][:6] in off
    save_button(at, "pdca_save_actuals").click().run()
    assert at.info[0].value == i18n.t("pdca.grid.no_change", lang)
    assert store.actual_values(plan.id) == before  # the exact 9/47 was not replaced by 19.15 %
