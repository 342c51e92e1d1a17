"""The plan file's values (actuals, monthly targets, KGI baseline and target, annual targets) are held to the one
range rule (value_rules): every value out of range named with its field and line, in the user's language, and
nothing written."""
from __future__ import annotations

import io

import pytest

from kpi_core.adapters.plan_file import PlanFileRangeError
from kpi_core.cli import main
from kpi_core.services.plan_file import export_plan_file, import_plan_file


def _broken(text: str) -> str:
    text = text.replace("baseline: 120000000", "baseline: 1.0e+308", 1)
    head, tail = text.split("  win_rate:\n  - version: 1", 1)
    text = head + "  win_rate:\n  - version: 1" + tail.replace("2026-05: 0.25", "2026-05: 1.5", 1)
    return text.replace("  value: 38\n", "  value: -38\n", 1)


def _line(text: str, needle: str, after: str = "") -> int:
    start = text.index(after) if after else 0
    return text[:text.index(needle, start)].count("\n") + 1


def test_every_out_of_range_value_is_named_and_nothing_is_written(store, demo_plan):
    text = _broken(export_plan_file(store, demo_plan))
    plans = len(store.list_plans())
    with pytest.raises(PlanFileRangeError) as caught:
        import_plan_file(store, text)
    assert len(store.list_plans()) == plans
    found = [(where, line, key) for where, line, key, _ in caught.value.problems]
    assert ("kgi.baseline", _line(text, "baseline: 1.0e+308"), "range.too_large") in found
    assert ("targets.win_rate[1].values.2026-05", _line(text, "2026-05: 1.5"), "range.rate") in found
    assert [f for f in found if f[0].startswith("actuals")] == [
        (f[0], _line(text, "value: -38"), "range.negative") for f in found if f[0].startswith("actuals")]
    assert len(found) == 3
    english, japanese = caught.value.message("en"), caught.value.message("ja")
    assert "win_rate, 2026-05: 150 % is outside 0–100 %" in english
    assert "meetings, 2025-04: -38 is negative" in english and "larger than any real figure" in english
    assert english.count("  \n") == 2 and "マイナス" in japanese and "行目" in japanese


def test_the_command_line_says_the_same_and_exits_1(store, demo_plan, db_path, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(_broken(export_plan_file(store, demo_plan)), encoding="utf-8")
    plans = len(store.list_plans())
    store.close()
    out, err = io.StringIO(), io.StringIO()
    assert main(["--db", str(db_path), "--lang", "en", "plan-import", str(path)], out, err) == 1
    assert "-38 is negative" in err.getvalue() and "150 %" in err.getvalue() and out.getvalue() == ""
    out = io.StringIO()
    assert main(["--db", str(db_path), "--lang", "en", "plan", "list"], out, io.StringIO()) == 0
    assert out.getvalue().count("\n") == plans
