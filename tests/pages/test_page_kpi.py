"""Step 4 (KPI) page: renders in both languages; adds, validates, edits and deletes KPIs; versioned monthly
targets; the reverse calculation and the sensitivity, all against a real DuckDB file."""
from __future__ import annotations

from datetime import date

import pytest
from conftest import assert_clean, assert_no_exception
from test_page_csf import demo_plan, sales_plan

from kpi_core.domain.model import KGI, KPI, Plan

PAGE = "pages/step4_kpi.py"


def kpi(store, pid: int, key: str) -> KPI | None:
    return next((k for k in store.list_kpis(pid) if k.key == key), None)


def fill_new(at, **fields: str) -> None:
    for name, value in fields.items():
        at.text_input(key=f"kpi_{name}_new").input(value)


def open_targets(at, kpi_id: int) -> None:
    """Open a KPI's monthly-targets expander (its content is drawn only while open)."""
    at.session_state[f"kpi_targets_open_{kpi_id}"] = True
    at.run()


def submit_new(at):
    return at.button(key="kpi_submit_new").click().run()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_empty_db_points_to_plans(make_app, lang):
    at = make_app(PAGE, lang=lang)
    assert_clean(at)
    assert at.info


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_bare_plan_renders_with_pointers(make_app, store, lang):
    plan = store.create_plan(Plan(name="Bare", fiscal_start=date(2025, 4, 1)))
    at = make_app(PAGE, lang=lang, plan_id=plan.id)
    assert_clean(at)
    assert at.info, "no CSF / no formula is explained"
    assert at.warning, "fewer than 3 KPIs is flagged"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_sales_plan_shows_implied_kgi_and_reverse_calculation(make_app, store, lang):
    pid = sales_plan(store)
    at = make_app(PAGE, lang=lang, plan_id=pid)
    assert_clean(at)
    values = [(m.value, m.delta) for m in at.metric]
    implied = "1.8億円" if lang == "ja" else "¥180.0M"  # compact in a tile
    assert (implied, "+25.0%") in values, values
    assert ("40 件", "-20.0%") in values and ("480 件", "") in values
    assert any("25.0%" in w.value for w in at.warning), "the over-plan is explained"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_demo_plan_renders_with_statuses_and_seasonal_phasing(make_app, store, monkeypatch, lang):
    pid = demo_plan(store, monkeypatch)
    meetings = kpi(store, pid, "meetings")
    at = make_app(PAGE, lang=lang, plan_id=pid)
    assert_clean(at)
    assert ("40 件", "-20.0%") in [(m.value, m.delta) for m in at.metric]
    open_targets(at, meetings.id)
    at.radio(key=f"kpi_method_{meetings.id}").set_value("seasonal").run()
    assert_clean(at)
    at.button(key=f"kpi_targets_save_{meetings.id}").click().run()
    seasonal = store.get_monthly_targets(pid)["meetings"]
    assert sum(seasonal.values()) == 600 and len(set(seasonal.values())) > 1, "last year's shape, not even"


def test_reverse_for_win_rate_and_avg_deal(make_app, store):
    pid = sales_plan(store)
    at = make_app(PAGE, lang="en", plan_id=pid)
    at.selectbox(key="kpi_reverse_unknown").set_value("win_rate").run()
    assert any(m.value == "20.0%" for m in at.metric)
    at.selectbox(key="kpi_reverse_unknown").set_value("avg_deal").run()
    assert any(m.value == "¥960.0K" for m in at.metric)
    assert_clean(at)


def test_apply_reverse_calculation_stores_480_and_rephases(make_app, store):
    pid = sales_plan(store)
    at = make_app(PAGE, lang="en", plan_id=pid)
    at.button(key="kpi_reverse_apply").click().run()
    assert_clean(at)
    assert kpi(store, pid, "meetings").annual_target == 480
    monthly = store.get_monthly_targets(pid)["meetings"]
    assert len(monthly) == 12 and set(monthly.values()) == {40.0}
    at.run()  # the page as drawn after the save
    implied = next(m for m in at.metric if m.label == "KGI implied by the KPI targets")
    assert (implied.value, implied.delta) == ("¥144.0M", ""), "the implied KGI now meets the target"
    assert [s.value for s in at.success] == ["The KPI targets reproduce the KGI target exactly."]
    log = store.audit_log(pid)
    assert any("Reverse calculation" in e.detail for e in log)


