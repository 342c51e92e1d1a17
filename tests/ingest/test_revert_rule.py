"""Revert and history with one rule: the current value of a metric-month is the latest write of a manual edit or
of an import that is not reverted. Checked on a real DuckDB file, by hand on the sequences that once went wrong,
and by a property test over random sequences of imports, edits, clears and reverts against a simple model."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi_core import ingest
from kpi_core.domain.model import KPI, Actual, Plan

JULY, AUGUST = date(2026, 7, 1), date(2026, 8, 1)
CELLS = [(key, month) for key in ("meetings", "revenue") for month in (JULY, AUGUST, date(2026, 9, 1))]


def new_plan(store) -> int:
    return store.create_plan(Plan(name="p", fiscal_start=date(2026, 4, 1))).id


def meetings_plan(store) -> Plan:
    plan_id = new_plan(store)
    store.save_kpi(KPI(plan_id=plan_id, key="meetings", name="商談数"), None)
    return store.get_plan(plan_id)


def do_import(store, plan_id: int, values: dict[tuple[str, date], float], name: str = "x.csv") -> int:
    actuals = [Actual(key, month, value) for (key, month), value in values.items()]
    meta = {"file_name": name, "sha256": name, "mapping": {}}
    return store.commit_import(plan_id, meta, actuals, [])["import_id"]


def test_out_of_order_reverts_never_resurrect_a_reverted_import(store):
    plan_id = new_plan(store)
    store.save_actuals(plan_id, [Actual("meetings", JULY, 38)])
    a = do_import(store, plan_id, {("meetings", JULY): 40, ("meetings", AUGUST): 41}, "a.csv")
    b = do_import(store, plan_id, {("meetings", JULY): 50}, "b.csv")
    assert ingest.revert_import(store, b).rows == 1
    assert store.actual_values(plan_id)["meetings"] == {JULY: 40, AUGUST: 41}
    c = do_import(store, plan_id, {("meetings", JULY): 50}, "b.csv")
    ingest.revert_import(store, a)
    assert store.actual_values(plan_id)["meetings"] == {JULY: 50}, "C stays; A's August goes"
    ingest.revert_import(store, c)
    assert store.actual_values(plan_id)["meetings"] == {JULY: 38}, "back to the manual value, never A's"
    again = ingest.revert_import(store, c)
    assert again.already and again.rows == 0 and "already reverted" in again.message("en")
    assert "取り消し済み" in again.message("ja")
    assert store.actual_values(plan_id)["meetings"] == {JULY: 38}


def test_an_import_repeating_the_current_value_still_holds_it_when_the_earlier_one_is_reverted(store):
    plan_id = new_plan(store)
    a = do_import(store, plan_id, {("meetings", JULY): 40}, "a.csv")
    b = do_import(store, plan_id, {("meetings", JULY): 40}, "b.csv")
    ingest.revert_import(store, a)
    assert store.actual_values(plan_id)["meetings"] == {JULY: 40}
    ingest.revert_import(store, b)
    assert store.actual_values(plan_id) == {}


def test_a_manual_clear_is_not_undone_by_reverting_an_older_import(store):
    plan_id = new_plan(store)
    store.save_actuals(plan_id, [Actual("meetings", JULY, 30)])
    a = do_import(store, plan_id, {("meetings", JULY): 40}, "a.csv")
    b = do_import(store, plan_id, {("meetings", JULY): 45}, "b.csv")
    store.save_actuals(plan_id, [], clears=[("meetings", JULY)])
    ingest.revert_import(store, a)
    ingest.revert_import(store, b)
    assert store.actual_values(plan_id) == {}, "the clear is the latest write"
    assert [e.value for e in store.actual_history(plan_id, "meetings", JULY)] == [30.0, 40.0, 45.0]


class Model:
    """The rule, written as plainly as possible: a list of writes, a set of reverted imports."""

    def __init__(self) -> None:
        self.writes: list[tuple[int | None, tuple[str, date], float | None]] = []
        self.reverted: set[int] = set()

    def current(self, cell) -> float | None:
        for import_no, at, value in reversed(self.writes):
            if at == cell and (import_no is None or import_no not in self.reverted):
                return value
        return None

    def values(self) -> dict[str, dict[date, float]]:
        out: dict[str, dict[date, float]] = {}
        for key, month in CELLS:
            value = self.current((key, month))
            if value is not None:
                out.setdefault(key, {})[month] = value
        return out


cell = st.sampled_from(CELLS)
value = st.sampled_from([1.0, 2.0, 3.0])
operation = st.one_of(
    st.tuples(st.just("import"), st.dictionaries(cell, value, min_size=1, max_size=4)),
    st.tuples(st.just("edit"), cell, value),
    st.tuples(st.just("clear"), cell),
    st.tuples(st.just("revert"), st.integers(min_value=0, max_value=7)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(operation, min_size=1, max_size=12))
def test_any_sequence_of_imports_edits_and_reverts_follows_the_rule(store, operations):
    plan_id, model, imports = new_plan(store), Model(), []
    for op in operations:
        if op[0] == "import":
            imports.append(do_import(store, plan_id, op[1], f"f{len(imports)}.csv"))
            model.writes += [(len(imports) - 1, at, v) for at, v in op[1].items()]
        elif op[0] == "edit":
            (key, month), new = op[1], op[2]
            store.save_actuals(plan_id, [Actual(key, month, new)])
            if model.current(op[1]) != new:  # a manual save of the same value is no edit
                model.writes.append((None, op[1], new))
        elif op[0] == "clear":
            store.save_actuals(plan_id, [], clears=[op[1]])
            if model.current(op[1]) is not None:
                model.writes.append((None, op[1], None))
        elif imports:
            number = op[1] % len(imports)
            result = ingest.revert_import(store, imports[number])
            assert result.already == (number in model.reverted)
            model.reverted.add(number)
        assert store.actual_values(plan_id) == model.values(), op


# ---------------------------------------------------------------- the same file, read with a new mapping
REPORT = "月,商談数,有効商談数\n2026/07,50,38\n2026/08,60,41\n".encode()
FIRST = {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "商談数"}}}
CORRECTED = {"shape": "wide_metrics", "date_column": "月", "metrics": {"meetings": {"column": "有効商談数"}}}


def test_same_file_with_a_corrected_mapping_is_a_choice_replace_or_keep(store):
    plan = meetings_plan(store)
    store.save_actuals(plan.id, [Actual("meetings", JULY, 30)])
    first = ingest.commit_import(store, plan, ingest.read_export(REPORT, "r.csv"), FIRST)
    same = ingest.preview_import(store, plan, ingest.read_export(REPORT, "r.csv"), FIRST)
    assert same.already_imported.id == first.import_id and same.remapped is None
    shown = ingest.preview_import(store, plan, ingest.read_export(REPORT, "r.csv"), CORRECTED)
    assert shown.already_imported is None and shown.remapped.id == first.import_id and shown.can_commit
    assert shown.values["value"].tolist() == [38.0, 41.0] and shown.to_write == 2
    with pytest.raises(ingest.IngestError) as unchosen:
        ingest.commit_import(store, plan, ingest.read_export(REPORT, "r.csv"), CORRECTED, shown)
    assert unchosen.value.key == "ingest.remapped_choice" and "--replace" in unchosen.value.message("en")
    assert store.actual_values(plan.id)["meetings"] == {JULY: 50, AUGUST: 60}

    replaced = ingest.commit_import(store, plan, ingest.read_export(REPORT, "r.csv"), CORRECTED, shown,
                                    replace=True)
    assert replaced.replaced == first.import_id and f"#{first.import_id}" in replaced.message("en")
    assert store.actual_values(plan.id)["meetings"] == {JULY: 38, AUGUST: 41}
    assert [i.status for i in store.list_imports(plan.id)] == ["committed", "reverted"]
    ingest.revert_import(store, replaced.import_id)
    assert store.actual_values(plan.id)["meetings"] == {JULY: 30}, "neither reading of the file is left"


def test_keeping_the_earlier_import_writes_the_new_reading_beside_it(store):
    plan = meetings_plan(store)
    first = ingest.commit_import(store, plan, ingest.read_export(REPORT, "r.csv"), FIRST)
    kept = ingest.commit_import(store, plan, ingest.read_export(REPORT, "r.csv"), CORRECTED, replace=False)
    assert kept.replaced is None and store.actual_values(plan.id)["meetings"] == {JULY: 38, AUGUST: 41}
    ingest.revert_import(store, kept.import_id)
    assert store.actual_values(plan.id)["meetings"] == {JULY: 50, AUGUST: 60}, "the kept import is in force"
    assert ingest.revert_import(store, first.import_id).rows == 2
