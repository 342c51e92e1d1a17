"""Step 1 page: saving a KGI, refusing bad input in the user's language, and detecting concurrent edits."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core.domain.model import Plan


@pytest.fixture
def plan(store):
    return store.create_plan(Plan(name="Sales", fiscal_start=date(2026, 4, 1)))


def submit(at):
    next(b for b in at.button if b.proto.is_form_submitter).click()
    at.run()


def test_save_kgi_in_japanese_number_style(make_app, store, plan):
    at = make_app("pages/step1_kgi.py", lang="ja", plan_id=plan.id)
    at.text_input(key=f"kgi_name_{plan.id}").input("年間売上高")
    at.text_input(key=f"kgi_baseline_{plan.id}").input("1億2,000万")
    at.text_input(key=f"kgi_target_{plan.id}").input("144,000,000")
    at.text_area(key=f"kgi_basis_{plan.id}").input("前年実績＋市場成長")
    submit(at)
    assert not at.exception and not at.error
    kgi = store.get_kgi(plan.id)
    assert (kgi.name, kgi.baseline, kgi.target, kgi.deadline) == ("年間売上高", 120e6, 144e6, date(2027, 3, 31))
    labels = {m.label: m.value for m in at.metric}
    assert labels["必要な伸び"] == "2,400万円"
    assert labels["必要な月次ペース"] == "1,200万円"


@pytest.mark.parametrize("lang, fields, message", [
    ("en", {"name": "Revenue", "baseline": "abc", "target": "144000000"}, "“abc” is not a number"),
    ("ja", {"name": "売上", "baseline": "120000000", "target": "100000000"}, "目標値は基準値より大きく"),
    ("en", {"name": "", "baseline": "1", "target": "2"}, "Please enter a name."),
    ("en", {"name": "x" * 10_000, "baseline": "1", "target": "2"}, "The name is too long (10000 characters"),
    ("en", {"name": "Revenue", "baseline": "1", "target": ""}, "Enter the target value"),
    ("en", {"name": "Revenue", "baseline": "1", "target": "2", "formula": "__import__('os').system('id')"}, ""),
])
def test_bad_input_is_refused_and_nothing_saved(make_app, store, plan, lang, fields, message):
    at = make_app("pages/step1_kgi.py", lang=lang, plan_id=plan.id)
    for name, value in fields.items():
        at.text_input(key=f"kgi_{name}_{plan.id}").input(value)
    submit(at)
    assert not at.exception
    assert at.error, "a message is shown"
    assert message in " ".join(e.value for e in at.error)
    assert store.get_kgi(plan.id) is None


def test_deadline_after_the_plan_period_is_refused(make_app, store, plan):
    at = make_app("pages/step1_kgi.py", lang="en", plan_id=plan.id)
    at.text_input(key=f"kgi_name_{plan.id}").input("Revenue")
    at.text_input(key=f"kgi_baseline_{plan.id}").input("100")
    at.text_input(key=f"kgi_target_{plan.id}").input("120")
    at.date_input(key=f"kgi_deadline_{plan.id}").set_value(date(2027, 6, 30))
    submit(at)
    assert "after the plan period ends" in at.error[0].value
    assert store.get_kgi(plan.id) is None


def test_second_session_gets_a_conflict_message_not_a_silent_overwrite(make_app, store, plan):
    first = make_app("pages/step1_kgi.py", lang="en", plan_id=plan.id)
    second = make_app("pages/step1_kgi.py", lang="en", plan_id=plan.id)
    for at, name in ((first, "First"), (second, "Second")):
        at.text_input(key=f"kgi_name_{plan.id}").input(name)
        at.text_input(key=f"kgi_baseline_{plan.id}").input("100")
        at.text_input(key=f"kgi_target_{plan.id}").input("120")
    submit(first)
    assert not first.error
    submit(second)
    assert "Someone else saved this plan" in second.error[0].value
    assert store.get_kgi(plan.id).name == "First"
