"""The Actuals page in a real browser: an SFA deal list mapped with nothing written by hand, and a file with a bad
row that writes nothing until the user presses the button that says it skips that row."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from .conftest import start_server, stop_server, wait_for_app, warm_up

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


@pytest.fixture
def sales_server(tmp_path, browser):
    from kpi_core.adapters.store import open_store
    from kpi_core.adapters.templates import find_template
    from kpi_core.services.plans import create_plan_from_template

    db = tmp_path / "import.duckdb"
    store = open_store(db)
    create_plan_from_template(store, find_template("sales"), "en", name="Sales FY2026", fiscal_start=date(2026, 4, 1))
    store.close()
    process, url = start_server(db, demo=False)
    warm_up(browser, url)
    yield url, db, process
    stop_server(process)


def main_text(page) -> str:
    return page.inner_text("[data-testid='stMain']")


def upload(page, path: Path) -> None:
    page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(path))
    page.get_by_role("button", name=re.compile(r"^Import ")).first.wait_for(timeout=60_000)
    wait_for_app(page)


def values(db: Path, server) -> dict:
    """The plan's current actuals, read once the app has let the file go."""
    from kpi_core.adapters.store import open_store

    stop_server(server)
    store = open_store(db)
    try:
        return store.actual_values(1)
    finally:
        store.close()


@pytest.mark.e2e
def test_a_deal_list_is_mapped_and_imported_without_a_mapping_file(sales_server, page_factory, shot):
    url, db, server = sales_server
    page = page_factory("en-US")
    for width, height in ((1440, 900), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{url}/import?lang=en&plan=1")
        wait_for_app(page)
        upload(page, SAMPLES / "sales_sfa_deals_cp932.csv")
        text = main_text(page)
        assert "Shift_JIS (CP932)" in text and "Traceback" not in text
        assert page.locator("[data-testid='stException']").count() == 0
        shot(page, f"import_deals_mapped_{width}")
    button = page.get_by_role("button", name=re.compile(r"^Import \d+ values?$")).first
    button.scroll_into_view_if_needed()
    shot(page, "import_deals_commit_1920")
    button.click()
    page.locator("[data-testid='stMain']").get_by_text(re.compile(r"import #1 saved")).first.wait_for(timeout=60_000)
    imported = values(db, server)
    assert set(imported) >= {"meetings", "revenue", "win_rate", "avg_deal"} and "won" not in imported
    assert imported["meetings"][date(2026, 7, 1)] > 0


@pytest.mark.e2e
def test_a_bad_row_writes_nothing_until_the_user_skips_it(sales_server, page_factory, shot, tmp_path):
    url, db, server = sales_server
    export = tmp_path / "monthly.csv"
    export.write_text("月,有効商談数\n2026/07,44\n2026/08,abc\n2026/09,48\n", encoding="utf-8")
    page = page_factory("en-US")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{url}/import?lang=en&plan=1")
    wait_for_app(page)
    upload(page, export)
    skip = page.get_by_role("button", name="Import the 2 good rows, skip 1")
    skip.wait_for(timeout=30_000)
    assert "1 row is rejected" in main_text(page)
    skip.scroll_into_view_if_needed()
    shot(page, "import_rejected_row_1440")
    page.get_by_role("tab", name=re.compile("Import history")).click()
    page.get_by_text("No file has been imported into this plan yet.").wait_for(timeout=30_000)
    page.get_by_role("tab", name=re.compile("Import a file")).click()
    skip.click()
    page.locator("[data-testid='stMain']").get_by_text(re.compile(r"import #1 saved")).first.wait_for(timeout=60_000)
    assert values(db, server)["meetings"] == {date(2026, 7, 1): 44, date(2026, 9, 1): 48}
