"""Plans from the command line: create from a template with a fiscal start and a length, list, add a KPI, the
mapping profiles, the mapping file's JSON Schema -- and last year's history imported into a plan made this way."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from kpi_core.adapters.store import open_store
from kpi_core.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def run(db: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--db", str(db), *args], out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A new database made on purpose, as a user does before the first plan: `kpi-workbench db init`."""
    path = tmp_path / "plans.duckdb"
    assert run(path, "db", "init")[0] == 0
    return path


def test_a_plan_from_a_template_with_its_fiscal_start_and_length(db):
    code, out, err = run(db, "--lang", "en", "plan", "create", "--template", "sales", "--fiscal-start", "2024-04",
                         "--months", "12", "--name", "Sales FY2024")
    assert (code, err) == (0, "")
    assert out == "Plan #1 “Sales FY2024” created (2024-04 – 2025-03, 3 KPIs).\n"
    code, out, _ = run(db, "plan", "list", "--lang", "en")
    assert code == 0 and out == "#1  Sales FY2024  2024-04 – 2025-03  Draft  template: sales\n"
    store = open_store(db)
    try:
        plan = store.get_plan(1)
        assert (plan.fiscal_start, plan.months, plan.template) == (date(2024, 4, 1), 12, "sales")
        assert [k.key for k in store.list_kpis(1)] == ["meetings", "win_rate", "avg_deal"]
    finally:
        store.close()


def test_last_years_history_imported_into_a_plan_made_on_the_command_line(db, tmp_path):
    assert run(db, "plan", "create", "--template", "sales", "--fiscal-start", "2024-04", "--name", "FY2024")[0] == 0
    history = tmp_path / "history.csv"
    history.write_bytes("月,商談数,受注率,平均受注単価\n2024/04,38,21%,\"1,100,000\"\n2025/03,45,24%,\"1,250,000\"\n"
                        .encode("cp932"))
    code, _, err = run(db, "--lang", "en", "import", "--plan", "FY2024", str(history))
    assert (code, err) == (0, ""), err
    store = open_store(db)
    try:
        assert store.actual_values(1)["meetings"] == {date(2024, 4, 1): 38, date(2025, 3, 1): 45}
    finally:
        store.close()


@pytest.mark.parametrize(("args", "message"), [
    (("plan", "create", "--template", "nope"), "No template “nope”. Templates: "),
    (("plan", "create", "--template", "sales", "--fiscal-start", "April"), "“April” is not a month"),
    (("plan", "create", "--template", "sales", "--months", "0"), "Error: "),
    (("kpi", "add", "--plan", "9", "--key", "calls", "--name", "Calls"), "No plan with the id or name “9”."),
])
def test_bad_plan_commands_say_why_and_write_nothing(db, args, message):
    code, out, err = run(db, "--lang", "en", *args)
    assert code == 1 and message in err and out == ""
    store = open_store(db)
    try:
        assert store.list_plans() == []
    finally:
        store.close()


def test_kpi_add_checks_the_key_and_appends_the_kpi(db):
    run(db, "plan", "create", "--template", "sales", "--fiscal-start", "2025-04", "--name", "S")
    code, out, _ = run(db, "--lang", "en", "kpi", "add", "--plan", "S", "--key", "calls", "--name", "Outbound calls",
                       "--unit", "件", "--kind", "leading", "--annual-target", "6000")
    assert code == 0 and out == "KPI “Outbound calls” (calls) added to “S”.\n"
    code, _, err = run(db, "--lang", "en", "kpi", "add", "--plan", "S", "--key", "calls", "--name", "Again")
    assert code == 1 and "already used" in err
    code, _, err = run(db, "--lang", "en", "kpi", "add", "--plan", "S", "--key", "2x", "--name", "Bad")
    assert code == 1 and "cannot be a key" in err
    store = open_store(db)
    try:
        kpis = store.list_kpis(1)
        assert [k.key for k in kpis][-1] == "calls" and kpis[-1].annual_target == 6000 and len(kpis) == 4
    finally:
        store.close()


@pytest.mark.parametrize(("typed", "stored"), [("25", 0.25), ("25%", 0.25), ("２５％", 0.25), ("12.5", 0.125)])
def test_kpi_add_reads_a_rate_target_as_step_4_does(db, typed, stored):
    run(db, "plan", "create", "--template", "sales", "--fiscal-start", "2025-04", "--name", "S")
    code, _, err = run(db, "kpi", "add", "--plan", "S", "--key", "reply_rate", "--name", "Reply rate", "--unit", "%",
                       "--aggregation", "ratio", "--annual-target", typed)
    assert (code, err) == (0, "")
    store = open_store(db)
    try:
        assert store.list_kpis(1)[-1].annual_target == pytest.approx(stored)
    finally:
        store.close()


