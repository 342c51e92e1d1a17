"""Each department template creates a plan whose five steps render in both languages."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core.adapters.templates import load_templates
from kpi_core.services.plans import create_plan_from_template
from pages.frame import STEPS

STEP_PAGES = [spec.path for spec in STEPS]

TEMPLATES, ERRORS = load_templates()


def test_the_four_department_templates_load():
    assert not ERRORS
    assert {t.id for t in TEMPLATES} >= {"sales", "marketing", "cs", "hr"}


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_template_plan_renders_every_step(make_app, open_page, store, template, lang):
    plan = create_plan_from_template(store, template, lang, fiscal_start=date(2026, 4, 1))
    at = make_app(STEP_PAGES[0], lang=lang, plan_id=plan.id)
    for page in STEP_PAGES:
        open_page(at, page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        assert at.title, page
