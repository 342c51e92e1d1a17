"""Dashboard page: tiles, charts, the off-track KPI and open actions; no plan and no data handled."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from apptest_text import rendered_text

from kpi_core import i18n
from kpi_core.domain.model import CSF, KGI, KPI, Actual, Aggregation, CheckIn, CSFRole, Plan, Status

APR = date(2025, 4, 1)


def seed_sales(store, months_of_actuals: int) -> Plan:
    """Sales plan; every month 50 meetings, 20 % win rate (off track against 25 %), ¥1.2M deals, ¥12M revenue."""
    plan = store.create_plan(Plan(name="Sales 2025", fiscal_start=APR))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Revenue", unit="JPY", baseline=120_000_000,
                       target=144_000_000, formula="meetings * win_rate * avg_deal"), None)
    store.save_csf(CSF(plan.id, "Meeting quality", CSFRole.FALLBACK), None)
    store.save_kpi(KPI(plan.id, "meetings", "Qualified meetings", unit="件", annual_target=600), None)
    store.save_kpi(KPI(plan.id, "win_rate", "Win rate", unit="%", aggregation=Aggregation.RATIO,
                       ratio_weight="meetings", annual_target=0.25), None)
    store.save_kpi(KPI(plan.id, "avg_deal", "Average deal", unit="JPY", aggregation=Aggregation.RATIO,
                       ratio_weight="meetings * win_rate", annual_target=1_200_000), None)
    months = plan.month_list()[:months_of_actuals]
    store.save_actuals(plan.id, [Actual(key, m, value) for m in months for key, value in
                                 [("meetings", 50), ("win_rate", 0.20), ("avg_deal", 1_200_000),
                                  ("revenue", 12_000_000)]])
    return store.get_plan(plan.id)


def metric(at, label: str):
    return next(m for m in at.metric if m.label == label)


def texts(at) -> str:
    return rendered_text(at, ("markdown", "caption", "info", "warning", "error", "success", "subheader"))


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_plan(make_app, lang):
    at = make_app("pages/dashboard.py", lang=lang)
    assert not at.exception
    assert at.info[0].value == i18n.t("common.no_plan", lang)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_actuals_yet_points_to_step5_and_actuals(make_app, store, lang):
    plan = seed_sales(store, months_of_actuals=0)
    at = make_app("pages/dashboard.py", lang=lang, plan_id=plan.id)
    assert not at.exception
    assert at.info[0].value == i18n.t("dashboard.no_data", lang)
    assert not at.metric


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_plan_without_kgi_or_kpis(make_app, store, lang):
    plan = store.create_plan(Plan(name="Blank"))
    at = make_app("pages/dashboard.py", lang=lang, plan_id=plan.id)
    assert not at.exception
    assert at.info[0].value == i18n.t("dashboard.nothing_to_show", lang)


def test_kgi_tiles_and_the_off_track_kpi(make_app, store):
    plan = seed_sales(store, months_of_actuals=6)
    at = make_app("pages/dashboard.py", lang="en", plan_id=plan.id)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    ytd = metric(at, "Year to date")
    assert ytd.value == "¥72.0M" and ytd.delta == "+¥0"  # 6 x 12M against 6 x 12M
    forecast = metric(at, "Forecast")
    assert forecast.value == "¥144.0M" and forecast.delta == "+¥0"
    assert metric(at, "Pace").value == "100.0%"
    win_rate = metric(at, "🔴 Win rate")
    assert win_rate.value == "20.0%" and win_rate.delta == "-5.0 pt"
    assert metric(at, "🟢 Qualified meetings").value == "50 件"
    text = texts(at)
    assert "Actuals up to Sep 2025" in text
    off = [w.value for w in at.warning if "off track" in w.value]
    assert off == ["**Win rate** is off track (80.0% of target). Switch to: Meeting quality"]
    # the driver formula splits this period: meetings on plan, win rate down, average deal on plan
    assert "planned ¥90.0M (KPI targets through the formula) → actual ¥72.0M, -¥18.0M" in text


def test_japanese_dashboard(make_app, store):
    plan = seed_sales(store, months_of_actuals=6)
    at = make_app("pages/dashboard.py", lang="ja", plan_id=plan.id)
    assert not at.exception, [e.value for e in at.exception]
    assert metric(at, "累計実績").value == "7,200万円"
    assert metric(at, "🔴 Win rate").value == "20.0%"
    assert "2025年9月までの実績" in texts(at)


def test_attribution_scope_switch(make_app, store):
    plan = seed_sales(store, months_of_actuals=3)
    at = make_app("pages/dashboard.py", lang="en", plan_id=plan.id)
    at.segmented_control(key="dashboard_attribution_scope").set_value("month").run()
    assert not at.exception
    assert "Jun 2025: planned ¥15.0M (KPI targets through the formula) → actual ¥12.0M, -¥3.0M" in texts(at)


def test_open_actions_with_overdue_highlighted(make_app, store):
    plan = seed_sales(store, months_of_actuals=2)
    today = date.today()
    store.save_checkin(CheckIn(plan.id, "win_rate", APR, Status.OFF_TRACK, why="price", next_action="Coach team",
                               owner="Suzuki", due=today - timedelta(days=3)))
    store.save_checkin(CheckIn(plan.id, "meetings", APR, Status.ON_TRACK, next_action="Keep the cadence",
                               owner="Sato", due=today + timedelta(days=10)))
    store.save_checkin(CheckIn(plan.id, "avg_deal", APR, Status.ON_TRACK, next_action="Done thing",
                               due=today - timedelta(days=30), result="done"))
    at = make_app("pages/dashboard.py", lang="en", plan_id=plan.id)
    assert not at.exception, [e.value for e in at.exception]
    assert "1 action(s) overdue." in [w.value for w in at.warning]
    table = at.dataframe[-1].value
    assert list(table["Next action"]) == ["Coach team", "Keep the cadence"]
    assert table["Due"][0] == "⚠️ " + (today - timedelta(days=3)).isoformat()
    assert list(table["Owner"]) == ["Suzuki", "Sato"]


def test_markup_in_names_is_shown_as_text(make_app, store):
    plan = seed_sales(store, months_of_actuals=2)
    kpi = store.list_kpis(plan.id)[1]
    kpi.name = "**bold** <img src=x onerror=alert(1)>"
    store.save_kpi(kpi, None)
    at = make_app("pages/dashboard.py", lang="en", plan_id=plan.id)
    assert not at.exception
    label = next(m.label for m in at.metric if "bold" in m.label)
    assert label.startswith("🔴 \\*\\*bold\\*\\* \\<img")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_demo_plan_shows_the_off_track_win_rate(make_app, store, demo_plan, lang):
    plan = demo_plan
    at = make_app("pages/dashboard.py", lang=lang, plan_id=plan.id)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    win_rate = next(k for k in store.list_kpis(plan.id) if k.key == "win_rate")
    tile = next(m for m in at.metric if win_rate.name in m.label)
    assert tile.label.startswith("🔴") and tile.value == "19.6%"
    assert any(win_rate.name in w.value and "78.4%" in w.value for w in at.warning)
