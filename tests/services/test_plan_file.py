"""The whole plan as a file: an exact round trip (every field compared), and broken or hostile files refused with
the field and the line, nothing written."""
from __future__ import annotations

import re
from dataclasses import asdict
from datetime import date

import pytest
import yaml

from kpi_core.adapters.plan_file import PlanFileError
from kpi_core.adapters.templates import load_templates
from kpi_core.domain.model import CSF, CSFRole, Status
from kpi_core.services.plan_file import export_plan_file, import_plan_file, read_snapshot
from kpi_core.services.plans import create_plan_from_template


def _without_ids(snapshot) -> dict:
    """Every field of the snapshot except the database's own ids (new rows get new ones)."""
    data = asdict(snapshot)
    data["plan"].pop("id"), data["plan"].pop("version")
    if data["kgi"]:
        data["kgi"].pop("id"), data["kgi"].pop("plan_id")
    for item in data["csfs"] + data["kpis"] + data["checkins"]:
        for name in ("id", "plan_id", "csf_id", "position"):
            item.pop(name, None)
    for row in data["actuals"]:
        row["import_file"] = ""  # the import records stay with the database they were imported into
    return data


def _assert_round_trip(store, plan) -> str:
    text = export_plan_file(store, plan)
    copy = import_plan_file(store, text)
    assert copy.id != plan.id
    assert _without_ids(read_snapshot(store, copy)) == _without_ids(read_snapshot(store, plan))
    assert _no_import_files(export_plan_file(store, copy)) == _no_import_files(text)
    return text


def _no_import_files(text: str) -> str:
    return re.sub(r"import_file: .*", "import_file: ''", text)


def _enrich(store, plan) -> None:
    """What the template route used to lose: currency, a confirmed current value, hand-phased targets with a
    reason, a retired CSF, a review and a check-in."""
    plan.currency = "USD"
    store.update_plan(plan, None)
    kgi = store.get_kgi(plan.id)
    kgi.current = 123_456_789.5
    store.save_kgi(kgi, None)
    store.save_csf(CSF(plan_id=plan.id, name="Old lever", role=CSFRole.RETIRED, contribution=1.5,
                       actions=["a: b", "- dash", "=SUM(A1)"], description="multi\nline"), None)
    kpi = store.list_kpis(plan.id)[0]
    months = plan.month_list()
    store.set_monthly_targets(plan.id, kpi.key, {m: 40.0 + i * 1.25 for i, m in enumerate(months)},
                              reason="seasonal: busier from autumn")
    store.add_review(plan.id, date(2026, 7, 1), kpi.key, "change", "raise in H2")


def test_the_demo_plan_round_trips_exactly(store, demo_plan):
    _enrich(store, demo_plan)
    text = _assert_round_trip(store, demo_plan)
    data = yaml.safe_load(text)
    assert data["plan"]["currency"] == "USD"
    assert data["kgi"]["current"] == 123_456_789.5
    assert [c["role"] for c in data["csfs"]].count("retired") == 1
    versions = data["targets"][store.list_kpis(demo_plan.id)[0].key]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["reason"] == "seasonal: busier from autumn"
    assert len(set(versions[1]["values"].values())) == 12  # twelve hand-phased months, all different
    assert len(data["actuals"]) == 4 * 18 and data["checkins"] and data["reviews"]
    assert "販売" not in text and "\\u" not in text  # readable: no escaped unicode


def test_a_japanese_plan_file_is_readable_unicode(store, monkeypatch):
    from kpi_core.services.demo import seed_demo
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")
    plan = seed_demo(store, today=date(2026, 11, 20), lang="ja")
    text = _assert_round_trip(store, plan)
    assert "年間売上" in text and "\\u" not in text


@pytest.mark.parametrize("template", load_templates()[0], ids=lambda tpl: tpl.id)
def test_every_templates_plan_round_trips(store, template):
    for lang in ("ja", "en"):
        plan = create_plan_from_template(store, template, lang, fiscal_start=date(2026, 4, 1))
        _assert_round_trip(store, plan)


