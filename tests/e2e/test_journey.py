"""A new user's whole journey in a real browser: template -> five steps -> actuals typed and imported -> dashboard."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .conftest import start_server, stop_server, wait_for_app, warm_up

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "sales_monthly_long_utf16.csv"
ROW_HEIGHT = 35  # Streamlit's data grid row height in pixels
CELL_EDITOR = "textarea.gdg-input, input.gdg-input"  # the grid's overlay editor, open while a cell is edited
GRID_FOCUSED_JS = "() => !!document.activeElement?.closest('[data-testid=\"stDataFrame\"]')"


@pytest.fixture
def empty_server(tmp_path, browser):
    process, url = start_server(tmp_path / "journey.duckdb", demo=False)
    warm_up(browser, url)
    yield url
    stop_server(process)


def main_text(page) -> str:
    return page.inner_text("[data-testid='stMain']")


def go(page, link_text: str) -> None:
    page.locator("[data-testid='stSidebarNav']").get_by_text(link_text, exact=True).click()
    wait_for_app(page)


def click(page, name: str) -> None:
    page.get_by_role("button", name=name).first.click()
    wait_for_app(page)


def type_cell(page, row: int, column: int, text: str, attempts: int = 4) -> None:
    """Type into a cell of the actuals grid (a canvas): select the row's month cell, move right, edit, commit.

    The grid draws on a canvas, so the edit is checked through its accessible cell text and retried when a busy
    machine swallowed a keystroke.
    """
    grid = page.locator("[data-testid='stDataFrame']").first
    cell = page.locator(f"#glide-cell-{column}-{row}")
    for _ in range(attempts):
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 30, box["y"] + ROW_HEIGHT * (row + 1) + ROW_HEIGHT / 2)
        page.wait_for_function(GRID_FOCUSED_JS)
        for _ in range(column):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        editor = page.locator(CELL_EDITOR)
        try:
            editor.wait_for(state="visible", timeout=5_000)
        except PlaywrightTimeout:  # the keystroke was swallowed: start again
            continue
        page.keyboard.type(text, delay=30)
        page.keyboard.press("Enter")
        editor.wait_for(state="detached")
        wait_for_app(page)
        if cell.count() and cell.inner_text().strip() == text:
            return
    raise AssertionError(f"could not type {text!r} into grid cell ({row}, {column}): {cell.inner_text()!r}")


def wait_text(page, pattern: str | re.Pattern, timeout: float = 60_000) -> None:
    """Wait until the main area shows `pattern` (a busy machine may still be rerunning the script)."""
    page.locator("[data-testid='stMain']").get_by_text(pattern).first.wait_for(timeout=timeout)
    wait_for_app(page)


def assert_clean(page) -> None:
    """No exception and no error box in the main area."""
    assert page.locator("[data-testid='stException']").count() == 0
    errors = page.locator("[data-testid='stMain'] [data-testid='stAlertContentError']")
    assert errors.count() == 0, errors.all_inner_texts()


@pytest.mark.e2e
def test_new_user_from_template_to_dashboard(empty_server, page_factory, shot):
    page = page_factory("en-US")
    page.goto(f"{empty_server}/?lang=en")
    wait_for_app(page)
    assert "Use this template" in main_text(page)
    shot(page, "journey_01_welcome")

    # Plan from the sales template.
    page.get_by_text("Use this template").first.click()
    create = page.get_by_role("button", name="Create from this template").first
    create.wait_for(state="visible")
    form = page.locator("[data-testid='stForm']").filter(has=create).first
    form.get_by_label("Plan name").fill("Sales team FY plan")
    create.click()
    wait_text(page, "Step 1 KGI")
    assert_clean(page)
    shot(page, "journey_02_kgi")

    # Step 1: confirm the KGI as the template filled it in.
    click(page, "Save")
    wait_text(page, "¥180.0M")
    assert_clean(page)  # the template's KPI targets imply ¥180M (+25 % over the KGI)

    # Step 2: confirm the current value; the gap is ¥24M (+20 %).
    go(page, "Step 2 Gap")
    click(page, "Confirm the current value")
    wait_text(page, "¥24.0M")
    assert "+20.0%" in main_text(page)
    shot(page, "journey_03_gap")

    # Step 3: the template's CSFs and the coverage waterfall.
    go(page, "Step 3 CSF")
    assert_clean(page)
    assert page.locator("[data-testid='stVegaLiteChart']").count() >= 1
    shot(page, "journey_04_csf")

    # Step 4: the KPI tree and the reverse calculation (40 meetings a month for ¥144M).
    go(page, "Step 4 KPI")
    page.get_by_role("tab", name="KPI tree").click()
    page.locator("[data-testid='stGraphVizChart'] svg").first.wait_for()
    shot(page, "journey_05_kpi_tree")
    page.get_by_role("tab", name="Reverse calculation & sensitivity").click()
    page.locator("[data-testid='stMain']").get_by_text("KGI implied by the KPI targets").first.wait_for()
    assert "40" in main_text(page)
    assert_clean(page)
    shot(page, "journey_06_reverse")

    # Step 5: two months of meetings typed into the grid, one save each, then a status shows.
    go(page, "Step 5 PDCA")
    for row, value in ((0, "52"), (1, "31")):
        type_cell(page, row, 2, value)
        click(page, "Save actuals")
    page.reload()  # what the grid shows after a reload comes from the database
    wait_for_app(page)
    assert [page.locator(f"#glide-cell-2-{row}").inner_text().strip() for row in (0, 1)] == ["52", "31"]
    page.get_by_role("tab", name="📊 Actual vs target").click()
    page.locator("[data-testid='stMain']").get_by_text(re.compile("On track|At risk|Off track")).first.wait_for()
    text = main_text(page)
    assert "On track" in text or "At risk" in text or "Off track" in text
    assert_clean(page)
    shot(page, "journey_07_pdca")

    # Actuals import: a UTF-16 long export from an SFA, mapped from the template's aliases.
    go(page, "Actuals import")
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(SAMPLE))
    import_button = page.get_by_role("button", name=re.compile(r"^Import \d+ values$")).first
    import_button.wait_for(timeout=60_000)
    wait_for_app(page)
    assert "UTF-16" in main_text(page)
    shot(page, "journey_08_import_preview")
    import_button.click()
    wait_text(page, re.compile(r"import #1|Imported as #1"))
    assert_clean(page)
    shot(page, "journey_09_imported")

    # Dashboard: the statuses reflect what was typed and imported.
    go(page, "Dashboard")
    text = main_text(page)
    assert "Off track" in text or "At risk" in text or "On track" in text
    assert_clean(page)
    shot(page, "journey_10_dashboard")
