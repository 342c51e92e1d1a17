"""`kpi-workbench db copy`: a whole workbench copied exactly into a new database, refused into a used one.

Every table is filled first (demo plan, an import with a rejected row and a saved profile, a second import reverted,
a workshop with ideas, dots and notes, health ticks and snapshots, a review, changed targets, soft deletes), then
copied and compared row by row with the source.
"""
from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest

from kpi_core.adapters.store import CopySchemaDiffers, open_store
from kpi_core.cli import main
from kpi_core.domain.model import Plan
from kpi_core.domain.workshop import NoteKind
from kpi_core.services import workshop as ws
from kpi_core.services.db_copy import copy_database
from kpi_core.services.health import plan_health, tick_item
from kpi_core.services.review import record_review

JULY = "月,商談数,受注率,平均単価\n2026/07,50,25%,\"1,200,000\"\n2026/08,abc,20%,\"1,000,000\"\n合計,50,,\n"
JULY_AGAIN = "月,商談数,受注率,平均単価\n2026/07,55,30%,\"1,300,000\"\n"
MAPPING = {"shape": "wide_metrics", "date_column": "月", "metrics": {
    "meetings": {"column": "商談数"}, "win_rate": {"column": "受注率"}, "avg_deal": {"column": "平均単価"}}}
TODAY = date(2026, 11, 20)


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--lang", "en", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def fill_every_table(location: str, folder: Path) -> None:
    """A used workbench at `location` (an initialised database holding the demo plan): every table gets rows."""
    store = open_store(location, create=False)
    try:
        plan = store.list_plans()[0]
        mapping = folder / "mapping.json"
        mapping.write_text(json.dumps(MAPPING, ensure_ascii=False), encoding="utf-8")
        for name, text in (("july.csv", JULY), ("july-again.csv", JULY_AGAIN)):
            (folder / name).write_bytes(text.encode("cp932"))
        # a table with no writer in the app yet: copied all the same
        store.cursor().execute("INSERT INTO settings (key, value) VALUES ('copy-test', 'kept')")
        kpis = {k.key: k for k in store.list_kpis(plan.id)}
        store.set_monthly_targets(plan.id, "meetings", {plan.month_list()[0]: 99.0}, reason="raised")
        csf = store.list_csfs(plan.id)[-1]
        store.delete_csf(plan.id, csf.id, None)
        gone = store.create_plan(Plan(name="Deleted plan"))
        store.delete_plan(gone.id)
        record_review(store, plan.id, TODAY, {"meetings": ("keep", "on track")}, None)
        tick_item(store, plan.id, "review_meeting", True, "Sato")
        plan_health(store, plan.id, today=TODAY)
        view, key = ws.create_session(store, plan.id, "Kick-off")
        view = ws.move(store, view.id, key, +2)  # step 3: CSF ideas
        _, participant = ws.join(store, view.code, "Aiko")
        idea = ws.submit_idea(store, participant.token, "More demos")
        dropped = ws.submit_idea(store, participant.token, "Dropped idea")
        ws.delete_idea(store, view.id, key, dropped.id)
        vote = ws.open_vote(store, view.id, key, view.step)
        ws.place_dot(store, participant.token, vote.id, idea.id)
        ws.add_note(store, view.id, key, NoteKind.PARKING, "Pricing question")
        assert kpis
    finally:
        store.close()
    code, _, err = cli("--db", location, "import", "--plan", plan.name, "--mapping", str(mapping),
                       "--save-profile", "sfa monthly", "--accept-rejected", str(folder / "july.csv"))
    assert (code, err) == (0, "")
    code, _, err = cli("--db", location, "import", "--plan", plan.name, "--mapping", str(mapping), "--replace",
                       str(folder / "july-again.csv"))
    assert (code, err) == (0, "")
    store = open_store(location, create=False)
    try:
        newest = max(i.id for i in store.list_imports(plan.id))
    finally:
        store.close()
    assert cli("--db", location, "revert", str(newest))[0] == 0


def every_row(location: str) -> dict[str, list[tuple]]:
    """Each table's rows as {column: value}, sorted: what a row-by-row comparison of two databases needs."""
    store = open_store(location, create=False)
    try:
        tables = {}
        for dump in store.dump_tables():
            rows = [tuple(sorted(zip(dump.columns, row))) for batch in dump.batches for row in batch]
            tables[dump.table] = sorted(rows, key=repr)
        return tables
    finally:
        store.close()


def new_workbench(location: str) -> str:
    code, _, err = cli("--db", location, "db", "init")
    assert (code, err) == (0, ""), err
    return location


@pytest.fixture
def used_workbench(demo_plan, store, db_target: Path | str, tmp_path: Path) -> str:
    """The used workbench on the test's engine (the tests run on a DuckDB file and on PostgreSQL)."""
    store.close()
    fill_every_table(str(db_target), tmp_path)
    return str(db_target)


