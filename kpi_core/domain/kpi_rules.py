"""Checks and computations of steps 3 (CSF) and 4 (KPI).

Parsing what people type (amounts, rates in percent, action lists), validation that blocks a save, the SMART check
of a KPI and how much of the gap the CSFs cover.
Pure Python: every result is data with catalogue keys, the pages turn them into text.
"""
from __future__ import annotations

import keyword
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from kpi_core.domain.drivers import FormulaError, parse_formula
from kpi_core.domain.goal import MAX_NAME_LENGTH, MAX_TEXT_LENGTH, Message, check_name
from kpi_core.domain.model import CSF, KPI, Aggregation, CSFRole, add_months
from kpi_core.domain.phasing import PhasingError, PhasingMethod, phase_kpi
from kpi_core.domain.units import parse_number, parse_typed
from kpi_core.domain.value_rules import ValueKind, range_problem, shown, value_kind

KEY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_KEY_LENGTH = 40
MAX_UNIT_LENGTH = 20
MAX_ACTIONS = 30
MAX_ACTION_LENGTH = 200
MAX_THRESHOLD_PCT = 200.0
RECOMMENDED_KPIS = (3, 5)
# Words that promise effort rather than name a quantity: "営業力強化" is not a KPI, "商談数 50件/月" is.
VAGUE_WORDS = ("強化", "向上", "改善", "推進", "徹底", "活性化", "最大化", "充実",
               "improve", "strengthen", "better", "enhance", "boost", "optimise", "optimize")
_BULLETS = ("-", "*", "・", "•", "●", "○", "■", "□")


# ---------------------------------------------------------------- typed values
def parse_amount(text: str, unit: str, field_label: str) -> tuple[float | None, list[Message]]:
    """A non-negative value typed on a form; rates are typed in percent ('25' or '25%' both mean 0.25).

    Returns (value, errors); a blank field gives (None, []).
    """
    try:
        value = parse_typed(text, unit)
    except ValueError:
        return None, [Message("error", "check.not_a_number", {"value": (text or "").strip()[:50]})]
    if value is None:
        return None, []
    problem = range_problem(value, _target_kind(unit))
    if problem:
        return None, [Message("error", problem, {"field": field_label, "value": (text or "").strip()[:50]})]
    return value, []


def _target_kind(unit: str, aggregation: Aggregation | str = Aggregation.SUM) -> ValueKind:
    """Targets and contributions are never below zero: a level's target too is held to the amount rule."""
    kind = value_kind(unit, aggregation)
    return ValueKind.AMOUNT if kind is ValueKind.SIGNED else kind


def parse_actions(text: str) -> list[str]:
    """Candidate actions, one per line; bullets and blank lines dropped, duplicates removed in order."""
    actions: list[str] = []
    for line in (text or "").splitlines():
        item = line.strip()
        while item.startswith(_BULLETS):
            item = item[1:].strip()
        if item and item not in actions:
            actions.append(item)
    return actions


# ---------------------------------------------------------------- CSF
def validate_csf(csf: CSF) -> list[Message]:
    """Errors that block saving a CSF."""
    messages = check_name(csf.name, "csf_name")
    if csf.contribution is None or csf.contribution < 0:
        messages.append(Message("error", "csf.err.contribution"))
    if len(csf.description or "") > MAX_TEXT_LENGTH:
        messages.append(Message("error", "check.text_too_long", {"max": MAX_TEXT_LENGTH}))
    if len(csf.actions) > MAX_ACTIONS:
        messages.append(Message("error", "csf.err.too_many_actions", {"max": MAX_ACTIONS}))
    if any(len(action) > MAX_ACTION_LENGTH for action in csf.actions):
        messages.append(Message("error", "csf.err.action_too_long", {"max": MAX_ACTION_LENGTH}))
    return messages


def move_item(ids: Sequence[int], item_id: int, step: int) -> list[int]:
    """The order after moving `item_id` by `step` places (-1 = up), clamped at both ends."""
    order = list(ids)
    if item_id not in order:
        return order
    index = order.index(item_id)
    target = max(0, min(len(order) - 1, index + step))
    order.insert(target, order.pop(index))
    return order