def test_no_valid_value_is_explained(make_app, store):
    pid = sales_plan(store)
    kgi = store.get_kgi(pid)
    kgi.target = 10_000_000_000  # a win rate above 100 % would be needed
    store.save_kgi(kgi, None)
    at = make_app(PAGE, lang="ja", plan_id=pid)
    at.selectbox(key="kpi_reverse_unknown").set_value("win_rate").run()
    assert_no_exception(at)
    assert at.error, "an impossible rate is refused with a message"
    assert not any(b.key == "kpi_reverse_apply" for b in at.button)


def test_sensitivity_table_ranks_every_driver(make_app, store):
    pid = sales_plan(store)
    at = make_app(PAGE, lang="en", plan_id=pid)
    tables = [df.value for df in at.dataframe]
    sens = next(t for t in tables if "Rank" in t.columns)
    assert sorted(sens["Rank"]) == [1, 2, 3]
    assert set(sens["+10 % → KGI"]) == {"¥18.0M"}  # a pure product: +10 % on any driver = +10 % of ¥180M


def test_add_kpi_is_stored_with_phased_targets(make_app, store):
    pid = sales_plan(store)
    at = make_app(PAGE, lang="en", plan_id=pid)
    fill_new(at, key="calls", name="Outbound calls", unit="件", target="2,400", owner="Ito", source="CTI log")
    submit_new(at)
    assert_clean(at)
    added = kpi(store, pid, "calls")
    assert added is not None and added.annual_target == 2400 and added.owner == "Ito"
    assert set(store.get_monthly_targets(pid)["calls"].values()) == {200.0}


def test_rate_is_typed_in_percent(make_app, store):
    pid = sales_plan(store)
    at = make_app(PAGE, lang="ja", plan_id=pid)
    fill_new(at, key="mql_rate", name="MQL率", unit="%", target="40")
    submit_new(at)
    assert_clean(at)
    assert kpi(store, pid, "mql_rate").annual_target == pytest.approx(0.40)


@pytest.mark.parametrize("fields", [
    {"key": "Bad Key!", "name": "Calls"},
    {"key": "1calls", "name": "Calls"},
    {"key": "meetings", "name": "Duplicate key"},
    {"key": "revenue", "name": "The KGI's key"},
    {"key": "rate", "name": "Rate", "unit": "%", "target": "150"},
    {"key": "calls", "name": "Calls", "target": "-5"},
    {"key": "calls", "name": "Calls", "target": "many"},
    {"key": "calls", "name": "x" * 10_000},
    {"key": "calls", "name": ""},
])
def test_bad_kpi_input_saves_nothing(make_app, store, fields):
    pid = sales_plan(store)
    before = [k.key for k in store.list_kpis(pid)]
    version = store.get_plan(pid).version
    at = make_app(PAGE, lang="en", plan_id=pid)
    fill_new(at, **fields)
    submit_new(at)
    assert_no_exception(at)
    assert at.error, fields
    assert [k.key for k in store.list_kpis(pid)] == before
    assert store.get_plan(pid).version == version


def test_script_in_a_name_is_stored_as_text_and_not_rendered(make_app, store):
    pid = sales_plan(store)
    at = make_app(PAGE, lang="en", plan_id=pid)
    fill_new(at, key="calls", name='<script>alert("x")</script>', target="100")
    submit_new(at)
    assert_clean(at)
    assert kpi(store, pid, "calls").name == '<script>alert("x")</script>'
    assert not any("<script>" in m.value for m in at.markdown)


def test_markdown_in_a_name_stays_text_in_labels(make_app, store):
    pid = sales_plan(store)
    meetings = kpi(store, pid, "meetings")
    meetings.name = "**Meetings** [x](javascript:alert(1))"
    store.save_kpi(meetings, None)
    at = make_app(PAGE, lang="en", plan_id=pid)
    assert_clean(at)
    label = next(m.label for m in at.metric if "needed per month" in m.label)
    assert "\\*\\*Meetings\\*\\*" in label and "\\[x\\]" in label
    assert "\\*\\*Meetings" in at.button(key="kpi_reverse_apply").label


