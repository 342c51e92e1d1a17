"""`kpi-workbench report` and `plan-import` against real DuckDB files: files written, messages and exit codes."""
from __future__ import annotations

import io
import subprocess
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import yaml

from kpi_core.adapters.store import open_store
from kpi_core.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from kpi_core.services.demo import seed_demo


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "report.duckdb"
    monkeypatch.setenv("KPI_WORKBENCH_DB", str(tmp_path / "not-this-one.duckdb"))
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")
    store = open_store(path)
    assert seed_demo(store, today=date(2026, 11, 20), lang="ja") is not None
    store.close()
    return path


def run(db: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--db", str(db), *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_monthly_pdf_report_for_a_scheduler(db, tmp_path):
    target = tmp_path / "exec.pdf"
    code, out, err = run(db, "report", "--plan", "1", "--audience", "exec", "--month", "2026-09", "--format", "pdf",
                         "-o", str(target), "--lang", "en")
    assert (code, err) == (EXIT_OK, "")
    assert out.startswith(f"Written: {target}")
    text = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True, check=True).stdout
    assert "1億4,400万円" not in text and "¥144.0M" in text and "Sep 2026" in text
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.parametrize("fmt", ["html", "xlsx", "yaml"])
def test_every_format(db, tmp_path, fmt):
    target = tmp_path / f"out.{fmt}"
    code, _, err = run(db, "report", "--plan", "1", "--audience", "field", "--format", fmt, "-o", str(target),
                       "--lang", "ja")
    assert (code, err) == (EXIT_OK, "")
    if fmt == "html":
        assert "現場向けレポート" in target.read_text(encoding="utf-8")
    elif fmt == "xlsx":
        assert "月次目標" in openpyxl.load_workbook(target).sheetnames
    else:
        assert yaml.safe_load(target.read_text(encoding="utf-8"))["kgi"]["target"] == 144_000_000


def test_the_plan_file_imports_back_as_a_new_plan(db, tmp_path):
    target = tmp_path / "plan.yaml"
    assert run(db, "report", "--plan", "1", "--format", "yaml", "--no-actuals", "-o", str(target))[0] == EXIT_OK
    assert "actuals" not in yaml.safe_load(target.read_text(encoding="utf-8"))
    code, out, err = run(db, "plan-import", "--name", "コピー", str(target), "--lang", "en")
    assert (code, err) == (EXIT_OK, "")
    assert out.strip() == "Plan #2 “コピー” created from the file."


def test_errors_say_what_is_wrong_and_write_nothing(db, tmp_path):
    target = tmp_path / "x.pdf"
    code, _, err = run(db, "report", "--plan", "nope", "-o", str(target), "--lang", "en")
    assert code == EXIT_ERROR and "No plan with the id or name “nope”" in err
    code, _, err = run(db, "report", "--plan", "1", "--month", "September", "-o", str(target), "--lang", "en")
    assert code == EXIT_ERROR and "is not a month" in err
    code, _, err = run(db, "report", "--plan", "1", "--month", "2031-01", "-o", str(target), "--lang", "ja")
    assert code == EXIT_ERROR and "計画期間" in err
    code, _, err = run(db, "report", "--plan", "1", "-o", str(tmp_path / "missing" / "x.pdf"), "--lang", "en")
    assert code == EXIT_ERROR and "does not exist" in err
    assert not target.exists()
    broken = tmp_path / "broken.yaml"
    broken.write_text("kpi_workbench_plan: 1\nplan:\n  name: x\n  months: many\n", encoding="utf-8")
    code, _, err = run(db, "plan-import", str(broken), "--lang", "en")
    assert code == EXIT_ERROR and "Line 4, plan.months: Expected a number, found many." in err
    store = open_store(db)
    assert len(store.list_plans()) == 1
    store.close()


def test_usage_errors_exit_2(db, tmp_path):
    with pytest.raises(SystemExit) as caught:
        main(["--db", str(db), "report", "--plan", "1", "--format", "docx", "-o", str(tmp_path / "x")],
             io.StringIO(), io.StringIO())
    assert caught.value.code == EXIT_USAGE
