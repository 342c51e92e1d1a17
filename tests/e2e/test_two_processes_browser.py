"""Two processes on one DuckDB file, as deployed: `streamlit run app.py` serving a browser session, and the
`kpi-workbench import` command (a scheduled import) run beside it. The import succeeds while the app serves, a save
made in the app meanwhile and the import both land, and the app shows the imported values on its next rerun."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from kpi_core.adapters.store import open_store
from kpi_core.domain.model import KPI, Aggregation, Plan
from kpi_core.i18n import t

from .conftest import ROOT, start_server, stop_server, wait_for_app, warm_up
from .test_conflicts_browser import keyed, keyed_like, press, saved, type_cell

APR, MAY, JULY = date(2026, 4, 1), date(2026, 5, 1), date(2026, 7, 1)
EXPORT = "月,商談数\n2026/07,77\n"
MAPPING = {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "商談数"}}}
MEETINGS_COLUMN = 1  # the grid's columns: month, then the plan's one KPI


@pytest.fixture
def shared_file(tmp_path, browser):
    path = tmp_path / "shared.duckdb"
    store = open_store(path)
    plan = store.create_plan(Plan(name="Shared file", fiscal_start=APR))
    store.save_kpi(KPI(plan_id=plan.id, key="meetings", name="商談数", unit="件", aggregation=Aggregation.SUM,
                       annual_target=600), None)
    store.close()
    (tmp_path / "july.csv").write_text(EXPORT, encoding="utf-8")
    (tmp_path / "mapping.json").write_text(json.dumps(MAPPING), encoding="utf-8")
    process, url = start_server(path, demo=False)
    warm_up(browser, url)
    yield path, url, plan.id
    stop_server(process)


def start_import(path: Path, plan_id: int) -> subprocess.Popen:
    """`kpi-workbench import` as a scheduler runs it: its own process, this tree's code."""
    script = Path(sys.executable).with_name("kpi-workbench")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "kpi_core.cli"]
    return subprocess.Popen(
        [*command, "--lang", "en", "--db", str(path), "import", "--plan", str(plan_id), "--mapping",
         str(path.with_name("mapping.json")), str(path.with_name("july.csv"))],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


@pytest.mark.e2e
def test_cli_import_and_an_app_save_both_land_while_streamlit_serves(shared_file, two_people, shot):
    path, url, plan_id = shared_file
    page = two_people[0]
    page.goto(f"{url}/pdca?plan={plan_id}&lang=en")
    wait_for_app(page)
    grid = keyed_like(page, f"pdca_grid_{plan_id}_")
    grid.wait_for()

    started = time.monotonic()
    command = start_import(path, plan_id)  # the import runs while the app serves and saves
    type_cell(page, grid, 0, MEETINGS_COLUMN, "41")
    press(page, f"pdca_save_actuals_{plan_id}")
    saved(page, "pdca.grid.saved")
    out, err = command.communicate(timeout=120)
    waited = time.monotonic() - started
    assert command.returncode == 0, err
    assert "Import #1" in out, out
    assert waited < 60, waited  # a bounded wait for its turn, never a "file in use" failure

    # the next rerun of the same session (another save) shows the imported July value in the grid
    grid = keyed_like(page, f"pdca_grid_{plan_id}_")
    type_cell(page, grid, 1, MEETINGS_COLUMN, "43")
    press(page, f"pdca_save_actuals_{plan_id}")
    saved(page, "pdca.grid.saved")
    grid = keyed_like(page, f"pdca_grid_{plan_id}_")
    expect(grid.locator(f"#glide-cell-{MEETINGS_COLUMN}-3")).to_have_text("77")
    expect(grid.locator(f"#glide-cell-{MEETINGS_COLUMN}-0")).to_have_text("41")
    page.get_by_role("tab", name=t("pdca.tab.progress", "en")).click()
    expect(keyed(page, "pdca_progress_metric")).to_be_visible()
    shot(page, "two_processes_after_import")

    store = open_store(path, create=False)
    try:
        assert store.actual_values(plan_id) == {"meetings": {APR: 41.0, MAY: 43.0, JULY: 77.0}}
        imports = store.list_imports(plan_id)
        assert [record.status for record in imports] == ["committed"]
    finally:
        store.close()
