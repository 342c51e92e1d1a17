"""A large wide-metrics table (a daily export) is aggregated in DuckDB; the result, the rejected and skipped rows
and their lines are exactly those of the row-by-row reader."""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from kpi_core import ingest
from kpi_core.domain.model import KPI, Plan
from kpi_core.ingest import summary

MAPPING = {"shape": "wide_metrics", "date_column": "日付", "combine": "sum",
           "metrics": {"meetings": {"column": "商談数"}, "revenue": {"column": "売上"},
                       "win_rate": {"column": "受注率(%)", "scale": 0.01}}}


def daily_export(days: int, decimal_comma: bool = False) -> bytes:
    rng = random.Random(7)
    rows = ["日付;商談数;売上;受注率(%)" if decimal_comma else "日付,商談数,売上,受注率(%)"]
    for n in range(days):
        day = date(2026, 4, 1) + timedelta(days=n % 365)
        revenue = rng.randrange(0, 900_000)
        if decimal_comma:
            rows.append(f"{day:%Y-%m-%d};{rng.randrange(0, 9)};{revenue:_}".replace("_", ".") + f";{rng.randrange(0, 99)},5")
        else:
            rows.append(f"{day:%Y/%m/%d},{rng.randrange(0, 9)},\"{revenue:,}\",{rng.randrange(0, 99)}.5")
    if not decimal_comma:
        rows.insert(200, "2026/05/02,abc,100,1")  # a bad cell: rejected with its line
        rows.insert(300, ",,,")  # a blank row: skipped
        rows.append("合計,,,")  # a total row: skipped
    return ("\n".join(rows) + "\n").encode("utf-8")


@pytest.fixture
def plan(store):
    made = store.create_plan(Plan(name="daily", fiscal_start=date(2026, 4, 1)))
    for key in ("meetings", "revenue", "win_rate"):
        store.save_kpi(KPI(plan_id=made.id, key=key, name=key), None)
    return store.get_plan(made.id)


def spy(monkeypatch, name: str) -> list:
    """Records what the set-based reader returned (None would mean it fell back to the row-by-row one)."""
    results: list = []
    original = getattr(summary, name)
    monkeypatch.setattr(summary, name, lambda walker: results.append(original(walker)) or results[-1])
    return results


def both_ways(store, plan, data: bytes, monkeypatch):
    parsed = ingest.read_export(data, "daily.csv")
    used = spy(monkeypatch, "_wide_metrics_set_based")
    fast = ingest.preview_import(store, plan, parsed, MAPPING, "en")
    assert used and used[0] is not None, "the set-based reader did the work"
    monkeypatch.setattr(summary, "SET_BASED_ROWS", 10**9)
    slow = ingest.preview_import(store, plan, parsed, MAPPING, "en")
    return fast, slow


def test_set_based_and_row_by_row_agree_on_values_lines_and_reasons(store, plan, monkeypatch):
    fast, slow = both_ways(store, plan, daily_export(5_000), monkeypatch)
    assert fast.values.drop(columns=["value"]).equals(slow.values.drop(columns=["value"]))
    assert fast.values["value"].tolist() == pytest.approx(slow.values["value"].tolist(), rel=1e-12)
    assert [(r.line, r.key) for r in fast.rejections] == [(r.line, r.key) for r in slow.rejections] == [
        (201, "ingest.reject.bad_number")]
    assert [(s.line, s.reason) for s in fast.skipped] == [(s.line, s.reason) for s in slow.skipped]
    assert {s.reason for s in fast.skipped} == {"blank", "total"}
    assert fast.rows_used == slow.rows_used


def test_set_based_reads_decimal_commas(store, plan, monkeypatch):
    fast, slow = both_ways(store, plan, daily_export(3_000, decimal_comma=True), monkeypatch)
    assert fast.rejections == slow.rejections == []
    assert fast.values["value"].tolist() == pytest.approx(slow.values["value"].tolist(), rel=1e-12)


