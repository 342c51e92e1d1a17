"""Benchmark: a 20-KPI x 36-month plan to the PDF report, the Excel workbook and the plan file (YAML).

    python bench/bench_report.py [--kpis N] [--months M] [--repeat R]

Builds the plan in a temporary DuckDB file (KGI = sum of the KPIs, 36 months of phased targets with two versions
each, 30 months of actuals, a check-in per KPI), then times each format through the same use case as the page and
the CLI (`render_report`), after one warm-up call (the first call loads the chart and PDF engines: printed apart).
Median of --repeat runs, wall time and CPU time (this process and its children) printed per format; on a loaded
machine compare the CPU figures. The last line (wall medians) is:

    report 20 KPIs: pdf X s, xlsx Y s, yaml Z s

Targets: PDF <= 2 s, xlsx <= 1 s, YAML <= 0.2 s.
"""
from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from options import whole_number_options

from kpi_core.adapters.store import open_store
from kpi_core.domain.model import CSF, KGI, KPI, Actual, CheckIn, Plan, Status, add_months
from kpi_core.services.report import render_report

TARGETS = {"pdf": 2.0, "xlsx": 1.0, "yaml": 0.2}


def build_plan(store, kpis: int, months: int) -> Plan:
    plan = store.create_plan(Plan(name="ベンチマーク計画", department="営業", fiscal_start=date(2026, 4, 1),
                                  months=months))
    keys = [f"k{i:02d}" for i in range(kpis)]
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="売上合計", unit="JPY", baseline=1e9, target=1.2e9,
                       current=1e9, deadline=add_months(plan.fiscal_start, months) .replace(day=1),
                       formula=" + ".join(keys)), None)
    csfs = [store.save_csf(CSF(plan_id=plan.id, name=f"成功要因 {i + 1}", actions=["行動 A", "行動 B"]), None)
            for i in range(4)]
    month_list = plan.month_list()
    actuals, checkins = [], []
    for i, key in enumerate(keys):
        store.save_kpi(KPI(plan_id=plan.id, key=key, name=f"KPI {i + 1} 売上区分", unit="JPY",
                           csf_id=csfs[i % 4].id, owner=f"担当 {i % 5}", annual_target=6e7), None)
        store.set_monthly_targets(plan.id, key, {m: 1_666_667.0 for m in month_list}, reason="均等")
        store.set_monthly_targets(plan.id, key, {m: 1_500_000.0 + 10_000 * j for j, m in enumerate(month_list)},
                                  reason="季節性")
        actuals += [Actual(key, m, 1_400_000.0 + 7_919 * ((i + j) % 13)) for j, m in enumerate(month_list[:30])]
        checkins.append(CheckIn(plan_id=plan.id, metric_key=key, month=month_list[29], status=Status.AT_RISK,
                                why="単価が下がった", next_action="上位プランを提案する", owner=f"担当 {i % 5}",
                                due=add_months(month_list[29], 1)))
    store.save_actuals(plan.id, actuals + [Actual("revenue", m, 2.8e7) for m in month_list[:30]])
    for checkin in checkins:
        store.save_checkin(checkin)
    return store.get_plan(plan.id)


def timed(call) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children such as `dot`). On a machine shared with
    other work the CPU time is the steadier figure; the wall time is what a user waits."""
    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    start, start_cpu = time.perf_counter(), cpu()
    call()
    return time.perf_counter() - start, cpu() - start_cpu


def main() -> None:
    args = whole_number_options(__doc__, kpis=20, months=36, repeat=5)
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(Path(folder) / "bench.duckdb")
        plan = build_plan(store, args.kpis, args.months)
        month = plan.month_list()[29]
        medians = {}
        for fmt in ("pdf", "xlsx", "yaml"):
            def make(fmt=fmt):
                return render_report(store, plan, "exec", month, fmt, "ja")
            first, _ = timed(make)
            runs = [timed(make) for _ in range(args.repeat)]
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            medians[fmt] = statistics.median(walls)
            size = len(make())
            print(f"{fmt:5} first {first:6.2f} s | median {medians[fmt]:6.3f} s wall (min {min(walls):.3f}, max "
                  f"{max(walls):.3f}), {statistics.median(cpus):.3f} s CPU | {size:,} bytes | target "
                  f"{TARGETS[fmt]} s, wall/target {medians[fmt] / TARGETS[fmt]:.2f}")
        store.close()
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"report {args.kpis} KPIs: pdf {medians['pdf']:.2f} s, xlsx {medians['xlsx']:.2f} s, "
          f"yaml {medians['yaml']:.2f} s")


if __name__ == "__main__":
    main()
