"""Department templates: schema check, loading with errors, plans created in a real DuckDB, round trip to YAML."""
from __future__ import annotations

import dataclasses
import math
from datetime import date
from pathlib import Path

import pytest
import yaml

from kpi_core.adapters.store import StoreError
from kpi_core.adapters.templates import (
    TEMPLATE_DIR,
    TemplateError,
    aliases_for,
    find_template,
    load_templates,
    localized,
    parse_template,
    plan_to_template_yaml,
    save_user_template,
)
from kpi_core.domain.drivers import implied_kgi, parse_formula
from kpi_core.domain.model import Aggregation, CSFRole
from kpi_core.domain.plan_rules import default_fiscal_start
from kpi_core.i18n import LANGUAGES, catalogue
from kpi_core.services.plans import create_plan_from_template

BUILT_IN = ["sales", "marketing", "cs", "hr"]
APRIL = date(2026, 4, 1)


@pytest.fixture(scope="module")
def templates():
    loaded, errors = load_templates()
    assert errors == []
    return {tpl.id: tpl for tpl in loaded}


# ---------------------------------------------------------------- the built-in files
def test_the_four_templates_load_in_gallery_order(templates):
    assert list(templates) == BUILT_IN
    assert not any(tpl.user for tpl in templates.values())


@pytest.mark.parametrize("template_id", BUILT_IN)
def test_every_label_and_help_text_exists_in_both_languages(templates, template_id):
    tpl = templates[template_id]
    texts = [tpl.name, tpl.description, tpl.department, tpl.kgi.name, tpl.kgi.basis]
    for csf in tpl.csfs:
        texts += [csf.name, csf.description]
        assert all(csf.actions[lang] for lang in LANGUAGES)
    for kpi in tpl.kpis:
        texts += [kpi.name, kpi.definition, kpi.recovery_plan, kpi.rationale, kpi.data_source, kpi.owner]
        assert all(kpi.aliases[lang] for lang in LANGUAGES)
    for text in texts:
        assert all(localized(text, lang).strip() for lang in LANGUAGES), text
    assert 3 <= len(tpl.kpis) <= 5
    assert {k.kind.value for k in tpl.kpis} >= {"leading", "lagging"} or template_id == "cs"
    assert set(parse_formula(tpl.kgi.formula).names) <= {k.key for k in tpl.kpis}
    assert all(k.ratio_weight for k in tpl.kpis if k.aggregation is Aggregation.RATIO)


def test_sales_template_holds_the_domain_figures(templates):
    sales = templates["sales"]
    assert (sales.kgi.key, sales.kgi.baseline, sales.kgi.target) == ("revenue", 120_000_000, 144_000_000)
    assert sales.kgi.formula == "meetings * win_rate * avg_deal"
    targets = {k.key: k.annual_target for k in sales.kpis}
    assert targets == {"meetings": 600, "win_rate": 0.25, "avg_deal": 1_200_000}
    assert [c.key for c in sales.csfs] == ["new_customers", "meeting_quality", "existing_customers"]
    assert sales.csfs[2].role is CSFRole.FALLBACK
    actions = {c.key: c.actions["en"] for c in sales.csfs}
    assert actions["new_customers"] == ["More outbound calls", "Leads from trade shows and seminars",
                                        "A referral programme", "Tie-in with digital marketing"]
    assert "Reaching decision makers" in actions["meeting_quality"]
    assert "Proactive upsell and cross-sell" in actions["existing_customers"]
    primary = sum(c.contribution for c in sales.csfs if c.role is CSFRole.PRIMARY)
    assert primary == sales.kgi.target - sales.kgi.baseline
    kgi, kpis = sales.model("en")
    assert implied_kgi(kgi, kpis, 12).over_plan == pytest.approx(0.25)


def test_marketing_funnel_is_400_160_80_20(templates):
    marketing = templates["marketing"]
    assert (marketing.kgi.baseline, marketing.kgi.target) == (80_000_000, 96_000_000)
    assert [c.key for c in marketing.csfs] == ["lead_volume", "lead_quality", "nurturing", "conversion"]
    t = {k.key: k.annual_target for k in marketing.kpis}
    leads = t["leads"] / 12
    mql = leads * t["mql_rate"]
    sql = mql * t["sql_rate"]
    wins = sql * t["win_rate"]
    assert [leads, mql, sql, wins] == pytest.approx([400, 160, 80, 20])
    kgi, kpis = marketing.model("ja")
    assert implied_kgi(kgi, kpis, 12).annual == pytest.approx(96_000_000)


