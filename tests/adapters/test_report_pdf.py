"""The shared report rendered for real: the PDF read back as text, its pages, fonts and glyphs; the HTML escaped."""
from __future__ import annotations

from datetime import date

import pytest
from report_pdf_tools import fonts, page_count, pdf_text, uncovered_characters

from kpi_core.domain.model import KPI, Plan
from kpi_core.domain.report import ReportError
from kpi_core.i18n import t
from kpi_core.services.demo import seed_demo
from kpi_core.services.report import render_report

GENERATED = date(2026, 11, 20)


@pytest.fixture
def demo_ja(store, monkeypatch):
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")
    plan = seed_demo(store, today=GENERATED, lang="ja")
    assert plan is not None
    return plan


def _clean(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("lang, figures", [
    ("en", ["¥120.0M", "¥144.0M", "¥24.0M", "Executive report", "Top risks", "Decisions needed"]),
])
def test_executive_pdf_in_english_holds_the_kgi_figures_on_one_page(store, demo_plan, tmp_path, lang, figures):
    pdf = render_report(store, demo_plan, "exec", None, "pdf", lang, generated=GENERATED)
    text = _clean(pdf_text(pdf, tmp_path))
    for figure in figures:
        assert figure in text
    assert page_count(pdf) == 1
    assert fonts(pdf) and all(fonts(pdf).values())
    assert uncovered_characters(pdf, text) == set()


def test_executive_pdf_in_japanese_embeds_noto_sans_cjk_and_has_no_missing_glyph(store, demo_ja, tmp_path):
    pdf = render_report(store, demo_ja, "exec", date(2026, 9, 1), "pdf", "ja", generated=GENERATED)
    text = _clean(pdf_text(pdf, tmp_path))
    for figure in ("1億2,000万円", "1億4,400万円", "2,400万円", "経営層向けレポート", "年間売上", "受注率",
                   "主なリスク", "必要な意思決定", "2026年9月"):
        assert figure in text, figure
    assert page_count(pdf) == 1
    embedded = fonts(pdf)
    assert all(embedded.values()), embedded
    assert any("Noto-Sans-CJK-JP" in name for name in embedded)
    assert not any("Serif" in name for name in embedded), embedded  # the page numbers too are in the sans face
    assert uncovered_characters(pdf, text) == set()


def test_the_report_is_as_of_its_month(store, demo_plan, tmp_path):
    """Demo actuals run April-September 2026; a report of May counts two months of revenue only."""
    may = _clean(pdf_text(render_report(store, demo_plan, "exec", date(2026, 5, 1), "pdf", "en",
                                        generated=GENERATED), tmp_path))
    september = _clean(pdf_text(render_report(store, demo_plan, "exec", date(2026, 9, 1), "pdf", "en",
                                              generated=GENERATED), tmp_path))
    # April 9 wins x ¥1.18M + May 10 x ¥1.22M = ¥22.82M; six months = ¥71.12M
    assert "¥22.8M" in may and "¥71.1M" in september
    assert "Month: May 2026" in may


def test_field_report_lists_each_kpi_target_and_actual_and_the_actions(store, demo_plan, tmp_path):
    pdf = render_report(store, demo_plan, "field", date(2026, 9, 1), "pdf", "en", generated=GENERATED)
    text = _clean(pdf_text(pdf, tmp_path))
    assert "Field report" in text
    for kpi in store.list_kpis(demo_plan.id):
        assert kpi.name in text
    assert "51 meetings" in text or "51" in text  # September: 51 qualified meetings
    open_action = store.list_checkins(demo_plan.id)[0]
    assert open_action.next_action[:20] in text
    assert open_action.owner in text
    assert f"{open_action.due:%Y-%m-%d}" in text
    assert all(fonts(pdf).values())
    assert uncovered_characters(pdf, text) == set()


def test_html_escapes_plan_text_and_is_self_contained(store, demo_plan):
    kpi = store.list_kpis(demo_plan.id)[0]
    kpi.name = '<script>alert("x")</script> & co'
    store.save_kpi(kpi, None)
    document = render_report(store, demo_plan, "field", None, "html", "en", generated=GENERATED).decode("utf-8")
    assert "<script>" not in document
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in document
    assert "http://" not in document and "https://" not in document
    assert "data:image/svg+xml;base64," in render_report(store, demo_plan, "exec", None, "html", "en",
                                                         generated=GENERATED).decode("utf-8")


def test_an_empty_plan_reports_without_failing(store, tmp_path):
    plan = store.create_plan(Plan(name="Empty", fiscal_start=date(2026, 4, 1)))
    for audience in ("exec", "field"):
        text = _clean(pdf_text(render_report(store, plan, audience, None, "pdf", "en", generated=GENERATED),
                               tmp_path))
        assert t("report.no_kgi", "en") in text


def test_a_plan_of_twenty_kpis_still_fits_the_executive_page(store, demo_plan):
    for n in range(17):
        store.save_kpi(KPI(plan_id=demo_plan.id, key=f"extra_{n}", name=f"Extra KPI number {n}", unit="件",
                           annual_target=100.0), None)
    assert page_count(render_report(store, demo_plan, "exec", None, "pdf", "en", generated=GENERATED)) == 1


def test_bad_requests_name_what_is_wrong(store, demo_plan):
    with pytest.raises(ReportError) as month:
        render_report(store, demo_plan, "exec", date(2030, 1, 1), "pdf", "en")
    assert month.value.key == "report.error.month_outside"
    with pytest.raises(ReportError) as audience:
        render_report(store, demo_plan, "board", None, "pdf", "en")
    assert audience.value.key == "report.error.audience"
    with pytest.raises(ReportError) as fmt:
        render_report(store, demo_plan, "exec", None, "docx", "en")
    assert fmt.value.key == "report.error.format"


def test_a_wide_tree_is_laid_out_left_to_right_in_the_report(store, demo_plan):
    """Beyond six KPIs the tree's KPIs stack (rankdir=LR) instead of shrinking into one row."""
    from kpi_core.adapters.report.html import WIDE_TREE_KPIS
    from kpi_core.domain.tree import TreeInput, kpi_tree_dot

    kgi, csfs, kpis = store.get_kgi(demo_plan.id), store.list_csfs(demo_plan.id), store.list_kpis(demo_plan.id)
    assert "rankdir=TB" in kpi_tree_dot(TreeInput(kgi, csfs, kpis, {}), "en")
    assert "rankdir=LR" in kpi_tree_dot(TreeInput(kgi, csfs, kpis, {}), "en", rankdir="LR")
    with pytest.raises(ValueError):
        kpi_tree_dot(TreeInput(kgi, csfs, kpis, {}), "en", rankdir="BT; x")
    assert len(kpis) <= WIDE_TREE_KPIS
