"""The CLI writes beside a running app on the same DuckDB file: the app holds the file only while it works, a
command waiting for it goes first at the app's next idle moment, and the app sees the new values on its next rerun.
A file held for longer than the bound gives the clear 'in use' message."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from kpi_core.adapters.store import open_store
from kpi_core.cli import main
from kpi_core.domain.model import KPI, Aggregation, Plan

ROOT = Path(__file__).resolve().parents[2]
JULY = date(2026, 7, 1)
EXPORT = "月,商談数\n2026/07,77\n"
MAPPING = {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "商談数"}}}

# The app's way of using the store (pages/common.py): opened once, the file released when idle; a rerun every
# 50 ms reads what a page shows and saves a value of its own, for `seconds`.
APP = """
import json, sys, time
from datetime import date
from kpi_core.adapters.store import open_store
from kpi_core.domain.model import Actual
store = open_store(sys.argv[1], create=False, release_when_idle=True)
reruns, saves, seen_at, errors = 0, 0, None, []
print("ready", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        values = store.actual_values(1)
        if seen_at is None and values.get("meetings", {}).get(date(2026, 7, 1)) == 77.0:
            seen_at = reruns
        store.save_actuals(1, [Actual("meetings", date(2026, 4, 1), float(reruns))])
        saves += 1
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    reruns += 1
    time.sleep(0.05)
print(json.dumps({"reruns": reruns, "saves": saves, "seen_at": seen_at, "errors": errors[:3]}), flush=True)
"""


def _plan_db(tmp_path: Path) -> Path:
    path = tmp_path / "shared.duckdb"
    store = open_store(path)
    plan = store.create_plan(Plan(name="Sales", fiscal_start=date(2026, 4, 1)))
    store.save_kpi(KPI(plan_id=plan.id, key="meetings", name="商談数", aggregation=Aggregation.SUM), None)
    store.close()
    (tmp_path / "july.csv").write_text(EXPORT, encoding="utf-8")
    (tmp_path / "mapping.json").write_text(json.dumps(MAPPING), encoding="utf-8")
    return path


def test_cli_import_while_the_app_serves_the_same_file(tmp_path):
    path = _plan_db(tmp_path)
    app = subprocess.Popen([sys.executable, "-c", APP, str(path), "6"], stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert app.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # the app is mid-flow, rerunning
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        code = main(["--lang", "en", "--db", str(path), "import", "--plan", "1", "--mapping",
                     str(tmp_path / "mapping.json"), str(tmp_path / "july.csv")], out, err)
        waited = time.monotonic() - started
        assert code == 0, err.getvalue()
        assert "Import #1" in out.getvalue() or "#1" in out.getvalue()
        report = json.loads(app.communicate(timeout=60)[0].strip().splitlines()[-1])
    finally:
        app.kill()
    assert report["errors"] == []
    assert report["saves"] == report["reruns"] > 10  # the app kept working, every save landed
    assert report["seen_at"] is not None  # ... and saw the imported value on a later rerun
    assert waited < 5, waited
    store = open_store(path, create=False)
    assert store.actual_values(1)["meetings"][JULY] == 77.0
    store.close()


def test_a_file_held_past_the_bound_gives_the_in_use_message(tmp_path, monkeypatch):
    path = _plan_db(tmp_path)
    hold = "import sys, duckdb, time\nc = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("KPI_WORKBENCH_LOCK_WAIT", "1")
        err = io.StringIO()
        started = time.monotonic()
        code = main(["--lang", "en", "--db", str(path), "imports", "--plan", "1"], io.StringIO(), err)
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()
    assert code == 3
    assert f"The database file {path} is in use by another program (process {holder.pid})" in err.getvalue()
