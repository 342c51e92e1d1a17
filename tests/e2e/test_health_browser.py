"""Health page in a real browser on the demo plan, both languages, at 1440x900 and 1920x1080: findings with their
figures, a link to the step that fixes each, and a click through to that step."""
from __future__ import annotations

import pytest

from .conftest import start_server, stop_server, wait_for_app, warm_up

SIZES = [(1440, 900), (1920, 1080)]


@pytest.fixture(scope="module")
def health_server(tmp_path_factory, browser):
    path = tmp_path_factory.mktemp("health") / "demo.duckdb"
    process, url = start_server(path, demo=True)
    warm_up(browser, url)
    yield url
    stop_server(process)


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_health_page_in_the_browser(health_server, browser, shot, lang):
    for width, height in SIZES:
        context = browser.new_context(locale="ja-JP" if lang == "ja" else "en-US",
                                      viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{health_server}/health?lang={lang}")
        wait_for_app(page)
        main = page.inner_text("[data-testid='stMain']")
        assert page.locator("[data-testid='stException']").count() == 0
        assert "Traceback" not in main
        assert ("Health check" if lang == "en" else "ヘルスチェック") in main
        assert ("Fix in Step 5 PDCA" if lang == "en" else "ステップ5 PDCAで直す") in main
        shot(page, f"health_{lang}_{width}")
        for part in range(1, 5):  # the main area scrolls inside the page: one screenshot per screenful
            page.mouse.move(width // 2, height // 2)
            page.mouse.wheel(0, height - 100)
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
            shot(page, f"health_{lang}_{width}_part{part}")
        context.close()


@pytest.mark.e2e
def test_fix_button_opens_the_step(health_server, page_factory):
    page = page_factory("en-US")
    page.goto(f"{health_server}/health?lang=en")
    wait_for_app(page)
    page.get_by_role("link", name="Fix in Step 5 PDCA").first.click()
    page.wait_for_url("**/pdca**")
    wait_for_app(page)
    assert "Step 5" in page.inner_text("[data-testid='stMain']")
