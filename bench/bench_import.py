"""Benchmark: importing a 1,000,000-row deal list, against a naive pandas baseline measured in the same run.

    python bench/bench_import.py [--rows N] [--repeat R] [--wide-mb MB] [--keep DIR]

Generates a record-list export (Japanese headers, deal phases, amounts with thousands separators, dates; ~45 MB
for 1M rows) as UTF-8 and as CP932, then times the full import through the public API (read_export -> preview_import
-> commit_import into a DuckDB file), a pandas baseline (read_csv + to_datetime + groupby) and a raw DuckDB SQL
baseline (read_csv + month parse + GROUP BY, no validation) on the same data; and a daily wide-metrics table of
--wide-mb MB (one row per day, metrics as columns, summed per month) imported the same way. Best of --repeat runs
(the wide case once). The last line is:

    import N rows: utf8 X s, cp932 Y s, pandas Z s, pandas cp932 Z2 s, duckdb raw W s, ratio vs pandas utf8 R1
    cp932 R2, vs raw Q, wide 200MB V s, peak RSS M MB

with ratio vs pandas utf8 = utf8 / pandas on the UTF-8 file and cp932 = cp932 / pandas on the CP932 file (each
import against pandas reading the same bytes), vs raw = utf8 / raw, and the peak resident memory of the whole run.
Each attempt runs every case once, one after the other, so that a burst of load elsewhere on the machine hits
all of them alike.
"""
from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import pandas as pd

from kpi_core import ingest
from kpi_core.adapters.store import open_store
from kpi_core.domain.model import KGI, KPI, Aggregation, Plan

HEADER = "商談ID,フェーズ,金額,商談日,担当者"
PHASES = ("受注", "失注", "提案中", "商談化")
PHASE_WEIGHTS = (25, 55, 12, 8)
REPS = ("佐藤", "髙橋", "鈴木", "田中", "山﨑", "渡邊", "伊藤", "中村")
WON = {"column": "フェーズ", "op": "=", "value": "受注"}
MAPPING = {"shape": "records", "date_column": "商談日", "metrics": {
    "meetings": {"source": "count"},
    "won": {"source": "count", "filters": [WON]},
    "revenue": {"source": "sum", "column": "金額", "filters": [WON]},
    "win_rate": {"source": "formula", "formula": "won / meetings"},
    "avg_deal": {"source": "formula", "formula": "revenue / won"}}}


def generate(rows: int) -> str:
    """The export's text: deals met between 2026-04 and 2027-03, amounts quoted with separators."""
    rng = random.Random(42)
    phases = rng.choices(PHASES, PHASE_WEIGHTS, k=rows)
    lines = [HEADER]
    for i in range(rows):
        amount = rng.randrange(100, 5000) * 1000
        month = 4 + i % 12
        year, month = (2026, month) if month <= 12 else (2027, month - 12)
        lines.append(f'D{i:07d},{phases[i]},"{amount:,}",{year}/{month:02d}/{rng.randint(1, 28):02d},'
                     f'{REPS[i % len(REPS)]}')
    return "\n".join(lines) + "\n"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def make_plan(store, name: str) -> Plan:
    plan = store.create_plan(Plan(name=name, fiscal_start=date(2026, 4, 1), months=12))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="売上", formula="meetings * win_rate * avg_deal"), None)
    for key, aggregation in (("meetings", Aggregation.SUM), ("win_rate", Aggregation.RATIO),
                             ("avg_deal", Aggregation.RATIO)):
        store.save_kpi(KPI(plan_id=plan.id, key=key, name=key, aggregation=aggregation), None)
    return store.get_plan(plan.id)


def timed_import(path: Path, db_path: Path, mapping: dict) -> tuple[float, ingest.ImportPreview, ingest.ImportResult, dict]:
    """One full import (read, preview, commit) into a fresh plan of a fresh database file: its wall time, the
    preview, the result and the values stored."""
    store = open_store(db_path)
    try:
        plan = make_plan(store, path.name)
        gc.collect()
        start = time.perf_counter()
        parsed = ingest.read_export(path)
        preview = ingest.preview_import(store, plan, parsed, mapping, "en")
        result = ingest.commit_import(store, plan, parsed, mapping, preview)
        elapsed = time.perf_counter() - start
        parsed.close()
        return elapsed, preview, result, store.actual_values(plan.id)
    finally:
        store.close()


def run_import(path: Path, db_path: Path) -> tuple[float, dict]:
    elapsed, preview, result, values = timed_import(path, db_path, MAPPING)
    assert result.written == 48 and not preview.rejections, (result, preview.rejections[:3])
    return elapsed, values