def test_aliases_cover_usual_export_headers(templates):
    aliases = aliases_for(templates["sales"])
    for header in ["商談数", "有効商談数", "商談件数", "meetings", "qualified meetings", "opportunities"]:
        assert header in aliases["meetings"]
    assert "売上" in aliases["revenue"] and "revenue" in aliases["revenue"]
    assert aliases["win_rate"][-1] == "win_rate"  # the key itself maps too
    assert all(len(names) == len(set(names)) for names in aliases.values())


def test_preview_gives_the_tree_and_the_implied_kgi(templates):
    preview = templates["sales"].preview("ja")
    assert preview["name"] == "営業（売上拡大）"
    assert preview["implied"]["annual"] == pytest.approx(180_000_000)
    assert ("revenue", "new_customers") in preview["edges"]
    assert ("new_customers", "meetings") in preview["edges"]
    assert [k["monthly"] for k in preview["kpis"]] == [50, 0.25, 1_200_000]
    assert templates["hr"].preview("en")["kgi"]["unit"] == "people"


def test_text_falls_back_to_the_other_language(templates):
    tpl = templates["sales"]
    assert tpl.text({"ja": "", "en": "only English"}, "ja") == "only English"
    assert tpl.text("JPY", "en") == "JPY"
    assert tpl.text(None, "ja") == ""


# ---------------------------------------------------------------- plans in a real DuckDB
@pytest.mark.parametrize("template_id", BUILT_IN)
def test_template_creates_a_plan_whose_implied_kgi_is_the_formula(store, templates, template_id):
    tpl = templates[template_id]
    plan = create_plan_from_template(store, tpl, "en", fiscal_start=APRIL)
    assert (plan.template, plan.fiscal_start, plan.months) == (template_id, APRIL, 12)
    kgi = store.get_kgi(plan.id)
    kpis = store.list_kpis(plan.id)
    assert kgi.deadline == date(2027, 3, 31)
    assert kgi.name == localized(tpl.kgi.name, "en")
    assert [k.key for k in kpis] == [k.key for k in tpl.kpis]
    monthly = {k.key: k.annual_target / 12 if k.aggregation is Aggregation.SUM else k.annual_target
               for k in tpl.kpis}
    expected = parse_formula(tpl.kgi.formula).evaluate(monthly) * 12
    assert implied_kgi(kgi, kpis, 12).annual == pytest.approx(expected, rel=1e-12)
    csfs = {c.id: c for c in store.list_csfs(plan.id)}
    assert len(csfs) == len(tpl.csfs)
    assert all(csfs[k.csf_id].name == localized(next(c.name for c in tpl.csfs if c.key == t.csf), "en")
               for k, t in zip(kpis, tpl.kpis, strict=True))
    targets = store.get_monthly_targets(plan.id)
    for kpi in kpis:
        months = targets[kpi.key]
        assert sorted(months) == plan.month_list()
        if kpi.aggregation is Aggregation.SUM:
            assert math.fsum(months.values()) == pytest.approx(kpi.annual_target, abs=1e-9)
        else:
            assert set(months.values()) == {kpi.annual_target}
    assert math.fsum(targets[kgi.key].values()) == tpl.kgi.target


def test_plan_texts_follow_the_chosen_language(store, templates):
    plan = create_plan_from_template(store, templates["sales"], "ja", name="  デモ営業  ", fiscal_start=APRIL)
    assert plan.name == "デモ営業"
    assert plan.department == "営業部"
    kpis = store.list_kpis(plan.id)
    assert kpis[0].name == "有効商談数" and kpis[0].unit == "件"
    assert store.list_csfs(plan.id)[0].actions[0] == "テレアポ・架電数を増やす"


def test_baseline_scales_the_target_and_the_volumes_not_the_rates(store, templates):
    plan = create_plan_from_template(store, templates["sales"], "en", baseline=60_000_000, fiscal_start=APRIL)
    kgi = store.get_kgi(plan.id)
    assert (kgi.baseline, kgi.target) == (60_000_000, 72_000_000)  # growth stays +20 %
    kpis = {k.key: k for k in store.list_kpis(plan.id)}
    assert kpis["meetings"].annual_target == 300
    assert kpis["win_rate"].annual_target == 0.25
    assert kpis["avg_deal"].annual_target == 1_200_000  # a per-deal average is not a volume
    implied = implied_kgi(kgi, list(kpis.values()), 12)
    assert implied.over_plan == pytest.approx(0.25)  # the same over-plan as the example, proportionally
    assert sum(c.contribution for c in store.list_csfs(plan.id)) == pytest.approx(15_000_000)
    assert set(store.get_monthly_targets(plan.id)["meetings"].values()) == {25}


