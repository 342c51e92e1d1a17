"""The Plans page through AppTest: welcome, plan list, blank plans, rename, duplicate, archive, delete, restore,
template gallery (create from each template, scaled baseline, broken files) and saving a plan as a template."""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml
from conftest import assert_clean, assert_no_exception

from kpi_core.adapters import templates as templates_module
from kpi_core.adapters.templates import load_templates
from kpi_core.domain.model import KGI, Plan, PlanStatus
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.i18n import t

BUILT_IN = sorted(p.stem for p in templates_module.TEMPLATE_DIR.glob("*.yaml"))


@pytest.fixture(autouse=True)
def template_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the built-in templates, so saving a user template never writes into the checkout."""
    folder = tmp_path / "templates"
    folder.mkdir()
    for path in templates_module.TEMPLATE_DIR.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    monkeypatch.setattr(templates_module, "TEMPLATE_DIR", folder)
    return folder


def _texts(at) -> str:
    """Everything a user reads on the page (markdown, captions, headers, alerts), one string."""
    parts = [e.value for group in (at.markdown, at.caption, at.title, at.header, at.subheader, at.info, at.warning,
                                   at.error, at.success) for e in group]
    return "\n".join(str(p) for p in parts)


def _button(at, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}: {[b.label for b in at.button]}"
    return matches[0]


def _sales_plan(store, name: str = "Sales FY2026") -> Plan:
    plan = store.create_plan(Plan(name=name, department="Sales", fiscal_start=date(2026, 4, 1)))
    store.save_kgi(KGI(plan_id=plan.id, name="Revenue", baseline=120e6, target=144e6, deadline=date(2027, 3, 31),
                       formula="meetings * win_rate * avg_deal"), None)
    return store.get_plan(plan.id)


# ---------------------------------------------------------------- rendering
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_empty_database_shows_welcome_and_blank_form(make_app, store, lang: str) -> None:
    at = make_app(lang=lang)
    assert_clean(at)
    text = _texts(at)
    assert t("plans.welcome.title", lang) in text
    assert t("plans.welcome.start", lang) in text
    assert t("plans.list.title", lang) not in text  # no list without plans
    assert _button(at, t("plans.blank.submit", lang))
    assert "plans_manage_plan" not in [s.key for s in at.selectbox]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_plan_list_shows_period_status_progress_and_current(make_app, store, lang: str) -> None:
    sales = _sales_plan(store)
    store.create_plan(Plan(name="HR FY2026", department="HR", fiscal_start=date(2026, 4, 1)))
    at = make_app(lang=lang, plan_id=sales.id)
    assert_clean(at)
    text = _texts(at)
    assert "**Sales FY2026**" in text and "**HR FY2026**" in text
    assert "2026-04 – 2027-03" in text
    assert t("enum.plan_status.draft", lang) in text
    assert t("plans.list.current", lang) in text
    assert [p.text for p in at.main.get("progress")] == ["0/5", "1/5"]  # newest first
    assert len([b for b in at.button if b.label == t("plans.list.open", lang)]) == 2


def test_open_selects_the_plan_and_goes_to_step_one(make_app, store) -> None:
    first = _sales_plan(store)
    second = store.create_plan(Plan(name="HR FY2026"))
    at = make_app(plan_id=first.id)
    at.button(key=f"plans_open_{second.id}").click().run()
    assert_clean(at)
    assert at.session_state["plan_id"] == second.id
    assert t("plans.welcome.title", "en") not in _texts(at)  # left the Plans page


def test_many_plans_get_a_search_box(make_app, store) -> None:
    for i in range(8):
        store.create_plan(Plan(name=f"Plan {i}", department="Sales" if i % 2 else "HR"))
    at = make_app()
    at.text_input(key="plans_search").input("hr").run()
    assert_clean(at)
    assert len([b for b in at.button if b.key and b.key.startswith("plans_open_")]) == 4


# ---------------------------------------------------------------- blank plan
def _fill_blank(at, name: str, department: str = "Sales", months: int = 12):
    at.text_input(key="plans_blank_name").input(name)
    at.text_input(key="plans_blank_department").input(department)
    at.number_input(key="plans_blank_months").set_value(months)
    return at


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_create_blank_plan_stores_and_selects_it(make_app, store, lang: str) -> None:
    at = _fill_blank(make_app(lang=lang), "営業部 2026年度", months=6)
    at.selectbox(key="plans_blank_currency").set_value("USD")
    _button(at, t("plans.blank.submit", lang)).click().run()
    assert_clean(at)
    [plan] = store.list_plans()
    assert (plan.name, plan.department, plan.months, plan.currency) == ("営業部 2026年度", "Sales", 6, "USD")
    assert plan.fiscal_start.month == 4 and plan.fiscal_start.day == 1
    assert at.session_state["plan_id"] == plan.id


@pytest.mark.parametrize(("lang", "name", "key"), [
    ("ja", "", "check.name_empty"),
    ("en", "   ", "check.name_empty"),
    ("ja", "x" * 10_000, "check.name_too_long"),
    ("en", "x" * 10_000, "check.name_too_long"),
])
def test_invalid_name_shows_message_and_stores_nothing(make_app, store, lang: str, name: str, key: str) -> None:
    at = _fill_blank(make_app(lang=lang), name)
    _button(at, t("plans.blank.submit", lang)).click().run()
    assert_no_exception(at)
    assert [e.value for e in at.error] == [t(key, lang, length=len(name.strip()), max=200)]
    assert store.list_plans() == []


def test_script_name_is_stored_as_text_and_shown_as_text(make_app, store) -> None:
    name = "<script>alert('x')</script>"
    at = _fill_blank(make_app(), name)
    _button(at, t("plans.blank.submit", "en")).click().run()
    [plan] = store.list_plans()
    assert plan.name == name
    at = make_app(plan_id=plan.id)
    assert_clean(at)
    shown = [m.value for m in at.markdown if "script" in m.value]
    assert shown and all("<script>" not in value for value in shown)
    assert any(r"\<script\>" in value for value in shown)


# ---------------------------------------------------------------- manage
def test_rename_saves_name_and_department(make_app, store) -> None:
    plan = _sales_plan(store)
    at = make_app(plan_id=plan.id)
    at.text_input(key=f"plans_rename_name_{plan.id}").input("Sales FY2026 (revised)")
    at.text_input(key=f"plans_rename_department_{plan.id}").input("Sales east")
    _button(at, t("plans.rename.submit", "en")).click().run()
    assert_clean(at)
    renamed = store.get_plan(plan.id)
    assert (renamed.name, renamed.department) == ("Sales FY2026 (revised)", "Sales east")
    assert renamed.version == plan.version + 1
    assert "**Sales FY2026 \\(revised\\)**" in _texts(at)


def test_rename_after_someone_else_saved_is_a_conflict(make_app, store) -> None:
    plan = _sales_plan(store)
    at = make_app(plan_id=plan.id)
    store.update_plan(Plan(**{**plan.__dict__, "department": "changed elsewhere"}), plan.version)
    at.text_input(key=f"plans_rename_name_{plan.id}").input("Mine")
    _button(at, t("plans.rename.submit", "en")).click().run()
    assert [e.value for e in at.error] == [t("store.version_conflict", "en")]
    assert store.get_plan(plan.id).name == "Sales FY2026"


def test_rename_to_empty_is_refused(make_app, store) -> None:
    plan = _sales_plan(store)
    at = make_app(lang="ja", plan_id=plan.id)
    at.text_input(key=f"plans_rename_name_{plan.id}").input("")
    _button(at, t("plans.rename.submit", "ja")).click().run()
    assert [e.value for e in at.error] == [t("check.name_empty", "ja")]
    assert store.get_plan(plan.id).name == "Sales FY2026"


def test_duplicate_copies_the_design_and_selects_the_copy(make_app, store) -> None:
    plan = _sales_plan(store)
    at = make_app(lang="ja", plan_id=plan.id)
    assert at.text_input(key=f"plans_duplicate_name_{plan.id}").value == "Sales FY2026 （コピー）"
    at.button(key=f"plans_duplicate_{plan.id}").click().run()
    assert_clean(at)
    plans = store.list_plans()
    assert [p.name for p in plans] == ["Sales FY2026", "Sales FY2026 （コピー）"]
    copy = plans[1]
    assert store.get_kgi(copy.id).formula == "meetings * win_rate * avg_deal"
    assert at.session_state["plan_id"] == copy.id
    assert at.selectbox(key="plans_manage_plan").value == copy.id


def test_archive_hides_the_plan_and_unarchive_brings_it_back(make_app, store) -> None:
    plan = _sales_plan(store)
    other = store.create_plan(Plan(name="HR FY2026"))
    at = make_app(plan_id=other.id)
    at.selectbox(key="plans_manage_plan").set_value(plan.id).run()
    at.button(key=f"plans_archive_{plan.id}").click().run()
    assert_clean(at)
    assert store.get_plan(plan.id).status == PlanStatus.ARCHIVED
    assert [p.id for p in store.list_plans(include_archived=False)] == [other.id]
    assert f"plans_open_{plan.id}" not in [b.key for b in at.button]  # hidden from the list by default
    at.toggle(key="plans_show_archived").set_value(True).run()
    assert f"plans_open_{plan.id}" in [b.key for b in at.button]
    at.button(key=f"plans_unarchive_{plan.id}").click().run()
    assert_clean(at)
    assert store.get_plan(plan.id).status == PlanStatus.DRAFT


def test_delete_needs_confirmation_then_restore_brings_it_back(make_app, store) -> None:
    plan = _sales_plan(store)
    at = make_app(lang="ja", plan_id=plan.id)
    at.button(key=f"plans_delete_{plan.id}").click().run()
    assert [w.value for w in at.warning] == [t("plans.delete.need_confirm", "ja")]
    assert store.get_plan(plan.id).name == "Sales FY2026"  # not deleted

    at.checkbox(key=f"plans_delete_confirm_{plan.id}").check()
    at.button(key=f"plans_delete_{plan.id}").click().run()
    assert_clean(at)
    assert store.list_plans() == []
    assert [p.id for p in store.deleted_plans()] == [plan.id]
    assert t("plans.welcome.start", "ja") in _texts(at)  # back to the empty state
    assert "plan_id" not in at.session_state

    at.button(key=f"plans_restore_{plan.id}").click().run()
    assert_clean(at)
    assert [p.id for p in store.list_plans()] == [plan.id]
    assert store.deleted_plans() == []
    assert not at.checkbox(key=f"plans_delete_confirm_{plan.id}").value  # must be confirmed again


# ---------------------------------------------------------------- templates
def _template_form(at, template_id: str, lang: str):
    form_button = [b for b in at.button if b.key and b.key.startswith(f"FormSubmitter:plans_tpl_form_{template_id}-")]
    assert len(form_button) == 1 and form_button[0].label == t("plans.template.submit", lang)
    return form_button[0]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_gallery_shows_a_card_per_template(make_app, store, lang: str) -> None:
    at = make_app(lang=lang)
    assert_clean(at)
    templates, errors = load_templates()
    assert errors == [] and sorted(tpl.id for tpl in templates) == BUILT_IN
    text = _texts(at)
    kgi_cards = {m.label.split(" · ", 1)[-1]: m.value for m in at.metric}
    for template in templates:
        _template_form(at, template.id, lang)
        assert markdown_text(template.text(template.kgi.name, lang)) in kgi_cards
    assert len(at.get("graphviz_chart")) == len(templates)
    assert kgi_cards["年間売上" if lang == "ja" else "Annual revenue"] == ("1.44億円" if lang == "ja" else "¥144.0M")
    assert t("plans.template.per_month", lang, value="50 件" if lang == "ja" else "50 meetings") in text


@pytest.mark.parametrize(("template_id", "lang"), [(tid, lang) for tid in BUILT_IN for lang in ("ja", "en")])
def test_create_from_each_template(make_app, store, template_id: str, lang: str) -> None:
    at = make_app(lang=lang)
    at.text_input(key=f"plans_tpl_name_{template_id}").input(f"My {template_id} plan")
    _template_form(at, template_id, lang).click().run()
    assert_clean(at)
    [plan] = store.list_plans()
    template = next(tpl for tpl in load_templates()[0] if tpl.id == template_id)
    assert (plan.name, plan.template) == (f"My {template_id} plan", template_id)
    assert plan.fiscal_start.month == 4
    kgi = store.get_kgi(plan.id)
    assert kgi.name == template.text(template.kgi.name, lang) and kgi.target == template.kgi.target
    assert [k.key for k in store.list_kpis(plan.id)] == [k.key for k in template.kpis]
    assert at.session_state["plan_id"] == plan.id


def test_create_from_template_scaled_to_my_baseline(make_app, store) -> None:
    at = make_app(lang="ja")
    at.text_input(key="plans_tpl_baseline_sales").input("6000万")
    _template_form(at, "sales", "ja").click().run()
    assert_clean(at)
    [plan] = store.list_plans()
    kgi = store.get_kgi(plan.id)
    assert (kgi.baseline, kgi.target) == (60_000_000, 72_000_000)  # same +20 % on half the size
    assert plan.name == "営業（売上拡大）"  # blank name: the template's name
    meetings = next(k for k in store.list_kpis(plan.id) if k.key == "meetings")
    assert meetings.annual_target == 300  # 25 a month instead of 50


@pytest.mark.parametrize(("baseline", "lang"), [("abc", "en"), ("-5", "ja"), ("0", "en")])
def test_bad_baseline_is_refused_and_nothing_is_created(make_app, store, baseline: str, lang: str) -> None:
    at = make_app(lang=lang)
    at.text_input(key="plans_tpl_baseline_marketing").input(baseline)
    _template_form(at, "marketing", lang).click().run()
    assert_no_exception(at)
    assert [e.value for e in at.error] == [t("plans.template.baseline_invalid", lang)]
    assert store.list_plans() == [] and store.deleted_plans() == []


def test_template_name_too_long_is_refused(make_app, store) -> None:
    at = make_app()
    at.text_input(key="plans_tpl_name_hr").input("x" * 10_000)
    _template_form(at, "hr", "en").click().run()
    assert [e.value for e in at.error] == [t("check.name_too_long", "en", length=10_000, max=200)]
    assert store.list_plans() == []


def test_broken_template_file_is_named_and_the_others_still_show(make_app, store, template_dir: Path) -> None:
    broken = yaml.safe_load((template_dir / "hr.yaml").read_text(encoding="utf-8"))
    del broken["kgi"]["key"]
    (template_dir / "hr.yaml").write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    (template_dir / "zz_not_yaml.yaml").write_text("kgi: [unclosed\n", encoding="utf-8")
    at = make_app(lang="ja")
    assert_clean(at)
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 2
    assert any("hr.yaml" in w and "kgi.key" in w for w in warnings)
    assert any("zz_not_yaml.yaml" in w for w in warnings)
    for template_id in ("sales", "marketing", "cs"):
        _template_form(at, template_id, "ja")
    assert not [b for b in at.button if b.key and b.key.startswith("FormSubmitter:plans_tpl_form_hr-")]


def test_save_plan_as_template_adds_it_to_the_gallery(make_app, store, template_dir: Path) -> None:
    at = make_app(lang="en")
    _template_form(at, "sales", "en").click().run()
    [plan] = store.list_plans()
    at = make_app(lang="en", plan_id=plan.id)
    assert len(at.get("download_button")) == 1
    at.button(key=f"plans_export_save_{plan.id}").click().run()
    assert_clean(at)
    [saved] = (template_dir / "user").glob("*.yaml")
    data = yaml.safe_load(saved.read_text(encoding="utf-8"))
    assert data["kgi"]["formula"] == "meetings * win_rate * avg_deal"
    assert [k["key"] for k in data["kpis"]] == ["meetings", "win_rate", "avg_deal"]
    user_cards = [b for b in at.button if b.key and b.key.startswith(f"FormSubmitter:plans_tpl_form_{data['id']}-")]
    assert len(user_cards) == 1  # the new template is in the gallery
    assert t("plans.template.user", "en") in _texts(at)


def test_plan_without_kgi_cannot_be_saved_as_template(make_app, store, template_dir: Path) -> None:
    plan = store.create_plan(Plan(name="Empty"))
    at = make_app(plan_id=plan.id)
    assert_clean(at)
    assert f"plans_export_save_{plan.id}" not in [b.key for b in at.button]
    assert not (template_dir / "user").exists()


# ---------------------------------------------------------------- demo plan and more refusals
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_demo_plan_renders_complete_and_active(make_app, store, monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    from kpi_core.services.demo import seed_demo

    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")
    demo = seed_demo(store, lang=lang)
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "0")
    at = make_app(lang=lang, plan_id=demo.id)
    assert_clean(at)
    assert [p.text for p in at.main.get("progress")] == ["5/5"]
    assert f":green-badge[{t('enum.plan_status.active', lang)}]" in _texts(at)
    assert at.text_input(key=f"plans_rename_name_{demo.id}").value == demo.name


def test_duplicate_with_an_empty_name_is_refused(make_app, store) -> None:
    plan = _sales_plan(store)
    at = make_app(plan_id=plan.id)
    at.text_input(key=f"plans_duplicate_name_{plan.id}").input(" ")
    at.button(key=f"plans_duplicate_{plan.id}").click().run()
    assert [e.value for e in at.error] == [t("check.name_empty", "en")]
    assert [p.id for p in store.list_plans()] == [plan.id]
