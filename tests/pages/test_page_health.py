"""Health page: both languages on an empty database, the demo plan and a 50-KPI plan; checklist ticks and
snapshots through the page; the score tile on the dashboard."""
from __future__ import annotations

import pytest
from apptest_text import rendered_text

from kpi_core.domain.health import SEVERITY_ORDER
from kpi_core.domain.model import KGI, KPI, Actual, Plan
from kpi_core.services.health import plan_health
from pages.health_check import CARDS_SHOWN

PAGE = "pages/health_check.py"


def texts(at) -> str:
    return rendered_text(at, ("markdown", "caption", "info", "warning", "error", "success", "subheader"))


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_empty_database_points_to_the_plans_page(make_app, lang):
    at = make_app(PAGE, lang=lang)
    assert_clean(at)
    assert at.info, "no plan: a pointer instead of a page"


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", ["Win rate", "without a complete check-in", "Readiness checklist", "Fix in Step 5 PDCA"]),
    ("ja", ["Win rate", "そろったチェックイン", "準備チェックリスト", "ステップ5 PDCAで直す"]),
])
def test_demo_plan_lists_findings_with_evidence_and_the_step_that_fixes_them(make_app, store, demo_plan, lang,
                                                                                 expected):
    at = make_app(PAGE, lang=lang, plan_id=demo_plan.id)
    assert_clean(at)
    shown = texts(at) + "\n".join(str(link.proto.label) for link in at.get("page_link"))
    for text in expected:
        assert text in shown, text
    score = next(m for m in at.metric if m.label in ("Health score", "ヘルススコア"))
    assert float(score.value) == pytest.approx(plan_health(store, demo_plan.id, auto_snapshot=False).report.score, abs=0.5)
    formula = "Score = max(0, 100" if lang == "en" else "スコア = max(0, 100"
    assert formula in texts(at)


def test_fifty_kpi_plan_renders_in_both_languages(make_app, store):
    plan = store.create_plan(Plan(name="Big plan"))
    store.save_kgi(KGI(plan_id=plan.id, key="total", name="Total", baseline=100.0, target=120.0,
                       formula=" + ".join(f"k{i}" for i in range(50))), None)
    for i in range(50):
        store.save_kpi(KPI(plan.id, f"k{i}", f"<b>KPI {i}</b> *x*", unit="件", annual_target=24.0), None)
    store.save_actuals(plan.id, [Actual(f"k{i}", m, 2.0) for i in range(50) for m in plan.month_list()[:3]])
    for lang in ("en", "ja"):
        at = make_app(PAGE, lang=lang, plan_id=plan.id)
        assert_clean(at)
        shown = texts(at)
        assert "50 KPIs" in shown or "KPIが50個" in shown
        assert "<b>" not in shown, "user text is escaped"


def test_ticking_a_checklist_item_records_who(make_app, store, demo_plan):
    at = make_app(PAGE, lang="en", plan_id=demo_plan.id)
    at.checkbox(key="health_tick_review_meeting").check()
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert any("Enter your name" in e.value for e in at.error)
    assert not store.health_ticks(demo_plan.id), "no name: nothing stored"
    at.text_input(key="health_who").input("Sato")
    at.checkbox(key="health_tick_review_meeting").check()
    at.form_submit_button[0].click().run()
    assert_clean(at)
    ticked, who, when = store.health_ticks(demo_plan.id)["review_meeting"]
    assert ticked and who == "Sato" and when is not None
    assert "Sato" in at.checkbox(key="health_tick_review_meeting").label


def test_snapshot_on_demand(make_app, store, demo_plan):
    at = make_app(PAGE, lang="en", plan_id=demo_plan.id)
    assert [s.trigger for s in store.health_snapshots(demo_plan.id)] == ["monthly"]
    at.button(key=f"health_snapshot_{demo_plan.id}").click().run()
    assert_clean(at)
    assert [s.trigger for s in store.health_snapshots(demo_plan.id)] == ["monthly", "manual"]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_dashboard_shows_the_score_tile(make_app, store, demo_plan, lang):
    at = make_app("pages/dashboard.py", lang=lang, plan_id=demo_plan.id)
    assert_clean(at)
    label = "Health score" if lang == "en" else "ヘルススコア"
    assert any(m.label == label for m in at.metric)
    assert not store.health_snapshots(demo_plan.id), "the dashboard only reads"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_blank_plan_shows_what_is_missing(make_app, store, lang):
    plan = store.create_plan(Plan(name="Blank"))
    at = make_app(PAGE, lang=lang, plan_id=plan.id)
    assert_clean(at)
    shown = texts(at)
    assert ("The plan has no KGI." if lang == "en" else "計画にKGIがありません。") in shown
    assert ("0 KPI(s)" if lang == "en" else "KPIは0個です") in shown


def test_a_long_findings_list_shows_the_first_cards_and_all_on_demand(make_app, store):
    plan = store.create_plan(Plan(name="Many findings"))
    for i in range(30):
        store.save_kpi(KPI(plan.id, f"k{i}", f"KPI {i}", unit="件"), None)  # no target, owner or source each
    report = plan_health(store, plan.id, auto_snapshot=False).report
    groups = {s: sum(1 for f in report.findings if f.severity is s) for s in SEVERITY_ORDER}
    long_groups = [s for s, n in groups.items() if n > CARDS_SHOWN]
    assert long_groups, groups
    at = make_app(PAGE, lang="en", plan_id=plan.id)
    assert_clean(at)

    def fix_links() -> int:
        return sum(1 for link in at.get("page_link") if str(link.proto.label).startswith("Fix in"))

    shown = sum(min(n, CARDS_SHOWN) for n in groups.values())
    assert fix_links() == shown
    severity = long_groups[0]
    at.toggle(key=f"health_all_{severity}").set_value(True).run()
    assert_clean(at)
    assert fix_links() == shown - CARDS_SHOWN + groups[severity]
