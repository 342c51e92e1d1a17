"""The page frame: one table of pages, the plan named under every title, the top-level guard, the error base."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, assert_clean

from kpi_core import i18n
from kpi_core.domain.model import Plan
from pages import frame
from pages.frame import PAGES


def test_the_table_lists_the_five_steps_first_then_the_loop_pages_and_plans_last():
    assert [spec.module for spec in PAGES] == [
        "pages.step1_kgi", "pages.step2_gap", "pages.step3_csf", "pages.step4_kpi", "pages.step5_pdca",
        "pages.actuals", "pages.dashboard", "pages.health_check", "pages.reports", "pages.workshop_host", "pages.plans"]
    assert [spec.step for spec in frame.STEPS] == [1, 2, 3, 4, 5]
    assert [spec for spec in PAGES if spec.default] == [frame.BY_SLUG[frame.START]]


def test_every_row_names_a_page_with_render_a_material_icon_and_translated_titles():
    for spec in PAGES:
        module = __import__(spec.module, fromlist=["render"])
        assert callable(module.render), spec.module
        assert (ROOT / spec.path).is_file(), spec.path
        assert spec.icon.startswith(":material/") and spec.icon.endswith(":"), spec.icon
        for lang in i18n.LANGUAGES:
            for key in filter(None, (spec.title_key, spec.group_key, spec.intro_key)):
                assert key in i18n.catalogue(lang), (lang, key)


def test_no_url_path_is_the_name_of_a_file_in_pages():
    """Streamlit's first run in a process would run that file on its own, outside the frame."""
    stems = {path.stem for path in (ROOT / "pages").glob("*.py")}
    slugs = [spec.slug for spec in PAGES]
    assert len(set(slugs)) == len(slugs)
    assert not stems & set(slugs)


def test_streamlit_config_hides_the_deploy_button_and_developer_menu():
    import tomllib

    config = tomllib.loads(Path(ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["toolbarMode"] in ("viewer", "minimal")


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("page", [spec.path for spec in PAGES if spec.needs_plan])
def test_every_page_names_the_plan_under_its_title(make_app, store, page, lang):
    plan = store.create_plan(Plan(name="Sales *FY2026*"))
    at = make_app(page, lang=lang, plan_id=plan.id)
    assert_clean(at)
    captions = [c.value for c in at.main.caption]
    assert i18n.t("frame.plan_caption", lang, name="Sales \\*FY2026\\*") in captions, captions


def test_an_unexpected_failure_is_logged_and_shown_as_a_message_not_a_traceback(make_app, store, monkeypatch, caplog):
    import pages.step2_gap

    def broken(ctx):
        raise RuntimeError("engine detail that must not reach the screen")

    monkeypatch.setattr(pages.step2_gap, "render", broken)
    plan = store.create_plan(Plan(name="Sales"))
    at = make_app("pages/step2_gap.py", lang="en", plan_id=plan.id)
    assert not at.exception
    assert [e.value for e in at.error] == [i18n.t("frame.page_failed", "en")]
    assert "engine detail" in caplog.text, "the traceback goes to the log"
    assert at.title, "the frame still draws the title and the step links"


def test_a_workbench_error_escaping_a_page_is_shown_in_the_users_language(make_app, store, monkeypatch):
    import pages.step2_gap
    from kpi_core.adapters.store import NotFound

    def missing(ctx):
        raise NotFound(plan_id=ctx.plan.id)

    monkeypatch.setattr(pages.step2_gap, "render", missing)
    plan = store.create_plan(Plan(name="Sales"))
    at = make_app("pages/step2_gap.py", lang="ja", plan_id=plan.id)
    assert [e.value for e in at.error] == [i18n.t("store.not_found", "ja")]


def test_a_conflict_keeps_the_typed_value_until_reload_then_shows_the_other_persons(make_app, store):
    from kpi_core.domain.model import KGI

    plan = store.create_plan(Plan(name="Sales"))
    store.save_kgi(KGI(plan_id=plan.id, name="Revenue", baseline=100, target=120), None)
    at = make_app("pages/step1_kgi.py", lang="en", plan_id=plan.id)
    theirs = store.get_kgi(plan.id)
    theirs.name = "Revenue (saved in the other tab)"
    store.save_kgi(theirs, store.get_plan(plan.id).version)  # someone else saves after this screen was drawn

    at.text_input(key=f"kgi_name_{plan.id}").input("Revenue (mine)")
    next(b for b in at.button if b.proto.is_form_submitter).click()
    at.run()
    conflict = i18n.t("store.version_conflict", "en")
    assert [e.value for e in at.error] == [conflict]
    assert store.get_kgi(plan.id).name == "Revenue (saved in the other tab)", "nothing overwritten"
    assert at.text_input(key=f"kgi_name_{plan.id}").value == "Revenue (mine)", "what I typed is still there"

    next(b for b in at.button if b.proto.is_form_submitter).click()  # saving again is refused again
    at.run()
    assert [e.value for e in at.error] == [conflict]
    assert store.get_kgi(plan.id).name == "Revenue (saved in the other tab)"

    at.button(key=f"reload_{plan.id}").click().run()
    assert_clean(at)
    name = at.text_input(key=f"kgi_name_{plan.id}_g1")  # a new key: the browser draws the field afresh
    assert name.value == "Revenue (saved in the other tab)"
    name.input("Revenue (mine, after seeing theirs)")
    next(b for b in at.button if b.proto.is_form_submitter).click()
    at.run()
    assert_clean(at)
    assert store.get_kgi(plan.id).name == "Revenue (mine, after seeing theirs)"


def test_metric_colours_follow_the_direction():
    from pages.common import delta_colour

    assert delta_colour("down") == "inverse" and delta_colour("up") == "normal"
