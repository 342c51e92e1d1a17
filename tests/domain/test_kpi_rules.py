"""kpi_core.domain.kpi_rules: typed values, CSF checks and ordering, gap coverage, KPI validation, SMART, set balance,
monthly target phasing for the editor."""
from __future__ import annotations

from datetime import date

import pytest

from kpi_core.domain.kpi_rules import (
    SAVED,
    changed_cells,
    check_key,
    check_monthly,
    check_thresholds,
    coverage,
    csf_choices,
    default_csf,
    grouped_order,
    kpi_groups,
    move_item,
    parse_actions,
    parse_amount,
    phased_targets,
    phasing_methods,
    reorder_within_role,
    rephase,
    smart_check,
    smart_letters,
    sum_mismatch,
    vague_word,
    validate_csf,
    validate_kpi,
)
from kpi_core.domain.model import CSF, KPI, Aggregation, CSFRole, Plan
from kpi_core.domain.phasing import PhasingError
from kpi_core.domain.units import typed_text

MONTHS = Plan(name="p", fiscal_start=date(2025, 4, 1)).month_list()


def keys(messages) -> list[str]:
    return [m.key for m in messages]


def good_kpi(**changes) -> KPI:
    values = {"plan_id": 1, "key": "meetings", "name": "Qualified meetings", "csf_id": 10,
              "definition": "Meetings with a budget", "unit": "件", "annual_target": 600, "owner": "Sales lead",
              "data_source": "SFA", "rationale": "last year 480", "id": 1}
    return KPI(**(values | changes))


# ---------------------------------------------------------------- typed values
@pytest.mark.parametrize("text, unit, expected", [
    ("4,000,000", "JPY", 4_000_000), ("400万", "JPY", 4_000_000), ("1億2000万", "JPY", 120_000_000),
    ("¥1,200,000", "JPY", 1_200_000), ("２５", "%", 0.25), ("25%", "%", 0.25), ("25", "%", 0.25),
    ("0", "件", 0.0), ("", "件", None), ("   ", "JPY", None),
])
def test_parse_amount_reads_what_people_type(text, unit, expected):
    value, errors = parse_amount(text, unit, "field")
    assert errors == []
    assert value is None if expected is None else value == pytest.approx(expected)


@pytest.mark.parametrize("text, unit, key", [
    ("abc", "JPY", "check.not_a_number"), ("-5", "件", "range.negative"), ("△5", "件", "range.negative"),
    ("150", "%", "range.rate"), ("100.1%", "%", "range.rate"), ("1e999", "JPY", "check.not_a_number"),
    ("1e308", "JPY", "range.too_large"),
])
def test_parse_amount_refuses_bad_values(text, unit, key):
    value, errors = parse_amount(text, unit, "Contribution")
    assert value is None and keys(errors) == [key]


def test_typed_text_round_trips_rates_in_percent():
    assert typed_text(0.25, "%") == "25"
    assert typed_text(1_200_000, "JPY") == "1200000"
    assert typed_text(None, "JPY") == ""
    assert parse_amount(typed_text(0.125, "%"), "%", "f")[0] == pytest.approx(0.125)


def test_parse_actions_one_per_line_without_bullets_or_duplicates():
    text = "- More calls\n\n・Seminar leads\n* More calls\n  • Referral programme  \n"
    assert parse_actions(text) == ["More calls", "Seminar leads", "Referral programme"]
    assert parse_actions("") == []


# ---------------------------------------------------------------- CSF
def test_validate_csf():
    assert validate_csf(CSF(plan_id=1, name="New customers", contribution=1.0)) == []
    assert keys(validate_csf(CSF(plan_id=1, name="  "))) == ["check.name_empty"]
    assert keys(validate_csf(CSF(plan_id=1, name="x" * 201))) == ["check.name_too_long"]
    assert keys(validate_csf(CSF(plan_id=1, name="a", contribution=-1))) == ["csf.err.contribution"]
    assert keys(validate_csf(CSF(plan_id=1, name="a", actions=["x" * 201]))) == ["csf.err.action_too_long"]
    assert keys(validate_csf(CSF(plan_id=1, name="a", actions=[str(i) for i in range(31)]))) == [
        "csf.err.too_many_actions"]


