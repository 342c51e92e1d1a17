"""Every page renders without an exception in both languages, on an empty database and on the demo plan."""
from __future__ import annotations

import pytest
from apptest_text import rendered_text

from kpi_core import i18n
from pages.frame import PAGES as PAGE_TABLE

PAGES = [spec.path for spec in PAGE_TABLE]


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("page", PAGES)
def test_page_on_empty_database(make_app, page, lang):
    at = make_app(page, lang=lang)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title or at.info, "a title, or a pointer to where to start"


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("page", PAGES)
def test_page_on_demo_plan(make_app, demo_plan, page, lang):
    at = make_app(page, lang=lang, plan_id=demo_plan.id)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert i18n.t("frame.page_failed", lang) not in rendered_text(at), "the page guard caught a failure"


def test_demo_gap_shows_24m_and_20_percent(make_app, demo_plan):
    plan = demo_plan
    at = make_app("pages/step2_gap.py", lang="en", plan_id=plan.id)
    gap = next(m for m in at.metric if m.label == "Gap to close")
    assert gap.value == "¥24.0M" and gap.delta == "+20.0%"
    at_ja = make_app("pages/step2_gap.py", lang="ja", plan_id=plan.id)
    gap_ja = next(m for m in at_ja.metric if m.label == "埋めるべきギャップ")
    assert gap_ja.value == "2,400万円" and gap_ja.delta == "+20.0%"
    target_ja = next(m for m in at_ja.metric if m.label == "目標")
    assert target_ja.value == "1.44億円" and "144,000,000円" in target_ja.help  # compact tile, full digits on hover


def test_full_digits_toggle_shows_exact_gap(make_app, demo_plan):
    plan = demo_plan
    at = make_app("pages/step2_gap.py", lang="en", plan_id=plan.id)
    at.sidebar.toggle[0].set_value(True).run()
    gap = next(m for m in at.metric if m.label == "Gap to close")
    assert gap.value == "¥24,000,000"
