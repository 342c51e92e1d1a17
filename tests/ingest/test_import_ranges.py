"""The range rule (value_rules) on every import path: each summary shape cell by cell, record lists and formulas on
their monthly values, the set-based readers in SQL agreeing with the row-by-row ones; refused with a reason per
cell in the user's language, and nothing written."""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpi_core import ingest
from kpi_core.adapters.store import open_store
from kpi_core.domain.model import KPI, Aggregation, Plan
from kpi_core.ingest import summary

APR, MAY = date(2026, 4, 1), date(2026, 5, 1)
UNITS = {"meetings": ("件", Aggregation.SUM), "win_rate": ("%", Aggregation.RATIO),
         "revenue": ("JPY", Aggregation.SUM), "nps": ("pt", Aggregation.MEAN)}


def make_plan(store) -> Plan:
    plan = store.create_plan(Plan(name="ranges", fiscal_start=APR))
    for key, (unit, aggregation) in UNITS.items():
        store.save_kpi(KPI(plan_id=plan.id, key=key, name=key, unit=unit, aggregation=aggregation), None)
    return store.get_plan(plan.id)


@pytest.fixture
def plan(store):
    return make_plan(store)


WIDE = {"shape": "wide_metrics", "date_column": "月", "metrics": {
    "meetings": {"column": "商談数"}, "win_rate": {"column": "受注率"}, "revenue": {"column": "売上"},
    "nps": {"column": "NPS"}}}
LONG = {"shape": "long", "date_column": "月", "label_column": "指標", "value_column": "値", "metrics": {
    key: {"source": "label", "label": key} for key in UNITS}}
MONTHS = {"shape": "wide_months", "label_column": "指標", "metrics": {
    key: {"source": "label", "label": key} for key in UNITS}}


def preview(store, plan, text: str, mapping: dict, lang: str = "en"):
    return ingest.preview_import(store, plan, ingest.read_export(text.encode("utf-8"), "x.csv"), mapping, lang)


def reasons(p) -> list[tuple[int | None, str]]:
    return [(r.line, r.values.get("reason_key", r.key)) for r in p.rejections]


@pytest.mark.parametrize(("text", "mapping"), [
    ("月,商談数,受注率,売上,NPS\n2026/04,-3,25%,1000,-20\n2026/05,40,120%,1e308,5\n", WIDE),
    (("月,指標,値\n2026/04,meetings,-3\n2026/04,win_rate,25%\n2026/04,revenue,1000\n2026/04,nps,-20\n"
      "2026/05,meetings,40\n2026/05,win_rate,120%\n2026/05,revenue,1e308\n2026/05,nps,5\n"), LONG),
    ("指標,2026/04,2026/05\nmeetings,-3,40\nwin_rate,25%,120%\nrevenue,1000,1e308\nnps,-20,5\n", MONTHS),
])
def test_every_summary_shape_refuses_out_of_range_cells_with_a_reason_each(store, plan, text, mapping):
    p = preview(store, plan, text, mapping)
    found = sorted(r.values["reason_values"]["field"] for r in p.rejections)
    assert found == ["meetings, 2026-04", "revenue, 2026-05", "win_rate, 2026-05"]
    assert {r.values["reason_key"] for r in p.rejections} == {"range.negative", "range.rate", "range.too_large"}
    # a score may be negative; the good cells are read exactly
    values = {(v.metric_key, v.month): v.value for v in p.actuals}
    assert values[("nps", APR)] == -20 and values[("win_rate", APR)] == pytest.approx(0.25)
    assert ("meetings", APR) not in values
    texts = [r.message("en") for r in p.rejections]
    assert any("-3 is negative" in m and "“meetings”" not in m for m in texts)
    assert any("1e308" in m and "larger than any real figure" in m for m in texts)
    assert any("120%" in m and "scale of 0.01" in m for m in texts)
    assert all("マイナス" in m or "範囲" in m or "大きすぎ" in m for m in (r.message("ja") for r in p.rejections))
    # all or nothing: refused unless the user accepts the rejected rows; nothing written
    with pytest.raises(ingest.IngestError) as caught:
        ingest.commit_import(store, plan, ingest.read_export(text.encode("utf-8"), "x.csv"), mapping, p)
    assert caught.value.key == "ingest.rejected_not_accepted"
    assert store.actual_values(plan.id) == {}


def test_a_good_file_goes_through_with_exact_values(store, plan):
    text = "月,商談数,受注率,売上,NPS\n2026/04,0,0%,0,-100\n2026/05,40,100%,\"13,095,000\",100\n"
    p = preview(store, plan, text, WIDE)
    assert p.rejections == []
    ingest.commit_import(store, plan, ingest.read_export(text.encode("utf-8"), "x.csv"), WIDE, p)
    got = store.actual_values(plan.id)
    assert got["revenue"] == {APR: 0.0, MAY: 13_095_000.0}
    assert got["win_rate"] == {APR: 0.0, MAY: 1.0} and got["nps"] == {APR: -100.0, MAY: 100.0}