def run_pandas(path: Path, encoding: str) -> tuple[float, pd.DataFrame]:
    """The naive way: read everything into pandas, parse the dates, group by month."""
    gc.collect()
    start = time.perf_counter()
    frame = pd.read_csv(path, encoding=encoding, thousands=",")
    frame["month"] = pd.to_datetime(frame["商談日"]).dt.to_period("M")
    frame["won"] = frame["フェーズ"] == "受注"
    frame["won_amount"] = frame["金額"].where(frame["won"])
    summary = frame.groupby("month").agg(meetings=("商談ID", "size"), won=("won", "sum"),
                                         revenue=("won_amount", "sum"))
    elapsed = time.perf_counter() - start
    return elapsed, summary


def run_duckdb_raw(path: Path) -> tuple[float, list]:
    """The floor: DuckDB's own reader and a GROUP BY, with no validation, no line numbers, no preview."""
    gc.collect()
    start = time.perf_counter()
    con = duckdb.connect()
    rows = con.execute(
        "SELECT date_trunc('month', strptime(\"商談日\", '%Y/%m/%d')) AS m, count(*), "
        "sum(CAST(replace(\"金額\", ',', '') AS DOUBLE)) FILTER (WHERE \"フェーズ\" = '受注') "
        "FROM read_csv(?, header = true, all_varchar = true) GROUP BY m ORDER BY m", [str(path)]).fetchall()
    con.close()
    return time.perf_counter() - start, rows


WIDE_HEADER = "日付,商談数,受注数,売上,訪問数,架電数,メール数,リード数,MQL数,SQL数,解約数,問合せ数,受注率(%)"
WIDE_MAPPING = {"shape": "wide_metrics", "date_column": "日付", "combine": "sum", "metrics": {
    "meetings": {"column": "商談数"}, "revenue": {"column": "売上"}}}


def generate_wide(path: Path, megabytes: float) -> int:
    """A daily table (one row per day and team, many metric columns) of about `megabytes` MB; returns its rows."""
    rng = random.Random(7)
    target, rows = megabytes * 1e6, 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(WIDE_HEADER + "\n")
        written = len(WIDE_HEADER) + 1
        while written < target:
            day = date(2026, 4, 1).toordinal() + rows % 365
            line = (f"{date.fromordinal(day):%Y/%m/%d},{rng.randrange(9)},{rng.randrange(3)},\"{rng.randrange(900):,}000\","
                    + ",".join(str(rng.randrange(50)) for _ in range(8)) + f",{rng.randrange(99)}.5\n")
            handle.write(line)
            written += len(line.encode("utf-8"))
            rows += 1
    return rows


def run_wide(path: Path, db_path: Path) -> float:
    elapsed, preview, _, _ = timed_import(path, db_path, WIDE_MAPPING)
    assert not preview.rejections and len(preview.actuals) == 24, (preview.rejections[:3], len(preview.actuals))
    return elapsed


def check_same(values: dict, summary: pd.DataFrame) -> None:
    """Both ways must give the same figures."""
    for period, row in summary.iterrows():
        month = date(period.year, period.month, 1)
        assert values["meetings"][month] == row["meetings"], month
        assert values["revenue"][month] == row["revenue"], month


