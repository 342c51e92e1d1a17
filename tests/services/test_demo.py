"""The demo seed: the sales worked example with history, this year's actuals and check-ins, in a real DuckDB file
and on a real PostgreSQL server."""
from __future__ import annotations

import math
from contextlib import ExitStack
from datetime import date

import pytest

from kpi_core.adapters.store import open_store
from kpi_core.domain.drivers import implied_kgi
from kpi_core.domain.model import PlanStatus, Status, add_months
from kpi_core.domain.tracking import track_plan
from kpi_core.i18n import catalogue
from kpi_core.services.demo import seed_demo

BACKENDS = ("duckdb", "postgresql")

TODAY = date(2026, 11, 20)
FISCAL_START = date(2026, 4, 1)


@pytest.fixture
def demo_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request, tmp_path_factory):
    """One seeded database per engine shared by the tests that only read it (seeding takes a second)."""
    with pytest.MonkeyPatch.context() as patch, ExitStack() as stack:
        patch.setenv("KPI_WORKBENCH_DEMO", "1")
        target = (tmp_path_factory.mktemp("demo") / "demo.duckdb" if request.param == "duckdb"
                  else stack.enter_context(request.getfixturevalue("pg_cluster").database()))
        store = open_store(target)
        plan = seed_demo(store, today=TODAY)
        assert plan is not None
        yield store, plan
        store.close()


def _series(store, plan) -> dict:
    return store.actual_values(plan.id)


def test_demo_plan_is_the_sales_example_with_a_24m_gap(seeded):
    store, plan = seeded
    assert (plan.template, plan.fiscal_start, plan.status) == ("sales", FISCAL_START, PlanStatus.ACTIVE)
    assert plan.name == catalogue("ja")["engine.demo.plan_name"]
    kgi = store.get_kgi(plan.id)
    assert (kgi.baseline, kgi.target, kgi.current) == (120_000_000, 144_000_000, 120_000_000)
    assert kgi.target - kgi.current == 24_000_000
    assert kgi.target / kgi.current - 1 == pytest.approx(0.20)
    kpis = store.list_kpis(plan.id)
    assert {k.key: k.annual_target for k in kpis} == {"meetings": 600, "win_rate": 0.25, "avg_deal": 1_200_000}
    assert implied_kgi(kgi, kpis, plan.months).annual == pytest.approx(180_000_000)
    csfs = store.list_csfs(plan.id)
    assert len(csfs) == 3 and all(csf.actions for csf in csfs)


def test_last_year_history_sums_to_exactly_120m_and_follows_the_formula(seeded):
    store, plan = seeded
    series = _series(store, plan)
    history_months = [add_months(FISCAL_START, i) for i in range(-12, 0)]
    for key in ("revenue", "meetings", "win_rate", "avg_deal"):
        assert sorted(m for m in series[key] if m < FISCAL_START) == history_months
    revenue = [series["revenue"][m] for m in history_months]
    assert math.fsum(revenue) == 120_000_000
    assert len(set(revenue)) > 3  # some seasonality, not a flat line
    for month in history_months:
        meetings, rate, deal = (series[k][month] for k in ("meetings", "win_rate", "avg_deal"))
        wins = meetings * rate
        assert wins == pytest.approx(round(wins))
        assert abs(meetings * rate * deal - series["revenue"][month]) <= round(wins)  # a yen per win at most


def test_this_year_meetings_and_deals_on_track_win_rate_off_track(seeded):
    store, plan = seeded
    series = _series(store, plan)
    months = plan.month_list()[:6]
    assert sorted(m for m in series["meetings"] if m >= FISCAL_START) == months
    kpis = {k.key: k for k in store.list_kpis(plan.id)}
    targets = store.get_monthly_targets(plan.id)

    tracked = track_plan(plan, store.get_kgi(plan.id), list(kpis.values()), targets, series)
    assert tracked.as_of == months[-1]

    def attainment(key: str) -> float:
        return tracked.metric(key).pace

    assert attainment("meetings") >= kpis["meetings"].amber_threshold
    assert attainment("avg_deal") >= kpis["avg_deal"].amber_threshold
    assert attainment("win_rate") < kpis["win_rate"].red_threshold
    assert all(0.19 <= series["win_rate"][m] <= 0.20 for m in months)
    for month in months:
        product = series["meetings"][month] * series["win_rate"][month] * series["avg_deal"][month]
        assert product == pytest.approx(series["revenue"][month], abs=1e-6)


def test_actuals_are_marked_as_seed_data(seeded):
    store, plan = seeded
    actuals = store.get_actuals(plan.id)
    assert len(actuals) == 4 * 18
    assert {a.source for a in actuals} == {"seed"}


def test_the_off_track_kpi_has_check_ins_with_why_next_owner_and_due(seeded):
    store, plan = seeded
    checkins = store.list_checkins(plan.id)
    assert len(checkins) >= 2
    for checkin in checkins:
        assert checkin.metric_key == "win_rate" and checkin.status is Status.OFF_TRACK
        assert checkin.why and checkin.next_action and checkin.owner and checkin.due
        assert checkin.due > checkin.month
    latest = checkins[0]
    assert latest.result == "" and latest.due > TODAY  # the open action is still ahead


def test_seeding_twice_does_nothing_the_second_time(seeded, demo_on):
    store, plan = seeded
    assert seed_demo(store, today=TODAY) is None
    assert [p.id for p in store.list_plans()] == [plan.id]
    assert len(store.get_actuals(plan.id)) == 4 * 18


def test_a_database_with_only_deleted_plans_is_not_seeded(store, demo_on):
    plan = seed_demo(store, today=TODAY)
    store.delete_plan(plan.id)
    assert seed_demo(store, today=TODAY) is None
    assert store.list_plans() == []


def test_the_environment_switch_disables_the_demo(store, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "0")
    assert seed_demo(store, today=TODAY) is None
    assert store.list_plans() == [] and store.deleted_plans() == []


def test_fiscal_year_follows_today_and_english_texts(fresh_target, demo_on):
    store = open_store(fresh_target)
    try:
        plan = seed_demo(store, today=date(2027, 2, 10), lang="en")
        assert plan.fiscal_start == FISCAL_START  # February 2027 is still the fiscal year begun April 2026
        assert plan.name == catalogue("en")["engine.demo.plan_name"]
        assert store.list_checkins(plan.id)[-1].why == catalogue("en")["engine.demo.checkin1.why"]
        assert store.list_kpis(plan.id)[0].name == "Qualified meetings"
    finally:
        store.close()


def test_the_seed_is_deterministic(seeded, tmp_path, demo_on):
    store, plan = seeded
    other = open_store(tmp_path / "again.duckdb")
    try:
        again = seed_demo(other, today=TODAY)
        assert _series(other, again) == _series(store, plan)
    finally:
        other.close()
