"""The plan you open stays open on every page, Back/Forward move between steps, a conflict reload shows the other
person's values: in a real browser."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from .conftest import SCREENSHOTS, start_server, stop_server, wait_for_app, warm_up

MAIN = "[data-testid='stMain']"


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):
    process, url = start_server(tmp_path_factory.mktemp("identity") / "identity.duckdb", demo=True)
    warm_up(browser, url)
    yield url
    stop_server(process)


def caption_plan(page) -> str:
    """The plan named under the page title."""
    text = page.locator(MAIN).inner_text()
    match = re.search(r"Plan: (.+)", text)
    return match.group(1).strip() if match else ""


def plan_param(page) -> str:
    match = re.search(r"[?&]plan=(\d+)", page.url)
    return match.group(1) if match else ""


def wait_title(page, title: str) -> None:
    """Wait until the main area's title is `title` (creating a plan may take a while on a busy machine)."""
    try:
        page.locator(MAIN).locator("h1").filter(has_text=title).first.wait_for(timeout=90_000)
    except PlaywrightTimeout:
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"identity_failed_{title.replace(' ', '_')}.png"))
        raise
    wait_for_app(page)


def next_step(page) -> None:
    page.locator(MAIN).get_by_role("link", name="Next step").click()
    wait_for_app(page)


def walk_the_steps(page, name: str) -> None:
    """From Step 1, press 「next」 through Step 5: every page names the same plan, the link keeps its id."""
    plan_id = plan_param(page)
    assert plan_id, page.url
    for step in range(1, 6):
        page.locator(MAIN).locator("h1").filter(has_text=re.compile(rf"^Step {step} ")).first.wait_for()
        assert caption_plan(page) == name, (step, page.url)
        assert plan_param(page) == plan_id, (step, page.url)
        if step < 5:
            next_step(page)


@pytest.mark.e2e
def test_a_blank_plan_stays_open_through_the_five_steps(server, page_factory, shot):
    page = page_factory()
    page.goto(f"{server}/?lang=en")
    wait_for_app(page)
    form = page.locator("[data-testid='stForm']").filter(has=page.get_by_role("button", name="Create blank plan"))
    form.get_by_label("Plan name").fill("Blank plan B")
    form.get_by_role("button", name="Create blank plan").click()
    wait_title(page, "Step 1 KGI")
    walk_the_steps(page, "Blank plan B")
    shot(page, "identity_blank_step5")


@pytest.mark.e2e
def test_a_template_plan_and_open_on_the_list_stay_open(server, page_factory):
    page = page_factory()
    page.goto(f"{server}/?lang=en")
    wait_for_app(page)
    page.get_by_text("Use this template").first.click()
    create = page.get_by_role("button", name="Create from this template").first
    create.wait_for(state="visible")
    page.locator("[data-testid='stForm']").filter(has=create).first.get_by_label("Plan name").fill("Template plan T")
    wait_for_app(page)  # a click that lands while a rerun is still drawing the page can be dropped
    create.click()
    wait_title(page, "Step 1 KGI")
    walk_the_steps(page, "Template plan T")

    # Open on the plan list: the demo plan (the first plan) this time.
    page.goto(f"{server}/?lang=en")
    wait_for_app(page)
    page.locator(".st-key-plans_open_1 button").first.click()  # the demo plan, seeded first
    wait_title(page, "Step 1 KGI")
    demo_name = caption_plan(page)
    assert demo_name and demo_name != "Template plan T"
    walk_the_steps(page, demo_name)


@pytest.mark.e2e
def test_a_shared_link_and_the_sidebar_keep_the_plan(server, page_factory):
    page = page_factory()
    page.goto(f"{server}/?lang=en")
    wait_for_app(page)
    form = page.locator("[data-testid='stForm']").filter(has=page.get_by_role("button", name="Create blank plan"))
    form.get_by_label("Plan name").fill("Linked plan L")
    form.get_by_role("button", name="Create blank plan").click()
    wait_title(page, "Step 1 KGI")
    plan_id = plan_param(page)

    other = page_factory()
    other.goto(f"{server}/gap?plan={plan_id}&lang=en")
    wait_for_app(other)
    assert caption_plan(other) == "Linked plan L"
    other.locator("[data-testid='stSidebarNav']").get_by_text("Step 4 KPI", exact=True).click()
    wait_for_app(other)
    wait_title(other, "Step 4 KPI")
    assert caption_plan(other) == "Linked plan L"
    assert plan_param(other) == plan_id


@pytest.mark.e2e
def test_back_and_forward_move_between_steps_one_entry_each(server, page_factory):
    page = page_factory()
    page.goto(f"{server}/kgi?lang=en")
    wait_for_app(page)
    start = page.evaluate("history.length")
    next_step(page)
    next_step(page)
    wait_title(page, "Step 3 CSF")
    assert page.evaluate("history.length") == start + 2, "one history entry per page change"
    page.go_back()
    wait_for_app(page)
    wait_title(page, "Step 2 Gap")
    page.go_back()
    wait_for_app(page)
    wait_title(page, "Step 1 KGI")
    page.go_forward()
    wait_for_app(page)
    wait_title(page, "Step 2 Gap")
    assert re.search(r"/gap\?", page.url) and "lang=en" in page.url and plan_param(page)


@pytest.mark.e2e
def test_after_a_conflict_the_reload_shows_the_other_persons_kgi(server, page_factory, shot):
    first, second = page_factory(), page_factory()
    for page in (first, second):
        page.goto(f"{server}/kgi?plan=1&lang=en")
        wait_for_app(page)
    first.get_by_role("textbox", name="KGI name").fill("Revenue (first tab)")
    first.get_by_role("button", name="Save").click()
    wait_for_app(first)
    first.get_by_text("Saved").first.wait_for()

    second.get_by_role("textbox", name="KGI name").fill("Revenue (second tab)")
    second.get_by_role("button", name="Save").click()
    wait_for_app(second)
    second.get_by_text("Someone else saved this plan").first.wait_for()
    shot(second, "identity_conflict")
    second.get_by_role("button", name="Reload the latest version").first.click()
    second.get_by_text("Someone else saved this plan").first.wait_for(state="detached", timeout=60_000)
    wait_for_app(second)
    expect(second.get_by_role("textbox", name="KGI name")).to_have_value("Revenue (first tab)", timeout=30_000)
