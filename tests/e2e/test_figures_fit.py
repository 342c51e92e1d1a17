"""No st.metric figure (value or delta) is clipped, at 1280-1920 px and at 150 % zoom, in ja and en, on the demo plan and on a plan
whose figures run into the tens of billions of yen.

Browser zoom at 150 % shrinks the CSS viewport by 1.5 (1280 px -> 853 CSS px), so zoom is tested as that CSS
width with a device scale factor of 1.5; the layout is re-measured after each resize.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from kpi_core.adapters.store import open_store
from kpi_core.domain.model import Actual
from kpi_core.services.demo import seed_demo

from .conftest import SCREENSHOTS, next_frame, start_server, stop_server, wait_for_app, warm_up

PAGES = ["kgi", "gap", "csf", "kpi", "pdca", "overview"]
# (CSS width, height, what a user sees it as)
WIDTHS = [(1920, 1080, "1920"), (1440, 900, "1440"), (1280, 800, "1280"),
          (1280 * 2 // 3, 600, "1280@150"), (1440 * 2 // 3, 600, "1440@150")]
BIG_FACTOR = 97.3  # revenue of ~¥1.2 billion a month, a KGI of ¥14.0 billion

_CLIPPED_JS = """() => {
    const clipped = [];
    const figures = '[data-testid="stMetricValue"], [data-testid="stMetricDelta"]';
    for (const value of document.querySelectorAll(figures)) {
        for (const el of [value, ...value.querySelectorAll('*')]) {
            if (el.scrollWidth > el.clientWidth + 1) {
                clipped.push(value.innerText + ' (' + el.scrollWidth + '>' + el.clientWidth + ')');
                break;
            }
        }
    }
    return {count: document.querySelectorAll(figures).length, clipped};
}"""


def _seed(path, big: bool) -> None:
    store = open_store(path)
    try:
        plan = seed_demo(store, today=date(2026, 11, 20), lang="ja")
        if big:
            kgi = store.get_kgi(plan.id)
            store.save_kgi(replace(kgi, target=kgi.target * BIG_FACTOR + 12_345_678,
                                   current=kgi.current * BIG_FACTOR), None)
            actuals = store.actual_values(plan.id)
            store.save_actuals(plan.id, [Actual(key, month, value * BIG_FACTOR + 33_333)
                                         for key in ("revenue", "avg_deal")
                                         for month, value in actuals[key].items()], source="seed")
    finally:
        store.close()


@pytest.fixture(scope="module", params=["demo", "big"])
def plan_server(request, tmp_path_factory, browser):
    path = tmp_path_factory.mktemp(request.param) / "figures.duckdb"
    _seed(path, big=request.param == "big")
    process, url = start_server(path, demo=False)
    warm_up(browser, url)
    yield request.param, url
    stop_server(process)


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_metric_figure_is_clipped(plan_server, browser, lang):
    name, url = plan_server
    SCREENSHOTS.mkdir(exist_ok=True)
    context = browser.new_context(locale="ja-JP" if lang == "ja" else "en-US",
                                  viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.set_default_timeout(30_000)
    clipped, measured = [], 0
    try:
        for slug in PAGES:
            page.set_viewport_size({"width": 1920, "height": 1080})
            page.goto(f"{url}/{slug}?lang={lang}")
            wait_for_app(page)
            for width, height, label in WIDTHS:
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_function(f"() => window.innerWidth === {width}")
                next_frame(page)  # the layout pass after the resize
                found = page.evaluate(_CLIPPED_JS)
                measured += found["count"]
                clipped += [f"{slug} {label}: {text}" for text in found["clipped"]]
                if label in ("1440", "1280@150"):
                    page.screenshot(path=str(SCREENSHOTS / f"figures_{name}_{lang}_{slug}_{label}.png"),
                                    full_page=True)
    finally:
        context.close()
    assert measured > 40
    assert not clipped, clipped
