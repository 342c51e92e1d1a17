"""Plans page helpers: rows of the plan list, validation of plan fields, safe display of user text.

Pure Python (no UI): the page reads widgets, calls these, and renders what they return.
"""
from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from kpi_core.domain.goal import MAX_NAME_LENGTH, Message, check_name
from kpi_core.domain.model import KGI, Plan, PlanStatus, add_months
from kpi_core.domain.units import one_line, parse_typed
from kpi_core.errors import WorkbenchError

MIN_MONTHS, MAX_MONTHS = 1, 36
DEFAULT_MONTHS = 12
CURRENCIES = ("JPY", "USD")  # the currencies that units.format_money knows how to show
FISCAL_YEAR_FIRST_MONTH = 4  # the Japanese fiscal year starts in April
TREE_LABEL_LIMIT = 28  # characters per node name in a gallery card's small tree


class PlanInputError(WorkbenchError):
    """A value typed on the Plans page that cannot be used; `key` and `values` feed the catalogue."""


# ---------------------------------------------------------------- months and periods
def default_fiscal_start(today: date) -> date:
    """April of the fiscal year that contains `today` (January-March belong to the year begun last April)."""
    year = today.year if today.month >= FISCAL_YEAR_FIRST_MONTH else today.year - 1
    return date(year, FISCAL_YEAR_FIRST_MONTH, 1)


def fiscal_start_options(today: date, span: int = 24, include: date | None = None) -> list[date]:
    """Months offered as a plan's first month: `span` months either side of the default fiscal start."""
    centre = default_fiscal_start(today)
    options = [add_months(centre, offset) for offset in range(-span, span + 1)]
    if include is not None:
        first = date(include.year, include.month, 1)
        if first not in options:
            options = sorted([*options, first])
    return options


def format_month(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def format_period(plan: Plan) -> str:
    """'2026-04 – 2027-03': the first and last month of the plan."""
    return f"{format_month(plan.fiscal_start)} – {format_month(plan.end_month)}"


# ---------------------------------------------------------------- the plan list
@dataclass
class PlanRow:
    plan: Plan
    period: str
    steps_done: int
    steps_total: int
    is_current: bool

    @property
    def progress(self) -> str:
        return f"{self.steps_done}/{self.steps_total}"

    @property
    def archived(self) -> bool:
        return self.plan.status == PlanStatus.ARCHIVED


def step_progress(kgi: KGI | None, primary_csfs: int, kpis_with_target: int, has_actuals: bool) -> list[bool]:
    """Which of the five steps are complete."""
    kgi_done = bool(kgi and kgi.name and kgi.target is not None and kgi.baseline is not None and kgi.deadline)
    gap_done = bool(kgi_done and kgi.current is not None)
    return [kgi_done, gap_done, primary_csfs > 0, kpis_with_target > 0, has_actuals]


def filter_rows(rows: list[PlanRow], query: str) -> list[PlanRow]:
    """Rows whose name or department contains `query` (case-insensitive); all rows for an empty query."""
    needle = (query or "").strip().casefold()
    if not needle:
        return rows
    return [r for r in rows if needle in r.plan.name.casefold() or needle in r.plan.department.casefold()]


def unarchived_status(steps_done: list[bool]) -> PlanStatus:
    """The status an archived plan returns to: active once PDCA has actuals (the last step), else a draft."""
    return PlanStatus.ACTIVE if steps_done and steps_done[-1] else PlanStatus.DRAFT


# ---------------------------------------------------------------- validation
def validate_plan_fields(name: str, department: str = "", months: int = DEFAULT_MONTHS,
                         currency: str = "JPY") -> list[Message]:
    """Errors that block creating or renaming a plan; keys and values for the catalogue."""
    messages = check_name(name, "plan_name")
    if len((department or "").strip()) > MAX_NAME_LENGTH:
        messages.append(Message("error", "check.name_too_long",
                                {"field": "department", "max": MAX_NAME_LENGTH, "length": len(department.strip())}))
    if not isinstance(months, int) or not MIN_MONTHS <= months <= MAX_MONTHS:
        messages.append(Message("error", "plans.error.months_range", {"min": MIN_MONTHS, "max": MAX_MONTHS}))
    if currency not in CURRENCIES:
        messages.append(Message("error", "plans.error.currency", {"allowed": ", ".join(CURRENCIES)}))
    return messages


def blank_plan(name: str, department: str, fiscal_start: date, months: int, currency: str) -> Plan:
    """A new plan from the form's values, trimmed; call `validate_plan_fields` first."""
    return Plan(name=name.strip(), department=(department or "").strip(),
                fiscal_start=date(fiscal_start.year, fiscal_start.month, 1), months=months, currency=currency)


def copy_name(name: str, suffix: str) -> str:
    """'<name> <suffix>' for a duplicate, shortening the original so the result stays a valid name."""
    room = MAX_NAME_LENGTH - len(suffix) - 1
    return f"{name.strip()[:max(room, 1)].rstrip()} {suffix}"


# ---------------------------------------------------------------- safe display
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~=$:&])")