def grouped_order(csfs: Sequence[CSF]) -> list[int]:
    """CSF ids in display order: primary, then fallback, then retired, each by position."""
    rank = {CSFRole.PRIMARY: 0, CSFRole.FALLBACK: 1, CSFRole.RETIRED: 2}
    return [c.id for c in sorted(csfs, key=lambda c: (rank[c.role], c.position, c.id or 0))]


def reorder_within_role(csfs: Sequence[CSF], csf_id: int, step: int) -> list[int]:
    """The full CSF order after moving one CSF up or down among the CSFs of its own role."""
    role = next(c.role for c in csfs if c.id == csf_id)
    order = grouped_order(csfs)
    same_role = [i for i in order if next(c.role for c in csfs if c.id == i) == role]
    moved = iter(move_item(same_role, csf_id, step))
    return [next(moved) if i in same_role else i for i in order]


@dataclass(frozen=True)
class Coverage:
    """How much of the gap the primary CSFs are expected to close (all in KGI units)."""

    gap: float  # target - current, signed (negative when the KGI must go down)
    covered: float  # sum of the primary CSFs' contributions (magnitudes)
    share: float | None  # covered / |gap|; None when there is no gap
    uncovered: float  # |gap| - covered; negative when the CSFs over-cover the gap

    @property
    def over_covered(self) -> bool:
        return self.uncovered < 0


def coverage(csfs: Iterable[CSF], gap: float) -> Coverage:
    covered = sum(c.contribution for c in csfs if c.role == CSFRole.PRIMARY)
    size = abs(gap)
    return Coverage(gap, covered, covered / size if size else None, size - covered)


# ---------------------------------------------------------------- KPI
def validate_kpi(kpi: KPI, others: Sequence[KPI], kgi_key: str = "") -> list[Message]:
    """Errors that block saving a KPI, then warnings. `others` are the plan's other KPIs (for unique keys)."""
    messages = check_key(kpi.key, [k.key for k in others if k.id != kpi.id or kpi.id is None], kgi_key)
    messages += check_name(kpi.name, "kpi_name")
    if len((kpi.unit or "").strip()) > MAX_UNIT_LENGTH:
        messages.append(Message("error", "kpi.err.unit_too_long", {"max": MAX_UNIT_LENGTH}))
    if kpi.annual_target is not None:
        kind = value_kind(kpi.unit, kpi.aggregation)
        problem = range_problem(kpi.annual_target, kind)
        if problem:
            messages.append(Message("error", problem, {"field": kpi.name or kpi.key,
                                                       "value": shown(kpi.annual_target, kind)}))
    messages += check_thresholds(kpi.amber_threshold, kpi.red_threshold)
    for text in (kpi.owner, kpi.data_source):
        if len(text or "") > MAX_NAME_LENGTH:
            messages.append(Message("error", "kpi.err.field_too_long", {"max": MAX_NAME_LENGTH}))
    for text in (kpi.definition, kpi.recovery_plan, kpi.rationale):
        if len(text or "") > MAX_TEXT_LENGTH:
            messages.append(Message("error", "check.text_too_long", {"max": MAX_TEXT_LENGTH}))
    messages += _check_ratio_weight(kpi, others)
    return messages


def check_key(key: str, taken: Iterable[str], kgi_key: str = "") -> list[Message]:
    """A KPI key is a slug usable in formulas: a letter, then letters, digits or underscores; unique in the plan."""
    text = (key or "").strip()
    if not text:
        return [Message("error", "kpi.err.key_empty")]
    if len(text) > MAX_KEY_LENGTH or not KEY_PATTERN.match(text) or keyword.iskeyword(text):
        return [Message("error", "kpi.err.key_format", {"key_text": text[:50], "max": MAX_KEY_LENGTH})]
    if text in set(taken):
        return [Message("error", "kpi.err.key_duplicate", {"key_text": text})]
    if kgi_key and text == kgi_key:
        return [Message("error", "kpi.err.key_is_kgi", {"key_text": text})]
    return []


def check_thresholds(amber: float, red: float) -> list[Message]:
    """Attainment thresholds as fractions: 0 <= red < amber <= 2 (95 % / 85 % is the usual pair)."""
    limit = MAX_THRESHOLD_PCT / 100
    if not (0 <= red < amber <= limit):
        return [Message("error", "kpi.err.thresholds", {"max": MAX_THRESHOLD_PCT})]
    return []


