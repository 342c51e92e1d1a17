"""The KPI tree (KGI -> CSF -> KPI) as Graphviz DOT source.

Pure: the page hands over the plan's objects, targets and actuals and draws the returned text with
`st.graphviz_chart`. Every label is an HTML-like label built from escaped text (node ids never contain user text),
so names with quotes, backslashes, newlines or markup cannot break the graph or inject anything.
Where the KGI has a driver formula, its operators (×, ÷, +, −) sit between the KPI nodes on the bottom row.
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from kpi_core import i18n
from kpi_core.domain.drivers import FormulaError, Neg, Node, Num, Var, parse_formula
from kpi_core.domain.model import CSF, KGI, KPI, CSFRole, Status
from kpi_core.domain.tracking import PlanTracking
from kpi_core.domain.units import format_value, one_line

MAX_LABEL = 40
FONT = "Noto Sans CJK JP, Hiragino Sans, Meiryo, sans-serif"
# (fill, border) per status: readable on a projector, distinguishable by more than hue alone through the legend.
STATUS_COLOURS = {
    Status.ON_TRACK: ("#dcfce7", "#15803d"),
    Status.AT_RISK: ("#fef3c7", "#d97706"),
    Status.OFF_TRACK: ("#fee2e2", "#dc2626"),
    Status.NO_DATA: ("#f1f5f9", "#94a3b8"),
}
STATUS_ICONS = {Status.ON_TRACK: "●", Status.AT_RISK: "▲", Status.OFF_TRACK: "✖", Status.NO_DATA: "○"}
_SEVERITY = [Status.OFF_TRACK, Status.AT_RISK, Status.ON_TRACK, Status.NO_DATA]
OPERATOR_SYMBOLS = {"*": "×", "/": "÷", "+": "+", "-": "−"}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


# ---------------------------------------------------------------- figures
@dataclass(frozen=True)
class NodeFigures:
    """What a node shows besides its name: the latest actual and the metric's status."""

    month: date | None = None
    actual: float | None = None
    status: Status = Status.NO_DATA


def figures_from_tracking(tracked: PlanTracking) -> dict[str, NodeFigures]:
    """Node figures per metric key from the PDCA tracking: its latest actual and its overall (YTD) status."""
    figures = {}
    for metric in tracked.metrics:
        row = metric.latest
        figures[metric.key] = NodeFigures(row.month if row else None, row.actual if row else None, metric.status)
    return figures


def worst(statuses: Sequence[Status]) -> Status:
    """The most severe status among those with data (no data when none has any)."""
    known = [s for s in statuses if s != Status.NO_DATA]
    return min(known, key=_SEVERITY.index) if known else Status.NO_DATA


# ---------------------------------------------------------------- escaping
def escape_label(text: object, limit: int = MAX_LABEL) -> str:
    """Text safe inside a Graphviz HTML-like label: one line, shortened, with & < > " ' \\ as entities."""
    return (html.escape(one_line(text, limit), quote=False).replace('"', "&quot;").replace("'", "&#39;")
            .replace("\\", "&#92;"))


# ---------------------------------------------------------------- formula row
def formula_tokens(node: Node, parent_precedence: int = 0, right_side: bool = False) -> list[tuple[str, str]]:
    """The formula as infix tokens: ('name', key), ('op', symbol), ('num', text), ('paren', '(' or ')')."""
    if isinstance(node, Var):
        return [("name", node.name)]
    if isinstance(node, Num):
        return [("num", f"{node.value:g}")]
    if isinstance(node, Neg):
        return [("op", "−"), *formula_tokens(node.operand, 3)]
    precedence = _PRECEDENCE[node.op]
    inner = [*formula_tokens(node.left, precedence), ("op", OPERATOR_SYMBOLS[node.op]),
             *formula_tokens(node.right, precedence, right_side=True)]
    # Parentheses where precedence (or the non-associative right side of - and /) needs them.
    if precedence < parent_precedence or (right_side and precedence == parent_precedence):
        return [("paren", "("), *inner, ("paren", ")")]
    return inner


# ---------------------------------------------------------------- DOT
@dataclass(frozen=True)
class TreeInput:
    """Everything the tree shows; `figures` by metric key (the KGI's key and each KPI's)."""

    kgi: KGI | None
    csfs: Sequence[CSF]
    kpis: Sequence[KPI]
    figures: Mapping[str, NodeFigures]


