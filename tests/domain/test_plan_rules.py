"""kpi_core.domain.plan_rules: fiscal months, plan rows with progress, field validation, safe display of names."""
from __future__ import annotations

import re
from datetime import date

import pytest

from kpi_core.domain import plan_rules
from kpi_core.domain.goal import MAX_NAME_LENGTH, check_name
from kpi_core.domain.model import KGI, Plan, PlanStatus
from kpi_core.services.plans import plan_rows


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 11, 20), date(2026, 4, 1)),
    (date(2026, 4, 1), date(2026, 4, 1)),
    (date(2026, 3, 31), date(2025, 4, 1)),
    (date(2027, 1, 15), date(2026, 4, 1)),
])
def test_default_fiscal_start_is_april_of_the_running_fiscal_year(today: date, expected: date) -> None:
    assert plan_rules.default_fiscal_start(today) == expected


def test_fiscal_start_options_centre_on_the_default_and_keep_an_older_month() -> None:
    options = plan_rules.fiscal_start_options(date(2026, 11, 20), span=24)
    assert len(options) == 49
    assert options[24] == date(2026, 4, 1)
    assert options[0] == date(2024, 4, 1) and options[-1] == date(2028, 4, 1)
    older = plan_rules.fiscal_start_options(date(2026, 11, 20), span=2, include=date(2019, 10, 17))
    assert older[0] == date(2019, 10, 1) and older == sorted(older)


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2026, 4, 1), 12, "2026-04 – 2027-03"),
    (date(2026, 1, 1), 12, "2026-01 – 2026-12"),
    (date(2026, 4, 1), 1, "2026-04 – 2026-04"),
    (date(2026, 10, 1), 36, "2026-10 – 2029-09"),
])
def test_format_period_names_first_and_last_month(start: date, months: int, expected: str) -> None:
    assert plan_rules.format_period(Plan(name="p", fiscal_start=start, months=months)) == expected


def test_plan_rows_carry_period_progress_and_current_mark(store) -> None:
    older = store.create_plan(Plan(name="Sales FY2026", department="Sales", fiscal_start=date(2026, 4, 1)))
    newer = store.create_plan(Plan(name="HR FY2026", department="HR", fiscal_start=date(2026, 4, 1)))
    shelved = store.create_plan(Plan(name="Old", fiscal_start=date(2024, 4, 1)))
    store.set_plan_status(shelved.id, PlanStatus.ARCHIVED)
    store.save_kgi(KGI(plan_id=older.id, name="Revenue", baseline=120e6, target=144e6,
                       deadline=date(2027, 3, 31)), None)

    rows = plan_rows(store, current_id=older.id)

    assert [r.plan.name for r in rows] == ["HR FY2026", "Sales FY2026", "Old"]  # newest first, archived last
    by_name = {r.plan.name: r for r in rows}
    assert by_name["Sales FY2026"].progress == "1/5" and by_name["Sales FY2026"].is_current
    assert by_name["HR FY2026"].progress == "0/5" and not by_name["HR FY2026"].is_current
    assert by_name["Old"].archived and by_name["Old"].period == "2024-04 – 2025-03"
    assert [r.plan.id for r in plan_rows(store, None, include_archived=False)] == [newer.id, older.id]


def test_filter_rows_matches_name_or_department_ignoring_case(store) -> None:
    store.create_plan(Plan(name="Sales FY2026", department="Tokyo office"))
    store.create_plan(Plan(name="採用計画", department="人事部"))
    rows = plan_rows(store, None)
    assert [r.plan.name for r in plan_rules.filter_rows(rows, "sales")] == ["Sales FY2026"]
    assert [r.plan.name for r in plan_rules.filter_rows(rows, "TOKYO")] == ["Sales FY2026"]
    assert [r.plan.name for r in plan_rules.filter_rows(rows, "人事")] == ["採用計画"]
    assert len(plan_rules.filter_rows(rows, "  ")) == 2
    assert plan_rules.filter_rows(rows, "marketing") == []


def test_validate_plan_fields_accepts_a_normal_plan() -> None:
    assert plan_rules.validate_plan_fields("営業部 2026年度", "営業部", 12, "JPY") == []
    assert plan_rules.validate_plan_fields("x", "", 36, "USD") == []
    assert plan_rules.validate_plan_fields("x", "", 1, "JPY") == []


@pytest.mark.parametrize(("name", "department", "months", "currency", "key"), [
    ("", "", 12, "JPY", "check.name_empty"),
    ("   ", "", 12, "JPY", "check.name_empty"),
    ("x" * 10_000, "", 12, "JPY", "check.name_too_long"),
    ("ok", "d" * 10_000, 12, "JPY", "check.name_too_long"),
    ("ok", "", 0, "JPY", "plans.error.months_range"),
    ("ok", "", 37, "JPY", "plans.error.months_range"),
    ("ok", "", 12, "EUR", "plans.error.currency"),
])
def test_validate_plan_fields_blocks_bad_values(name: str, department: str, months: int, currency: str,
                                                key: str) -> None:
    messages = plan_rules.validate_plan_fields(name, department, months, currency)
    assert [m.key for m in messages] == [key]
    assert messages[0].level == "error"


