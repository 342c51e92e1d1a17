"""Number parsing in Japanese spreadsheet conventions, and money formatting per language."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from kpi_core.domain.units import (
    format_money,
    format_percent,
    format_value,
    one_line,
    parse_month,
    parse_number,
    parse_typed,
    typed_text,
)


@pytest.mark.parametrize("text, expected", [
    ("1,200,000", 1_200_000), ("¥1,200,000", 1_200_000), ("1,200,000円", 1_200_000), ("１２３", 123),
    ("△5", -5), ("▲1,000", -1000), ("(123)", -123), ("25%", 0.25), ("２５％", 0.25), ("1億4,400万円", 144_000_000),
    ("1億2000万", 120_000_000), ("2.5万", 25_000), (" 42 ", 42), (7, 7), (0, 0),
])
def test_parse_number(text, expected):
    assert parse_number(text) == pytest.approx(expected)


@pytest.mark.parametrize("blank", [None, "", "  ", "-", float("nan")])
def test_blank_is_missing_not_zero(blank):
    assert parse_number(blank) is None


@pytest.mark.parametrize("bad", ["abc", "1.2.3", "万", "1e999", "<script>"])
def test_not_a_number(bad):
    with pytest.raises(ValueError):
        parse_number(bad)


@pytest.mark.parametrize("text", ["2025/04", "2025-04", "2025/4/1", "2025年4月", "2025年04月", "Apr 2025",
                                  "April 2025", "202504", "2025-04-15 10:23:00", datetime(2025, 4, 15, 10, 23),
                                  date(2025, 4, 30), "２０２５／４"])
def test_parse_month(text):
    assert parse_month(text) == date(2025, 4, 1)


@pytest.mark.parametrize("bad", ["2025/02/30", "2025/13", "next month", "2025/00"])
def test_impossible_months_are_refused(bad):
    with pytest.raises(ValueError):
        parse_month(bad)


def test_money_formatting_per_language():
    assert format_money(144_000_000, "ja") == "1億4,400万円"
    assert format_money(144_000_000, "en") == "¥144.0M"
    assert format_money(24_000_000, "ja") == "2,400万円"
    assert format_money(120_000_000, "ja") == "1億2,000万円"
    assert format_money(144_000_000, "ja", full_digits=True) == "144,000,000円"
    assert format_money(144_000_000, "en", full_digits=True) == "¥144,000,000"
    assert format_money(-24_000_000, "en") == "-¥24.0M"
    assert format_money(None, "en") == "—"


def test_compact_figures_for_narrow_tiles():
    assert format_money(144_000_000, "ja", compact=True) == "1.44億円"
    assert format_money(120_000_000, "ja", compact=True) == "1.2億円"
    assert format_money(14_023_345_678, "ja", compact=True) == "140億円"
    assert format_money(33_233_012, "ja", compact=True) == "3,323万円"
    assert format_money(-24_000_000, "ja", compact=True) == "-2,400万円"
    assert format_money(9_600, "ja", compact=True) == "9,600円"
    assert format_money(112_500_000, "ja", compact=True) == "1.13億円"  # rounded half up, as people round
    assert format_money(144_000_000, "en", compact=True) == "¥144.0M"  # en money is compact already
    assert format_money(144_000_000, "ja", full_digits=True, compact=True) == "144,000,000円"
    assert format_value(1_234_567, "件", "ja", compact=True) == "123万 件"
    assert format_value(1_234_567, "calls", "en", compact=True) == "1.23M calls"
    assert format_value(99_999, "calls", "en", compact=True) == "99,999 calls"
    assert format_value(0.25, "%", "ja", compact=True) == "25.0%"


def test_value_formatting_by_unit():
    assert format_value(0.25, "%", "en") == "25.0%"
    assert format_value(40, "件", "ja") == "40 件"
    assert format_value(960_000, "JPY", "ja") == "96万円"
    assert format_percent(0.2, signed=True) == "+20.0%"


@pytest.mark.parametrize("text, expected", [("1億2千万", 120_000_000), ("12万5千", 125_000), ("3千", 3_000),
                                            ("2千5百", 2_500), ("1億2,000万", 120_000_000), ("１億２千万円", 120_000_000),
                                            ("△3千", -3_000)])
def test_japanese_numerals_with_thousands_inside_the_myriads(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["85％", "85%", "85", "８５", "８５％", " 85 % "])
def test_a_rate_is_typed_in_percent_with_or_without_the_sign_half_or_full_width(text):
    assert parse_typed(text, "%") == pytest.approx(0.85)
    assert parse_typed(text, "率") == pytest.approx(0.85)


def test_typed_text_is_what_parse_typed_reads_back():
    for value, unit in ((0.85, "%"), (0.125, "ratio"), (120_000_000, "JPY"), (42, "件")):
        assert parse_typed(typed_text(value, unit), unit) == pytest.approx(value)
    assert typed_text(None, "JPY") == "" and parse_typed("  ", "%") is None


def test_one_line_flattens_white_space_and_cuts_with_an_ellipsis():
    assert one_line("  営業力\n 強化  ", 10) == "営業力 強化"
    assert one_line("abcdefghij", 10) == "abcdefghij"
    assert one_line("abcdefghijk", 10) == "abcdefghi…" and len(one_line("x" * 50, 10)) == 10
    assert one_line(None, 5) == "" and one_line(0, 5) == "0"
