"""Every number field reads what people type, through the one parser: full-width ％ on a rate is the same as 85,
Japanese numerals such as 1億2千万 are amounts (a rate typed as ８５％ used to be stored as 0.0085 on Steps 1-2)."""
from __future__ import annotations

from datetime import date

import pytest
from conftest import assert_clean

from kpi_core.domain.model import KGI, Aggregation, Plan


@pytest.fixture
def rate_plan(store):
    """A plan whose KGI is a rate (retention, in %)."""
    plan = store.create_plan(Plan(name="Retention", fiscal_start=date(2026, 4, 1)))
    store.save_kgi(KGI(plan_id=plan.id, key="retention", name="Retention", unit="%", aggregation=Aggregation.MEAN,
                       baseline=0.80, target=0.90), None)
    return plan


def submit(at):
    next(b for b in at.button if b.proto.is_form_submitter).click()
    at.run()


@pytest.mark.parametrize("typed", ["85％", "85%", "85", "８５", "８５％"])
def test_step1_rate_kgi(make_app, store, rate_plan, typed):
    at = make_app("pages/step1_kgi.py", lang="ja", plan_id=rate_plan.id)
    at.text_input(key=f"kgi_target_{rate_plan.id}").input(typed)
    submit(at)
    assert_clean(at)
    assert store.get_kgi(rate_plan.id).target == pytest.approx(0.85)


@pytest.mark.parametrize("typed, expected", [("1億2千万", 120e6), ("12万5千", 125_000), ("3千", 3_000),
                                             ("１億２，０００万円", 120e6)])
def test_step1_amount_kgi_in_japanese_numerals(make_app, store, typed, expected):
    plan = store.create_plan(Plan(name="Sales", fiscal_start=date(2026, 4, 1)))
    at = make_app("pages/step1_kgi.py", lang="ja", plan_id=plan.id)
    at.text_input(key=f"kgi_name_{plan.id}").input("売上高")
    at.text_input(key=f"kgi_baseline_{plan.id}").input("1")
    at.text_input(key=f"kgi_target_{plan.id}").input(typed)
    submit(at)
    assert_clean(at)
    assert store.get_kgi(plan.id).target == pytest.approx(expected)


@pytest.mark.parametrize("typed", ["82％", "82"])
def test_step2_current_value_of_a_rate(make_app, store, rate_plan, typed):
    at = make_app("pages/step2_gap.py", lang="ja", plan_id=rate_plan.id)
    at.text_input[0].input(typed)
    submit(at)
    assert_clean(at)
    assert store.get_kgi(rate_plan.id).current == pytest.approx(0.82)


def test_step3_contribution_of_a_rate_gap(make_app, store, rate_plan):
    at = make_app("pages/step3_csf.py", lang="ja", plan_id=rate_plan.id)
    at.text_input(key="csf_name_new").input("オンボーディング強化")
    at.text_input(key="csf_contribution_new").input("５％")
    at.button(key="csf_submit_new").click().run()
    assert_clean(at)
    assert store.list_csfs(rate_plan.id)[-1].contribution == pytest.approx(0.05)


@pytest.mark.parametrize("unit, typed, expected", [("%", "２５％", 0.25), ("円", "1億2千万", 120e6),
                                                   ("件", "3千", 3000)])
def test_step4_kpi_target(make_app, store, rate_plan, unit, typed, expected):
    at = make_app("pages/step4_kpi.py", lang="ja", plan_id=rate_plan.id)
    for name, value in {"key": "k1", "name": "指標", "unit": unit, "target": typed}.items():
        at.text_input(key=f"kpi_{name}_new").input(value)
    if unit == "%":
        at.selectbox(key="kpi_aggregation_new").set_value(Aggregation.MEAN)
    at.button(key="kpi_submit_new").click().run()
    assert_clean(at)
    assert store.list_kpis(rate_plan.id)[-1].annual_target == pytest.approx(expected)