def test_move_item_clamps_at_both_ends():
    assert move_item([1, 2, 3], 2, -1) == [2, 1, 3]
    assert move_item([1, 2, 3], 2, 1) == [1, 3, 2]
    assert move_item([1, 2, 3], 1, -1) == [1, 2, 3]
    assert move_item([1, 2, 3], 3, 1) == [1, 2, 3]
    assert move_item([1, 2, 3], 9, 1) == [1, 2, 3]


def test_reorder_within_role_leaves_other_roles_alone():
    csfs = [CSF(plan_id=1, name="a", id=1, position=0), CSF(plan_id=1, name="f", id=2, position=1,
                                                             role=CSFRole.FALLBACK),
            CSF(plan_id=1, name="b", id=3, position=2), CSF(plan_id=1, name="g", id=4, position=3,
                                                             role=CSFRole.FALLBACK)]
    assert grouped_order(csfs) == [1, 3, 2, 4]
    assert reorder_within_role(csfs, 3, -1) == [3, 1, 2, 4]
    assert reorder_within_role(csfs, 2, 1) == [1, 3, 4, 2]
    assert reorder_within_role(csfs, 1, -1) == [1, 3, 2, 4]


def test_coverage_of_the_sales_gap():
    csfs = [CSF(plan_id=1, name="a", contribution=12e6), CSF(plan_id=1, name="b", contribution=8e6),
            CSF(plan_id=1, name="fallback", role=CSFRole.FALLBACK, contribution=5e6)]
    result = coverage(csfs, 24e6)
    assert result.covered == 20e6 and result.uncovered == 4e6 and not result.over_covered
    assert result.share == pytest.approx(20 / 24)
    over = coverage(csfs + [CSF(plan_id=1, name="c", contribution=6e6)], 24e6)
    assert over.over_covered and over.uncovered == -2e6
    assert coverage(csfs, -10.0).share == pytest.approx(2e6)  # a KGI that must go down: magnitudes
    assert coverage(csfs, 0).share is None


# ---------------------------------------------------------------- KPI
def test_a_complete_kpi_passes():
    assert validate_kpi(good_kpi(), []) == []
    assert smart_check(good_kpi(), {10}) == []
    assert all(smart_letters([]).values())


@pytest.mark.parametrize("key, expected", [
    ("meetings", []), ("win_rate2", []), ("", ["kpi.err.key_empty"]), ("Bad Key!", ["kpi.err.key_format"]),
    ("1st", ["kpi.err.key_format"]), ("_x", ["kpi.err.key_format"]), ("if", ["kpi.err.key_format"]),
    ("商談数", ["kpi.err.key_format"]), ("a" * 41, ["kpi.err.key_format"]), ("taken", ["kpi.err.key_duplicate"]),
    ("revenue", ["kpi.err.key_is_kgi"]),
])
def test_check_key(key, expected):
    assert keys(check_key(key, ["taken"], "revenue")) == expected


def test_editing_a_kpi_keeps_its_own_key():
    me = good_kpi()
    assert validate_kpi(me, [me, good_kpi(key="win_rate", id=2)]) == []
    assert keys(validate_kpi(good_kpi(id=None), [me])) == ["kpi.err.key_duplicate"]


@pytest.mark.parametrize("changes, key", [
    ({"name": ""}, "check.name_empty"), ({"name": "x" * 10_000}, "check.name_too_long"),
    ({"unit": "x" * 21}, "kpi.err.unit_too_long"), ({"annual_target": -1}, "range.negative"),
    ({"unit": "%", "annual_target": 1.5}, "range.rate"), ({"annual_target": 1e308}, "range.too_large"), ({"owner": "x" * 201}, "kpi.err.field_too_long"),
    ({"recovery_plan": "x" * 5001}, "check.text_too_long"),
])
def test_validate_kpi_errors(changes, key):
    assert key in keys(validate_kpi(good_kpi(**changes), []))


