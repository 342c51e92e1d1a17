"""Benchmark: sessions writing one plan at once, through the same store calls as the pages.

    python bench/bench_concurrency.py [--sessions 20] [--seconds 30] [--backend both|duckdb|postgresql] [--url URL]

Each session (a thread, as Streamlit runs sessions) loops for --seconds: it reads what a page shows (cell values and
versions, the KPI list, the check-ins), thinks for a few milliseconds, then saves one of: the actuals cell every
session edits, a cell of its own, a new check-in, the result of the check-in every session edits, or a KPI's owner —
each save based on the version it read, as the pages pass it. The store is opened as the app opens it (the file
released when idle). Afterwards the database is checked:
- lost: a save reported as stored whose value is not in the history, or versions that moved by a different number
  than the saves reported stored (a save overwriting another unseen would break that count), or a CLI import that
  said it was done and whose values are not all stored;
- duplicate current rows: cells with more than one current actual.

Two runs:
1. one app process on a DuckDB file (the default deployment), 20 sessions as threads; last line of its own:
       concurrency 20 sessions: N writes, S stored, C conflicts reported, L lost, D duplicate current rows, p95 X ms
2. two app processes' worth of writers (10 sessions each, separate OS processes) plus a scheduled CLI import
   (`kpi-workbench import`, run again and again as a subprocess) on one database: PostgreSQL (a throwaway cluster
   unless --url names one; that database must be empty) and, for comparison, the DuckDB file, each printing
       concurrency 20 sessions, 2 processes: N writes, L lost, C conflicts reported, p95 X ms
p95 is the 95th percentile of a save's duration (wait for its turn included).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpi_core.adapters.store import DatabaseLocked, StoreError, open_store
from kpi_core.domain.model import Actual, CheckIn, Status
from kpi_core.services.demo import seed_demo
from kpi_core.services.kpis import save_kpi_with_targets

SHARED_METRIC = "meetings"
IMPORTED_METRIC = "revenue"  # the scheduled import's metric: no session edits it, so its values are checked apart
PROCESSES = 2
IMPORT_PAUSE = 1.0  # seconds between two runs of the scheduled import
MAX_IMPORTS = 200  # bound on the import loop whatever the duration


@dataclass
class Tally:
    writes: int = 0
    stored: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    stored_values: list[tuple[str, str, float]] = field(default_factory=list)  # (metric, ISO month, value)
    stored_by_kind: dict[str, int] = field(default_factory=dict)
    busy_opens: int = 0  # a page that could not open because the file stayed busy: told so, nothing typed yet

    def add(self, other: Tally) -> None:
        self.writes += other.writes
        self.stored += other.stored
        self.conflicts += other.conflicts
        self.busy_opens += other.busy_opens
        self.errors += other.errors
        self.durations += other.durations
        self.stored_values += [tuple(value) for value in other.stored_values]
        for kind, count in other.stored_by_kind.items():
            self.stored_by_kind[kind] = self.stored_by_kind.get(kind, 0) + count

    def p95_ms(self) -> float:
        durations = sorted(self.durations)
        return durations[int(0.95 * (len(durations) - 1))] * 1000 if durations else 0.0


def session(store, plan, shared_checkin_id: int, index: int, until: float, tally: Tally,
            lock: threading.Lock) -> None:
    rng = random.Random(index)
    months = plan.month_list()
    own_metric, own_month = ("win_rate", months[index % len(months)]) if index < 12 else \
        ("avg_deal", months[index % len(months)])
    shared_month = months[0]
    counter = 0
    while time.monotonic() < until:
        counter += 1
        kind = rng.choice(["shared_cell", "own_cell", "new_checkin", "shared_checkin", "kpi", "targets"])
        token = index * 1_000_000 + counter  # unique per save, to find it afterwards
        try:  # what the page shows when it opens
            _, versions = store.actual_snapshot(plan.id)
            checkin = next(c for c in store.list_checkins(plan.id) if c.id == shared_checkin_id)
            kpi = next(k for k in store.list_kpis(plan.id) if k.key == SHARED_METRIC)
            target_set = store.target_set_versions(plan.id).get(SHARED_METRIC, 0)
        except DatabaseLocked:  # the page says the file is busy (another process held it past the wait)
            with lock:
                tally.busy_opens += 1
            continue
        time.sleep(rng.uniform(0.0, 0.02))  # the user types
        started = time.perf_counter()
        value = None
        try:
            if kind == "shared_cell":
                value = (SHARED_METRIC, shared_month, float(token))
                store.save_actuals(plan.id, [Actual(*value)], based_on=versions)
            elif kind == "own_cell":
                value = (own_metric, own_month, float(token))
                store.save_actuals(plan.id, [Actual(*value)], based_on=versions)
            elif kind == "new_checkin":
                store.save_checkin(CheckIn(plan.id, SHARED_METRIC, shared_month, Status.AT_RISK,
                                           why=f"w{token}", next_action=f"a{token}", owner=f"s{index}"))
            elif kind == "shared_checkin":
                checkin.result = f"r{token}"
                store.save_checkin(checkin)
            elif kind == "kpi":  # through the use case the page calls, based on the row version read
                kpi.owner = f"o{token}"
                save_kpi_with_targets(store, kpi, None, f"bench {token}")
            else:  # the KPI's monthly targets, based on the target-set version read
                store.set_monthly_targets(plan.id, SHARED_METRIC, dict.fromkeys(months, float(token)),
                                          f"bench {token}", None, target_set)
            outcome = "stored"
        except StoreError as exc:  # stale, conflict, busy, locked: reported to the writer, in the catalogue
            outcome = "conflict" if exc.key.startswith("store.") else "error"
        except Exception as exc:  # noqa: BLE001 - counted as an error (a raw engine message would be one)
            outcome = f"error {type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        with lock:
            tally.writes += 1
            tally.durations.append(elapsed)
            if outcome == "stored":
                tally.stored += 1
                tally.stored_by_kind[kind] = tally.stored_by_kind.get(kind, 0) + 1
                if value:
                    tally.stored_values.append((value[0], value[1].isoformat(), value[2]))
            elif outcome == "conflict":
                tally.conflicts += 1
            else:
                tally.errors.append(outcome)


def run_sessions(location: str, plan_id: int, first_index: int, count: int, start_at: float,
                 seconds: float) -> Tally:
    """`count` sessions as threads of this process, all starting at wall-clock `start_at`."""
    store = open_store(location, create=False, release_when_idle=True)  # as the app opens it
    try:
        plan = store.get_plan(plan_id)
        shared_checkin_id = store.list_checkins(plan.id)[0].id
        time.sleep(max(0.0, start_at - time.time()))
        tally, lock = Tally(), threading.Lock()
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=session, daemon=True,
                                    args=(store, plan, shared_checkin_id, first_index + i, until, tally, lock))
                   for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 120)
        return tally
    finally:
        store.close()


# ---------------------------------------------------------------- checking the database afterwards
def table_rows(store, wanted: set[str]) -> dict[str, list[dict]]:
    """The rows of some tables, through the store's backend-neutral dump (no SQL here)."""
    rows: dict[str, list[dict]] = {}
    for dump in store.dump_tables():
        if dump.table in wanted:
            rows[dump.table] = [dict(zip(dump.columns, row)) for batch in dump.batches for row in batch]
    return rows


