"""Number parsing (Japanese spreadsheet conventions) and formatting (万/億 in ja, M in en).

Units are free text on a KPI; a few well-known ones get special formatting:
money ("JPY", "円", "¥"), rates ("%", "ratio"), everything else is a count with its unit appended.
"""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

MONEY_UNITS = {"jpy", "円", "¥", "yen", "usd", "$"}
RATE_UNITS = {"%", "％", "ratio", "rate", "率"}


def is_money(unit: str) -> bool:
    return (unit or "").strip().lower() in MONEY_UNITS


def is_rate(unit: str) -> bool:
    return (unit or "").strip().lower() in RATE_UNITS


def input_scale(unit: str) -> float:
    """Rates are stored as fractions but typed as percentages."""
    return 100.0 if is_rate(unit) else 1.0


def parse_typed(text: object, unit: str) -> float | None:
    """A value typed into a field of `unit`, as stored: None when blank. Everything `parse_number` reads
    (full-width digits, 万/億/千, △, ¥); rates are typed in percent with or without the sign, half- or full-width:
    '85', '85%' and '８５％' all mean 0.85. Raises ValueError for text that is not a number."""
    value = parse_number(text)
    if value is None or not is_rate(unit) or _ends_in_percent(text):
        return value
    return value / 100


def typed_text(value: float | None, unit: str) -> str:
    """A stored value as the user types it back (the inverse of `parse_typed`): plain digits, rates in percent."""
    if value is None:
        return ""
    return f"{value * input_scale(unit):.10g}"


def _ends_in_percent(text: object) -> bool:
    return isinstance(text, str) and unicodedata.normalize("NFKC", text).strip().endswith("%")


# ---------------------------------------------------------------- parsing
_NEGATIVE_MARKS = ("△", "▲", "−", "－")
_STRIP = re.compile(r"[,\s¥￥$€£円]|JPY|jpy|EUR|eur")


_LARGE_UNITS = re.compile("[億万千百]")
_MYRIADS = (("億", 1e8), ("万", 1e4))  # each written after a group of up to four digits, itself with 千/百/十
_GROUP_MARKS = (("千", 1e3), ("百", 1e2), ("十", 1e1))


def _digit_group(text: str) -> float:
    """'2千5百' -> 2500, '3千' -> 3000, '1200' -> 1200, '千' -> 1000 (a mark without digits counts once)."""
    total, rest = 0.0, text
    for mark, factor in _GROUP_MARKS:
        if mark in rest:
            head, rest = rest.split(mark, 1)
            total += (float(head) if head else 1.0) * factor
    return total + (float(rest) if rest else 0.0)


def _japanese_number(raw: str) -> float:
    """'1億4400万' -> 144,000,000; '1億2千万' -> 120,000,000; '12万5千' -> 125,000; '2.5万' -> 25,000."""
    total, rest = 0.0, raw
    for mark, factor in _MYRIADS:
        if mark in rest:
            head, rest = rest.split(mark, 1)
            if not head:
                raise ValueError(raw)
            total += _digit_group(head) * factor
    return total + (_digit_group(rest) if rest else 0.0)


def parse_number(text: object) -> float | None:
    """A number from a cell as people type it: '1,200,000', '¥1.2M'-free forms, '１２３', '△5', '(123)', '25%'.

    Returns None for a blank cell; raises ValueError for text that is not a number.
    A percentage is returned as a fraction (25% -> 0.25).
    """
    if text is None:
        return None
    if isinstance(text, (int, float)):
        if isinstance(text, float) and math.isnan(text):
            return None
        return float(text)
    raw = unicodedata.normalize("NFKC", str(text)).strip()
    if raw in ("", "-", "—", "ー"):
        return None
    negative = False
    for mark in _NEGATIVE_MARKS:
        if raw.startswith(mark):
            negative, raw = True, raw[len(mark):]
    if raw.startswith("(") and raw.endswith(")"):
        negative, raw = True, raw[1:-1]
    percent = raw.endswith("%")
    raw = _STRIP.sub("", raw.rstrip("%"))
    try:
        value = _japanese_number(raw) if _LARGE_UNITS.search(raw) else float(raw)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    if percent:
        value /= 100
    return -value if negative else value