@pytest.mark.parametrize("amber, red, ok", [
    (0.95, 0.85, True), (0.9, 0.0, True), (2.0, 1.5, True), (0.85, 0.85, False), (0.8, 0.9, False),
    (2.1, 0.5, False), (0.9, -0.1, False),
])
def test_thresholds(amber, red, ok):
    assert (check_thresholds(amber, red) == []) is ok


def test_ratio_weight_is_checked_against_the_other_keys():
    others = [good_kpi(), good_kpi(key="win_rate", id=2)]
    rate = good_kpi(key="avg_deal", id=3, unit="JPY", aggregation=Aggregation.RATIO, ratio_weight="meetings * win_rate")
    assert validate_kpi(rate, others) == []
    assert keys(validate_kpi(good_kpi(key="avg_deal", id=3, aggregation=Aggregation.RATIO), others)) == [
        "kpi.warn.no_weight"]
    unknown = good_kpi(key="avg_deal", id=3, aggregation=Aggregation.RATIO, ratio_weight="deals")
    assert keys(validate_kpi(unknown, others)) == ["engine.formula.unknown_name"]
    evil = good_kpi(key="avg_deal", id=3, aggregation=Aggregation.RATIO, ratio_weight="__import__('os')")
    assert [m.level for m in validate_kpi(evil, others)] == ["error"]
    assert keys(validate_kpi(good_kpi(ratio_weight="meetings"), others)) == ["kpi.warn.weight_ignored"]


@pytest.mark.parametrize("text, word", [
    ("営業力強化", "強化"), ("顧客満足度の向上", "向上"), ("Improve sales power", "improve"),
    ("Strengthen the pipeline", "strengthen"), ("商談数を20%向上", ""), ("Qualified meetings", ""),
    ("Improve win rate to 25 %", ""),
])
def test_vague_words_without_a_number(text, word):
    assert vague_word(text) == word


def test_smart_findings_name_what_is_missing():
    bare = KPI(plan_id=1, key="x", name="営業力強化")
    found = smart_check(bare, {10})
    assert keys(found) == ["kpi.smart.vague", "kpi.smart.no_definition", "kpi.smart.no_unit",
                           "kpi.smart.no_source", "kpi.smart.no_rationale", "kpi.smart.no_csf",
                           "kpi.smart.no_target", "kpi.smart.no_owner"]
    assert smart_letters(found) == {"S": False, "M": False, "A": False, "R": False, "T": False}
    assert keys(smart_check(good_kpi(csf_id=99), {10})) == ["kpi.smart.no_csf"], "a link to a deleted CSF"


def test_phased_targets_by_method():
    kpi = good_kpi()
    assert set(phased_targets(kpi, MONTHS, "even").values()) == {50.0}
    ramp = list(phased_targets(kpi, MONTHS, "ramp").values())
    assert sum(ramp) == 600 and ramp == sorted(ramp) and ramp[0] < ramp[-1]
    history = {date(2024, 4 + i, 1) if i < 9 else date(2025, i - 8, 1): float(v)
               for i, v in enumerate([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])}
    assert set(phased_targets(kpi, MONTHS, "seasonal", history=history).values()) == {50.0}
    with pytest.raises(PhasingError) as missing:
        phased_targets(kpi, MONTHS, "seasonal", history={})
    assert missing.value.key == "kpi.targets.no_history"


def test_saved_and_custom_keep_the_saved_shape():
    kpi = good_kpi()
    saved = {m: (30.0 if i < 6 else 70.0) for i, m in enumerate(MONTHS)}
    assert phased_targets(kpi, MONTHS, SAVED, saved) == saved
    halved = phased_targets(good_kpi(annual_target=300), MONTHS, "custom", saved)
    assert list(halved.values()) == [15.0] * 6 + [35.0] * 6
    with pytest.raises(PhasingError):
        phased_targets(kpi, MONTHS, "custom", {})