LONG_MAPPING = {"shape": "long", "date_column": "年月", "label_column": "指標", "value_column": "値", "combine": "sum",
                "metrics": {"meetings": {"source": "label", "label": "商談数"},
                            "revenue": {"source": "label", "label": "売上"}}}


def long_export(rows: int) -> bytes:
    rng = random.Random(3)
    names = ("商談数", "売上", "訪問数", "架電数")  # two mapped, two not in the plan
    lines = ["年月,指標,値"]
    for n in range(rows):
        month = date(2026, 4 + n % 9, 1)
        lines.append(f"{month:%Y/%m},{names[n % 4]},\"{rng.randrange(1, 90_000):,}\"")
    lines.insert(50, "2026/05,売上,abc")  # a bad value
    lines.insert(70, "2026/05,,12")  # no metric name
    lines.append("合計,,999")  # a total row
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_long_set_based_and_row_by_row_agree(store, plan, monkeypatch):
    parsed = ingest.read_export(long_export(6_000), "long.csv")
    used = spy(monkeypatch, "_long_set_based")
    fast = ingest.preview_import(store, plan, parsed, LONG_MAPPING, "en")
    assert used and used[0] is not None, "the set-based reader did the work"
    monkeypatch.setattr(summary, "SET_BASED_ROWS", 10**9)
    slow = ingest.preview_import(store, plan, parsed, LONG_MAPPING, "en")
    assert fast.values.equals(slow.values)
    assert [(r.line, r.key) for r in fast.rejections] == [(r.line, r.key) for r in slow.rejections]
    assert [r.key for r in fast.rejections] == ["ingest.reject.bad_number", "ingest.reject.label_missing"]
    assert [(s.line, s.reason) for s in fast.skipped] == [(s.line, s.reason) for s in slow.skipped]
    assert [m.text("en") for m in fast.messages] == [m.text("en") for m in slow.messages]
    assert fast.rows_used == slow.rows_used


def agree_with_filters(store, plan, data: bytes, mapping: dict, reader: str, monkeypatch):
    """Preview with the set-based reader (it must do the work), then row by row; both must say the same."""
    parsed = ingest.read_export(data, "filtered.csv")
    used = spy(monkeypatch, reader)
    fast = ingest.preview_import(store, plan, parsed, mapping, "en")
    assert used and used[0] is not None, "the set-based reader did the work"
    monkeypatch.setattr(summary, "SET_BASED_ROWS", 10**9)
    slow = ingest.preview_import(store, plan, parsed, mapping, "en")
    assert fast.values.drop(columns=["value"]).equals(slow.values.drop(columns=["value"]))
    assert fast.values["value"].tolist() == pytest.approx(slow.values["value"].tolist(), rel=1e-12)
    assert [(r.line, r.key) for r in fast.rejections] == [(r.line, r.key) for r in slow.rejections]
    assert [(s.line, s.reason) for s in fast.skipped] == [(s.line, s.reason) for s in slow.skipped]
    assert [m.text("en") for m in fast.messages] == [m.text("en") for m in slow.messages]
    assert fast.rows_used == slow.rows_used
    return fast


def test_a_filtered_wide_table_is_still_aggregated_in_duckdb(store, plan, monkeypatch):
    mapping = {**MAPPING, "filters": [{"column": "商談数", "op": ">=", "value": 3}]}
    fast = agree_with_filters(store, plan, daily_export(5_000), mapping, "_wide_metrics_set_based", monkeypatch)
    assert any(m.key == "ingest.msg.filtered" and m.values["rows"] > 1_000 for m in fast.messages)
    assert fast.rejections == []  # the bad cell's row (商談数 abc) is left out by the filter, not rejected


def test_a_filtered_long_table_is_still_aggregated_in_duckdb(store, plan, monkeypatch):
    mapping = {**LONG_MAPPING, "filters": [{"column": "値", "op": ">=", "value": 30_000}]}
    fast = agree_with_filters(store, plan, long_export(6_000), mapping, "_long_set_based", monkeypatch)
    assert 1_000 < fast.rows_used < 3_000 and fast.rejections == []  # the bad rows' values are below 30,000