def versions_now(store, plan, shared_checkin_id: int) -> dict[str, int]:
    checkins = store.list_checkins(plan.id)
    checkin = next(c for c in checkins if c.id == shared_checkin_id)
    return {"shared_cell": store.actual_versions(plan.id).get((SHARED_METRIC, plan.month_list()[0]), 0),
            "shared_checkin": checkin.version,
            "kpi": next(k for k in store.list_kpis(plan.id) if k.key == SHARED_METRIC).version,
            "targets": store.target_set_versions(plan.id).get(SHARED_METRIC, 0),
            "checkins": len(checkins)}


def audit(store, plan, shared_checkin_id: int, tally: Tally, before: dict,
          imported: list[dict[str, float]]) -> tuple[int, int]:
    """(lost, duplicate current rows) from the database itself."""
    rows = table_rows(store, {"actuals"})["actuals"]
    mine = [row for row in rows if row["plan_id"] == plan.id]
    history = {(row["metric_key"], row["month"].isoformat(), row["value"]) for row in mine}
    lost = sum(1 for value in tally.stored_values if tuple(value) not in history)
    for values in imported:  # every import that said "done" has all its values in the history
        lost += sum(1 for month, value in values.items() if (IMPORTED_METRIC, month, value) not in history)
    after = versions_now(store, plan, shared_checkin_id)
    moved = {name: after[name] - before[name] for name in after}
    expected = {"shared_cell": tally.stored_by_kind.get("shared_cell", 0),
                "shared_checkin": tally.stored_by_kind.get("shared_checkin", 0),
                "kpi": tally.stored_by_kind.get("kpi", 0), "targets": tally.stored_by_kind.get("targets", 0),
                "checkins": tally.stored_by_kind.get("new_checkin", 0)}
    lost += sum(abs(moved[name] - expected[name]) for name in expected)
    current: dict[tuple, int] = {}
    for row in mine:
        if row["superseded_at"] is None:
            cell = (row["metric_key"], row["month"])
            current[cell] = current.get(cell, 0) + 1
    return lost, sum(1 for count in current.values() if count > 1)