def profile_stages(path: Path, db_path: Path, explain: bool) -> list[tuple[str, float]]:
    """Seconds per stage of one import, each stage run on its own (the hash, which normally runs in a thread
    beside decoding and parsing, is timed alone here), then the DuckDB plan of the aggregation query with its
    timings. The stages call the pipeline's own steps in the order `read_export` runs them."""
    import hashlib

    from kpi_core.ingest import _load, _parsed, decode, detect_layout, read_source
    from kpi_core.ingest import records as records_module

    stages: list[tuple[str, float]] = []

    def timed(name: str, step):
        gc.collect()
        start = time.perf_counter()
        result = step()
        stages.append((name, time.perf_counter() - start))
        return result

    store = open_store(db_path)
    try:
        plan = make_plan(store, path.name)
        data = timed("read file", lambda: read_source(path))
        digest = timed("hash (sha256)", lambda: hashlib.sha256(data).hexdigest())
        decoded = timed("decode", lambda: decode(data))
        layout = timed("layout (delimiter, header)", lambda: detect_layout(decoded.view))
        loaded = timed("parse (CSV -> raw)", lambda: _load(decoded, layout))
        parsed = timed("profile (lines, sample, shape)",
                       lambda: _parsed(loaded, decoded, layout, path.name, data, lambda: digest))
        checked = ingest.validate_mapping(parsed, MAPPING)
        timed("aggregate (records SQL)", lambda: records_module.collect_records(parsed, checked))
        preview = timed("validate + preview (all of it)", lambda: ingest.preview_import(store, plan, parsed, MAPPING))
        timed("store write", lambda: ingest.commit_import(store, plan, parsed, MAPPING, preview))
        work = records_module._Plan(parsed, checked)
        sql, params = work.norm_sql()
        query = records_module._one_pass_sql(work, sql)
        timed("plan the aggregation SQL (EXPLAIN)", lambda: parsed.con.execute("EXPLAIN " + query, params).fetchall())
        if explain:
            print(parsed.con.execute("EXPLAIN ANALYZE " + query, params).fetchall()[0][1])
        parsed.close()
    finally:
        store.close()
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--wide-mb", type=float, default=200, help="size of the wide-metrics case (0: skip it)")
    parser.add_argument("--keep", type=Path, help="write the generated files here instead of a temp dir")
    parser.add_argument("--profile", action="store_true",
                        help="time each stage of an import of each file (best of --repeat runs) and stop")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kpi_bench_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        text = generate(args.rows)
        utf8_path, cp932_path = folder / "deals_utf8.csv", folder / "deals_cp932.csv"
        utf8_path.write_bytes(text.encode("utf-8"))
        cp932_path.write_bytes(text.encode("cp932"))
        del text
        print(f"generated {args.rows:,} rows: UTF-8 {utf8_path.stat().st_size / 1e6:.1f} MB, "
              f"CP932 {cp932_path.stat().st_size / 1e6:.1f} MB")
        if args.profile:
            for label, path in (("utf8", utf8_path), ("cp932", cp932_path)):
                runs = [profile_stages(path, Path(tmp) / f"profile_{label}_{n}.duckdb", n == args.repeat - 1)
                        for n in range(args.repeat)]
                best = [(name, min(run[i][1] for run in runs)) for i, (name, _) in enumerate(runs[0])]
                print(f"stages of one {label} import (best of {args.repeat}): "
                      + ", ".join(f"{name} {sec:.3f} s" for name, sec in best))
            return

        times: dict[str, list[float]] = {"utf8": [], "cp932": [], "pandas": [], "pandas_cp932": [], "raw": []}
        for attempt in range(args.repeat):
            for label, path, encoding in (("utf8", utf8_path, "utf-8"), ("cp932", cp932_path, "cp932")):
                elapsed, values = run_import(path, Path(tmp) / f"bench_{label}_{attempt}.duckdb")
                times[label].append(elapsed)
                print(f"  import {label:<6} {elapsed:6.2f} s   (peak RSS so far {peak_rss_mb():,.0f} MB)")
                baseline = "pandas" if label == "utf8" else "pandas_cp932"
                elapsed, summary = run_pandas(path, encoding)
                times[baseline].append(elapsed)
                print(f"  {baseline:<13} {elapsed:6.2f} s   (peak RSS so far {peak_rss_mb():,.0f} MB)")
                check_same(values, summary)
                del summary
            elapsed, raw_rows = run_duckdb_raw(utf8_path)
            times["raw"].append(elapsed)
            print(f"  duckdb raw    {elapsed:6.2f} s   (peak RSS so far {peak_rss_mb():,.0f} MB)")
            assert [r[1] for r in raw_rows] == [values["meetings"][r[0].date()] for r in raw_rows]
        wide = float("nan")
        if args.wide_mb:
            wide_path = folder / "daily_wide.csv"
            wide_rows = generate_wide(wide_path, args.wide_mb)
            print(f"generated a wide-metrics table: {wide_rows:,} rows, {wide_path.stat().st_size / 1e6:.0f} MB")
            wide = run_wide(wide_path, Path(tmp) / "bench_wide.duckdb")
            print(f"  import wide   {wide:6.2f} s   (peak RSS so far {peak_rss_mb():,.0f} MB)")
        best = {label: min(measured) for label, measured in times.items()}
        print(f"import {args.rows} rows: utf8 {best['utf8']:.2f} s, cp932 {best['cp932']:.2f} s, "
              f"pandas {best['pandas']:.2f} s, pandas cp932 {best['pandas_cp932']:.2f} s, "
              f"duckdb raw {best['raw']:.2f} s, ratio vs pandas utf8 {best['utf8'] / best['pandas']:.2f} "
              f"cp932 {best['cp932'] / best['pandas_cp932']:.2f}, vs raw {best['utf8'] / best['raw']:.2f}, "
              f"wide {args.wide_mb:.0f}MB {wide:.2f} s, peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
