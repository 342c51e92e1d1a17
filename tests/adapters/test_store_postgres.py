"""The store on a PostgreSQL server, where it differs from a file: several processes at once (each with its own
connection pool), the schema laid out once when they start together, an unreachable or lost server, backups with
the server's tools, and the SQL translation. Everything else runs on both engines in the other store tests."""
from __future__ import annotations

import io
import threading
from datetime import date

import psycopg
import pytest

from kpi_core.adapters import store as store_module
from kpi_core.adapters.sql_backend import shown_url, to_postgres
from kpi_core.adapters.store import (
    BackupOnServer,
    DatabaseMissing,
    DatabaseTooNew,
    DatabaseUnavailable,
    StaleEdit,
    open_store,
)
from kpi_core.cli import main
from kpi_core.domain.model import KPI, Actual, Plan
from kpi_core.errors import render

APR = date(2026, 4, 1)
SESSIONS_PER_PROCESS = 5


def _plan(store) -> Plan:
    made = store.create_plan(Plan(name="Sales", department="Sales", fiscal_start=APR))
    store.save_kpi(KPI(plan_id=made.id, key="meetings", name="Meetings"), None)
    return made


def _run_sessions(stores, work) -> None:
    """`work(store, n)` from SESSIONS_PER_PROCESS threads of each store, all released at once."""
    barrier = threading.Barrier(len(stores) * SESSIONS_PER_PROCESS)
    failures: list[BaseException] = []

    def session(store, n: int) -> None:
        barrier.wait()
        try:
            work(store, n)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below, not swallowed
            failures.append(exc)

    threads = [threading.Thread(target=session, args=(store, p * SESSIONS_PER_PROCESS + i))
               for p, store in enumerate(stores) for i in range(SESSIONS_PER_PROCESS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


@pytest.fixture
def two_processes(pg_url):
    """Two stores on one database, each with its own pool: what two app processes hold."""
    first, second = open_store(pg_url), open_store(pg_url)
    yield first, second
    first.close()
    second.close()


def _current_rows(store, plan_id: int) -> list[tuple]:
    return store.cursor().execute(
        "SELECT metric_key, month, count(*) FROM actuals WHERE plan_id = ? AND superseded_at IS NULL "
        "GROUP BY metric_key, month", [plan_id]).fetchall()


def test_two_processes_saving_one_cell_lose_nothing_and_leave_one_current_value(two_processes):
    first, second = two_processes
    plan = _plan(first)
    _run_sessions(two_processes, lambda store, n: store.save_actuals(plan.id, [Actual("meetings", APR, float(n))]))
    sessions = 2 * SESSIONS_PER_PROCESS
    assert _current_rows(second, plan.id) == [("meetings", APR, 1)]
    assert second.actual_versions(plan.id) == {("meetings", APR): sessions}  # every save landed, one after another
    history = second.actual_history(plan.id, "meetings", APR)
    assert len(history) == sessions and sum(e.current for e in history) == 1
    assert sorted(e.value for e in history) == [float(n) for n in range(sessions)]  # 0 lost


def test_two_processes_based_on_one_version_one_wins_the_others_are_told(two_processes):
    first, second = two_processes
    plan = _plan(first)
    seen = first.actual_versions(plan.id)
    outcome: dict[int, str] = {}

    def save(store, n: int) -> None:
        try:
            store.save_actuals(plan.id, [Actual("meetings", APR, float(n + 1))], based_on=seen)
            outcome[n] = "stored"
        except StaleEdit as exc:
            assert exc.values["theirs"] != exc.values["yours"]
            outcome[n] = "refused"

    _run_sessions(two_processes, save)
    winners = [n for n, result in outcome.items() if result == "stored"]
    assert len(outcome) == 2 * SESSIONS_PER_PROCESS and len(winners) == 1
    assert second.actual_values(plan.id) == {"meetings": {APR: float(winners[0] + 1)}}
    assert _current_rows(second, plan.id) == [("meetings", APR, 1)]


def test_plan_edits_from_two_processes_on_one_version_give_the_conflict(two_processes):
    first, second = two_processes
    plan = _plan(first)
    version = first.get_plan(plan.id).version
    first.update_plan(Plan(**{**vars(plan), "name": "Mine"}), version)
    with pytest.raises(store_module.VersionConflict):
        second.update_plan(Plan(**{**vars(plan), "name": "Theirs"}), version)
    assert second.get_plan(plan.id).name == "Mine"


def test_processes_starting_together_on_an_empty_database_lay_out_the_schema_once(pg_empty_url):
    barrier = threading.Barrier(3)
    opened, failures = [], []

    def start() -> None:
        barrier.wait()
        try:
            opened.append(open_store(pg_empty_url, create=True))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and len(opened) == 3
    rows = opened[0].cursor().execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [v for (v,) in rows] == sorted(version for version, _, _ in store_module.MIGRATIONS)
    assert sum(store.created_schema for store in opened) == 1
    for store in opened:
        store.close()


def test_an_empty_server_database_gets_its_schema_only_on_purpose(pg_empty_url):
    with pytest.raises(DatabaseMissing):
        open_store(pg_empty_url, create=False)
    assert not store_module.may_create(pg_empty_url)
    out, err = io.StringIO(), io.StringIO()
    assert main(["--db", pg_empty_url, "--lang", "en", "db", "init"], out, err) == 0
    assert out.getvalue().startswith("Database ready at postgresql://") and not err.getvalue()
    out = io.StringIO()
    assert main(["--db", pg_empty_url, "--lang", "en", "db", "init"], out, err) == 0
    assert "already" in out.getvalue()
    out = io.StringIO()
    assert main(["--db", pg_empty_url, "--lang", "en", "db", "check"], out, err) == 0
    assert f"schema {store_module.latest_schema()}" in out.getvalue()


def test_backup_of_a_server_database_points_to_the_servers_tools(pg_url):
    store = open_store(pg_url)
    with pytest.raises(BackupOnServer) as caught:
        store.backup()
    store.close()
    assert "pg_dump" in caught.value.message("en") and "pg_dump" in caught.value.message("ja")
    out, err = io.StringIO(), io.StringIO()
    assert main(["--db", pg_url, "--lang", "en", "db", "backup"], out, err) == 1
    assert "pg_dump" in err.getvalue() and "Traceback" not in err.getvalue()


def test_a_newer_releases_database_is_refused(pg_url):
    store = open_store(pg_url)
    store.cursor().execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')")
    store.close()
    with pytest.raises(DatabaseTooNew) as caught:
        open_store(pg_url)
    assert caught.value.values["found"] == 999


def test_an_unreachable_server_is_reported_without_the_password(pg_cluster, monkeypatch):
    monkeypatch.setenv("KPI_WORKBENCH_LOCK_WAIT", "1")
    url = pg_cluster.url("nowhere").replace("kpi@", "kpi:s3cret@")
    with pytest.raises(DatabaseUnavailable) as caught:
        open_store(url)
    for lang in ("en", "ja"):
        text = render(caught.value.key, caught.value.values, lang)
        assert "kpi:***@127.0.0.1" in text and "s3cret" not in text and "nowhere" in text


def test_a_connection_lost_between_operations_is_replaced(pg_url, pg_cluster):
    store = open_store(pg_url)
    plan = _plan(store)
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                               [name]).fetchone()[0]
    assert killed >= 1
    assert store.get_plan(plan.id).name == "Sales"  # the pool checks a connection before lending it
    store.close()


def test_the_sql_of_the_store_reaches_postgresql_translated():
    assert to_postgres("SELECT ?, 'a?b%' || x FROM t WHERE y LIKE 'z%' AND v = ?::DOUBLE[] AND w % 2 = 0") == (
        "SELECT %s, 'a?b%%' || x FROM t WHERE y LIKE 'z%%' AND v = %s::DOUBLE PRECISION[] AND w %% 2 = 0")
    assert to_postgres("score DOUBLE NOT NULL, other DOUBLE PRECISION") == (
        "score DOUBLE PRECISION NOT NULL, other DOUBLE PRECISION")
    assert shown_url("postgresql://u:pw@db.example:5432/kpi") == "postgresql://u:***@db.example:5432/kpi"
    assert shown_url("postgresql://u@db/kpi") == "postgresql://u@db/kpi"


def test_a_percent_sign_in_a_literal_reaches_the_server_intact(pg_url):
    store = open_store(pg_url)
    assert store.cursor().execute("SELECT '100%?', ?", ["x"]).fetchone() == ("100%?", "x")
    store.close()


def test_a_connection_lost_during_a_change_is_reported_and_nothing_half_done(pg_url, pg_cluster):
    store = open_store(pg_url)
    plan = _plan(store)

    def change_then_lose_the_server() -> None:
        cur = store.cursor()
        cur.execute("UPDATE plans SET name = 'half' WHERE id = ?", [plan.id])
        backend_pid = cur.execute("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
        cur.execute("UPDATE plans SET department = 'x' WHERE id = ?", [plan.id])

    with pytest.raises(DatabaseUnavailable) as caught:
        store.atomic(change_then_lose_the_server)
    assert caught.value.values["where"] == pg_url and caught.value.message("ja")
    assert store.get_plan(plan.id).name == "Sales"  # rolled back; the next operation gets a new connection
    store.close()


def test_the_environment_names_the_server_as_it_names_a_file(pg_url, monkeypatch):
    monkeypatch.setenv(store_module.DB_ENV, pg_url)
    assert store_module.default_db_path() == pg_url
    store = open_store()
    assert store.dialect.name == "postgresql" and store.location == pg_url and store.path is None
    store.close()
    out, err = io.StringIO(), io.StringIO()
    assert main(["--lang", "en", "db", "check"], out, err) == 0
    assert out.getvalue().startswith(pg_url)
