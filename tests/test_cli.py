"""The kpi-workbench command line, run in-process (and once as `python -m`) against real DuckDB files."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from kpi_core.adapters.store import open_store
from kpi_core.cli import default_language, main
from kpi_core.domain.model import KGI, KPI, Aggregation, Plan

ROOT = Path(__file__).resolve().parent.parent
MONTHLY = "月,商談数,受注率,平均単価\n2026/07,50,25%,\"1,200,000\"\n2026/08,40,20%,\"1,000,000\"\n合計,90,,\n"
MAPPING = {"shape": "wide_metrics", "date_column": "月", "metrics": {
    "meetings": {"column": "商談数"}, "win_rate": {"column": "受注率"}, "avg_deal": {"column": "平均単価"}}}


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.duckdb"
    monkeypatch.setenv("KPI_WORKBENCH_DB", str(tmp_path / "not-this-one.duckdb"))
    store = open_store(path)
    plan = store.create_plan(Plan(name="営業 2026", fiscal_start=date(2026, 4, 1)))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="売上", formula="meetings * win_rate * avg_deal"), None)
    for key, name in (("meetings", "商談数"), ("win_rate", "受注率"), ("avg_deal", "平均単価")):
        store.save_kpi(KPI(plan_id=plan.id, key=key, name=name, aggregation=Aggregation.RATIO
                           if key != "meetings" else Aggregation.SUM), None)
    store.close()
    return path


def run(db: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--db", str(db), *args], out, err)
    return code, out.getvalue(), err.getvalue()


def actuals(db: Path) -> dict:
    store = open_store(db)
    try:
        return store.actual_values(1)
    finally:
        store.close()


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_import_by_plan_name_writes_values_and_reports(db, tmp_path):
    file = write(tmp_path, "july.csv", MONTHLY, "cp932")
    code, out, err = run(db, "import", "--plan", "営業 2026", "--lang", "en", file)
    assert (code, err) == (0, "")
    assert "Shift_JIS (CP932)" in out and "line 4: Total row" in out and "Import #1 saved: 6 values written" in out
    assert actuals(db)["meetings"] == {date(2026, 7, 1): 50.0, date(2026, 8, 1): 40.0}
    assert actuals(db)["win_rate"][date(2026, 8, 1)] == pytest.approx(0.2)


def test_same_file_again_is_already_imported_and_exit_zero(db, tmp_path):
    file = write(tmp_path, "july.csv", MONTHLY)
    assert run(db, "import", "--plan", "1", file)[0] == 0
    code, out, _ = run(db, "--lang", "ja", "import", "--plan", "1", file)
    assert code == 0 and "取り込み済み" in out and "何も変更していません" in out
    code, out, _ = run(db, "imports", "--plan", "1", "--lang", "en")
    assert code == 0 and out.count("july.csv") == 1


def test_dry_run_writes_nothing(db, tmp_path):
    code, out, _ = run(db, "import", "--plan", "1", "--dry-run", "--lang", "en", write(tmp_path, "a.csv", MONTHLY))
    assert code == 0 and "Dry run: nothing was written." in out and "new" in out
    assert actuals(db) == {}


@pytest.mark.parametrize(("content", "key_text"), [
    (b"", "The file is empty."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
    ("月,商談数\n".encode(), "no data rows"),
    (b"name,v\n\x82\xff\x82\xff,1\n", "not recognised"),  # neither UTF-8, CP932 nor a Western single-byte text
])
def test_bad_files_exit_non_zero_and_write_nothing(db, tmp_path, content, key_text):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code, _, err = run(db, "import", "--plan", "1", "--lang", "en", str(path))
    assert code == 1 and key_text in err and err.startswith("Error: ")
    assert actuals(db) == {}


def test_errors_in_one_file_write_none_of_the_files(db, tmp_path):
    good = write(tmp_path, "good.csv", MONTHLY)
    bad = write(tmp_path, "bad.csv", "月,商談数\n")
    code, _, err = run(db, "import", "--plan", "1", "--lang", "en", good, bad)
    assert code == 1 and "no data rows" in err
    assert actuals(db) == {}


def test_a_failure_at_the_second_file_writes_none_of_the_files_nor_the_profile(db, tmp_path, monkeypatch):
    """The batch is one transaction: the first file's import, already written, is undone with the rest."""
    from kpi_core.adapters import store as store_module

    real, calls = store_module.Store.commit_import, []

    def failing_second(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise store_module.WriteConflict(attempts=1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(store_module.Store, "commit_import", failing_second)
    july = write(tmp_path, "july.csv", MONTHLY)
    autumn = write(tmp_path, "autumn.csv", MONTHLY.replace("2026/07", "2026/09").replace("2026/08", "2026/10"))
    code, _, err = run(db, "import", "--plan", "1", "--lang", "en", "--save-profile", "sfa", july, autumn)
    assert code != 0 and err.startswith("Error: ") and len(calls) == 2
    assert actuals(db) == {}
    store = open_store(db)
    try:
        assert store.list_imports(1) == [] and store.list_profiles(1) == []
    finally:
        store.close()


def test_unknown_plan_missing_file_and_bad_mapping_file(db, tmp_path):
    file = write(tmp_path, "a.csv", MONTHLY)
    assert run(db, "import", "--plan", "nope", "--lang", "en", file)[2] == "Error: No plan with the id or name “nope”.\n"
    code, _, err = run(db, "import", "--plan", "1", "--lang", "en", str(tmp_path / "missing.csv"))
    assert code == 1 and "cannot be read" in err
    broken = write(tmp_path, "m.json", "{not json")
    code, _, err = run(db, "import", "--plan", "1", "--lang", "en", "--mapping", broken, file)
    assert code == 1 and "m.json" in err
    assert actuals(db) == {}


def test_record_list_needs_a_mapping_then_a_profile_maps_the_next_file(db, tmp_path):
    deals = "商談ID,フェーズ,金額,商談日\nD1,受注,\"1,000\",2026/07/03\nD2,失注,,2026/07/09\n"
    file = write(tmp_path, "deals_07.csv", deals)
    code, _, err = run(db, "import", "--plan", "1", "--lang", "en", file)
    assert code == 1 and "No mapping for deals_07.csv" in err
    mapping = {"shape": "records", "date_column": "商談日", "metrics": {
        "meetings": {"source": "count"},
        "won": {"source": "count", "filters": [{"column": "フェーズ", "op": "=", "value": "受注"}]},
        "win_rate": {"source": "formula", "formula": "won / meetings"}}}
    mapping_file = write(tmp_path, "deals.json", json.dumps(mapping, ensure_ascii=False))
    code, out, _ = run(db, "import", "--plan", "1", "--lang", "en", "--mapping", mapping_file,
                       "--save-profile", "SFA deals", file)
    assert code == 0 and "Mapping profile “SFA deals” saved." in out
    august = write(tmp_path, "deals_08.csv", deals.replace("2026/07", "2026/08"))
    code, out, _ = run(db, "import", "--plan", "1", "--lang", "en", august)
    assert code == 0 and "Mapping: SFA deals" in out
    assert actuals(db)["win_rate"] == {date(2026, 7, 1): 0.5, date(2026, 8, 1): 0.5}
    third = write(tmp_path, "deals_09.csv", deals.replace("2026/07", "2026/09"))
    assert run(db, "import", "--plan", "1", "--profile", "SFA deals", third)[0] == 0
    assert run(db, "import", "--plan", "1", "--profile", "nope", third)[0] == 1


def test_any_rejected_row_writes_nothing_unless_accepted(db, tmp_path):
    file = write(tmp_path, "a.csv", "月,商談数\n2026/07,50\n2026/08,abc\n")
    run(db, "import", "--plan", "1", write(tmp_path, "before.csv", "月,商談数\n2026/07,38\n"))
    for extra in ((), ("--strict",), ("--strict", "--accept-rejected")):
        code, out, err = run(db, "import", "--plan", "1", "--lang", "en", *extra, file)
        assert code == 1 and "line 3: “abc” in “商談数” is not a number." in out
        assert "1 row rejected; nothing was written" in err and "import the 1 good row and" in err
        assert "replaces 38" in out.split("2026-07")[1].splitlines()[0]  # the value it would replace, shown
        assert actuals(db) == {"meetings": {date(2026, 7, 1): 38.0}}
    code, out, _ = run(db, "import", "--plan", "1", "--lang", "en", "--dry-run", "--accept-rejected", file)
    assert code == 0 and actuals(db) == {"meetings": {date(2026, 7, 1): 38.0}}
    code, out, _ = run(db, "import", "--plan", "1", "--lang", "en", "--accept-rejected", file)
    assert code == 0 and "1 rejected" in out
    assert actuals(db) == {"meetings": {date(2026, 7, 1): 50.0}}


def test_dry_run_exits_as_the_real_run_would(db, tmp_path):
    outside = write(tmp_path, "old.csv", "月,商談数\n2024/07,50\n2024/08,40\n")
    dry = run(db, "import", "--plan", "1", "--lang", "en", "--dry-run", outside)
    real = run(db, "import", "--plan", "1", "--lang", "en", outside)
    assert dry[0] == real[0] == 1 and "Dry run" in dry[1] and dry[2] == real[2] != ""
    assert actuals(db) == {}


def test_revert_and_imports_list(db, tmp_path):
    run(db, "import", "--plan", "1", write(tmp_path, "a.csv", "月,商談数\n2026/07,50\n"))
    run(db, "import", "--plan", "1", write(tmp_path, "b.csv", "月,商談数\n2026/07,55\n"))
    assert actuals(db)["meetings"] == {date(2026, 7, 1): 55.0}
    code, out, _ = run(db, "revert", "2", "--lang", "en")
    assert code == 0 and "Import #2 reverted: 1 value taken back" in out
    assert actuals(db)["meetings"] == {date(2026, 7, 1): 50.0}
    code, out, _ = run(db, "imports", "--plan", "営業 2026", "--lang", "ja")
    assert code == 0 and "取消済み" in out and "取込済み" in out
    assert run(db, "revert", "99")[0] == 1


def test_seed_creates_the_demo_once(tmp_path, monkeypatch):
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")
    db = tmp_path / "demo.duckdb"
    code, _, err = run(db, "seed", "--lang", "en")  # a new database is created on purpose only
    assert code == 1 and "There is no database at" in err and not db.exists()
    assert run(db, "db", "init")[0] == 0
    code, out, _ = run(db, "seed", "--lang", "en")
    assert code == 0 and "Demo plan #1" in out
    code, out, _ = run(db, "seed", "--lang", "en")
    assert code == 0 and "No demo plan created" in out


def test_db_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "env.duckdb"
    monkeypatch.setenv("KPI_WORKBENCH_DB", str(path))
    err = io.StringIO()
    assert main(["db", "init"], io.StringIO(), err) == 0
    assert main(["imports", "--plan", "1", "--lang", "en"], io.StringIO(), err) == 1
    assert path.exists() and "No plan with the id or name “1”." in err.getvalue()


def test_locked_database_exits_3(db):
    script = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        code, _, err = run(db, "imports", "--plan", "1", "--lang", "en")
        assert code == 3 and "in use by another program" in err and str(holder.pid) in err
    finally:
        holder.kill()
        holder.wait()


def test_usage_errors_exit_2(db):
    with pytest.raises(SystemExit) as exit_info:
        run(db, "import", "some.csv")
    assert exit_info.value.code == 2


def test_language_defaults_from_the_locale():
    assert default_language([], {"LANG": "ja_JP.UTF-8"}) == "ja"
    assert default_language([], {"LANG": "en_US.UTF-8"}) == "en"
    assert default_language([], {"LC_ALL": "en_GB.UTF-8", "LANG": "ja_JP.UTF-8"}) == "en"
    assert default_language(["--lang", "en"], {"LANG": "ja_JP.UTF-8"}) == "en"
    assert default_language(["--lang=ja"], {}) == "ja"
    assert default_language([], {"LANG": "C.UTF-8"}) == "en"  # containers and CI
    assert default_language([], {"LC_ALL": "POSIX", "LANG": "ja_JP.UTF-8"}) == "en"
    assert default_language([], {}) == "ja"


def test_python_dash_m_entry_point(db, tmp_path):
    file = write(tmp_path, "a.csv", MONTHLY)
    done = subprocess.run([sys.executable, "-m", "kpi_core.cli", "--db", str(db), "import", "--plan", "1",
                           "--lang", "en", file], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "Import #1 saved" in done.stdout
    done = subprocess.run([sys.executable, "-m", "kpi_core.cli", "--db", str(db), "revert", "7"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
                          env={"LANG": "ja_JP.UTF-8"})
    assert done.returncode == 1 and "取込 #7 はありません" in done.stderr


class _ClosedPipe(io.StringIO):
    """A reader that goes away just as the result line is printed, after the values are written."""

    def write(self, text: str) -> int:
        if text.startswith("monthly.csv:"):
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_a_closed_output_pipe_does_not_undo_a_written_import(db, tmp_path, monkeypatch):
    path = write(tmp_path, "monthly.csv", MONTHLY)
    mapping = write(tmp_path, "m.json", json.dumps(MAPPING))
    monkeypatch.setattr("os.dup2", lambda *args: None)  # the test's stdout is not a real pipe
    code = main(["--db", str(db), "import", "--plan", "営業 2026", "--mapping", mapping, path], _ClosedPipe(),
                io.StringIO())
    assert code != 0
    assert actuals(db)["meetings"] == {date(2026, 7, 1): 50.0, date(2026, 8, 1): 40.0}


def test_same_file_with_a_corrected_mapping_asks_replace_or_keep(db, tmp_path):
    file = write(tmp_path, "r.csv", "月,商談数,有効商談数\n2026/07,50,38\n")
    first = write(tmp_path, "first.json", json.dumps({"shape": "wide_metrics", "date_column": "月", "metrics": {
        "meetings": {"column": "商談数"}}}, ensure_ascii=False))
    corrected = write(tmp_path, "corrected.json", json.dumps({"shape": "wide_metrics", "date_column": "月",
                                                              "metrics": {"meetings": {"column": "有効商談数"}}},
                                                             ensure_ascii=False))
    assert run(db, "import", "--plan", "1", "--mapping", first, file)[0] == 0
    code, _, err = run(db, "import", "--plan", "1", "--lang", "en", "--mapping", corrected, file)
    assert code == 1 and "--replace" in err and "--keep-earlier" in err
    assert actuals(db)["meetings"] == {date(2026, 7, 1): 50.0}
    assert run(db, "import", "--plan", "1", "--dry-run", "--replace", "--mapping", corrected, file)[0] == 0
    code, out, _ = run(db, "import", "--plan", "1", "--lang", "en", "--replace", "--mapping", corrected, file)
    assert code == 0 and "Import #1 (same file, earlier mapping) was reverted" in out
    assert actuals(db)["meetings"] == {date(2026, 7, 1): 38.0}
    code, out, _ = run(db, "revert", "1", "--lang", "en")
    assert code == 0 and "already reverted" in out


def test_a_european_latin1_export_with_decimal_commas(db, tmp_path):
    text = "Monat;Umsatz;Größe\n2026-07;1.234,50;12,5\n2026-08;2.000,00;13,0\n"
    mapping = write(tmp_path, "eu.json", json.dumps({"shape": "wide_metrics", "date_column": "Monat", "metrics": {
        "avg_deal": {"column": "Umsatz"}, "meetings": {"column": "Größe"}}}, ensure_ascii=False))
    for encoding in (None, "latin-1", "cp1252", "ISO-8859-1"):
        extra = ("--encoding", encoding) if encoding else ()
        code, out, err = run(db, "import", "--plan", "1", "--lang", "en", "--dry-run", "--mapping", mapping,
                             *extra, write(tmp_path, "eu.csv", text, "latin-1"))
        assert (code, err) == (0, ""), err
        assert "decimal commas" in out and ("Windows-1252" in out or "Latin-1" in out)
    code, out, _ = run(db, "import", "--plan", "1", "--lang", "en", "--mapping", mapping,
                       write(tmp_path, "eu.csv", text, "latin-1"))
    assert code == 0
    assert actuals(db)["avg_deal"] == {date(2026, 7, 1): 1234.5, date(2026, 8, 1): 2000.0}
    assert actuals(db)["meetings"] == {date(2026, 7, 1): 12.5, date(2026, 8, 1): 13.0}
    code, _, err = run(db, "import", "--plan", "1", "--lang", "en", "--encoding", "ebcdic", str(tmp_path / "eu.csv"))
    assert code == 1 and "Unknown encoding" in err


# An SFA's opportunity export as it arrives: CP932, Japanese headers, an ID, the account, the phase, amounts with
# separators, close dates, the owner; one month of deals of several phases.
SFA_DEALS = (
    "商談 ID,商談名,取引先名,フェーズ,金額,完了予定日,商談 所有者\r\n"
    "006A001,基幹刷新,髙橋商事,受注,\"1,200,000\",2026/07/03,佐藤\r\n"
    "006A002,保守更新,山﨑工業,失注,\"300,000\",2026/07/09,鈴木\r\n"
    "006A003,追加ライセンス,髙橋商事,受注,\"800,000\",2026/07/15,佐藤\r\n"
    "006A004,新規導入,渡邊物産,提案,\"2,000,000\",2026/07/22,田中\r\n"
    "006A005,PoC,伊藤電機,受注,\"500,000\",2026/08/05,鈴木\r\n"
    "006A006,更新,中村商店,失注,\"150,000\",2026/08/19,田中\r\n")


def test_mapping_suggest_writes_what_the_app_suggests_for_a_deal_list_then_it_imports(db, tmp_path):
    deals = write(tmp_path, "opportunities_2026-08.csv", SFA_DEALS, "cp932")
    out_file = tmp_path / "deals.mapping.json"
    code, out, err = run(db, "--lang", "en", "mapping", "--suggest", deals, "--plan", "営業 2026",
                         "--out", str(out_file))
    assert code == 0, err
    suggested = json.loads(out_file.read_text("utf-8"))
    won = [{"column": "フェーズ", "op": "in", "value": ["受注"]}]
    assert suggested["shape"] == "records" and suggested["date_column"] == "完了予定日"
    assert suggested["metrics"] == {
        "meetings": {"source": "count_distinct", "column": "商談 ID"},
        "won": {"source": "count_distinct", "column": "商談 ID", "filters": won},
        "revenue": {"source": "sum", "column": "金額", "filters": won},
        "win_rate": {"source": "formula", "formula": "won / meetings"},
        "avg_deal": {"source": "formula", "formula": "revenue / won"}}
    assert "Shift_JIS (CP932)" in out and "Suggested for opportunities_2026-08.csv" in out
    assert f"--mapping {out_file}" in out and actuals(db) == {}  # nothing imported by a suggestion

    code, out, err = run(db, "import", "--plan", "1", "--lang", "en", "--mapping", str(out_file), deals)
    assert code == 0, err
    values = actuals(db)
    assert values["meetings"] == {date(2026, 7, 1): 4, date(2026, 8, 1): 2}
    assert values["revenue"] == {date(2026, 7, 1): 2_000_000, date(2026, 8, 1): 500_000}
    assert values["win_rate"] == {date(2026, 7, 1): 0.5, date(2026, 8, 1): 0.5}
    assert values["avg_deal"] == {date(2026, 7, 1): 1_000_000, date(2026, 8, 1): 500_000}


def test_mapping_suggest_to_the_output_is_a_mapping_file_and_the_notes_go_apart(db, tmp_path):
    deals = write(tmp_path, "opportunities.csv", SFA_DEALS, "cp932")
    code, out, err = run(db, "--lang", "ja", "mapping", "--suggest", deals, "--plan", "1")
    assert code == 0
    assert json.loads(out)["metrics"]["meetings"] == {"source": "count_distinct", "column": "商談 ID"}
    assert "opportunities.csv への提案" in err and "kpi-workbench import --plan 1 --mapping FILE.json" in err


def test_mapping_suggest_refuses_without_a_plan_or_a_match(db, tmp_path):
    deals = write(tmp_path, "opportunities.csv", SFA_DEALS, "cp932")
    with pytest.raises(SystemExit) as usage:
        run(db, "--lang", "en", "mapping", "--suggest", deals)
    assert usage.value.code == 2
    other = write(tmp_path, "weather.csv", "月,気温,降水量\n2026/07,30,100\n2026/08,31,80\n")
    code, _, err = run(db, "--lang", "en", "mapping", "--suggest", other, "--plan", "1", "--out",
                         str(tmp_path / "m.json"))
    assert code == 1 and "Nothing to suggest for weather.csv" in err and not (tmp_path / "m.json").exists()
    assert run(db, "--lang", "en", "mapping", "--suggest", deals, "--plan", "no such plan")[0] == 1
