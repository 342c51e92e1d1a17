"""Benchmark: the health check and the reverse calculation on a plan of 50 KPIs with 60 months of actuals.

    python bench/bench_health.py [--kpis N] [--months M] [--runs R]

The plan is built in memory (the check is a pure function over the plan and its actuals): a 12-month plan, a KGI
formula `k0 * k1 * k2 + k3 + ... + k49`, and 60 months of actuals per KPI and for the KGI (48 before the plan, 12
in it), with check-ins and reviews. "check" is `check_health` (every pitfall, SMART, rank correlations, the tree
month by month, quarters); "solve" is one reverse calculation (`reverse_calculate`: the value one KPI needs for
the KGI target, the others fixed), as Step 4 runs it for the driver a user picks; each run solves the next driver
in turn. Each figure is the median of --runs runs; the time to solve all drivers one after the other is printed
too. A 3-KPI plan with the same months is timed in the same process as the baseline. The last
line is:

    health 50 KPIs x 60 months: check X ms, solve Y ms
"""
from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from options import whole_number_options

from kpi_core.domain.drivers import implied_kgi, reverse_calculate
from kpi_core.domain.health import HealthInput, check_health
from kpi_core.domain.model import CSF, KGI, KPI, CheckIn, Kind, Plan, Status, add_months

START = date(2026, 4, 1)


def build(kpi_count: int, months: int, seed: int = 7) -> HealthInput:
    rng = random.Random(seed)
    keys = [f"k{i}" for i in range(kpi_count)]
    formula = " * ".join(keys[:3]) + "".join(f" + {k}" for k in keys[3:])
    plan = Plan(name="Bench", fiscal_start=START, months=12, id=1)
    csfs = [CSF(plan_id=1, name=f"CSF {i}", id=i + 1) for i in range(5)]
    kpis = [KPI(plan_id=1, key=k, name=f"KPI {i}", csf_id=i % 5 + 1, definition=f"Count of item {i} per month",
                unit="件", kind=Kind.LEADING if i % 2 else Kind.LAGGING, annual_target=1200.0 + i, owner=f"Owner {i}",
                data_source="SFA", recovery_plan="Switch lever", rationale="History")
            for i, k in enumerate(keys)]
    history = [add_months(START, m - (months - 12)) for m in range(months)]
    actuals = {k: {m: 100.0 + rng.random() * 10 for m in history} for k in keys}
    actuals["kgi"] = {m: sum(actuals[k][m] for k in keys[3:]) + actuals["k0"][m] * actuals["k1"][m] * actuals["k2"][m]
                      for m in history}
    kgi = KGI(plan_id=1, key="kgi", name="Total", baseline=1.0e7, deadline=date(2027, 3, 31), basis="History",
              formula=formula)
    kgi.target = implied_kgi(kgi, kpis, plan.months).annual * 1.05  # the KPIs are 5 % short: every driver solves
    checkins = [CheckIn(plan_id=1, metric_key=k, month=add_months(START, i % 12), status=Status.OFF_TRACK,
                        why="w", next_action="n", owner=f"Owner {i}", due=date(2027, 1, 1))
                for i, k in enumerate(keys)]
    return HealthInput(plan=plan, kgi=kgi, csfs=csfs, kpis=kpis, targets={}, actuals=actuals, checkins=checkins,
                       review_dates=[date(2027, 1, 10)], review_cadence_set=True, today=date(2027, 3, 15))


def median_ms(work: Callable[[], object], runs: int, clock: Callable[[], float] = time.perf_counter) -> float:
    times = []
    for _ in range(runs):
        started = clock()
        work()
        times.append((clock() - started) * 1000)
    return statistics.median(times)


def solve_all(data: HealthInput) -> None:
    for kpi in data.kpis:
        solve_one(data, kpi.key)


def solve_one(data: HealthInput, key: str) -> None:
    result = reverse_calculate(data.kgi, data.kpis, key, data.plan.months)
    if not result.valid:
        raise SystemExit(f"reverse calculation of {key} failed: {result.message_key}")


def cycling_solver(data: HealthInput) -> Callable[[], None]:
    """Each call solves the next KPI of the plan."""
    keys = iter([k.key for k in data.kpis] * 1000)
    return lambda: solve_one(data, next(keys))


def main() -> None:
    args = whole_number_options(__doc__, kpis=50, months=60, runs=20)
    big, small = build(args.kpis, args.months), build(3, args.months)
    report = check_health(big)
    checks = Counter(f.check for f in report.findings)
    print(f"plan: {args.kpis} KPIs, {args.months} months of actuals each; score {report.score:g}; findings "
          + ", ".join(f"{name} {count}" for name, count in sorted(checks.items())))
    base_check = median_ms(lambda: check_health(small), args.runs)
    base_solve = median_ms(cycling_solver(small), args.runs)
    check = median_ms(lambda: check_health(big), args.runs)
    solve = median_ms(cycling_solver(big), args.runs)
    every = median_ms(lambda: solve_all(big), max(3, args.runs // 4))
    print(f"baseline 3 KPIs: check {base_check:.2f} ms, solve {base_solve:.3f} ms (median of {args.runs})")
    print(f"ratio {args.kpis} KPIs / 3 KPIs: check {check / base_check:.1f}x, solve {solve / base_solve:.1f}x")
    print(f"all {args.kpis} drivers solved one after the other: {every:.1f} ms")
    cpu = median_ms(lambda: check_health(big), args.runs, time.process_time)
    print(f"check in CPU time (what a loaded machine's wall clock hides): {cpu:.1f} ms; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"health {args.kpis} KPIs x {args.months} months: check {check:.1f} ms, solve {solve:.1f} ms")


if __name__ == "__main__":
    main()
