"""The health check on stored plans: the shipped templates, the demo plan, checklist ticks and snapshots."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core.adapters.templates import load_templates
from kpi_core.domain.health import Severity
from kpi_core.domain.model import CheckIn, Status
from kpi_core.services.health import (
    HealthInputError,
    finding_texts,
    plan_health,
    take_snapshot,
    tick_item,
)
from kpi_core.services.plans import create_plan_from_template
from tests.conftest import DEMO_TODAY

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_shipped_template_scores_at_least_90_when_created_fresh(store, lang):
    templates, errors = load_templates()
    assert not errors and len(templates) == 4
    for template in templates:
        plan = create_plan_from_template(store, template, lang)
        health = plan_health(store, plan.id, TODAY)
        assert health.report.score >= 90, (template.id, [(f.check, f.metric) for f in health.report.findings])
        assert not health.report.high, template.id


def test_sales_template_points_out_its_over_plan(store):
    sales = next(t for t in load_templates()[0] if t.id == "sales")
    plan = create_plan_from_template(store, sales, "en")
    over = next(f for f in plan_health(store, plan.id, TODAY).report.findings if f.check == "over_plan")
    evidence, fix = finding_texts(over, "en")
    assert "¥180.0M" in evidence and "¥144.0M" in evidence and "+25.0" in evidence
    assert "reverse calculation" in fix


def test_demo_plan_gets_the_no_action_finding_its_win_rate_deserves(store, demo_plan):
    report = plan_health(store, demo_plan.id, DEMO_TODAY).report
    no_checkin = next(f for f in report.findings if f.check == "off_track_no_checkin")
    assert (no_checkin.metric, no_checkin.severity) == ("win_rate", Severity.HIGH)
    start = demo_plan.fiscal_start
    assert no_checkin.evidence["count"] == 3  # months 1-3 are off track; months 4-6 have check-ins
    assert no_checkin.evidence["months"] == ", ".join(f"{start.year}-{m:02d}" for m in (4, 5, 6))
    never = next(f for f in report.findings if f.check == "never_revised")
    assert never.metric == "win_rate" and never.evidence["quarters"] == 2
    against = next(f for f in report.findings if f.check == "against_kgi")
    assert against.metric == "win_rate" and against.evidence["months"] == 18
    assert report.lights[5] is Status.OFF_TRACK
    assert report.score < 90


def test_answering_the_demo_misses_removes_the_finding(store, demo_plan):
    for offset in range(3):
        month = date(demo_plan.fiscal_start.year, demo_plan.fiscal_start.month + offset, 1)
        store.save_checkin(CheckIn(plan_id=demo_plan.id, metric_key="win_rate", month=month,
                                   status=Status.OFF_TRACK, why="losses to a cheaper rival",
                                   next_action="loss reviews", owner="Sales manager", due=DEMO_TODAY,
                                   result="done"))
    checks = {f.check for f in plan_health(store, demo_plan.id, DEMO_TODAY).report.findings}
    assert "off_track_no_checkin" not in checks


def test_checklist_ticks_record_who_and_keep_history(store, demo_plan):
    with pytest.raises(HealthInputError) as refused:
        tick_item(store, demo_plan.id, "one_system", True, "  ")
    assert refused.value.key == "health.err.who_needed"
    with pytest.raises(HealthInputError):
        tick_item(store, demo_plan.id, "kgi_set", True, "Sato")  # the app ticks this one itself
    tick_item(store, demo_plan.id, "review_meeting", True, "Sato")
    health = plan_health(store, demo_plan.id, DEMO_TODAY)
    item = next(i for i in health.checklist if i.item == "review_meeting")
    assert item.done and item.ticked_by == "Sato" and item.ticked_at is not None
    assert "no_cadence" not in {f.check for f in health.report.findings}, "the ticked meeting is the cadence"
    tick_item(store, demo_plan.id, "review_meeting", False, "Suzuki")
    item = next(i for i in plan_health(store, demo_plan.id, DEMO_TODAY).checklist if i.item == "review_meeting")
    assert not item.done and item.ticked_by == "Suzuki"
    rows = store.cursor().execute("SELECT ticked, ticked_by FROM health_ticks WHERE plan_id = ? ORDER BY id",
                                  [demo_plan.id]).fetchall()
    assert rows == [(True, "Sato"), (False, "Suzuki")]


def test_snapshot_monthly_and_on_demand(store, demo_plan):
    first = plan_health(store, demo_plan.id, DEMO_TODAY)
    assert [s.trigger for s in first.snapshots] == ["monthly"]
    again = plan_health(store, demo_plan.id, DEMO_TODAY)
    assert len(again.snapshots) == 1, "one automatic snapshot a month"
    take_snapshot(store, demo_plan.id, again.report, DEMO_TODAY)
    next_month = plan_health(store, demo_plan.id, date(2026, 12, 2))
    assert [s.trigger for s in next_month.snapshots] == ["monthly", "manual", "monthly"]
    snap = next_month.snapshots[0]
    assert snap.score == first.report.score
    assert snap.high == len(first.report.high)
    assert snap.lights["5"] == "off_track"


def test_a_workshop_decision_counts_as_the_field_taking_part(store, demo_plan):
    from kpi_core.domain.workshop import NoteKind
    from kpi_core.services import workshop

    for checkin in store.list_checkins(demo_plan.id):
        store.cursor().execute("DELETE FROM checkins WHERE id = ?", [checkin.id])  # a plan nobody discussed
    checks = {f.check for f in plan_health(store, demo_plan.id, DEMO_TODAY).report.findings}
    assert "untouched_targets" in checks
    session, key = workshop.create_session(store, demo_plan.id, "Kick-off")
    workshop.add_note(store, session.id, key, NoteKind.DECISION, "Win rate target stays at 25 %")
    assert store.workshop_decision_count(demo_plan.id) == 1
    checks = {f.check for f in plan_health(store, demo_plan.id, DEMO_TODAY).report.findings}
    assert "untouched_targets" not in checks