def test_without_actuals_the_file_has_none(store, demo_plan):
    text = export_plan_file(store, demo_plan, with_actuals=False)
    assert "actuals" not in yaml.safe_load(text)
    copy = import_plan_file(store, text, name="Copy")
    assert copy.name == "Copy" and store.actual_values(copy.id) == {}


def _refused(store, text: str) -> PlanFileError:
    before = (len(store.list_plans()), len(store.deleted_plans()))
    with pytest.raises(PlanFileError) as caught:
        import_plan_file(store, text)
    assert (len(store.list_plans()), len(store.deleted_plans())) == before
    return caught.value


def _lines(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_a_wrong_value_names_the_field_and_its_line(store, demo_plan):
    text = export_plan_file(store, demo_plan)
    broken = text.replace("annual_target: 0.25", "annual_target: a quarter")
    error = _refused(store, broken)
    assert error.key == "report.plan_file.not_number"
    assert error.where == "kpis[2].annual_target"
    assert error.line == _lines(broken, "annual_target: a quarter")


def test_an_unknown_csf_a_bad_month_and_a_bad_choice_are_named(store, demo_plan):
    text = export_plan_file(store, demo_plan)
    error = _refused(store, text.replace("csf: csf2", "csf: csf9", 1))
    assert (error.key, error.where) == ("report.plan_file.unknown_csf", "kpis[2].csf")
    error = _refused(store, text.replace("fiscal_start: 2026-04", "fiscal_start: 2026-13"))
    assert (error.key, error.where) == ("report.plan_file.bad_month", "plan.fiscal_start")
    assert error.line == _lines(text, "fiscal_start: 2026-04")
    error = _refused(store, text.replace("direction: up", "direction: sideways", 1))
    assert error.key == "report.plan_file.bad_choice" and error.where == "kgi.direction"


def test_hostile_files_are_refused_before_anything_is_written(store, demo_plan):
    error = _refused(store, "kpi_workbench_plan: 1\nplan: !!python/object/apply:os.system ['echo hi']\n")
    assert error.key == "report.plan_file.syntax" and error.line == 2
    bomb = "a: &a ['x','x']\nb: &b [*a,*a]\nc: [*b,*b]\n"
    assert _refused(store, bomb).key == "report.plan_file.alias"
    assert _refused(store, "plan: [unclosed\n").key == "report.plan_file.syntax"
    assert _refused(store, "just text").key == "report.plan_file.not_mapping"
    assert _refused(store, "other_format: 1\n").key == "report.plan_file.not_a_plan_file"
    text = export_plan_file(store, demo_plan)
    error = _refused(store, text.replace("formula: meetings * win_rate * avg_deal",
                                         "formula: __import__('os').system('x')"))
    assert error.key == "report.plan_file.bad_formula" and error.where == "kgi.formula"


def test_a_failure_while_writing_leaves_nothing(store, demo_plan, monkeypatch):
    text = export_plan_file(store, demo_plan)
    plans_before = [p.id for p in store.list_plans()]

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "add_review", fail)
    text = text.replace("reviews: []", "reviews:\n- date: '2026-07-01'\n  metric: meetings\n  decision: keep\n"
                                       "  reason: ''")
    with pytest.raises(RuntimeError):
        import_plan_file(store, text)
    assert [p.id for p in store.list_plans()] == plans_before
    assert [p.id for p in store.deleted_plans()] == []


def test_checkin_status_and_due_survive(store, demo_plan):
    copy = import_plan_file(store, export_plan_file(store, demo_plan))
    original = {(c.month, c.why): (c.status, c.due, c.result) for c in store.list_checkins(demo_plan.id)}
    copied = {(c.month, c.why): (c.status, c.due, c.result) for c in store.list_checkins(copy.id)}
    assert copied == original and Status.OFF_TRACK in {s for s, _, _ in copied.values()}


def test_the_message_says_line_and_field_in_both_languages(store, demo_plan):
    text = export_plan_file(store, demo_plan).replace("annual_target: 0.25", "annual_target: a quarter")
    error = _refused(store, text)
    line = _lines(text, "annual_target: a quarter")
    assert error.message("en") == f"Line {line}, kpis[2].annual_target: Expected a number, found a quarter."
    assert error.message("ja") == f"{line}行目 kpis[2].annual_target: 数値が必要ですが a quarter でした。"
