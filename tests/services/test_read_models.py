"""The plan's data version and the read models cached on it: every kind of write moves the version (from this
store, another store or another process), reads do not, and a model is computed once per version."""
from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

from kpi_core.adapters.store import open_store
from kpi_core.domain.model import CSF, KGI, KPI, Actual, CheckIn, CSFRole, Plan, Status
from kpi_core.domain.workshop import NoteKind, default_agenda
from kpi_core.services import read_models
from kpi_core.services.health import tick_item
from kpi_core.services.tracking import plan_tracking

ROOT = Path(__file__).resolve().parents[2]
APR = date(2025, 4, 1)


def seed(store) -> Plan:
    plan = store.create_plan(Plan(name="Cached", fiscal_start=APR))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Revenue", unit="JPY", baseline=1.2e8, target=1.44e8),
                   None)
    store.save_kpi(KPI(plan.id, "meetings", "Meetings", unit="件", annual_target=600), None)
    store.save_actuals(plan.id, [Actual("revenue", APR, 1.0e7), Actual("meetings", APR, 40)])
    return store.get_plan(plan.id)


def writes(store, plan: Plan):
    """One write of every kind that changes what a page shows of the plan, as (name, action)."""
    workshop = {}

    def open_workshop():
        workshop["id"] = store.create_workshop(plan.id, "Room", default_agenda(), "key").id

    def decide():
        workshop["note"] = store.add_note(workshop["id"], NoteKind.DECISION, "Go", "", None).id

    def reconsider():
        store.delete_note(workshop["id"], workshop["note"])

    return [
        ("actual", lambda: store.save_actuals(plan.id, [Actual("meetings", APR, 45)])),
        ("cleared actual", lambda: store.save_actuals(plan.id, [], clears=[("meetings", APR)])),
        ("targets", lambda: store.set_monthly_targets(plan.id, "meetings", {APR: 60.0}, "busier")),
        ("kpi", lambda: store.save_kpi(KPI(plan.id, "win_rate", "Win rate", unit="%"), None)),
        ("kgi", lambda: store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Sales", target=1.5e8), None)),
        ("csf", lambda: store.save_csf(CSF(plan.id, "Fallback", CSFRole.FALLBACK), None)),
        ("check-in", lambda: store.save_checkin(CheckIn(plan.id, "meetings", APR, Status.AT_RISK, "why", "next"))),
        ("review", lambda: store.add_review(plan.id, APR, "meetings", "keep", "fine")),
        ("health tick", lambda: tick_item(store, plan.id, "review_meeting", True, "Aki")),
        ("import", lambda: store.commit_import(plan.id, {"sha256": "x" * 64}, [Actual("meetings", APR, 50)], [])),
        ("revert", lambda: store.revert_import(1)),
        ("workshop", open_workshop),
        ("decision", decide),
        ("decision deleted", reconsider),
    ]


def test_every_write_moves_the_data_version_and_reads_do_not(store):
    plan = seed(store)
    seen = [store.plan_data_version(plan.id)]
    plan_tracking(store, plan)
    store.list_checkins(plan.id)
    assert store.plan_data_version(plan.id) == seen[0]
    for name, action in writes(store, plan):
        action()
        version = store.plan_data_version(plan.id)
        assert version not in seen, name
        seen.append(version)


def test_another_plan_s_writes_leave_the_version_alone(store):
    plan = seed(store)
    other = store.create_plan(Plan(name="Other", fiscal_start=APR))
    before = store.plan_data_version(plan.id)
    store.save_kpi(KPI(other.id, "calls", "Calls"), None)
    store.save_actuals(other.id, [Actual("calls", APR, 3)])
    assert store.plan_data_version(plan.id) == before
    assert store.plan_data_version(999) == (-1, 0, 0)


def test_a_model_is_computed_once_per_version(store):
    plan = seed(store)
    version = store.plan_data_version(plan.id)
    computed = read_models.MEMO.computed
    first = read_models.tracking(store, plan, version)
    again = read_models.tracking(store, plan, store.plan_data_version(plan.id))
    assert again is first and read_models.MEMO.computed == computed + 1
    store.save_actuals(plan.id, [Actual("meetings", APR, 55)])
    fresh = read_models.tracking(store, plan, store.plan_data_version(plan.id))
    assert fresh is not first
    assert fresh.actuals["meetings"][APR] == 55 and first.actuals["meetings"][APR] == 40


def test_a_write_by_another_process_is_seen_at_once(db_path):
    """The app's store (it lets the file go when idle) caches the tracking; a separate process writes an actual; the
    next read of the version differs and the model computed for it has the new value."""
    seeding = open_store(db_path)
    plan = seed(seeding)
    seeding.close()
    app_store = open_store(db_path, release_when_idle=True)
    try:
        before = read_models.tracking(app_store, plan, read_models.data_version(app_store, plan))
        assert before.actuals["meetings"][APR] == 40
        script = ("import sys; from datetime import date; from kpi_core.adapters.store import open_store; "
                  "from kpi_core.domain.model import Actual; s = open_store(sys.argv[1]); "
                  "s.save_actuals(int(sys.argv[2]), [Actual('meetings', date(2025, 4, 1), 77)], source='cli'); "
                  "s.close()")
        subprocess.run([sys.executable, "-c", script, str(db_path), str(plan.id)], cwd=ROOT, check=True, timeout=120)
        after = read_models.tracking(app_store, plan, read_models.data_version(app_store, plan))
        assert after.actuals["meetings"][APR] == 77
    finally:
        app_store.close()


def test_the_memo_keeps_only_the_newest_entries():
    memo = read_models.Memo(max_entries=3)
    for n in range(5):
        memo.get(n, lambda n=n: n * 10)
    assert memo.get(4, lambda: -1) == 40 and memo.get(0, lambda: -1) == -1