def _check_ratio_weight(kpi: KPI, others: Sequence[KPI]) -> list[Message]:
    weight = (kpi.ratio_weight or "").strip()
    if kpi.aggregation != Aggregation.RATIO:
        return [Message("warning", "kpi.warn.weight_ignored")] if weight else []
    if not weight:
        return [Message("warning", "kpi.warn.no_weight")]
    try:
        parse_formula(weight, allowed=[k.key for k in others if k.key != kpi.key])
    except FormulaError as exc:
        return [Message("error", exc.key, dict(exc.values))]
    return []


@dataclass(frozen=True)
class SmartFinding:
    """One SMART miss of a KPI: the letter it belongs to ('' for the action/owner check) and its catalogue key."""

    letter: str
    key: str
    values: dict


SMART_LETTERS = ("S", "M", "A", "R", "T")


def smart_check(kpi: KPI, csf_ids: Iterable[int]) -> list[SmartFinding]:
    """What keeps the KPI from being Specific, Measurable, Achievable, Relevant, Time-bound (and owned)."""
    findings = []
    vague = vague_word(f"{kpi.name} {kpi.definition}")
    if vague:
        findings.append(SmartFinding("S", "kpi.smart.vague", {"word": vague}))
    if not (kpi.definition or "").strip():
        findings.append(SmartFinding("S", "kpi.smart.no_definition", {}))
    if not (kpi.unit or "").strip():
        findings.append(SmartFinding("M", "kpi.smart.no_unit", {}))
    if not (kpi.data_source or "").strip():
        findings.append(SmartFinding("M", "kpi.smart.no_source", {}))
    if not (kpi.rationale or "").strip():
        findings.append(SmartFinding("A", "kpi.smart.no_rationale", {}))
    if kpi.csf_id is None or kpi.csf_id not in set(csf_ids):
        findings.append(SmartFinding("R", "kpi.smart.no_csf", {}))
    if kpi.annual_target is None:
        findings.append(SmartFinding("T", "kpi.smart.no_target", {}))
    if not (kpi.owner or "").strip():
        findings.append(SmartFinding("", "kpi.smart.no_owner", {}))
    return findings


def smart_letters(findings: Iterable[SmartFinding]) -> dict[str, bool]:
    """Each SMART letter and whether the KPI passes it."""
    missed = {f.letter for f in findings}
    return {letter: letter not in missed for letter in SMART_LETTERS}


def vague_word(text: str) -> str:
    """The first vague word of `text` when the text carries no number, else ''."""
    normalised = unicodedata.normalize("NFKC", text or "")
    if any(ch.isdigit() for ch in normalised):
        return ""
    lowered = normalised.lower()
    return next((word for word in VAGUE_WORDS if word in lowered), "")


# ---------------------------------------------------------------- the KPI list
def default_csf(csfs: Sequence[CSF]) -> int | None:
    """The CSF a new KPI is filed under: the first primary one."""
    return next((c.id for c in csfs if c.role == CSFRole.PRIMARY), None)


def csf_choices(csfs: Sequence[CSF], current: int | None) -> list[int | None]:
    """What a KPI may be filed under: no CSF, the live CSFs, and the retired one it is already under."""
    return [None, *[c.id for c in csfs if c.role != CSFRole.RETIRED or c.id == current]]


def kpi_groups(csfs: Sequence[CSF], kpis: Sequence[KPI]) -> list[tuple[CSF | None, list[KPI]]]:
    """KPIs grouped by CSF in the CSF order (a retired CSF only while KPIs remain under it); KPIs without a known
    CSF last, under None."""
    groups: list[tuple[CSF | None, list[KPI]]] = []
    for csf in csfs:
        own = [k for k in kpis if k.csf_id == csf.id]
        if own or csf.role != CSFRole.RETIRED:
            groups.append((csf, own))
    known = {c.id for c in csfs}
    orphans = [k for k in kpis if k.csf_id not in known]
    return groups + [(None, orphans)] if orphans else groups


# ---------------------------------------------------------------- monthly targets
SAVED = "saved"  # the editor's choice that shows the stored targets as they are


