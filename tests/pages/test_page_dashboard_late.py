"""Dashboard and Step 5 on a plan whose actuals start late (April-June missing): the figures agree with the chart,
the missing months are named, and the header count and the KPI cards speak one status vocabulary."""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from apptest_text import rendered_text

from kpi_core import i18n
from kpi_core.charts import tracking as charts
from kpi_core.domain import tracking as tr
from kpi_core.domain.model import KGI, KPI, Actual, Aggregation, Plan
from kpi_core.services.tracking import plan_tracking

APR = date(2025, 4, 1)
REVENUE = {7: 12_500_000, 8: 12_500_000, 9: 12_500_000}  # July-September only, ¥12M a month planned
MEETINGS = {7: 50, 8: 50, 9: 30}  # on pace in July-August, a weak September


def seed_late(store) -> Plan:
    plan = store.create_plan(Plan(name="Late start", fiscal_start=APR))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Revenue", unit="JPY", baseline=120_000_000,
                       target=144_000_000), None)
    store.save_kpi(KPI(plan.id, "meetings", "Qualified meetings", unit="件", annual_target=600), None)
    store.save_kpi(KPI(plan.id, "win_rate", "Win rate", unit="%", aggregation=Aggregation.RATIO,
                       ratio_weight="meetings", annual_target=0.25), None)
    actuals = [Actual("revenue", date(2025, m, 1), v) for m, v in REVENUE.items()]
    actuals += [Actual("meetings", date(2025, m, 1), v) for m, v in MEETINGS.items()]
    actuals += [Actual("win_rate", date(2025, m, 1), 0.25) for m in MEETINGS]
    store.save_actuals(plan.id, actuals)
    return store.get_plan(plan.id)


def metric(at, label: str):
    return next(m for m in at.metric if m.label == label)


def test_the_figures_agree_with_the_cumulative_chart(store):
    plan = seed_late(store)
    tracking = plan_tracking(store, plan)
    kgi = tracking.kgi
    frame = charts.cumulative_chart(kgi, "en").data
    at_sep = frame[(frame["month"] == "Sep 2025")].set_index("series")["value"]
    assert at_sep["Actual"] == kgi.ytd_actual == 37_500_000
    assert at_sep["Target"] == kgi.ytd_target == 72_000_000  # six months of target, as the line
    end = frame[(frame["month"] == "Mar 2026") & (frame["series"] == "Forecast")]["value"].item()
    assert end == kgi.forecast == 112_500_000


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_dashboard_names_the_missing_months_and_agrees(make_app, store, lang):
    plan = seed_late(store)
    at = make_app("pages/dashboard.py", lang=lang, plan_id=plan.id)
    assert not at.exception, [e.value for e in at.exception]
    ytd = metric(at, i18n.t("dashboard.kgi.ytd", lang))
    pace = metric(at, i18n.t("dashboard.kgi.pace", lang))
    forecast = metric(at, i18n.t("dashboard.kgi.forecast", lang))
    if lang == "en":
        assert (ytd.value, ytd.delta) == ("¥37.5M", "-¥34.5M")
        assert (forecast.value, forecast.delta) == ("¥112.5M", "-¥31.5M")
    else:
        assert (ytd.value, ytd.delta) == ("3,750万円", "-3,450万円")
        assert forecast.value == "1.13億円" and "112,500,000円" in forecast.help
    assert pace.value == "52.1%"
    status = metric(at, i18n.t("dashboard.kgi.status", lang))
    assert status.value == f"🔴 {i18n.t('enum.status.off_track', lang)}"
    missing = [w.value for w in at.warning if w.value.startswith(("No data", "2025年"))]
    months = "Apr–Jun 2025" if lang == "en" else "2025年4月–6月"
    assert missing == [i18n.t("room.missing_months", lang, months=months,
                              names="Revenue, Qualified meetings, Win rate")]


def test_header_count_and_kpi_cards_never_disagree(make_app, store):
    plan = seed_late(store)
    at = make_app("pages/dashboard.py", lang="en", plan_id=plan.id)
    header = next(c.value for c in at.caption if c.value.startswith("Actuals up to"))
    # meetings: 130 of 300 planned for Apr-Sep -> off track overall, although September's own month is also red
    # and July was green; the win rate is on its 25 % in every reported month.
    assert "🔴 Off track 1" in header and "🟢 On track 1" in header
    cards = [m.label for m in at.metric if m.label.startswith(("🟢", "🟡", "🔴", "⚪"))]
    assert sorted(cards) == ["🔴 Qualified meetings", "🟢 Win rate"]
    counted = {emoji: sum(1 for c in cards if c.startswith(emoji)) for emoji in ("🟢", "🔴")}
    assert f"🟢 On track {counted['🟢']}" in header and f"🔴 Off track {counted['🔴']}" in header


def test_step5_names_the_missing_months(make_app, store):
    plan = seed_late(store)
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
    assert not at.exception, [e.value for e in at.exception]
    assert any(w.value.startswith("No data for Apr–Jun 2025") for w in at.warning), rendered_text(at, ("warning",))
    assert metric(at, "Year to date").value == "130 件"  # meetings, the worst KPI, is shown first


def test_step5_tiles_agree_with_its_chart_and_speak_the_table_s_words(make_app, store):
    """Step 5 on the late plan: the tiles' year-to-date, pace and forecast are the chart's own sums (April-June
    count as planned months without actuals), and the status words are those of the chart legend and the table."""
    plan = seed_late(store)
    meetings = plan_tracking(store, plan).metric("meetings")
    chart = charts.monthly_chart(meetings, "en")
    frame = chart.data if isinstance(chart.data, pd.DataFrame) else chart.layer[0].data
    reported = frame[frame["actual"].notna()]
    assert reported["actual"].sum() == meetings.ytd_actual == 130
    elapsed = frame.iloc[:6]  # April-September: up to the latest month with an actual
    assert elapsed["target"].sum() == meetings.ytd_target == 300
    assert meetings.forecast == 130 + (50 + 50 + 30) / 3 * 6  # the run-rate of the months with data
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
    assert metric(at, "Year to date").value == "130 件"
    assert metric(at, i18n.t("pdca.tile.pace", "en")).value == "43.3%"
    assert metric(at, i18n.t("pdca.tile.forecast", "en")).value == "390 件"
    status = metric(at, i18n.t("pdca.tile.status", "en")).value
    assert status == f"🔴 {i18n.t('enum.status.off_track', 'en')}"
    legend = set(frame["status"])
    column = i18n.t("pdca.table.status", "en")
    table = next(d.value for d in at.dataframe if column in d.value.columns)
    assert set(table[column]) <= {f"{tr.STATUS_EMOJI[s]} {i18n.t(f'enum.status.{s}', 'en')}"
                                                            for s in tr.STATUS_ORDER}
    assert legend <= {i18n.t(f"enum.status.{s}", "en") for s in tr.STATUS_ORDER}