def test_kpi_add_reads_japanese_large_numbers(db):
    run(db, "plan", "create", "--template", "sales", "--fiscal-start", "2025-04", "--name", "S")
    assert run(db, "kpi", "add", "--plan", "S", "--key", "pipeline", "--name", "Pipeline", "--unit", "円",
               "--annual-target", "1億2千万")[0] == 0
    store = open_store(db)
    try:
        assert store.list_kpis(1)[-1].annual_target == 120_000_000
    finally:
        store.close()


def test_plan_list_names_the_status_in_the_users_language(db):
    run(db, "plan", "create", "--template", "sales", "--fiscal-start", "2025-04", "--name", "S")
    assert "  下書き  テンプレート: sales" in run(db, "--lang", "ja", "plan", "list")[1]


def test_profiles_list_show_and_export_round_trip_through_import(db, tmp_path):
    run(db, "plan", "create", "--template", "sales", "--fiscal-start", "2026-04", "--name", "S")
    mapping = json.loads((ROOT / "data/samples/sales_sfa_deals_cp932.mapping.json").read_text(encoding="utf-8"))
    mapping_file = tmp_path / "deals.json"
    mapping_file.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
    deals = str(ROOT / "data/samples/sales_sfa_deals_cp932.csv")
    code, _, err = run(db, "import", "--plan", "S", "--mapping", str(mapping_file), "--save-profile", "SFA", deals)
    assert code == 0, err
    code, out, _ = run(db, "--lang", "en", "profiles", "list")
    assert code == 0 and out.startswith("#1  SFA  records  [meetings, won, revenue, win_rate, avg_deal]  saved ")
    code, out, _ = run(db, "profiles", "show", "SFA")
    assert code == 0 and json.loads(out)["metrics"] == mapping["metrics"]
    exported = tmp_path / "exported.json"
    code, out, _ = run(db, "--lang", "en", "profiles", "export", "SFA", "--out", str(exported))
    assert code == 0 and f"written to {exported}" in out
    assert json.loads(exported.read_text(encoding="utf-8"))["metrics"] == mapping["metrics"]
    assert run(db, "--lang", "en", "profiles", "show", "nope")[2] == "Error: No mapping profile named “nope”.\n"


def test_mapping_schema_validates_every_shipped_mapping_and_refuses_a_bad_one(tmp_path):
    code, out, _ = run(tmp_path / "unused.duckdb", "mapping", "--schema")
    assert code == 0 and not (tmp_path / "unused.duckdb").exists(), "the schema needs no database"
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in (ROOT / "data/samples").glob("*.mapping.json"):
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("**The mapping file**", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    decoder, at, shapes = json.JSONDecoder(), 0, []
    while block[at:].strip():
        at += len(block[at:]) - len(block[at:].lstrip())
        example, at = decoder.raw_decode(block, at)
        jsonschema.validate(example, schema)
        shapes.append(example["shape"])
    assert sorted(shapes) == ["long", "records", "wide_metrics", "wide_months"], "one example per shape"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"shape": "records", "metrics": {"m": {"source": "median"}}}, schema)


def test_the_c_locale_speaks_english(db):
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "kpi_core.cli", "--db", str(db), "plan", "list"], env=env, check=False,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.startswith("No plan yet"), done.stderr


@pytest.mark.parametrize(("unit", "target", "reason"), [
    ("件", "-5", "Calls: -5 is negative"), ("%", "150", "Calls: 150 is outside 0–100 %"),
    ("JPY", "1e308", "larger than any real figure"), ("件", "inf", "“inf” is not a number"),
    ("件", "nan", "“nan” is not a number"), ("件", "abc", "“abc” is not a number"),
])
def test_kpi_add_holds_the_annual_target_to_the_range_rule(db, unit, target, reason):
    run(db, "plan", "create", "--template", "sales", "--fiscal-start", "2025-04", "--name", "S")
    code, out, err = run(db, "--lang", "en", "kpi", "add", "--plan", "S", "--key", "calls", "--name", "Calls",
                         "--unit", unit, "--annual-target", target)
    assert code == 1 and reason in err and out == ""
    store = open_store(db)
    try:
        assert [k.key for k in store.list_kpis(1)] == ["meetings", "win_rate", "avg_deal"]
    finally:
        store.close()


def _subcommand_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths.extend(_subcommand_paths(sub, (*prefix, name)))
    return paths


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_commands_help_prints_in_both_languages(lang, tmp_path):
    """A help text is run through argparse's %-formatting: a bare '%' in the catalogue would end in a traceback."""
    paths = _subcommand_paths(build_parser(lang))
    assert ("kpi", "add") in paths and ("plan", "create") in paths and len(paths) >= 15
    for path in paths:
        out = io.StringIO()
        with pytest.raises(SystemExit) as done, contextlib.redirect_stdout(out):
            main(["--db", str(tmp_path / "none.duckdb"), "--lang", lang, *path, "--help"], out, io.StringIO())
        assert done.value.code == 0 and "usage:" in out.getvalue(), path
