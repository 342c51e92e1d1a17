"""Each write carries the version of what it changes: a KPI's target set, the reviews seen, a row. A save based on
an older one is refused with theirs / yours and writes nothing; saves of different rows never clash; each write
still advances the plan version."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core.adapters.store import DeletedUnderEdit, StaleEdit
from kpi_core.domain.model import CSF, KPI, Plan
from kpi_core.services.review import record_review

APR, MAY = date(2026, 4, 1), date(2026, 5, 1)


@pytest.fixture
def plan(store):
    made = store.create_plan(Plan(name="Sales", fiscal_start=APR))
    for key in ("meetings", "win_rate"):
        store.save_kpi(KPI(plan_id=made.id, key=key, name=key.title()), None)
    return store.get_plan(made.id)


def test_targets_based_on_an_older_set_are_refused_month_by_month(store, plan):
    assert store.target_set_versions(plan.id) == {}
    store.set_monthly_targets(plan.id, "meetings", {APR: 50.0, MAY: 50.0}, "even", based_on=0)
    seen = store.target_set_versions(plan.id)
    assert seen == {"meetings": 1}
    store.set_monthly_targets(plan.id, "meetings", {APR: 60.0, MAY: 50.0}, "theirs", based_on=seen["meetings"])
    with pytest.raises(StaleEdit) as caught:
        store.set_monthly_targets(plan.id, "meetings", {APR: 55.0, MAY: 45.0}, "mine", based_on=seen["meetings"])
    assert [(c.month, c.theirs, c.yours, c.version) for c in caught.value.conflicts] == [
        (APR, 60.0, 55.0, 2), (MAY, 50.0, 45.0, 2)]
    assert store.get_monthly_targets(plan.id)["meetings"] == {APR: 60.0, MAY: 50.0}
    # saving over theirs knowingly: based on their version
    assert store.set_monthly_targets(plan.id, "meetings", {APR: 55.0, MAY: 45.0}, "mine", based_on=2) == 3
    assert store.get_monthly_targets(plan.id)["meetings"] == {APR: 55.0, MAY: 45.0}


def test_targets_of_another_kpi_or_a_first_set_by_someone_else(store, plan):
    seen = store.target_set_versions(plan.id)
    store.set_monthly_targets(plan.id, "win_rate", {APR: 0.2}, "theirs", based_on=seen.get("win_rate", 0))
    store.set_monthly_targets(plan.id, "meetings", {APR: 5.0}, "mine", based_on=seen.get("meetings", 0))  # no clash
    with pytest.raises(StaleEdit) as caught:  # a first set saved by someone else since the editor opened
        store.set_monthly_targets(plan.id, "win_rate", {APR: 0.3}, "mine", based_on=seen.get("win_rate", 0))
    assert caught.value.values["theirs"] == "0.2" and caught.value.values["yours"] == "0.3"


def test_targets_of_a_kpi_deleted_under_the_edit_are_refused(store, plan):
    kpi = next(k for k in store.list_kpis(plan.id) if k.key == "meetings")
    store.delete_kpi(plan.id, kpi.id, None)
    with pytest.raises(DeletedUnderEdit) as caught:
        store.set_monthly_targets(plan.id, "meetings", {APR: 5.0}, "mine", based_on=0)
    assert caught.value.values == {"name": "Meetings"}
    assert store.get_monthly_targets(plan.id) == {}


def test_a_review_is_refused_only_when_the_same_kpi_was_reviewed_since(store, plan):
    seen = store.review_version(plan.id)
    assert seen == 0
    record_review(store, plan.id, MAY, {"win_rate": ("drop", "merged")}, seen)  # someone else, another KPI
    assert record_review(store, plan.id, MAY, {"meetings": ("keep", "")}, seen) == 1
    with pytest.raises(StaleEdit) as caught:
        record_review(store, plan.id, MAY, {"meetings": ("change", "redefine"), "win_rate": ("keep", "")}, seen)
    assert [(c.metric_key, c.theirs_decision, c.yours_decision) for c in caught.value.conflicts] == [
        ("meetings", ("keep", ""), ("change", "redefine")), ("win_rate", ("drop", "merged"), ("keep", ""))]
    assert len(store.list_reviews(plan.id)) == 2  # nothing of the refused review written
    latest = caught.value.conflicts[0].version
    assert latest == store.review_version(plan.id)
    assert record_review(store, plan.id, MAY, {"meetings": ("change", "redefine")}, latest) == 1


def test_row_saves_check_their_own_row_and_still_advance_the_plan_version(store, plan):
    first = store.save_csf(CSF(plan_id=plan.id, name="Outbound"), None)
    second = store.save_csf(CSF(plan_id=plan.id, name="Events"), None)
    mine_first, theirs_second = store.list_csfs(plan.id)
    before = store.get_plan(plan.id).version
    theirs_second.name = "Events and seminars"
    store.save_csf(theirs_second, None)
    mine_first.name = "Outbound calls"
    store.save_csf(mine_first, None)  # another row changed meanwhile: no clash
    assert [c.name for c in store.list_csfs(plan.id)] == ["Outbound calls", "Events and seminars"]
    assert store.get_plan(plan.id).version == before + 2
    assert (first.id, second.id) == (mine_first.id, theirs_second.id)