def last_year_shape(series: Mapping[date, float] | None, month_list: Sequence[date]) -> list[float] | None:
    """Weights for seasonal phasing: the same months a year earlier, when every one of them has a value."""
    series = series or {}
    earlier = [add_months(month, -12) for month in month_list]
    if not all(m in series for m in earlier):
        return None
    return [float(series[m]) for m in earlier]


def phased_targets(kpi: KPI, month_list: Sequence[date], method: str,
                   stored: Mapping[date, float] | None = None,
                   history: Mapping[date, float] | None = None) -> dict[date, float]:
    """Monthly targets for the editor: the saved ones, or the annual target phased by `method`.

    'custom' keeps the shape of the saved targets and scales it to the annual target; 'seasonal' takes the shape
    of last year's actuals (`history`). Raises PhasingError (catalogue key) when the method cannot apply.
    """
    stored = stored or {}
    if method == SAVED and stored:
        even = phase_kpi(kpi, month_list) if kpi.annual_target is not None else {}
        return {m: stored.get(m, even.get(m, 0.0)) for m in month_list}
    weights = None
    if method == PhasingMethod.SEASONAL:
        weights = last_year_shape(history, month_list)
        if weights is None or not any(weights):
            raise PhasingError("kpi.targets.no_history")
    elif method == PhasingMethod.CUSTOM:
        weights = [stored.get(m, 0.0) for m in month_list]
        if not any(w > 0 for w in weights):
            raise PhasingError("kpi.targets.no_saved_shape")
    return phase_kpi(kpi, month_list, method if method != SAVED else PhasingMethod.EVEN, weights)


def rephase(kpi: KPI, month_list: Sequence[date], stored: Mapping[date, float] | None) -> dict[date, float]:
    """Monthly targets after the annual target changed: the saved shape kept where there is one, else even."""
    if stored and kpi.aggregation == Aggregation.SUM and all(stored.get(m, 0) > 0 for m in month_list):
        return phased_targets(kpi, month_list, PhasingMethod.CUSTOM, stored)
    return phase_kpi(kpi, month_list)


def check_monthly(values: Mapping[date, object], unit: str, scale: float = 1.0) -> tuple[dict[date, float],
                                                                                       list[Message]]:
    """Monthly targets from the editor (in display scale: rates in percent) as stored values, or the errors."""
    cleaned: dict[date, float] = {}
    messages: list[Message] = []
    for month, raw in values.items():
        label = f"{month:%Y-%m}"
        try:
            number = parse_number(raw)
        except ValueError:
            messages.append(Message("error", "kpi.targets.not_a_number", {"month": label, "value": str(raw)[:30]}))
            continue
        if number is None or not math.isfinite(number):
            messages.append(Message("error", "kpi.targets.blank", {"month": label}))
            continue
        typed_percent = isinstance(raw, str) and "%" in unicodedata.normalize("NFKC", raw)
        value = number if typed_percent else number / scale  # '30%' is already a fraction
        problem = range_problem(value, _target_kind(unit))
        if problem:
            messages.append(Message("error", problem, {"field": label, "month": label, "value": str(raw)[:30]}))
        else:
            cleaned[month] = value
    return cleaned, messages


def phasing_methods(has_saved: bool) -> list[str]:
    """The editor's choices: the saved targets and their shape only when there are saved targets."""
    return [*([SAVED] if has_saved else []), PhasingMethod.EVEN.value, PhasingMethod.SEASONAL.value,
            PhasingMethod.RAMP.value, *([PhasingMethod.CUSTOM.value] if has_saved else [])]


def changed_cells(drawn: Mapping[date, object], typed: Mapping[date, object]) -> dict[date, object]:
    """The months whose typed cell differs from the one drawn (two blank cells are the same)."""
    def blank(value: object) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    return {m: v for m, v in typed.items()
            if not (v == drawn.get(m) or (blank(v) and blank(drawn.get(m))))}


def sum_mismatch(kpi: KPI, monthly: Mapping[date, float]) -> bool:
    """A summed KPI whose monthly targets do not add up to its annual target."""
    if kpi.aggregation != Aggregation.SUM or kpi.annual_target is None:
        return False
    return abs(sum(monthly.values()) - kpi.annual_target) > 1e-6 * max(1.0, abs(kpi.annual_target))
