"""In a real browser, an add form comes back empty after a successful add (the browser keeps a submitted
widget's value, so clearing the session alone left it filled and a second click added a duplicate)."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core.adapters.store import open_store
from kpi_core.domain.model import CSF, CSFRole, Plan
from kpi_core.i18n import t

from .conftest import start_server, stop_server, wait_for_app, warm_up


@pytest.fixture(scope="module")
def csf_server(tmp_path_factory, browser):
    path = tmp_path_factory.mktemp("forms") / "forms.duckdb"
    store = open_store(path)
    plan = store.create_plan(Plan(name="Forms", fiscal_start=date(2026, 4, 1)))
    store.save_csf(CSF(plan.id, "New customers", CSFRole.PRIMARY), None)
    store.close()
    process, url = start_server(path, demo=False)
    warm_up(browser, url)
    yield url, plan.id
    stop_server(process)


@pytest.mark.e2e
def test_csf_add_form_is_empty_after_an_add(csf_server, page_factory, shot):
    url, plan_id = csf_server
    page = page_factory("en-US")
    page.goto(f"{url}/csf?plan={plan_id}&lang=en")
    wait_for_app(page)
    form = page.locator("[data-testid='stForm']").last
    name = form.get_by_role("textbox", name=t("csf.field.name", "en"))
    name.fill("Referral programme")
    form.get_by_role("button", name=t("csf.add", "en")).click()
    page.get_by_text(t("common.saved", "en")).wait_for()
    wait_for_app(page)
    form = page.locator("[data-testid='stForm']").last
    assert form.get_by_role("textbox", name=t("csf.field.name", "en")).input_value() == ""
    shot(page, "forms_csf_after_add")
    form.get_by_role("button", name=t("csf.add", "en")).click()  # a second click adds nothing twice
    wait_for_app(page)
    main = page.locator("[data-testid='stMain']")
    assert main.locator("h4", has_text="Referral programme").count() == 1
    assert main.locator("h4", has_text="New customers").count() == 1