# ---------------------------------------------------------------- the scheduled import (a CLI subprocess)
MAPPING = {"shape": "long", "date_column": "month", "label_column": "metric", "value_column": "value",
           "metrics": {IMPORTED_METRIC: {"source": "label", "label": IMPORTED_METRIC}}}


def import_loop(location: str, plan_id: int, months: list[date], folder: Path, until: float,
                results: list[tuple[int, dict[str, float], float]]) -> None:
    """Run `kpi-workbench import` again and again until `until` (bounded in count): each run replaces this
    year's revenue with new values. Records (exit code, values, seconds) per run."""
    mapping = folder / "import.mapping.json"
    mapping.write_text(json.dumps(MAPPING), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for run in range(MAX_IMPORTS):
        if time.monotonic() >= until:
            return
        values = {month.isoformat(): float(1_000_000 + run * 1000 + i) for i, month in enumerate(months)}
        export = folder / f"revenue-{run}.csv"
        export.write_text("month,metric,value\n" + "".join(
            f"{month[:7]},{IMPORTED_METRIC},{value:.0f}\n" for month, value in values.items()), encoding="utf-8")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "kpi_core.cli", "--db", location, "--lang", "en", "import", "--plan",
             str(plan_id), "--mapping", str(mapping), "--replace", str(export)],
            capture_output=True, text=True, env=env, timeout=300, check=False)
        results.append((done.returncode, values, time.perf_counter() - started))
        if done.returncode not in (0, 3):  # 3: the database was busy for the whole bounded wait (reported)
            print(f"  import {run} exit {done.returncode}: {done.stderr.strip()[-300:]}")
        time.sleep(IMPORT_PAUSE)


# ---------------------------------------------------------------- runs
def seed(location: str) -> tuple[int, int]:
    """The demo plan in a new database; returns (plan id, the check-in every session edits)."""
    os.environ["KPI_WORKBENCH_DEMO"] = "1"
    store = open_store(location, create=True)
    try:
        plan = seed_demo(store, lang="en")
        if plan is None:
            raise SystemExit(f"{location} is not empty: the benchmark needs a database of its own")
        return plan.id, store.list_checkins(plan.id)[0].id
    finally:
        store.close()


def one_process(path: Path, sessions: int, seconds: float) -> str:
    """Today's deployment: one app process on the DuckDB file, every session a thread."""
    plan_id, shared_checkin_id = seed(str(path))
    tally = run_sessions_checked(str(path), plan_id, shared_checkin_id, sessions, seconds, processes=1)
    lost, duplicates = tally["lost"], tally["duplicates"]
    t = tally["tally"]
    print(f"stored by kind: {t.stored_by_kind}; pages that found the file busy: {t.busy_opens}; "
          f"errors: {len(t.errors)} {t.errors[:3]}")
    return (f"concurrency {sessions} sessions: {t.writes} writes, {t.stored} stored, {t.conflicts} conflicts "
            f"reported, {lost} lost, {duplicates} duplicate current rows, p95 {t.p95_ms():.0f} ms")