def test_record_list_month_adding_up_below_zero_is_refused(store, plan):
    text = ("受注日,金額\n2026/04/03,\"1,000\"\n2026/04/09,\"-5,000\"\n2026/05/01,\"2,000\"\n")
    mapping = {"shape": "records", "date_column": "受注日", "metrics": {
        "revenue": {"source": "sum", "column": "金額"}, "meetings": {"source": "count"}}}
    p = preview(store, plan, text, mapping)
    assert reasons(p) == [(2, "range.negative")]
    assert p.rejections[0].key == "ingest.reject.value_range"
    assert "-4,000 is negative" in p.rejections[0].message("en")
    assert {(a.metric_key, a.month): a.value for a in p.actuals} == {
        ("revenue", MAY): 2000.0, ("meetings", APR): 2.0, ("meetings", MAY): 1.0}


def test_derived_rate_above_100_percent_is_refused(store, plan):
    text = "月,受注,商談\n2026/04,5,10\n2026/05,12,10\n"
    mapping = {"shape": "wide_metrics", "date_column": "月", "metrics": {
        "wins": {"column": "受注"}, "meetings": {"column": "商談"},
        "win_rate": {"source": "formula", "formula": "wins / meetings"}}}
    p = preview(store, plan, text, mapping)
    assert [(r.values["month"], r.values["reason_key"]) for r in p.rejections] == [("2026-05", "range.rate")]
    assert "120 %" in p.rejections[0].message("en")
    assert {(a.metric_key, a.month) for a in p.actuals} == {("win_rate", APR), ("meetings", APR), ("meetings", MAY)}


# ---------------------------------------------------------------- SQL and Python readers agree
_cells = st.one_of(st.integers(-5, 2_000_000).map(str), st.sampled_from(
    ["-3", "0", "1e308", "-1e308", "1e15", "1e16", "100%", "101%", "-1%", "△5", "50%", "0.5", "1.5", ""]))


def _both_ways(store, plan, text: str, mapping: dict, set_based: str):
    parsed = ingest.read_export(text.encode("utf-8"), "x.csv")
    used: list = []
    original = getattr(summary, set_based)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(summary, "SET_BASED_ROWS", 0)
        patch.setattr(summary, set_based, lambda w: used.append(original(w)) or used[-1])
        fast = ingest.preview_import(store, plan, parsed, mapping, "en")
        patch.setattr(summary, "SET_BASED_ROWS", 10**9)
        slow = ingest.preview_import(store, plan, parsed, mapping, "en")
    assert used and used[0] is not None, "the set-based reader did the work"
    return fast, slow


def _same(fast, slow) -> None:
    assert [(r.line, r.key, r.values) for r in fast.rejections] == [(r.line, r.key, r.values) for r in slow.rejections]
    # A sum's last bits depend on the order it adds in, which a parallel aggregate does not fix (8 + 1.01 + 7 is
    # 16.01 one way and 16.009999999999998 another): values agree to 12 digits, everything else exactly.
    pd.testing.assert_frame_equal(fast.values, slow.values, check_exact=False, rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    store = open_store(tmp_path_factory.mktemp("ranges") / "r.duckdb")
    yield store, make_plan(store)
    store.close()


# A mapping's filters keep the set-based readers too: rows they leave out are counted, never read.
_FILTERS = st.sampled_from([None, [{"column": "NPS", "op": ">=", "value": 0}], [{"column": "NPS", "op": "filled"}]])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 11), _cells, _cells, _cells, _cells), min_size=1, max_size=30),
       filters=_FILTERS)
@example(rows=[(0, "0", "0", "0", "0"), (0, "0", "0", "0", "8"), (0, "0", "0", "-1", "101%"), (0, "0", "0", "0", "7")],
         filters=None)  # sums that differ in the last bit by the order they add in
def test_wide_metrics_set_based_states_the_same_rule(shared, rows, filters):
    store, plan = shared
    text = "月,商談数,受注率,売上,NPS\n" + "".join(
        f"2026/{4 + m % 9:02d}/{1 + m},{a},{b},{c},{d}\n" for m, a, b, c, d in rows)
    mapping = {**WIDE, "combine": "sum", **({"filters": filters} if filters else {})}
    fast, slow = _both_ways(store, plan, text, mapping, "_wide_metrics_set_based")
    _same(fast, slow)
    assert [m.text("en") for m in fast.messages] == [m.text("en") for m in slow.messages]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 8), st.sampled_from(sorted(UNITS)), _cells), min_size=1, max_size=40),
       filters=st.sampled_from([None, [{"column": "値", "op": ">=", "value": 0}],
                                [{"column": "指標", "op": "not_in", "value": ["nps"]}]]))
def test_long_set_based_states_the_same_rule(shared, rows, filters):
    store, plan = shared
    text = "月,指標,値\n" + "".join(f"2026/{4 + m:02d},{key},{value}\n" for m, key, value in rows)
    mapping = {**LONG, "combine": "sum", "metrics": {
        **LONG["metrics"], "win_rate": {"source": "label", "label": "win_rate", "scale": 0.01}},
        **({"filters": filters} if filters else {})}
    fast, slow = _both_ways(store, plan, text, mapping, "_long_set_based")
    _same(fast, slow)
    assert [m.text("en") for m in fast.messages] == [m.text("en") for m in slow.messages]