def kpi_tree_dot(data: TreeInput, lang: str, full_digits: bool = False, rankdir: str = "TB") -> str:
    """DOT source of the KPI tree in `lang`; `rankdir="LR"` lays it left to right (a printed page with many KPIs
    reads better with the KPIs stacked than in one row)."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir must be TB or LR, not {rankdir!r}")
    builder = _Builder(data, lang, full_digits, rankdir)
    return builder.build()


class _Builder:
    def __init__(self, data: TreeInput, lang: str, full_digits: bool, rankdir: str = "TB"):
        self.data, self.lang, self.full, self.rankdir = data, lang, full_digits, rankdir
        self.lines: list[str] = []

    def t(self, key: str, **values: object) -> str:
        return i18n.t(key, self.lang, **values)

    # -- assembly
    def build(self) -> str:
        self.lines = [
            "digraph kpi_tree {",
            f'  graph [rankdir={self.rankdir}, nodesep=0.3, ranksep=0.55, bgcolor="transparent", fontname="{FONT}"];',
            f'  node [shape=box, style="rounded,filled", fontname="{FONT}", fontsize=13, penwidth=2, margin="0.18,0.08"];',
            '  edge [color="#64748b", penwidth=1.5, arrowhead=none];',
        ]
        kpi_status = {k.key: self.kpi_node(k) for k in self.data.kpis}
        shown_csfs = [c for c in self.data.csfs if c.role != CSFRole.RETIRED]
        self.kgi_node()
        for csf in shown_csfs:
            own = [kpi_status[k.key] for k in self.data.kpis if k.csf_id == csf.id]
            self.csf_node(csf, worst(own))
        self.edges(shown_csfs)
        self.formula_row()
        self.lines.append("}")
        return "\n".join(self.lines)

    def node(self, node_id: str, rows: list[str], status: Status, extra: str = "") -> None:
        fill, border = STATUS_COLOURS[status]
        label = "<BR/>".join(rows)
        self.lines.append(f'  {node_id} [label=<{label}>, fillcolor="{fill}", color="{border}"{extra}];')

    # -- nodes
    def kgi_node(self) -> None:
        kgi = self.data.kgi
        if kgi is None:
            self.node("kgi", [f"<B>{escape_label(self.t('kpi.tree.no_kgi'))}</B>"], Status.NO_DATA)
            return
        now = self.data.figures.get(kgi.key, NodeFigures())
        rows = ['<FONT POINT-SIZE="11">KGI</FONT>', f'<B><FONT POINT-SIZE="16">{escape_label(kgi.name)}</FONT></B>',
                escape_label(self.t("kpi.tree.target", value=format_value(kgi.target, kgi.unit, self.lang,
                                                                          self.full)))]
        rows += self.latest_rows(now, kgi.unit)
        if kgi.formula:
            rows.append(f'<I><FONT POINT-SIZE="11">= {escape_label(kgi.formula, 80)}</FONT></I>')
        self.node("kgi", rows, now.status, ", penwidth=3")

    def csf_node(self, csf: CSF, status: Status) -> None:
        role = self.t(f"enum.role.{csf.role}")
        rows = [f'<FONT POINT-SIZE="10">CSF · {escape_label(role)}</FONT>', f"<B>{escape_label(csf.name)}</B>"]
        if csf.contribution and self.data.kgi is not None:
            rows.append(escape_label(self.t("kpi.tree.contribution",
                                            value=format_value(csf.contribution, self.data.kgi.unit, self.lang,
                                                               self.full))))
        extra = ', style="rounded,filled,dashed"' if csf.role == CSFRole.FALLBACK else ""
        self.node(f"csf_{int(csf.id)}", rows, status, extra)

    def kpi_node(self, kpi: KPI) -> Status:
        now = self.data.figures.get(kpi.key, NodeFigures())
        rows = [f"<B>{escape_label(kpi.name)}</B>", f'<FONT POINT-SIZE="10">{escape_label(kpi.key)}</FONT>',
                escape_label(self.t("kpi.tree.target", value=format_value(kpi.annual_target, kpi.unit, self.lang,
                                                                          self.full)))]
        rows += self.latest_rows(now, kpi.unit)
        self.node(f"kpi_{int(kpi.id)}", rows, now.status)
        return now.status

    def latest_rows(self, now: NodeFigures, unit: str) -> list[str]:
        icon = STATUS_ICONS[now.status]
        status = escape_label(self.t(f"enum.status.{now.status}"))
        if now.month is None:
            return [f"{icon} {status}"]
        text = self.t("kpi.tree.latest", month=f"{now.month:%Y-%m}",
                      value=format_value(now.actual, unit, self.lang, self.full))
        return [escape_label(text), f"{icon} {status}"]

    # -- edges
    def edges(self, shown_csfs: Sequence[CSF]) -> None:
        shown = {c.id for c in shown_csfs}
        for csf in shown_csfs:
            style = ' [style=dashed]' if csf.role == CSFRole.FALLBACK else ""
            self.lines.append(f"  kgi -> csf_{int(csf.id)}{style};")
        for kpi in self.data.kpis:
            if kpi.csf_id in shown:
                self.lines.append(f"  csf_{int(kpi.csf_id)} -> kpi_{int(kpi.id)};")
            else:  # no CSF (or a retired one): hang it from the KGI so it is not lost from view
                self.lines.append(f"  kgi -> kpi_{int(kpi.id)} [style=dotted];")

    def formula_row(self) -> None:
        """The KGI formula along the KPI row: KPI nodes in formula order with operator nodes between them."""
        kgi = self.data.kgi
        if kgi is None or not kgi.formula:
            return
        try:
            tokens = formula_tokens(parse_formula(kgi.formula).tree)
        except FormulaError:
            return
        ids = {k.key: f"kpi_{int(k.id)}" for k in self.data.kpis}
        used: set[str] = set()
        chain = []
        for index, (kind, text) in enumerate(tokens):
            if kind == "name" and text in ids and text not in used:
                used.add(text)
                chain.append(ids[text])
                continue
            node_id = f"f_{index}"
            chain.append(node_id)
            if kind == "op":
                self.lines.append(f'  {node_id} [label=<<B>{escape_label(text)}</B>>, shape=circle, style=filled, '
                                  'fillcolor="white", color="#475569", fontsize=22, width=0.5, fixedsize=true];')
            else:  # a number, a parenthesis or a name that is not (or no longer) a KPI node
                self.lines.append(f'  {node_id} [label=<<B>{escape_label(text)}</B>>, shape=plaintext, fontsize=18];')
        self.lines.append("  { rank=same; " + " -> ".join(chain) + " [style=invis]; }" if len(chain) > 1
                          else "  { rank=same; " + "".join(chain) + "; }")

