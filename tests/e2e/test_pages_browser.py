"""Every page in a real browser, in both languages, on the demo plan: no exception box, screenshots for review."""
from __future__ import annotations

import pytest

from pages.frame import PAGES

from .conftest import start_server, stop_server, wait_for_app, warm_up

SLUGS = ["", *(spec.slug for spec in PAGES)]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory, browser):
    process, url = start_server(tmp_path_factory.mktemp("demo") / "demo.duckdb", demo=True)
    warm_up(browser, url)
    yield url
    stop_server(process)


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_page_renders_in_the_browser(demo_server, page_factory, shot, lang):
    page = page_factory("ja-JP" if lang == "ja" else "en-US")
    for slug in SLUGS:
        page.goto(f"{demo_server}/{slug}?lang={lang}")
        wait_for_app(page)
        assert page.locator("[data-testid='stException']").count() == 0, slug
        assert page.locator("[data-testid='stMain'] [data-testid='stAlertContentError']").count() == 0, slug
        assert page.get_by_text("Page not found").count() == 0, slug
        shot(page, f"demo_{lang}_{slug or 'plans'}")


@pytest.mark.e2e
def test_browser_locale_picks_the_language(demo_server, page_factory):
    page = page_factory("ja-JP")
    page.goto(f"{demo_server}/kgi")
    wait_for_app(page)
    assert "ステップ1" in page.inner_text("[data-testid='stMain']")
    english = page_factory("en-GB")
    english.goto(f"{demo_server}/kgi")
    wait_for_app(english)
    assert "Step 1" in english.inner_text("[data-testid='stMain']")
