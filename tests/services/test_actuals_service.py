"""The Actuals screen's use cases that are not writes: the plan's metrics, the preview's figures, the month a value
history opens at, and the profile name check."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core import ingest
from kpi_core.domain.model import KGI, KPI, Actual, Plan
from kpi_core.services.actuals import (
    PreviewCounts,
    ProfileNameError,
    check_profile_name,
    latest_recorded_month,
    mapping_aliases,
    plan_metrics,
    preview_counts,
)

APRIL, MAY, JUNE = date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)


@pytest.fixture
def plan(store):
    plan = store.create_plan(Plan(name="Sales", fiscal_start=APRIL, template="sales"))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Revenue", unit="JPY", target=144e6), None)
    store.save_kpi(KPI(plan_id=plan.id, key="meetings", name="Meetings", unit="件"), None)
    store.save_kpi(KPI(plan_id=plan.id, key="win_rate", name="", unit="%"), None)
    return store.get_plan(plan.id)


def test_plan_metrics_lists_the_kgi_then_the_kpis_with_name_and_unit(store, plan):
    assert plan_metrics(store, plan) == {"revenue": ("Revenue", "JPY"), "meetings": ("Meetings", "件"),
                                         "win_rate": ("win_rate", "%")}


def test_mapping_aliases_add_the_template_aliases_to_the_plan_names(store, plan):
    aliases = mapping_aliases(store, plan)
    assert aliases["meetings"][:2] == ["meetings", "Meetings"] and len(aliases["meetings"]) > 2
    assert mapping_aliases(store, Plan(name="x", id=plan.id, template="no-such-template"))["meetings"] == [
        "meetings", "Meetings"]


def test_preview_counts_say_what_the_import_would_change(store, plan):
    store.save_actuals(plan.id, [Actual("meetings", APRIL, 45.0), Actual("meetings", MAY, 40.0)])
    parsed = ingest.read_export("月,商談数\n2026/04,45\n2026/05,48\n2026/06,50\n".encode(), "m.csv")
    mapping = ingest.suggest_mapping(parsed, {"meetings": ["商談数"]}, ["meetings"], parsed.shape)
    counts = preview_counts(ingest.preview_import(store, plan, parsed, mapping, "en"))
    assert counts == PreviewCounts(to_write=2, replacing=1, unchanged=1)


def test_latest_recorded_month_opens_the_value_history_where_the_last_value_is():
    months = [APRIL, MAY, JUNE]
    assert latest_recorded_month({APRIL: 1.0, MAY: 2.0}, months) == 1
    assert latest_recorded_month({}, months) == 0


def test_a_profile_name_is_trimmed_and_must_not_be_empty_or_too_long():
    assert check_profile_name("  deals ") == "deals"
    with pytest.raises(ProfileNameError):
        check_profile_name(" ")
    with pytest.raises(ProfileNameError) as too_long:
        check_profile_name("x" * 1000)
    assert too_long.value.key == "check.name_too_long"