def test_blank_plan_trims_text_and_uses_the_first_of_the_month() -> None:
    plan = plan_rules.blank_plan("  Sales  ", " Tokyo ", date(2026, 4, 17), 12, "JPY")
    assert (plan.name, plan.department, plan.fiscal_start, plan.months) == ("Sales", "Tokyo", date(2026, 4, 1), 12)
    assert plan.status == PlanStatus.DRAFT and plan.id is None


def test_copy_name_stays_a_valid_name_even_for_the_longest_original() -> None:
    assert plan_rules.copy_name("Sales FY2026", "(copy)") == "Sales FY2026 (copy)"
    longest = plan_rules.copy_name("営" * MAX_NAME_LENGTH, "（コピー）")
    assert len(longest) <= MAX_NAME_LENGTH and longest.endswith("（コピー）")
    assert check_name(longest) == []


def test_markdown_text_shows_markup_as_typed() -> None:
    raw = "<script>alert('x')</script> **bold** [link](http://e.x) $x$ # h"
    shown = plan_rules.markdown_text(raw)
    for special in "<>*[]()$#":
        assert re.search(r"(?<!\\)" + re.escape(special), shown) is None, special
    # removing the escapes gives back exactly what was typed
    assert re.sub(r"\\(.)", r"\1", shown) == raw


def test_markdown_text_flattens_line_breaks() -> None:
    assert plan_rules.markdown_text("a\nb\r\n\tc") == "a b c"


def test_unarchived_status_depends_on_whether_pdca_has_started() -> None:
    assert plan_rules.unarchived_status([True, True, True, True, True]) == PlanStatus.ACTIVE
    assert plan_rules.unarchived_status([True, True, True, True, False]) == PlanStatus.DRAFT
    assert plan_rules.unarchived_status([]) == PlanStatus.DRAFT


# ---------------------------------------------------------------- templates
@pytest.mark.parametrize(("text", "unit", "expected"), [
    ("", "JPY", None),
    ("   ", "JPY", None),
    ("60,000,000", "JPY", 60_000_000),
    ("6000万", "JPY", 60_000_000),
    ("¥1.2億", "JPY", 120_000_000),
    ("４５", "people", 45),
    ("110", "%", 1.10),
    ("110%", "%", 1.10),
])
def test_parse_baseline_reads_figures_as_people_type_them(text: str, unit: str, expected: float | None) -> None:
    if expected is None:
        assert plan_rules.parse_baseline(text, unit) is None
    else:
        assert plan_rules.parse_baseline(text, unit) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["abc", "0", "-5", "△100", "1e999"])
def test_parse_baseline_refuses_non_positive_or_non_numbers(text: str) -> None:
    with pytest.raises(plan_rules.PlanInputError) as caught:
        plan_rules.parse_baseline(text, "JPY")
    assert caught.value.key == "plans.template.baseline_invalid"


def test_readable_formula_uses_whiteboard_operators() -> None:
    assert plan_rules.readable_formula("meetings * win_rate * avg_deal") == "meetings × win_rate × avg_deal"
    assert plan_rules.readable_formula("a/b - c") == "a ÷ b - c"


def test_dot_label_makes_quotes_backslashes_and_markup_inert() -> None:
    label = plan_rules.dot_label('say "hi" \\ <b>&\nnext')
    assert '"' not in label and "<" not in label and ">" not in label and "\n" not in label
    assert label == "say &quot;hi&quot; \\\\ &lt;b&gt;&amp; next"
    assert plan_rules.dot_label("x" * 100, limit=10) == "x" * 9 + "…"


def test_template_tree_dot_links_kgi_csfs_and_kpis_by_position() -> None:
    preview = {
        "kgi": {"name": 'Revenue "FY"'},
        "csfs": [{"key": "new", "name": "New customers", "role": "primary"},
                 {"key": "upsell", "name": "<script>", "role": "fallback"}],
        "kpis": [{"key": "meetings", "csf": "new", "name": "Meetings"},
                 {"key": "orphan", "csf": None, "name": "NPS"}],
    }
    dot = plan_rules.template_tree_dot(preview)
    assert dot.startswith("digraph template {") and dot.endswith("}")
    assert 'kgi [label="KGI\\nRevenue &quot;FY&quot;"' in dot
    assert 'csf_1 [label="&lt;script&gt;", style="rounded,filled,dashed"];' in dot
    assert "kgi -> csf_1 [style=dashed];" in dot
    assert "csf_0 -> kpi_0;" in dot and "kgi -> kpi_1;" in dot
    assert "<script>" not in dot


def test_template_tree_dot_of_every_built_in_template() -> None:
    from kpi_core.adapters.templates import load_templates

    templates, errors = load_templates()
    assert errors == [] and templates
    for template in templates:
        for lang in ("ja", "en"):
            preview = template.preview(lang)
            dot = plan_rules.template_tree_dot(preview)
            assert dot.count("-> kpi_") == len(preview["kpis"])
            assert dot.count("kgi -> csf_") == len(preview["csfs"])