_MONTH_PATTERNS = (
    re.compile(r"^(\d{4})\s*[/\-.年]\s*(\d{1,2})\s*(?:月)?(?:\s*[/\-.]?\s*(\d{1,2})\s*日?)?(?:[ T].*)?$"),
    re.compile(r"^(\d{4})(\d{2})$"),
)
_DAY_FIRST = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T].*)?$")
_MONTH_YEAR = re.compile(r"^(\d{1,2})[/.](\d{4})$")
_MONTH_NAMES = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}


# Japanese era years, as government and HR systems export them: 令和7年4月1日, R7.4.1, H31/4/30.
ERA_PATTERN = r"(令和|平成|昭和|[RHS])\s*(\d{1,2}|元)"  # also used, case-insensitive, by the import's SQL
_ERA = re.compile(rf"^{ERA_PATTERN}\s*(?=[/\-.年])", re.IGNORECASE)
ERA_FIRST_YEAR = {"令和": 2019, "R": 2019, "平成": 1989, "H": 1989, "昭和": 1926, "S": 1926}


# What Japanese exports add to a date: a weekday "2025/4/1(火)" and "分" (for the month of) "2025年4月分".
DATE_NOISE = r"\s*\((?:[月火水木金土日](?:曜日?)?|mon|tue|wed|thu|fri|sat|sun)\.?\)|分$"
_DATE_NOISE = re.compile(DATE_NOISE, re.IGNORECASE)


def _gregorian(text: str) -> str:
    """'R7.4.1' -> '2025.4.1'; anything else unchanged."""
    return _ERA.sub(lambda m: str(ERA_FIRST_YEAR[m[1].upper()] + (1 if m[2] == "元" else int(m[2])) - 1), text)


def parse_month(text: object) -> date | None:
    """The first day of the month named by '2025/04', '2025-04', '2025/4/1', '2025年4月', 'Apr 2025', 'R7.4.1',
    '令和7年4月', a datetime.

    Returns None for blank; raises ValueError for anything else, including dates that do not exist (2025/02/30).
    """
    if text is None:
        return None
    if isinstance(text, datetime):
        return date(text.year, text.month, 1)
    if isinstance(text, date):
        return date(text.year, text.month, 1)
    raw = _gregorian(_DATE_NOISE.sub("", unicodedata.normalize("NFKC", str(text)).strip()).strip())
    if not raw:
        return None
    for pattern in _MONTH_PATTERNS:
        match = pattern.match(raw)
        if match:
            year, month = int(match.group(1)), int(match.group(2))
            day = int(match.group(3)) if match.lastindex and match.lastindex >= 3 and match.group(3) else 1
            try:
                date(year, month, day)
            except ValueError:
                raise ValueError(f"no such date: {text!r}") from None
            return date(year, month, 1)
    european = _DAY_FIRST.match(raw) or _MONTH_YEAR.match(raw)
    if european:  # 15.04.2026 (day first with dots, as German or Swiss exports write), 04/2026, 04.2026
        parts = [int(g) for g in european.groups()]
        day, month, year = parts if len(parts) == 3 else [1, *parts]
        try:
            date(year, month, day)
        except ValueError:
            raise ValueError(f"no such date: {text!r}") from None
        return date(year, month, 1)
    words = re.match(r"^([A-Za-z]{3})[a-z]*\.?[\s\-]*(?:(\d{1,2}),?\s+)?(\d{4})$", raw)
    if words and words.group(1).lower() in _MONTH_NAMES:  # Apr 2025, April 2025, Apr 1, 2025
        year, month = int(words.group(3)), _MONTH_NAMES[words.group(1).lower()]
        try:
            date(year, month, int(words.group(2) or 1))
        except ValueError:
            raise ValueError(f"no such date: {text!r}") from None
        return date(year, month, 1)
    raise ValueError(f"not a month: {text!r}")


