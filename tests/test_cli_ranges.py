"""`kpi-workbench import` holds every cell to the range rule: refused with a reason per cell, exit 1 (the dry run
too), nothing written; the same file corrected goes through with its exact values."""
from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from kpi_core.adapters.store import open_store
from kpi_core.cli import main
from kpi_core.domain.model import KPI, Aggregation, Plan

BAD = "月,商談数,受注率,売上\n2026/04,-3,25%,\"1,000\"\n2026/05,40,120%,1e308\n"
GOOD = "月,商談数,受注率,売上\n2026/04,3,25%,\"1,000\"\n2026/05,40,100%,\"13,095,000\"\n"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ranges.duckdb"
    store = open_store(path, create=True)
    plan = store.create_plan(Plan(name="S", fiscal_start=date(2026, 4, 1)))
    for key, name, unit, aggregation in (("meetings", "商談数", "件", Aggregation.SUM),
                                         ("win_rate", "受注率", "%", Aggregation.RATIO),
                                         ("revenue", "売上", "JPY", Aggregation.SUM)):
        store.save_kpi(KPI(plan_id=plan.id, key=key, name=name, unit=unit, aggregation=aggregation), None)
    store.close()
    return path


def run(db: Path, tmp_path: Path, text: str, lang: str, *options: str) -> tuple[int, str, str]:
    file = tmp_path / "monthly.csv"
    file.write_bytes(text.encode("cp932"))
    out, err = io.StringIO(), io.StringIO()
    code = main(["--db", str(db), "--lang", lang, "import", "--plan", "S", *options, str(file)], out, err)
    return code, out.getvalue(), err.getvalue()


def values(db: Path) -> dict:
    store = open_store(db)
    try:
        return store.actual_values(1)
    finally:
        store.close()


@pytest.mark.parametrize("lang, words", [
    ("en", ["-3 is negative", "120% is outside 0–100 %", "1e308 is larger than any real figure"]),
    ("ja", ["-3 はマイナス", "120% は率の範囲", "1e308 は実際の数値として大きすぎ"]),
])
def test_out_of_range_cells_are_refused_per_cell_and_nothing_is_written(db, tmp_path, lang, words):
    for extra in ((), ("--dry-run",)):
        code, out, err = run(db, tmp_path, BAD, lang, *extra)
        assert code == 1, (out, err)
        for word in words:
            assert word in out + err
        assert values(db) == {}


def test_the_corrected_file_goes_through_exactly(db, tmp_path):
    code, out, err = run(db, tmp_path, GOOD, "en")
    assert (code, err) == (0, ""), out
    assert "read as one row per month, metrics as columns" in out
    got = values(db)
    assert got["meetings"] == {date(2026, 4, 1): 3.0, date(2026, 5, 1): 40.0}
    assert got["win_rate"] == {date(2026, 4, 1): 0.25, date(2026, 5, 1): 1.0}
    assert got["revenue"] == {date(2026, 4, 1): 1000.0, date(2026, 5, 1): 13_095_000.0}


def test_the_shape_said_is_the_mappings_not_the_guess(db, tmp_path):
    """Daily rows look like a record list to the guess; the mapping reads them as a table of metrics."""
    mapping = tmp_path / "daily.mapping.json"
    mapping.write_text('{"shape": "wide_metrics", "date_column": "日付", "combine": "sum", '
                       '"metrics": {"meetings": {"source": "column", "column": "商談数"}}}', encoding="utf-8")
    daily = "日付,商談数\n2026/04/03,2\n2026/04/17,3\n2026/05/08,4\n"
    code, out, err = run(db, tmp_path, daily, "en", "--mapping", str(mapping))
    assert (code, err) == (0, ""), out
    assert "read as one row per month, metrics as columns" in out and "record list" not in out
    assert values(db)["meetings"] == {date(2026, 4, 1): 5.0, date(2026, 5, 1): 4.0}
