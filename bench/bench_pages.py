"""Benchmark: how long each page takes to draw on a big plan, through AppTest (the app's own script runs).

    python bench/bench_pages.py [--sizes 20x36,50x60] [--warm 5] [--lang ja]

For each size KxM it builds a plan of K KPIs over M months in a fresh DuckDB file: monthly targets for every KPI,
actuals for the first two thirds of the months, and a check-in with a next action per KPI every quarter. Every
page of the app is then run through AppTest: the first page once cold (the first script run of the process), then
each page once to settle and the median of --warm reruns (a widget click reruns the page), then the median of as
many reruns with the cache of read models and charts emptied before each (the baseline: every rerun reads and
computes the whole plan, as before the cache), measured in the same process so that the ratio holds on a loaded
machine. One line per page, and last:

    pages: worst warm X ms (page) at 20x36, Y ms at 50x60, cold first page Z ms

Targets: every page <= 150 ms warm at 20x36, <= 400 ms at 50x60. Timings depend on the machine's load.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpi_core.adapters.store import open_store
from kpi_core.domain.model import CSF, KGI, KPI, Actual, Aggregation, CheckIn, CSFRole, Plan, Status
from kpi_core.services.read_models import MEMO
from pages.frame import PAGES as PAGE_TABLE

PAGES = tuple(spec.path for spec in PAGE_TABLE)  # every page of the navigation, in its order
FISCAL_START = date(2025, 4, 1)


def build_plan(path: Path, kpis: int, months: int) -> int:
    """A plan of `kpis` KPIs over `months` months, with targets, actuals and check-ins; returns its id."""
    store = open_store(path)
    try:
        plan = store.create_plan(Plan(name=f"Bench {kpis}x{months}", fiscal_start=FISCAL_START, months=months))
        drivers = ["k00", "k01", "k02"]
        store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Revenue", unit="JPY", baseline=1.2e9,
                           target=1.44e9 * months / 12, deadline=plan.month_list()[-1] + timedelta(days=27),
                           basis="last year", formula=" * ".join(drivers), current=1.2e9), None)
        csf = store.save_csf(CSF(plan.id, "Primary lever", CSFRole.PRIMARY, contribution=2.4e8), None)
        store.save_csf(CSF(plan.id, "Fallback lever", CSFRole.FALLBACK), None)
        month_list = plan.month_list()
        reported = month_list[:max(1, months * 2 // 3)]
        actuals = []
        for index in range(kpis):
            key = f"k{index:02d}"
            rate = index == 1
            unit, aggregation = ("%", Aggregation.RATIO) if rate else ("件", Aggregation.SUM)
            annual = 0.25 if rate else 600.0 * months / 12
            monthly = 0.25 if rate else 50.0
            kpi = store.save_kpi(KPI(plan.id, key, f"KPI number {index}", unit=unit, aggregation=aggregation,
                                     ratio_weight="k00" if rate else "", annual_target=annual, csf_id=csf.id,
                                     owner="Owner", data_source="CRM"), None)
            store.set_monthly_targets(plan.id, kpi.key, {m: monthly for m in month_list}, "bench")
            for i, month in enumerate(reported):
                actuals.append(Actual(key, month, monthly * (0.8 + 0.4 * ((i * 7 + index) % 10) / 10)))
            for month in reported[2::3]:
                store.save_checkin(CheckIn(plan.id, key, month, Status.AT_RISK, "why", "next step", "Owner",
                                           month + timedelta(days=40), ""))
        actuals += [Actual("revenue", m, 1.2e8) for m in reported]
        store.save_actuals(plan.id, actuals, source="bench")
        return plan.id
    finally:
        store.close()


def median_rerun(at, runs: int, before: Callable[[], None] = lambda: None) -> float:
    """Median ms of `runs` reruns of the page, `before()` called ahead of each (outside the timing)."""
    samples = []
    for _ in range(runs):
        before()
        started = time.perf_counter()
        at.run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run_pages(plan_id: int, warm: int, lang: str) -> tuple[dict[str, tuple[float, float]], float]:
    """{page: (median warm ms, median ms without the cache)} and the cold first run in ms."""
    from streamlit.testing.v1 import AppTest
    from streamlit.util import calc_hash

    results, cold = {}, 0.0
    for index, page in enumerate(PAGES):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.query_params["lang"] = lang
        at.query_params["plan"] = str(plan_id)
        started = time.perf_counter()
        at.run()
        if index == 0 and not cold:
            cold = (time.perf_counter() - started) * 1000
        spec = next(s for s in PAGE_TABLE if s.path == page)
        if not spec.default:
            # Pages are functions of the page table: open one as a click in the navigation does (by its URL hash).
            at._page_hash = calc_hash(spec.slug)
            at.run()
        if at.exception:
            raise SystemExit(f"{page}: {at.exception[0].value}")
        results[page] = (median_rerun(at, warm), median_rerun(at, warm, MEMO.clear))
    return results, cold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20x36,50x60")
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--lang", default="ja")
    args = parser.parse_args()
    os.chdir(ROOT)
    os.environ["KPI_WORKBENCH_DEMO"] = "0"
    worst, cold_first = {}, None
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes.split(","):
            kpis, months = (int(n) for n in size.split("x"))
            path = Path(folder) / f"bench_{size}.duckdb"
            started = time.perf_counter()
            plan_id = build_plan(path, kpis, months)
            print(f"{size}: plan built in {time.perf_counter() - started:.1f} s", flush=True)
            os.environ["KPI_WORKBENCH_DB"] = str(path)
            results, cold = run_pages(plan_id, args.warm, args.lang)
            cold_first = cold if cold_first is None else cold_first
            for page, (ms, uncached) in results.items():
                print(f"{size} {Path(page).stem:<13} warm {ms:7.1f} ms   without cache {uncached:7.1f} ms "
                      f"({uncached / ms:4.1f}x)", flush=True)
            worst[size] = max(((page, ms) for page, (ms, _) in results.items()), key=lambda item: item[1])
    sizes = list(worst)
    first = worst[sizes[0]]
    rest = ", ".join(f"{worst[s][1]:.0f} ms at {s}" for s in sizes[1:])
    print(f"pages: worst warm {first[1]:.0f} ms ({Path(first[0]).stem}) at {sizes[0]}"
          + (f", {rest}" if rest else "") + f", cold first page {cold_first:.0f} ms")


if __name__ == "__main__":
    main()
