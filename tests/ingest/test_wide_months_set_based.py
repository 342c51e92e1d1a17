"""A wide-months table (metrics as rows, months as columns) is unpivoted and aggregated in DuckDB; the values, the
rejected and skipped rows, their lines and the messages are exactly those of the row-by-row reader."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpi_core import ingest
from kpi_core.adapters.store import open_store
from kpi_core.domain.model import KPI, Aggregation, Plan
from kpi_core.ingest import summary

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
FY = [date(2026, 4, 1).replace(year=2026 + (m > 8), month=(m + 3) % 12 + 1) for m in range(12)]
KPIS = {"revenue": ("売上高", "JPY", Aggregation.SUM), "gross_profit": ("売上総利益", "JPY", Aggregation.SUM),
        "orders": ("受注件数", "件", Aggregation.SUM), "margin": ("粗利率", "%", Aggregation.RATIO),
        "nps": ("NPS", "pt", Aggregation.MEAN)}


def make_plan(store) -> Plan:
    plan = store.create_plan(Plan(name="budget", fiscal_start=FY[0]))
    for key, (name, unit, aggregation) in KPIS.items():
        store.save_kpi(KPI(plan_id=plan.id, key=key, name=name, unit=unit, aggregation=aggregation), None)
    return store.get_plan(plan.id)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    store = open_store(tmp_path_factory.mktemp("wide_months") / "w.duckdb")
    yield store, make_plan(store)
    store.close()


def budget_actual_export() -> bytes:
    """An accounting tool's monthly budget/actual table: a title line, budget, actual and variance per month, a
    total column, department blocks with subtotals, a row Excel ended early and a footer note; CP932."""
    header = ["部門", "科目"] + [f"{m.year}年{m.month}月{kind}" for m in FY for kind in ("予算", "実績", "差異")]
    lines = ["2026年度 部門別 予実管理表,,", ",".join(header + ["年間合計実績"])]
    figures = {"売上高": 12_000_000, "売上総利益": 4_800_000, "受注件数": 40, "粗利率": None, "NPS": 30}
    for block, dept in enumerate(("営業1部", "営業2部")):
        for name, base in figures.items():
            cells = []
            for i in range(12):
                if name == "粗利率":
                    actual = f"{38 + (i + block) % 5}.{i}%"
                    cells += ["40.0%", actual, ""]
                else:
                    value = base + (i * 7 + block * 3) * (base // 100 or 1) - (12 if name == "NPS" and i == 3 else 0)
                    cells += [f"\"{base:,}\"", f"\"{value:,}\"", f"\"△{abs(base - value):,}\""]
            lines.append(",".join([dept, name, *cells, ""]))
        lines.append(",".join([dept, "小計", *[""] * 37]))
    lines.append("営業3部,売上高," + ",".join(["\"1,000\",\"1,100\",\"100\""] * 4))  # Excel ended the row early
    lines.append(",".join(["合計", "", *[""] * 37]))
    lines.append("※ 金額は税抜、粗利率は売上総利益÷売上高")
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


MAPPING = {"shape": "wide_months", "label_column": "科目", "combine": "sum",
           "metrics": {key: {"source": "label", "label": name} for key, (name, _, _) in KPIS.items()}}


def both_ways(store, plan, data: bytes, mapping: dict):
    parsed = ingest.read_export(data, "budget.csv")
    used: list = []
    original = summary._wide_months_set_based
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(summary, "SET_BASED_ROWS", 0)
        patch.setattr(summary, "_wide_months_set_based", lambda w: used.append(original(w)) or used[-1])
        fast = ingest.preview_import(store, plan, parsed, mapping, "en")
        patch.setattr(summary, "SET_BASED_ROWS", 10**9)
        slow = ingest.preview_import(store, plan, parsed, mapping, "en")
    return fast, slow, used


def assert_same(fast, slow) -> None:
    assert fast.values.equals(slow.values)
    assert [(r.line, r.key, r.values) for r in fast.rejections] == [(r.line, r.key, r.values) for r in slow.rejections]
    assert [(s.line, s.reason, s.raw) for s in fast.skipped] == [(s.line, s.reason, s.raw) for s in slow.skipped]
    assert [m.text("en") for m in fast.messages] == [m.text("en") for m in slow.messages]
    assert (fast.rows_used, fast.rows_total) == (slow.rows_used, slow.rows_total)


def test_a_budget_actual_export_gives_the_same_values_as_row_by_row(shared):
    store, plan = shared
    fast, slow, used = both_ways(store, plan, budget_actual_export(), MAPPING)
    assert used and used[0] is not None, "the set-based reader did the work"
    assert_same(fast, slow)
    assert fast.rejections == []
    values = {(r.metric, r.month.date() if hasattr(r.month, "date") else r.month): r.value
              for r in fast.values.itertuples()}
    # the two departments (and the third's four months) add up; the budget and variance columns are left out
    assert values[("revenue", FY[0])] == 12_000_000 + 12_360_000 + 1_100
    assert values[("revenue", FY[11])] == 12_000_000 + 77 * 120_000 + 12_000_000 + 80 * 120_000
    assert values[("orders", FY[0])] == 40 + 43
    assert values[("nps", FY[3])] == (30 + 21 - 12) + (30 + 24 - 12)
    assert values[("margin", FY[0])] == pytest.approx(0.38 + 0.39)  # summed as the mapping says (combine: sum)
    assert len(fast.values) == 5 * 12
    assert {s.reason for s in fast.skipped} == {"title", "total", "footer"}
    ignored = next(m.text("en") for m in fast.messages if "2026年4月予算" in m.text("en"))
    assert "2026年4月差異" in ignored and "年間合計実績" in ignored and "2026年4月実績" not in ignored


def test_the_shipped_customer_success_sample_reads_the_same_both_ways(shared):
    store, plan = shared
    mapping = {"shape": "wide_months", "label_column": "指標", "combine": "reject", "metrics": {
        "nps": {"source": "label", "label": "NPS"}, "revenue": {"source": "label", "label": "継続売上"}}}
    fast, slow, used = both_ways(store, plan, (SAMPLES / "cs_kpi_wide_months_cp932.csv").read_bytes(), mapping)
    assert used[0] is not None
    assert_same(fast, slow)
    assert fast.values[fast.values["metric"] == "revenue"]["value"].tolist()[:2] == [48_552_200.0, 49_963_536.0]


_cells = st.one_of(st.integers(-5, 3_000_000).map(str), st.sampled_from(
    ["", "-", "abc", "1e308", "-3", "△4", "120%", "50%", "1.5", "12,5", "\"1,234\"", "0"]))
_labels = st.sampled_from(["売上高", "受注件数", "粗利率", "NPS", "未知の科目", "", "合計", "小計"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_labels, st.lists(_cells, min_size=0, max_size=4)), min_size=1, max_size=12),
       combine=st.sampled_from(["sum", "reject"]))
# A month on two rows where the first row also has a bad cell: "reject" keeps the first row's good cells, in file order.
@example(rows=[("売上高", ["0", "0", "0", "abc"]), ("売上高", ["0", "0", "0", "0"])], combine="reject")
def test_set_based_and_row_by_row_agree_on_any_table(shared, rows, combine):
    store, plan = shared
    lines = ["科目,2026/04,2026/05,2026/06,2026/07"] + [",".join([label, *cells]) for label, cells in rows]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    try:
        fast, slow, _ = both_ways(store, plan, data, {**MAPPING, "label_column": "科目", "combine": combine})
    except ingest.IngestError:
        return  # a table with no readable row is refused before any reader runs
    assert_same(fast, slow)