def test_rephase_after_a_target_change():
    saved = {m: (30.0 if i < 6 else 70.0) for i, m in enumerate(MONTHS)}
    assert list(rephase(good_kpi(annual_target=480), MONTHS, saved).values()) == [24.0] * 6 + [56.0] * 6
    assert set(rephase(good_kpi(annual_target=480), MONTHS, None).values()) == {40.0}
    rate = good_kpi(unit="%", aggregation=Aggregation.RATIO, annual_target=0.2)
    assert set(rephase(rate, MONTHS, {m: 0.25 for m in MONTHS}).values()) == {0.2}


def test_check_monthly_scales_and_refuses_bad_cells():
    cleaned, errors = check_monthly({MONTHS[0]: 25.0, MONTHS[1]: "30%"}, "%", 100.0)
    assert errors == [] and cleaned == {MONTHS[0]: 0.25, MONTHS[1]: pytest.approx(0.30)}
    _, errors = check_monthly({MONTHS[0]: None, MONTHS[1]: float("nan"), MONTHS[2]: "x", MONTHS[3]: -1,
                               MONTHS[4]: 150, MONTHS[5]: "1e308"}, "%", 100.0)
    assert keys(errors) == ["kpi.targets.blank", "kpi.targets.blank", "kpi.targets.not_a_number",
                            "range.rate", "range.rate", "range.too_large"]
    assert errors[0].values["month"] == "2025-04"


# ---------------------------------------------------------------- the KPI list and the targets editor
def csf(csf_id: int, role: CSFRole) -> CSF:
    return CSF(plan_id=1, id=csf_id, name=f"csf {csf_id}", role=role)


def test_a_new_kpi_goes_under_the_first_primary_csf_and_a_retired_one_is_offered_only_to_its_kpis():
    csfs = [csf(1, CSFRole.FALLBACK), csf(2, CSFRole.PRIMARY), csf(3, CSFRole.RETIRED)]
    assert default_csf(csfs) == 2
    assert default_csf([csf(1, CSFRole.FALLBACK)]) is None
    assert csf_choices(csfs, None) == [None, 1, 2]
    assert csf_choices(csfs, 3) == [None, 1, 2, 3]


def test_kpis_are_grouped_in_csf_order_with_the_orphans_last():
    csfs = [csf(2, CSFRole.PRIMARY), csf(1, CSFRole.FALLBACK), csf(3, CSFRole.RETIRED), csf(4, CSFRole.RETIRED)]
    a, b, c, d = (good_kpi(id=n, key=f"k{n}", csf_id=csf_id) for n, csf_id in ((1, 1), (2, 2), (3, 4), (4, 99)))
    groups = kpi_groups(csfs, [a, b, c, d])
    assert [(g.id if g else None, [k.id for k in own]) for g, own in groups] == [
        (2, [2]), (1, [1]), (4, [3]), (None, [4])]  # retired 3 has no KPI left: not shown
    assert kpi_groups(csfs[:1], []) == [(csfs[0], [])]


def test_the_saved_targets_and_their_shape_are_offered_only_when_there_are_saved_targets():
    assert phasing_methods(False) == ["even", "seasonal", "ramp"]
    assert phasing_methods(True) == [SAVED, "even", "seasonal", "ramp", "custom"]


def test_changed_cells_are_the_typed_ones_that_differ_blank_equals_blank():
    drawn = {MONTHS[0]: 50.0, MONTHS[1]: float("nan"), MONTHS[2]: 30.0}
    typed = {MONTHS[0]: 50.0, MONTHS[1]: None, MONTHS[2]: 35.0}
    assert changed_cells(drawn, typed) == {MONTHS[2]: 35.0}
    assert list(changed_cells(drawn, {**typed, MONTHS[0]: float("nan")})) == [MONTHS[0], MONTHS[2]]  # cleared


def test_summed_monthly_targets_must_add_up_to_the_annual_target():
    kpi = good_kpi(annual_target=600)
    assert not sum_mismatch(kpi, dict.fromkeys(MONTHS, 50.0))
    assert sum_mismatch(kpi, dict.fromkeys(MONTHS, 49.0))
    assert not sum_mismatch(good_kpi(aggregation=Aggregation.RATIO, annual_target=0.3), {MONTHS[0]: 0.1})
    assert not sum_mismatch(good_kpi(annual_target=None), {MONTHS[0]: 1.0})