def test_edit_thresholds(make_app, store):
    pid = sales_plan(store)
    meetings = kpi(store, pid, "meetings")
    at = make_app(PAGE, lang="en", plan_id=pid)
    at.button(key=f"kpi_edit_{meetings.id}").click().run()
    at.number_input(key=f"kpi_amber_{meetings.id}").set_value(90.0)
    at.number_input(key=f"kpi_red_{meetings.id}").set_value(75.0)
    at.button(key=f"kpi_submit_{meetings.id}").click().run()
    assert_clean(at)
    saved = kpi(store, pid, "meetings")
    assert (saved.amber_threshold, saved.red_threshold) == (pytest.approx(0.90), pytest.approx(0.75))
    assert saved.annual_target == 600, "the rest of the KPI is untouched"


def test_red_above_amber_is_refused(make_app, store):
    pid = sales_plan(store)
    meetings = kpi(store, pid, "meetings")
    at = make_app(PAGE, lang="ja", plan_id=pid)
    at.button(key=f"kpi_edit_{meetings.id}").click().run()
    at.number_input(key=f"kpi_red_{meetings.id}").set_value(97.0)
    at.button(key=f"kpi_submit_{meetings.id}").click().run()
    assert at.error
    assert kpi(store, pid, "meetings").red_threshold == pytest.approx(0.85)


def test_monthly_targets_are_versioned(make_app, store):
    pid = sales_plan(store)
    meetings = kpi(store, pid, "meetings")
    at = make_app(PAGE, lang="en", plan_id=pid)
    assert not [r for r in at.radio if r.key == f"kpi_method_{meetings.id}"], "closed: not drawn"
    open_targets(at, meetings.id)
    at.radio(key=f"kpi_method_{meetings.id}").set_value("ramp").run()
    at.text_input(key=f"kpi_targets_reason_{meetings.id}").input("Ramp-up after hiring")
    at.button(key=f"kpi_targets_save_{meetings.id}").click().run()
    assert_clean(at)
    ramp = store.get_monthly_targets(pid)["meetings"]
    assert sum(ramp.values()) == 600 and ramp[date(2025, 4, 1)] < ramp[date(2026, 3, 1)]
    at.radio(key=f"kpi_method_{meetings.id}").set_value("even").run()
    at.button(key=f"kpi_targets_save_{meetings.id}").click().run()
    assert_clean(at)
    assert set(store.get_monthly_targets(pid)["meetings"].values()) == {50.0}
    history = store.target_history(pid, "meetings")
    assert sorted({e.version for e in history}) == [1, 2]
    assert "Ramp-up after hiring" in {e.reason for e in history}
    assert all(e.superseded_at for e in history if e.version == 1), "the old version is kept, superseded"


def test_seasonal_without_history_is_explained(make_app, store):
    pid = sales_plan(store)
    meetings = kpi(store, pid, "meetings")
    at = make_app(PAGE, lang="ja", plan_id=pid)
    open_targets(at, meetings.id)
    at.radio(key=f"kpi_method_{meetings.id}").set_value("seasonal").run()
    assert_clean(at)
    assert any("前年" in w.value for w in at.warning)


def test_delete_kpi_after_confirmation(make_app, store):
    pid = sales_plan(store)
    avg = kpi(store, pid, "avg_deal")
    at = make_app(PAGE, lang="en", plan_id=pid)
    at.button(key=f"kpi_delete_{avg.id}").click().run()
    assert kpi(store, pid, "avg_deal") is not None
    at.button(key=f"kpi_delete_yes_{avg.id}").click().run()
    assert_clean(at)
    assert kpi(store, pid, "avg_deal") is None
    at.run()  # the page as drawn after the save
    assert any("avg_deal" in i.value for i in at.info), "the implied KGI now lacks a driver and says so"


def test_set_warnings_for_too_many_kpis(make_app, store):
    pid = sales_plan(store)
    for n in range(3):
        store.save_kpi(KPI(plan_id=pid, key=f"extra{n}", name=f"Extra {n}"), None)
    at = make_app(PAGE, lang="en", plan_id=pid)
    assert any("6 KPIs" in w.value for w in at.warning)


def test_formula_shown_read_only_with_link_to_step1(make_app, store):
    pid = sales_plan(store)
    at = make_app(PAGE, lang="en", plan_id=pid)
    assert any("meetings * win_rate * avg_deal" in c.value for c in at.code)
    store.save_kgi(KGI(plan_id=pid, key="revenue", name="Revenue", target=1.0, baseline=0.5), None)
    at.run()
    assert_clean(at)