def markdown_text(text: str) -> str:
    """User text made inert for a markdown element: every markdown/HTML character escaped, shown as typed."""
    flat = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)




# ---------------------------------------------------------------- templates
def parse_baseline(text: str, unit: str) -> float | None:
    """The optional 'scale to my baseline' figure: None when blank, else a positive number in the KGI's unit.

    People type figures as they write them ('5000万', '¥50,000,000'); a rate is typed as a percentage ('110' or
    '110%' both mean 1.10).
    """
    if not (text or "").strip():
        return None
    try:
        value = parse_typed(text, unit)
    except ValueError:
        raise PlanInputError("plans.template.baseline_invalid", value=text) from None
    if value is None or value <= 0:
        raise PlanInputError("plans.template.baseline_invalid", value=text)
    return value


def readable_formula(formula: str) -> str:
    """A driver formula as people write it on a whiteboard: × and ÷ instead of * and /."""
    return " ".join(formula.replace("*", " × ").replace("/", " ÷ ").split())


def dot_label(text: object, limit: int = TREE_LABEL_LIMIT) -> str:
    """Text for a quoted Graphviz label: one line, shortened, with quotes, backslashes and <>& made inert."""
    return html.escape(one_line(text, limit).replace("\\", "\\\\"), quote=True)


def template_tree_dot(preview: Mapping[str, Any]) -> str:
    """A small KGI -> CSF -> KPI tree of a template preview (`Template.preview`). Node ids are positions, never
    text from the file; fallback CSFs are dashed, a KPI without a CSF hangs from the KGI."""
    lines = ["digraph template {",
             '  graph [rankdir=TB, nodesep=0.15, ranksep=0.3, bgcolor="transparent"];',
             ('  node [shape=box, style="rounded,filled", fillcolor="#f1f5f9", color="#64748b", fontsize=11, '
             'margin="0.08,0.04"];'),
             '  edge [color="#94a3b8", arrowhead=none];',
             (f'  kgi [label="KGI\\n{dot_label(preview["kgi"]["name"])}", fillcolor="#dbeafe", color="#1d4ed8", '
             'penwidth=2];')]
    csf_ids = {}
    for index, csf in enumerate(preview.get("csfs", [])):
        csf_ids[csf["key"]] = f"csf_{index}"
        style = ', style="rounded,filled,dashed"' if csf.get("role") == "fallback" else ""
        lines.append(f'  csf_{index} [label="{dot_label(csf["name"])}"{style}];')
        lines.append(f"  kgi -> csf_{index}{' [style=dashed]' if style else ''};")
    for index, kpi in enumerate(preview.get("kpis", [])):
        lines.append(f'  kpi_{index} [label="{dot_label(kpi["name"])}", fillcolor="white"];')
        lines.append(f"  {csf_ids.get(kpi.get('csf'), 'kgi')} -> kpi_{index};")
    lines.append("}")
    return "\n".join(lines)