def test_every_table_of_the_used_workbench_has_rows(used_workbench):
    tables = every_row(used_workbench)
    assert [name for name, rows in tables.items() if not rows] == []
    assert "schema_migrations" not in tables


def test_copy_file_to_file_is_exact_and_ids_continue(used_workbench, tmp_path):
    target = new_workbench(str(tmp_path / "copy.duckdb"))
    code, out, err = cli("db", "copy", "--from", used_workbench, "--to", target)
    assert (code, err) == (0, "")
    source_rows = every_row(used_workbench)
    assert every_row(target) == source_rows
    assert f"Copied {sum(map(len, source_rows.values()))} rows in {len(source_rows)} tables" in out
    store = open_store(target, create=False)
    try:
        highest = max(dict(row)["id"] for row in source_rows["plans"])
        assert store.create_plan(Plan(name="After the copy")).id > highest  # sequences moved past the copied ids
    finally:
        store.close()


def test_copy_creates_a_missing_target_file(used_workbench, tmp_path):
    target = str(tmp_path / "fresh.duckdb")
    assert cli("db", "copy", "--from", used_workbench, "--to", target)[0] == 0
    assert every_row(target) == every_row(used_workbench)


def test_copy_into_a_used_database_is_refused_and_changes_nothing(used_workbench, tmp_path):
    target = new_workbench(str(tmp_path / "used.duckdb"))
    store = open_store(target, create=False)
    store.create_plan(Plan(name="Already here"))
    store.close()
    before = every_row(target)
    code, out, err = cli("db", "copy", "--from", used_workbench, "--to", target)
    assert code == 1 and out == ""
    assert "already holds data" in err and target in err
    assert every_row(target) == before


def test_a_missing_source_is_refused_without_creating_it(tmp_path):
    code, _, err = cli("db", "copy", "--from", str(tmp_path / "nothing.duckdb"), "--to", str(tmp_path / "t.duckdb"))
    assert code == 1 and "There is no database at" in err
    assert not (tmp_path / "nothing.duckdb").exists()


def test_a_target_at_another_schema_version_is_refused(used_workbench, tmp_path):
    location = new_workbench(str(tmp_path / "newer.duckdb"))
    target, source = open_store(location, create=False), open_store(used_workbench, create=False)
    try:
        with target.transaction() as cur:  # another release upgraded it meanwhile
            cur.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                        [source.schema_version() + 1, "from a newer release"])
        with pytest.raises(CopySchemaDiffers) as refused:
            copy_database(source, target)
        assert refused.value.values["target_version"] == source.schema_version() + 1
        assert all(not list(dump.batches) for dump in target.dump_tables())
    finally:
        source.close()
        target.close()


def test_a_copy_failing_half_way_leaves_the_target_empty(used_workbench, tmp_path):
    source = open_store(used_workbench, create=False)
    with source.transaction() as cur:  # a table the target does not have, copied last (tables go by name)
        cur.execute("CREATE TABLE zz_local_extra (note VARCHAR)")
        cur.execute("INSERT INTO zz_local_extra VALUES (?)", ["only here"])
    source.close()
    target = new_workbench(str(tmp_path / "half.duckdb"))
    code, _, err = cli("db", "copy", "--from", used_workbench, "--to", target)
    assert code == 1 and "zz_local_extra" in err
    assert all(not rows for rows in every_row(target).values())


# ---------------------------------------------------------------- to PostgreSQL and back
@pytest.mark.duckdb_only
def test_file_to_postgresql_and_back_is_exact(used_workbench, pg_empty_url, tmp_path):
    server = pg_empty_url  # as a database team hands one over: no schema yet
    code, _, err = cli("db", "copy", "--from", used_workbench, "--to", server)
    assert (code, err) == (0, ""), err
    source_rows = every_row(used_workbench)
    assert every_row(server) == source_rows

    back = str(tmp_path / "back.duckdb")
    code, _, err = cli("db", "copy", "--from", server, "--to", back)
    assert (code, err) == (0, ""), err
    assert every_row(back) == source_rows
    store = open_store(server, create=False)
    try:  # the server's sequences continue after the copied ids
        highest = max(dict(row)["id"] for row in source_rows["plans"])
        assert store.create_plan(Plan(name="After the copy")).id > highest
    finally:
        store.close()


@pytest.mark.duckdb_only
def test_copy_into_a_used_postgresql_database_is_refused(used_workbench, pg_url):
    server = pg_url  # migrated and empty
    assert cli("db", "copy", "--from", used_workbench, "--to", server)[0] == 0
    code, out, err = cli("db", "copy", "--from", used_workbench, "--to", server)
    assert code == 1 and out == "" and "already holds data" in err
    assert every_row(server) == every_row(used_workbench)
