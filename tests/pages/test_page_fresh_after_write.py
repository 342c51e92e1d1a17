"""Pages cache the plan's read models and charts on its data version: a rerun without a write computes nothing
again, and a write by another process (the CLI beside the app) shows on the very next rerun."""
from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

from kpi_core import i18n
from kpi_core.domain.model import KGI, KPI, Actual, Plan
from kpi_core.services import read_models

ROOT = Path(__file__).resolve().parents[2]
APR = date(2025, 4, 1)
WRITE_ACTUAL = ("import sys; from datetime import date; from kpi_core.adapters.store import open_store; "
                "from kpi_core.domain.model import Actual; s = open_store(sys.argv[1]); "
                "s.save_actuals(int(sys.argv[2]), [Actual('revenue', date(2025, 5, 1), float(sys.argv[3]))], "
                "source='cli'); s.close()")


def seed(store) -> Plan:
    plan = store.create_plan(Plan(name="Fresh", fiscal_start=APR))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Revenue", unit="JPY", baseline=1.2e8, target=1.44e8),
                   None)
    store.save_kpi(KPI(plan.id, "meetings", "Meetings", unit="件", annual_target=600), None)
    store.save_actuals(plan.id, [Actual("revenue", APR, 10_000_000), Actual("meetings", APR, 40)])
    return plan


def ytd(at) -> str:
    return next(m.value for m in at.metric if m.label == i18n.t("dashboard.kgi.ytd", "en"))


def write_from_another_process(db_path: Path, plan_id: int, value: float) -> None:
    subprocess.run([sys.executable, "-c", WRITE_ACTUAL, str(db_path), str(plan_id), str(value)], cwd=ROOT,
                   check=True, timeout=120)


def test_dashboard_rerun_uses_the_cache_and_shows_another_process_s_write(make_app, store, db_path):
    plan = seed(store)
    store.close()  # the app and the other process take turns on the file, as in production
    at = make_app("pages/dashboard.py", plan_id=plan.id)
    assert not at.exception, [e.value for e in at.exception]
    assert ytd(at) == "¥10.0M"
    computed = read_models.MEMO.computed
    at.run()  # a click: nothing changed, nothing recomputed
    assert read_models.MEMO.computed == computed and ytd(at) == "¥10.0M"
    write_from_another_process(db_path, plan.id, 5_000_000)
    at.run()
    assert ytd(at) == "¥15.0M"
    assert read_models.MEMO.computed > computed
    assert len(at.get("vega_lite_chart")) == 2  # the KGI path and the KPI small multiples (no formula to attribute)
