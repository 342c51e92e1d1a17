"""The Report page and printing in a real browser: preview and PDF download, and pages printed without the
sidebar, with the plan name and date on top. Screenshots (1440x900, 1920x1080) and the printed pages as PNG go to
tests/e2e/screenshots/ for review."""
from __future__ import annotations

import subprocess

import pytest

from kpi_core.i18n import t

from .conftest import SCREENSHOTS, start_server, stop_server, wait_for_app, warm_up


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory, browser):
    process, url = start_server(tmp_path_factory.mktemp("report") / "demo.duckdb", demo=True)
    warm_up(browser, url)
    yield url
    stop_server(process)


def _pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.e2e
@pytest.mark.parametrize("lang, title", [("en", "Executive report"), ("ja", "経営層向けレポート")])
def test_report_page_previews_and_downloads_the_pdf(demo_server, page_factory, shot, tmp_path, lang, title):
    page = page_factory("ja-JP" if lang == "ja" else "en-US")
    for width, height in ((1440, 900), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{demo_server}/report?lang={lang}")
        wait_for_app(page)
        assert page.locator("[data-testid='stException']").count() == 0
        # Built on demand: each visit is a new session, with the preview off.
        page.locator("[data-testid='stCheckbox']").get_by_text(t("report.page.show_preview", lang)).click()
        preview = page.frame_locator("[data-testid='stIFrame']")
        preview.get_by_text(title).first.wait_for()
        shot(page, f"report_{lang}_{width}")
    button = page.locator("[data-testid='stDownloadButton'] button").first
    with page.expect_download() as download:
        button.click()
    path = tmp_path / "report.pdf"
    download.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF")
    assert title in _pdf_text(path)


@pytest.mark.e2e
@pytest.mark.parametrize("slug", ["overview", "kgi"])  # the dashboard lives at /overview
def test_pages_print_without_the_sidebar_and_with_the_plan_name(demo_server, page_factory, tmp_path, slug):
    page = page_factory("en-US")
    page.goto(f"{demo_server}/{slug}?lang=en")
    wait_for_app(page)
    page.emulate_media(media="print")
    path = tmp_path / f"{slug}.pdf"
    page.pdf(path=str(path), format="A4", landscape=True, print_background=True, prefer_css_page_size=True)
    text = _pdf_text(path)
    # the demo plan is seeded in the language of the first session (the warm-up's browser: English)
    assert "KPI Workbench · Demo: sales revenue +20 % · printed 20" in text
    for sidebar_text in ("Setup progress", "Show full digits"):
        assert sidebar_text not in text
    SCREENSHOTS.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(SCREENSHOTS / f"print_{slug}")], check=True)
    screen = page.evaluate("() => getComputedStyle(document.querySelector('.st-key-print_header')).display")
    assert screen == "block"
    page.emulate_media(media="screen")
    assert page.evaluate("() => getComputedStyle(document.querySelector('.st-key-print_header')).display") == "none"
