"""Report page (AppTest): both languages, empty database and the demo plan; preview, downloads, plan-file import."""
from __future__ import annotations

import pytest
from apptest_text import rendered_text

from kpi_core.i18n import t
from kpi_core.services.plan_file import export_plan_file

PAGE = "pages/reports.py"


def _preview(at, plan_id: int) -> str:
    """Ask for the preview (it is built on demand) and return the document shown."""
    at.toggle(key=f"report_preview_{plan_id}").set_value(True).run()
    assert not at.exception
    frames = at.get("iframe")
    assert len(frames) == 1
    return str(frames[0].proto.src or frames[0].proto.srcdoc)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_empty_database_offers_the_import_only(make_app, lang):
    at = make_app(PAGE, lang=lang)
    assert not at.exception
    text = rendered_text(at)
    assert t("page.report", lang) in text and t("common.no_plan", lang) in text
    assert t("report.page.import.title", lang) in text
    assert not at.get("iframe") and not at.get("download_button")


@pytest.mark.parametrize("lang, figure", [("en", "¥144.0M"), ("ja", "1億4,400万円")])
def test_demo_plan_previews_the_executive_report_with_four_downloads(make_app, demo_plan, lang, figure):
    at = make_app(PAGE, lang=lang, plan_id=demo_plan.id)
    assert not at.exception
    assert not at.get("iframe")  # not drawn until asked for: every click on the page would wait for it
    preview = _preview(at, demo_plan.id)
    assert t("report.title.exec", lang) in preview and figure in preview
    assert at.selectbox(key=f"report_month_{demo_plan.id}").value == demo_plan.month_list()[5]  # latest actuals
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [t(f"report.page.download.{f}", lang) for f in ("pdf", "html", "xlsx", "yaml")]


def test_field_audience_and_another_month(make_app, demo_plan):
    at = make_app(PAGE, lang="en", plan_id=demo_plan.id)
    at.radio(key=f"report_audience_{demo_plan.id}").set_value("field").run()
    at.selectbox(key=f"report_month_{demo_plan.id}").select_index(1).run()
    assert not at.exception
    preview = _preview(at, demo_plan.id)
    assert "Field report" in preview and "Month: May 2026" in preview


def test_a_plan_file_imports_as_a_new_plan_and_a_broken_one_is_named(make_app, demo_plan, store):
    text = export_plan_file(store, demo_plan)
    at = make_app(PAGE, lang="en", plan_id=demo_plan.id)
    broken = text.replace("months: 12", "months: twelve")
    at.file_uploader(key="plan_file_upload").set_value(("plan.yaml", broken.encode("utf-8"),
                                                        "application/x-yaml")).run()
    at.button(key="plan_file_import").click().run()
    assert not at.exception
    assert any("plan.months: Expected a number, found twelve." in e.value for e in at.error)
    assert len(store.list_plans()) == 1
    at.file_uploader(key="plan_file_upload").set_value(("plan.yaml", text.encode("utf-8"), "application/x-yaml")).run()
    at.text_input(key="plan_file_name").input("Copied plan").run()
    at.button(key="plan_file_import").click().run()
    assert not at.exception
    assert [p.name for p in store.list_plans()] == [demo_plan.name, "Copied plan"]
