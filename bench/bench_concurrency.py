"""Benchmark: 20 sessions writing one plan at once, through the same store calls as the pages.

    python bench/bench_concurrency.py [--sessions 20] [--seconds 30]

Each session (a thread, as Streamlit runs sessions) loops for --seconds: it reads what a page shows (cell values and
versions, the KPI list, the check-ins), thinks for a few milliseconds, then saves one of: the actuals cell every
session edits, a cell of its own, a new check-in, the result of the check-in every session edits, a KPI's owner, or
that KPI's monthly targets — each save based on the version it read (cell, row, target set), as the pages pass it.
The store is opened as the app opens it (the file released when idle). Afterwards the database is checked:
- lost: a save reported as stored whose value is not in the history, or versions that moved by a different number
  than the saves reported stored (a save overwriting another unseen would break that count);
- duplicate current rows: cells with more than one current actual.
The last line is:

    concurrency 20 sessions: N writes, S stored, C conflicts reported, L lost, D duplicate current rows, p95 X ms

with p95 the 95th percentile of a save's duration (wait for its turn included).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kpi_core.adapters.store import StoreError, open_store
from kpi_core.domain.model import Actual, CheckIn, Status
from kpi_core.services.demo import seed_demo
from kpi_core.services.kpis import save_kpi_with_targets

SHARED_METRIC = "meetings"


@dataclass
class Tally:
    writes: int = 0
    stored: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    stored_values: list[tuple[str, date, float]] = field(default_factory=list)
    stored_by_kind: dict[str, int] = field(default_factory=dict)
    durations_by_kind: dict[str, list[float]] = field(default_factory=dict)


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
        # what the page shows when it opens
        _, versions = store.actual_snapshot(plan.id)
        checkin = next(c for c in store.list_checkins(plan.id) if c.id == shared_checkin_id)
        kpi = next(k for k in store.list_kpis(plan.id) if k.key == SHARED_METRIC)
        target_set = store.target_set_versions(plan.id).get(SHARED_METRIC, 0)
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
            elif kind == "kpi":
                kpi.owner = f"o{token}"
                save_kpi_with_targets(store, kpi, None, f"bench {token}")
            else:
                store.set_monthly_targets(plan.id, SHARED_METRIC, dict.fromkeys(months, float(token)),
                                          f"bench {token}", None, target_set)
            outcome = "stored"
        except StoreError as exc:  # stale, conflict, busy: reported to the writer, in the catalogue
            outcome = "conflict" if exc.key.startswith("store.") else "error"
        except Exception as exc:  # noqa: BLE001 - counted as an error (a raw engine message would be one)
            outcome = f"error {type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        with lock:
            tally.writes += 1
            tally.durations.append(elapsed)
            tally.durations_by_kind.setdefault(kind, []).append(elapsed)
            if outcome == "stored":
                tally.stored += 1
                tally.stored_by_kind[kind] = tally.stored_by_kind.get(kind, 0) + 1
                if value:
                    tally.stored_values.append(value)
            elif outcome == "conflict":
                tally.conflicts += 1
            else:
                tally.errors.append(outcome)


def audit(store, plan, shared_checkin_id: int, tally: Tally, before: dict) -> tuple[int, int]:
    """(lost, duplicate current rows) from the database itself."""
    cur = store.cursor()
    history = set(cur.execute("SELECT metric_key, month, value FROM actuals WHERE plan_id = ?",
                              [plan.id]).fetchall())
    lost = sum(1 for value in tally.stored_values if value not in history)
    after = versions_now(store, plan, shared_checkin_id)
    moved = {name: after[name] - before[name] for name in after}
    expected = {"shared_cell": tally.stored_by_kind.get("shared_cell", 0),
                "shared_checkin": tally.stored_by_kind.get("shared_checkin", 0),
                "kpi": tally.stored_by_kind.get("kpi", 0), "targets": tally.stored_by_kind.get("targets", 0)}
    lost += sum(abs(moved[name] - expected[name]) for name in expected)
    new_checkins = cur.execute("SELECT count(*) FROM checkins WHERE plan_id = ?", [plan.id]).fetchone()[0] - \
        before["checkins"]
    lost += abs(new_checkins - tally.stored_by_kind.get("new_checkin", 0))
    duplicates = cur.execute("SELECT count(*) FROM (SELECT plan_id, metric_key, month FROM actuals "
                             "WHERE superseded_at IS NULL GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
    return lost, duplicates


def versions_now(store, plan, shared_checkin_id: int) -> dict[str, int]:
    checkin = next(c for c in store.list_checkins(plan.id) if c.id == shared_checkin_id)
    return {"shared_cell": store.actual_versions(plan.id).get((SHARED_METRIC, plan.month_list()[0]), 0),
            "shared_checkin": checkin.version,
            "kpi": next(k for k in store.list_kpis(plan.id) if k.key == SHARED_METRIC).version,
            "targets": store.target_set_versions(plan.id).get(SHARED_METRIC, 0),
            "checkins": len(store.list_checkins(plan.id))}


def percentile_ms(durations: list[float], share: float) -> float:
    ordered = sorted(durations)
    return ordered[int(share * (len(ordered) - 1))] * 1000 if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 120.0)  # bounded whatever is asked
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.duckdb"
        os.environ["KPI_WORKBENCH_DEMO"] = "1"
        seeding = open_store(path)
        plan = seed_demo(seeding, lang="en")
        seeding.close()
        store = open_store(path, release_when_idle=True)  # as the app opens it
        shared_checkin_id = store.list_checkins(plan.id)[0].id
        before = versions_now(store, plan, shared_checkin_id)
        tally, lock = Tally(), threading.Lock()
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=session, args=(store, plan, shared_checkin_id, i, until, tally, lock), daemon=True)
                   for i in range(args.sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
        lost, duplicates = audit(store, plan, shared_checkin_id, tally, before)
        store.close()
    p95 = percentile_ms(tally.durations, 0.95)
    print("p95 by kind (ms): " + ", ".join(f"{kind} {percentile_ms(values, 0.95):.0f}"
                                           for kind, values in sorted(tally.durations_by_kind.items())))
    print(f"stored by kind: {tally.stored_by_kind}; errors: {len(tally.errors)} {tally.errors[:3]}")
    print(f"concurrency {args.sessions} sessions: {tally.writes} writes, {tally.stored} stored, "
          f"{tally.conflicts} conflicts reported, {lost} lost, {duplicates} duplicate current rows, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
