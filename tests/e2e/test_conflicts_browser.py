"""Two people, two browsers, one server: whoever saves second is shown what the first saved (theirs / yours) and
the reload puts the other person's values into the form, for a CSF, a KPI, a KPI's monthly targets, a check-in
result and the actuals grid. Nothing is overwritten without the user seeing what they replace."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import expect

from kpi_core.adapters.store import open_store
from kpi_core.domain.model import CSF, KGI, KPI, CheckIn, Plan
from kpi_core.i18n import t

from .conftest import start_server, stop_server, wait_for_app, warm_up

MAIN = "[data-testid='stMain']"
APR = date(2026, 4, 1)


@pytest.fixture(scope="module")
def plan_server(tmp_path_factory, browser) -> Iterator[tuple[str, str]]:
    path = tmp_path_factory.mktemp("conflicts") / "conflicts.duckdb"
    store = open_store(path)
    plan = store.create_plan(Plan(name="Two tabs", fiscal_start=APR))
    store.save_kgi(KGI(plan_id=plan.id, key="revenue", name="Revenue", unit="JPY", baseline=100_000_000,
                       target=120_000_000, deadline=date(2027, 3, 31), basis="last year"), None)
    csf = store.save_csf(CSF(plan.id, "New customers", contribution=20_000_000), None)
    kpi = store.save_kpi(KPI(plan.id, "meetings", "Meetings", csf_id=csf.id, unit="件", annual_target=600,
                             owner="Sato"), None)
    store.set_monthly_targets(plan.id, "meetings", dict.fromkeys(plan.month_list(), 50.0), "even")
    checkin = store.save_checkin(CheckIn(plan.id, "meetings", APR, why="few leads", next_action="Call 20 leads",
                                         due=date(2026, 5, 1)))
    store.close()
    process, url = start_server(path, demo=False)
    warm_up(browser, url)
    yield url, {"plan": plan.id, "csf": csf.id, "kpi": kpi.id, "checkin": checkin.id, "path": path}
    stop_server(process)


def keyed(page, key: str):
    """The element of the widget or container with this exact key."""
    return page.locator(f"{MAIN} .st-key-{key}")


def keyed_like(page, prefix: str):
    """The element whose key starts with `prefix` (a form drawn afresh after a reload has a new key suffix)."""
    return page.locator(f"{MAIN} [class*='st-key-{prefix}']")


def open_both(pages, url: str, slug: str, plan_id: int) -> None:
    for page in pages:
        page.goto(f"{url}/{slug}?plan={plan_id}&lang=en")
        wait_for_app(page)


def press(page, key: str) -> None:
    keyed(page, key).locator("button").first.click()
    wait_for_app(page)


def saved(page, key: str = "common.saved") -> None:
    """The success message of the save just made (shown once, above the page)."""
    page.locator(f"{MAIN} [data-testid='stAlertContentSuccess']").filter(has_text=t(key, "en")).first.wait_for()
    wait_for_app(page)


def conflict_shown(page, kind: str, row: int, *lines: str) -> None:
    """The conflict box above the form, with theirs / yours for each line."""
    box = keyed(page, f"conflict_{kind}_{row}")
    box.wait_for()
    wait_for_app(page)
    box.scroll_into_view_if_needed()  # for the screenshot: the box as the user sees it
    for line in lines:
        expect(box).to_contain_text(line)


def type_cell(page, grid, row: int, column: int, text: str) -> None:
    """Replace a grid cell's content (the grid draws on a canvas, its accessible table says what is selected and
    shown): select the row's first cell, move right to the column, open the cell's editor, fill it, commit; each
    step waits for the grid to show it."""
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    row_height = 35  # Streamlit's data grid row height in pixels
    page.mouse.click(box["x"] + 30, box["y"] + row_height * (row + 1) + row_height / 2)
    expect(grid.locator(f"#glide-cell-0-{row}")).to_have_attribute("aria-selected", "true")
    for _ in range(column):
        page.keyboard.press("ArrowRight")
    expect(grid.locator(f"#glide-cell-{column}-{row}")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    editor = page.locator(".gdg-input").first
    editor.wait_for()
    editor.fill(text)
    editor.press("Enter")
    expect(grid.locator(f"#glide-cell-{column}-{row}")).to_have_text(text)
    wait_for_app(page)


@pytest.mark.e2e
def test_csf_second_save_shows_theirs_and_reload_puts_them_in_the_form(plan_server, two_people, shot):
    url, ids = plan_server
    first, second = two_people
    open_both(two_people, url, "csf", ids["plan"])
    for page in two_people:
        press(page, f"csf_edit_{ids['csf']}")
    keyed(first, f"csf_name_{ids['csf']}").locator("input").fill("New customers (first)")
    press(first, f"csf_submit_{ids['csf']}")
    saved(first)

    keyed(second, f"csf_name_{ids['csf']}").locator("input").fill("New customers (second)")
    press(second, f"csf_submit_{ids['csf']}")
    conflict_shown(second, "csf", ids["csf"], "theirs New customers (first) / yours New customers (second)")
    expect(keyed(second, f"csf_name_{ids['csf']}").locator("input")).to_have_value("New customers (second)")
    shot(second, "conflicts_csf_1440")
    press(second, f"conflict_load_csf_{ids['csf']}")
    keyed(second, f"conflict_csf_{ids['csf']}").wait_for(state="detached")
    expect(keyed(second, f"csf_name_{ids['csf']}r1").locator("input")).to_have_value("New customers (first)")


@pytest.mark.e2e
def test_kpi_second_save_shows_theirs_and_reload_puts_them_in_the_form(plan_server, two_people, shot):
    url, ids = plan_server
    first, second = two_people
    open_both(two_people, url, "kpi", ids["plan"])
    for page in two_people:
        press(page, f"kpi_edit_{ids['kpi']}")
    keyed(first, f"kpi_owner_{ids['kpi']}").locator("input").fill("Tanaka")
    press(first, f"kpi_submit_{ids['kpi']}")
    saved(first)

    keyed(second, f"kpi_owner_{ids['kpi']}").locator("input").fill("Suzuki")
    press(second, f"kpi_submit_{ids['kpi']}")
    conflict_shown(second, "kpi", ids["kpi"], "Owner: theirs Tanaka / yours Suzuki")
    shot(second, "conflicts_kpi_1440")
    press(second, f"conflict_load_kpi_{ids['kpi']}")
    keyed(second, f"conflict_kpi_{ids['kpi']}").wait_for(state="detached")
    expect(keyed(second, f"kpi_owner_{ids['kpi']}r1").locator("input")).to_have_value("Tanaka")


@pytest.mark.e2e
def test_targets_second_save_shows_theirs_month_by_month_and_reload_shows_them(plan_server, two_people, shot):
    url, ids = plan_server
    first, second = two_people
    open_both(two_people, url, "kpi", ids["plan"])
    for page in two_people:
        keyed(page, f"kpi_targets_open_{ids['kpi']}").locator("summary").click()
        keyed_like(page, f"kpi_editor_{ids['kpi']}_").wait_for()
        wait_for_app(page)
    type_cell(first, keyed_like(first, f"kpi_editor_{ids['kpi']}_"), 0, 1, "61")
    press(first, f"kpi_targets_save_{ids['kpi']}")
    # stored as a new version (the success line may already be gone: the grid's own rerun follows the save's)
    first.locator(MAIN).get_by_text(t("kpi.targets.versions", "en", count=2)).wait_for()

    type_cell(second, keyed_like(second, f"kpi_editor_{ids['kpi']}_"), 0, 1, "72")
    press(second, f"kpi_targets_save_{ids['kpi']}")
    conflict_shown(second, "targets", ids["kpi"], "Apr 2026: theirs 61 件 / yours 72 件")
    shot(second, "conflicts_targets_1440")
    press(second, f"conflict_load_targets_{ids['kpi']}")
    keyed(second, f"conflict_targets_{ids['kpi']}").wait_for(state="detached")
    grid = keyed_like(second, f"kpi_editor_{ids['kpi']}r1_")
    expect(grid.locator("#glide-cell-1-0")).to_have_text("61")


@pytest.mark.e2e
def test_checkin_result_second_save_shows_theirs_and_reload_shows_it(plan_server, two_people, shot):
    url, ids = plan_server
    first, second = two_people
    open_both(two_people, url, "pdca", ids["plan"])
    for page in two_people:
        page.get_by_role("tab", name=t("pdca.tab.checkin", "en")).click()
        page.locator(MAIN).get_by_text(t("pdca.checkin.record_result", "en")).click()
        keyed(page, f"pdca_ci_outcome_{ids['checkin']}").wait_for()
    keyed(first, f"pdca_ci_outcome_{ids['checkin']}").locator("textarea").fill("They called 25")
    press(first, "pdca_ci_save_result")
    saved(first, "pdca.checkin.saved")

    keyed(second, f"pdca_ci_outcome_{ids['checkin']}").locator("textarea").fill("I called 20")
    press(second, "pdca_ci_save_result")
    conflict_shown(second, "checkin", ids["checkin"], "Result: theirs They called 25 / yours I called 20")
    shot(second, "conflicts_checkin_1440")
    press(second, f"conflict_load_checkin_{ids['checkin']}")
    keyed(second, f"conflict_checkin_{ids['checkin']}").wait_for(state="detached")
    expect(keyed(second, f"pdca_ci_outcome_{ids['checkin']}r1").locator("textarea")).to_have_value("They called 25")


@pytest.mark.e2e
def test_actuals_grid_second_save_shows_theirs_and_reload_shows_them(plan_server, two_people, shot):
    url, ids = plan_server
    first, second = two_people
    open_both(two_people, url, "pdca", ids["plan"])
    grids = [keyed_like(page, f"pdca_grid_{ids['plan']}_") for page in two_people]
    type_cell(first, grids[0], 0, 2, "41")
    press(first, f"pdca_save_actuals_{ids['plan']}")
    saved(first, "pdca.grid.saved")

    type_cell(second, grids[1], 0, 2, "42")
    press(second, f"pdca_save_actuals_{ids['plan']}")
    warning = second.locator(MAIN).get_by_text("was changed by someone else since you opened it: theirs 41")
    warning.first.wait_for()
    warning.first.scroll_into_view_if_needed()
    expect(grids[1].locator("#glide-cell-2-0")).to_have_text("42")  # the typed grid stays for the user
    shot(second, "conflicts_grid_1440")
    press(second, f"pdca_grid_reload_{ids['plan']}")
    warning.first.wait_for(state="detached")
    expect(keyed_like(second, f"pdca_grid_{ids['plan']}_").locator("#glide-cell-2-0")).to_have_text("41")
    store = open_store(ids["path"], create=False)
    try:
        assert store.actual_values(ids["plan"])["meetings"][APR] == 41.0
    finally:
        store.close()