def test_baseline_scaling_of_a_level_and_an_odd_factor(store, templates):
    plan = create_plan_from_template(store, templates["cs"], "en", baseline=127_500_000, fiscal_start=APRIL)
    kpis = {k.key: k for k in store.list_kpis(plan.id)}
    assert kpis["customers"].annual_target == 50  # 200 x 0.25
    assert kpis["churn_rate"].annual_target == 0.01
    kgi = store.get_kgi(plan.id)
    assert implied_kgi(kgi, list(kpis.values()), 12).annual == pytest.approx(kgi.target)
    hr = create_plan_from_template(store, templates["hr"], "en", baseline=10, fiscal_start=APRIL)
    hr_kgi = store.get_kgi(hr.id)
    hr_kpis = store.list_kpis(hr.id)
    assert implied_kgi(hr_kgi, hr_kpis, 12).annual == pytest.approx(hr_kgi.target, rel=0.005)


@pytest.mark.parametrize("baseline", [0, -5, float("nan"), True])
def test_a_bad_baseline_is_refused_before_anything_is_written(store, templates, baseline):
    with pytest.raises(TemplateError) as caught:
        create_plan_from_template(store, templates["sales"], "en", baseline=baseline)
    assert caught.value.key == "engine.template.bad_baseline"
    assert store.list_plans() == [] and store.deleted_plans() == []


def test_a_failure_half_way_leaves_no_plan(store, templates):
    sales = templates["sales"]
    clash = dataclasses.replace(sales, kpis=sales.kpis + (sales.kpis[0],))  # the store refuses the second key
    with pytest.raises(StoreError) as caught:
        create_plan_from_template(store, clash, "en", fiscal_start=APRIL)
    assert caught.value.key == "store.duplicate_kpi_key"
    assert store.list_plans() == [] and store.deleted_plans() == []
    assert store.cursor().execute("SELECT count(*) FROM kpis").fetchone()[0] == 0


def test_without_a_fiscal_start_the_plan_starts_in_april_of_this_fiscal_year(store, templates):
    plan = create_plan_from_template(store, templates["hr"], "en")
    assert plan.fiscal_start == default_fiscal_start(date.today())
    assert plan.fiscal_start.month == 4


# ---------------------------------------------------------------- broken files
def _write(folder: Path, name: str, data: object) -> None:
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    (folder / name).write_text(text, encoding="utf-8")


def _sales_raw() -> dict:
    return yaml.safe_load((TEMPLATE_DIR / "sales.yaml").read_text(encoding="utf-8"))


def _broken(mutate) -> dict:
    data = _sales_raw()
    data["id"] = "broken"
    mutate(data)
    return data


BROKEN = {
    "bad_yaml.yaml": ("id: x\nkgi: [unclosed\n", "engine.template.yaml", "line 3"),
    "no_kgi.yaml": (_broken(lambda d: d.pop("kgi")), "engine.template.missing", "kgi"),
    "wrong_type.yaml": (_broken(lambda d: d["kpis"][0].update(annual_target="lots")),
                        "engine.template.type", "kpis[0].annual_target"),
    "unknown_kpi.yaml": (_broken(lambda d: d["kgi"].update(formula="meetings * win_rate * deal_size")),
                         "engine.template.unknown_name", "kgi.formula"),
    "duplicate_key.yaml": (_broken(lambda d: d["kpis"][2].update(key="meetings")),
                           "engine.template.duplicate", "kpis[2].key"),
    "rate_range.yaml": (_broken(lambda d: d["kpis"][1].update(annual_target=25)),
                        "engine.template.rate_range", "kpis[1].annual_target"),
    "no_english.yaml": (_broken(lambda d: d["csfs"][1]["name"].pop("en")), "engine.template.language",
                        "csfs[1].name.en"),
    "bad_choice.yaml": (_broken(lambda d: d["kpis"][0].update(aggregation="median")), "engine.template.choice",
                        "kpis[0].aggregation"),
    "hostile_formula.yaml": (_broken(lambda d: d["kgi"].update(formula="__import__('os').system('id')")),
                             "engine.template.formula", "kgi.formula"),
    "unknown_csf.yaml": (_broken(lambda d: d["kpis"][0].update(csf="nowhere")), "engine.template.unknown_name",
                         "kpis[0].csf"),
    "no_weight.yaml": (_broken(lambda d: d["kpis"][1].pop("ratio_weight")), "engine.template.missing",
                       "kpis[1].ratio_weight"),
    "thresholds.yaml": (_broken(lambda d: d["kpis"][0].update(thresholds={"amber": 0.8, "red": 0.9})),
                        "engine.template.thresholds", "kpis[0].thresholds"),
    "bad_id.yaml": (_broken(lambda d: d.update(id="../escape")), "engine.template.pattern", "id"),
    "not_a_map.yaml": ("- just\n- a list\n", "engine.template.type", "(top)"),
}


