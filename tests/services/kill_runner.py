"""Fault injection for tests/services/test_crash_safety.py (run as a script, prints one JSON line).

Imports everything once, then for each trial: copies the prepared database, forks a child that runs one multi-step
operation on the copy, kills the child with SIGKILL after a random delay within the operation's measured duration,
reopens the copy and records whether it holds exactly the old state or exactly the new one (row counts of every
table, which a half-done operation changes only in part).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import time
from datetime import date
from pathlib import Path

from kpi_core.adapters.store import open_store
from kpi_core.adapters.templates import find_template
from kpi_core.cli import main as cli_main
from kpi_core.services.demo import seed_demo
from kpi_core.services.plans import create_plan_from_template

TODAY = date(2026, 11, 20)


def month_file(first_month: int) -> str:
    """Three months of a wide export, starting at `first_month` of 2026."""
    return "月,商談数,受注率,平均単価\n" + "".join(
        f"2026/{m:02d},{40 + m},2{m % 10}%,\"{1_000_000 + m * 100_000:,}\"\n" for m in range(first_month, first_month + 3))


MAPPING = {"shape": "wide_metrics", "date_column": "月", "metrics": {
    "meetings": {"column": "商談数"}, "win_rate": {"column": "受注率"}, "avg_deal": {"column": "平均単価"}}}


def prepare(folder: Path, operation: str) -> Path:
    """The database before the operation."""
    base = folder / f"{operation}-base.duckdb"
    store = open_store(base)
    if operation in ("duplicate", "import", "restore"):
        os.environ["KPI_WORKBENCH_DEMO"] = "1"
        seed_demo(store, today=TODAY, lang="en")
        os.environ["KPI_WORKBENCH_DEMO"] = "0"
    if operation == "restore":
        store.delete_plan(store.deleted_plans()[0].id if store.deleted_plans() else store.list_plans()[0].id)
    store.close()
    for index in range(3):
        (folder / f"month{index}.csv").write_text(month_file(4 + 3 * index), encoding="utf-8")
    (folder / "mapping.json").write_text(json.dumps(MAPPING), encoding="utf-8")
    return base


def operate(path: Path, operation: str) -> None:
    """The multi-step operation, as the app or the CLI runs it."""
    if operation == "import":
        folder = path.parent
        files = [str(folder / f"month{i}.csv") for i in range(3)]
        with open(os.devnull, "w") as quiet:
            code = cli_main(["--db", str(path), "import", "--plan", "1", "--mapping", str(folder / "mapping.json"),
                             *files], quiet, quiet)
        if code != 0:
            raise SystemExit(code)
        return
    store = open_store(path)
    if operation == "template":
        create_plan_from_template(store, find_template("sales"), "en", fiscal_start=date(2026, 4, 1))
    elif operation == "seed":
        os.environ["KPI_WORKBENCH_DEMO"] = "1"
        seed_demo(store, today=TODAY, lang="en")
    elif operation == "duplicate":
        store.duplicate_plan(store.list_plans()[0].id, "copy")
    elif operation == "restore":
        store.restore_plan(store.deleted_plans()[0].id)
    store.close()


def state(path: Path) -> dict[str, int]:
    store = open_store(path)
    try:
        cur = store.cursor()
        tables = [r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        counts = {name: cur.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables}
        counts["live_plans"] = len(store.list_plans())
        return counts
    finally:
        store.close()


def run_child(path: Path, operation: str, delay: float | None) -> float:
    """Fork a child running the operation; kill it after `delay` s (None: let it finish). Returns the elapsed s."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            operate(path, operation)
            os._exit(0)
        except BaseException:  # noqa: BLE001 - the child reports failure only through its exit code
            os._exit(3)
    if delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if delay is None and os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{operation} failed without a kill: {status}")
    return time.perf_counter() - started


def main() -> None:
    operation, kills, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    os.environ["KPI_WORKBENCH_DEMO"] = "0"
    base = prepare(folder, operation)
    trial = folder / f"{operation}-trial.duckdb"
    old = state(base)
    shutil.copy(base, trial)
    duration = run_child(trial, operation, None)
    new = state(trial)
    rng = random.Random(int(os.environ.get("KILL_SEED", "9")))
    outcomes = {"old": 0, "new": 0, "other": 0}
    others = []
    for _ in range(kills):
        for leftover in folder.glob(f"{operation}-trial.duckdb*"):
            leftover.unlink()
        shutil.copy(base, trial)
        run_child(trial, operation, rng.uniform(0, duration))
        found = state(trial)
        kind = "old" if found == old else "new" if found == new else "other"
        outcomes[kind] += 1
        if kind == "other":
            others.append({k: v for k, v in found.items() if old.get(k) != v})
    print(json.dumps({"operation": operation, "duration": duration, "old_state": old, "new_state": new,
                      "outcomes": outcomes, "others": others[:3]}))


if __name__ == "__main__":
    main()