def run_sessions_checked(location: str, plan_id: int, shared_checkin_id: int, sessions: int, seconds: float,
                         processes: int, folder: Path | None = None) -> dict:
    """Run the sessions (in this process, or split over `processes` OS processes with the scheduled import
    beside them) and check the database afterwards."""
    store = open_store(location, create=False)
    plan = store.get_plan(plan_id)
    before = versions_now(store, plan, shared_checkin_id)
    store.close()
    imports: list[tuple[int, dict[str, float], float]] = []
    if processes == 1:
        tally = run_sessions(location, plan_id, 0, sessions, time.time(), seconds)
    else:
        tally = Tally()
        start_at = time.time() + 5.0  # every worker connected and ready before the clock starts
        per_process = sessions // processes
        workers = [subprocess.Popen(
            [sys.executable, __file__, "--worker", location, "--plan", str(plan_id), "--first", str(p * per_process),
             "--sessions", str(per_process if p < processes - 1 else sessions - p * per_process),
             "--start-at", str(start_at), "--seconds", str(seconds)],
            stdout=subprocess.PIPE, text=True) for p in range(processes)]
        time.sleep(max(0.0, start_at - time.time()))
        importer = threading.Thread(target=import_loop, daemon=True, args=(
            location, plan_id, plan.month_list(), folder, time.monotonic() + seconds, imports))
        importer.start()
        for worker in workers:
            output, _ = worker.communicate(timeout=seconds + 300)
            tally.add(Tally(**json.loads(output.strip().splitlines()[-1])))
        importer.join(timeout=600)
    store = open_store(location, create=False)
    try:
        done = [values for code, values, _ in imports if code == 0]
        lost, duplicates = audit(store, plan, shared_checkin_id, tally, before, done)
    finally:
        store.close()
    return {"tally": tally, "lost": lost, "duplicates": duplicates, "imports": imports}


def two_processes(location: str, label: str, sessions: int, seconds: float, folder: Path) -> str:
    plan_id, shared_checkin_id = seed(location)
    result = run_sessions_checked(location, plan_id, shared_checkin_id, sessions, seconds, PROCESSES, folder)
    t, imports = result["tally"], result["imports"]
    import_times = sorted(seconds for _, _, seconds in imports)
    print(f"{label}: stored {t.stored} by kind {t.stored_by_kind}; pages that found the file busy: {t.busy_opens}; "
          f"errors: {len(t.errors)} {t.errors[:3]}; "
          f"duplicate current rows {result['duplicates']}; CLI imports {len(imports)} "
          f"({sum(1 for code, _, _ in imports if code == 0)} done, {sum(1 for code, _, _ in imports if code == 3)} "
          f"refused as busy), median {import_times[len(import_times) // 2] if import_times else 0:.2f} s")
    return (f"concurrency {sessions} sessions, {PROCESSES} processes: {t.writes} writes, {result['lost']} lost, "
            f"{t.conflicts} conflicts reported, p95 {t.p95_ms():.0f} ms")


@contextmanager
def postgresql(url: str | None) -> Iterator[str]:
    """The given database, or a new, empty one in a throwaway cluster (the tests' cluster: fsync off)."""
    if url:
        yield url
        return
    from tests.pg_cluster import Cluster

    cluster = Cluster().start()
    try:
        with cluster.database(template=None) as database:
            yield database
    finally:
        cluster.stop()


def worker_main(args: argparse.Namespace) -> None:
    """One app process's worth of sessions; prints its tally as JSON (the last line of its output)."""
    tally = run_sessions(args.worker, args.plan, args.first, args.sessions, args.start_at, args.seconds)
    print(json.dumps(asdict(tally)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--backend", choices=("both", "duckdb", "postgresql"), default="both")
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a throwaway cluster)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--plan", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 1.0), 120.0)  # bounded whatever is asked
    args.sessions = min(max(args.sessions, PROCESSES), 100)
    if args.worker:
        worker_main(args)
        return
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        if args.backend in ("both", "duckdb"):
            lines.append(one_process(Path(folder) / "one.duckdb", args.sessions, args.seconds))
        if args.backend in ("both", "postgresql"):
            with postgresql(args.url) as url:
                lines.append(two_processes(url, "PostgreSQL", args.sessions, args.seconds, Path(folder)))
        if args.backend in ("both", "duckdb"):
            lines.append(two_processes(str(Path(folder) / "two.duckdb"), "DuckDB file", args.sessions,
                                       args.seconds, Path(folder)))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