def test_broken_files_name_file_and_field_while_the_good_ones_load(tmp_path: Path):
    _write(tmp_path, "sales.yaml", _sales_raw())
    for name, (data, _, _) in BROKEN.items():
        _write(tmp_path, name, data)
    (tmp_path / "user").mkdir()
    _write(tmp_path / "user", "again_sales.yaml", _sales_raw())  # same id as a built-in
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00bad")
    loaded, errors = load_templates(tmp_path)
    assert [tpl.id for tpl in loaded] == ["sales"]
    found = {e.values["file"]: (e.key, e.values["field"]) for e in errors}
    for name, (_, key, where) in BROKEN.items():
        assert found[name] == (key, where), name
    assert found["user/again_sales.yaml"] == ("engine.template.duplicate_id", "id")
    assert found["binary.yaml"][0] == "engine.template.encoding"
    for error in errors:
        assert error.key in catalogue("en") and error.key in catalogue("ja")


def test_a_hostile_template_formula_runs_nothing(tmp_path: Path):
    marker = tmp_path / "pwned"
    data = _broken(lambda d: d["kgi"].update(formula=f"__import__('os').system('touch {marker}')"))
    with pytest.raises(TemplateError):
        parse_template(yaml.safe_dump(data), "evil.yaml")
    assert not marker.exists()


def test_yaml_tags_are_not_constructed(tmp_path: Path):
    text = "!!python/object/apply:os.system ['touch " + str(tmp_path / "pwned") + "']\n"
    with pytest.raises(TemplateError) as caught:
        parse_template(text, "tag.yaml")
    assert caught.value.key == "engine.template.yaml"
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- plans back to templates
def test_a_plan_saved_as_a_template_loads_and_keeps_both_languages(store, templates, tmp_path: Path):
    plan = create_plan_from_template(store, templates["sales"], "ja", name="東日本営業", fiscal_start=APRIL)
    kpi = store.list_kpis(plan.id)[0]
    kpi.name = "初回商談数"
    store.save_kpi(kpi, None)
    text = plan_to_template_yaml(store, plan.id, "ja")
    path = save_user_template(text, tmp_path / "user")
    assert path == tmp_path / "user" / f"plan-{plan.id}.yaml"
    loaded, errors = load_templates(tmp_path)
    assert errors == []
    saved = loaded[0]
    assert saved.user and saved.id == f"plan-{plan.id}"
    kpis = {k.key: k for k in saved.kpis}
    assert kpis["meetings"].name == {"ja": "初回商談数", "en": "初回商談数"}  # the plan's own text, in both
    assert kpis["win_rate"].name == {"ja": "受注率", "en": "Win rate"}  # unchanged: the template's two texts
    assert saved.name == {"ja": "東日本営業", "en": "東日本営業"}
    assert saved.kgi.formula == "meetings * win_rate * avg_deal"
    assert [c.key for c in saved.csfs] == ["new_customers", "meeting_quality", "existing_customers"]
    again = create_plan_from_template(store, saved, "en", fiscal_start=APRIL)
    assert implied_kgi(store.get_kgi(again.id), store.list_kpis(again.id), 12).annual == pytest.approx(180_000_000)


def test_save_user_template_validates_before_writing(tmp_path: Path):
    folder = tmp_path / "user"
    with pytest.raises(TemplateError) as caught:
        save_user_template(yaml.safe_dump(_broken(lambda d: d["kpis"][1].update(annual_target=1.5))), folder)
    assert caught.value.key == "engine.template.rate_range"
    assert caught.value.values["file"] == "broken.yaml"
    with pytest.raises(TemplateError) as caught:
        save_user_template(yaml.safe_dump(_sales_raw(), allow_unicode=True), folder)  # the built-in id
    assert caught.value.key == "engine.template.duplicate_id"
    assert not folder.exists() or not any(folder.iterdir())
    path = save_user_template(yaml.safe_dump(_broken(lambda d: None), allow_unicode=True, sort_keys=False), folder)
    assert path.read_text(encoding="utf-8").startswith("id: broken")
    assert find_template("broken", tmp_path) is not None
