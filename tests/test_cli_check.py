"""`kpi-workbench check`: exit 0 without a high-severity finding, 1 with one; text and JSON output; a scheduled
run takes the month's snapshot."""
from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest

from kpi_core.adapters.store import open_store
from kpi_core.adapters.templates import find_template
from kpi_core.cli import main
from kpi_core.services.demo import seed_demo
from kpi_core.services.plans import create_plan_from_template


def run(db: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--db", str(db), *args], out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "check.duckdb"
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")
    store = open_store(path)
    seed_demo(store, today=date(2026, 11, 20), lang="en")  # plan 1: off-track win rate without check-ins
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "0")
    create_plan_from_template(store, find_template("cs"), "en", name="Fresh CS")  # plan 2: no high finding
    store.close()
    return path


def test_high_severity_finding_exits_1_with_text(db):
    code, out, err = run(db, "--lang", "en", "check", "--plan", "1")
    assert code == 1 and not err
    assert out.splitlines()[0].startswith("Health of “")
    assert "[High] P5" in out and "without a complete check-in" in out and "(Step 5 PDCA)" in out


def test_healthy_plan_exits_0_and_json_is_parseable(db):
    code, out, _ = run(db, "check", "--plan", "Fresh CS", "--format", "json", "--lang", "ja")
    assert code == 0
    data = json.loads(out)
    assert data["plan"]["name"] == "Fresh CS" and data["score"] >= 90 and data["counts"]["high"] == 0
    assert {f["severity"] for f in data["findings"]} <= {"medium", "low"}
    assert all(f["evidence_text"] and f["fix_text"] for f in data["findings"])
    assert set(data["lights"]) == {str(p) for p in range(1, 8)}


def test_json_of_the_demo_carries_the_figures(db):
    code, out, _ = run(db, "check", "--plan", "1", "--format", "json")
    assert code == 1
    finding = next(f for f in json.loads(out)["findings"] if f["check"] == "off_track_no_checkin")
    assert finding["metric"] == "win_rate" and finding["evidence"]["count"] == 3


def test_scheduled_check_takes_the_monthly_snapshot_once(db):
    run(db, "check", "--plan", "2")
    run(db, "check", "--plan", "2")
    store = open_store(db)
    assert [s.trigger for s in store.health_snapshots(2)] == ["monthly"]
    store.close()


def test_unknown_plan_is_an_error(db):
    code, out, err = run(db, "--lang", "en", "check", "--plan", "nope")
    assert code == 1 and not out and "nope" in err