# ---------------------------------------------------------------- formatting
def _japanese_large(value: float) -> str:
    """1億4,400万 style: 億 and 万 parts, dropping zero parts."""
    sign = "-" if value < 0 else ""
    n = round(abs(value))
    oku, rest = divmod(n, 100_000_000)
    man, ones = divmod(rest, 10_000)
    parts = []
    if oku:
        parts.append(f"{oku:,}億")
    if man:
        parts.append(f"{man:,}万")
    if ones or not parts:
        parts.append(f"{ones:,}")
    return sign + "".join(parts)


def _significant(value: float, digits: int = 3) -> str:
    """'1.44', '14.4', '144', '1,440': about three significant digits, trailing zeros dropped."""
    if abs(value) >= 10 ** (digits - 1):
        return f"{round(value):,}"
    decimals = max(digits - 1 - (math.floor(math.log10(abs(value))) if value else 0), 0)
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)  # 1.125 -> 1.13
    return f"{rounded:,.{decimals}f}".rstrip("0").rstrip(".")


def _compact_number(value: float, lang: str) -> str:
    """A large number in a few characters: '1.44億' / '3,323万' in ja, '144M' / '33.2k' in en."""
    sign, magnitude = ("-" if value < 0 else ""), abs(value)
    steps = ((1e8, "億"), (1e4, "万")) if lang == "ja" else ((1e9, "B"), (1e6, "M"), (1e3, "k"))
    for factor, suffix in steps:
        if magnitude >= factor:
            shown = f"{round(magnitude / factor):,}" if suffix == "万" else _significant(magnitude / factor)
            return f"{sign}{shown}{suffix}"
    return f"{sign}{magnitude:,.0f}"


COMPACT_FROM = 100_000  # counts below this read easily in full


def format_money(value: float | None, lang: str, full_digits: bool = False, currency: str = "JPY",
                 compact: bool = False) -> str:
    """¥144,000,000 as '1億4,400万円' (ja) or '¥144.0M' (en); full digits on request.

    `compact` is for tiles where space is tight: '1.44億円' / '3,323万円' in ja (en is compact already).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    symbol = "$" if currency.upper() == "USD" else "¥"
    yen_in_ja = lang == "ja" and symbol == "¥"
    if full_digits or abs(value) < 10_000:
        return f"{value:,.0f}円" if yen_in_ja else f"{'-' if value < 0 else ''}{symbol}{abs(value):,.0f}"
    if yen_in_ja:
        return (_compact_number(value, "ja") if compact else _japanese_large(value)) + "円"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= factor:
            return f"{sign}{symbol}{magnitude / factor:,.1f}{suffix}"
    return f"{sign}{symbol}{magnitude:,.0f}"


def format_value(value: float | None, unit: str, lang: str, full_digits: bool = False,
                 compact: bool = False) -> str:
    """A value in its unit: money, rate as %, or a count with the unit appended (compact: see format_money)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if is_money(unit):
        return format_money(value, lang, full_digits, "USD" if unit.strip().lower() in {"usd", "$"} else "JPY",
                            compact)
    if is_rate(unit):
        return f"{value * 100:,.1f}%"
    if compact and not full_digits and abs(value) >= COMPACT_FROM:
        text = _compact_number(value, lang)
    else:
        text = f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".strip()


def format_percent(value: float | None, signed: bool = False, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:+,.{digits}f}%" if signed else f"{value * 100:,.{digits}f}%"


def one_line(text: object, limit: int) -> str:
    """Text on one line (runs of white space as one space), cut to `limit` characters ending in "…"."""
    line = " ".join(("" if text is None else str(text)).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def moment_text(moment: datetime | None) -> str:
    """A recorded moment (save, import, supersession) to the minute; empty when there is none."""
    return f"{moment:%Y-%m-%d %H:%M}" if moment else ""
