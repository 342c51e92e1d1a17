"""kpi_core.domain.tree: the KPI tree's DOT source — escaped labels, formula operators, statuses from tracking."""
from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

import pytest

from kpi_core.domain.drivers import parse_formula
from kpi_core.domain.model import CSF, KGI, KPI, Aggregation, CSFRole, Kind, Plan, Status
from kpi_core.domain.tracking import track_plan
from kpi_core.domain.tree import (
    STATUS_COLOURS,
    NodeFigures,
    TreeInput,
    escape_label,
    figures_from_tracking,
    formula_tokens,
    kpi_tree_dot,
    worst,
)

PLAN = Plan(name="p", fiscal_start=date(2025, 4, 1), id=1)


def sales(formula: str = "meetings * win_rate * avg_deal", kgi_name: str = "Annual revenue") -> TreeInput:
    kgi = KGI(plan_id=1, key="revenue", name=kgi_name, baseline=120e6, target=144e6, formula=formula)
    csfs = [CSF(plan_id=1, name="New customers", id=1, contribution=12e6),
            CSF(plan_id=1, name="Meeting quality", id=2, contribution=8e6),
            CSF(plan_id=1, name="Existing customers", id=3, role=CSFRole.FALLBACK),
            CSF(plan_id=1, name="Old idea", id=4, role=CSFRole.RETIRED)]
    kpis = [KPI(plan_id=1, key="meetings", name="Qualified meetings", csf_id=1, unit="件", annual_target=600, id=11),
            KPI(plan_id=1, key="win_rate", name="Win rate", csf_id=2, unit="%", kind=Kind.LAGGING,
                aggregation=Aggregation.RATIO, ratio_weight="meetings", annual_target=0.25, id=12),
            KPI(plan_id=1, key="avg_deal", name="Average deal", csf_id=2, unit="JPY", kind=Kind.LAGGING,
                aggregation=Aggregation.RATIO, ratio_weight="meetings * win_rate", annual_target=1.2e6, id=13)]
    return TreeInput(kgi, csfs, kpis, {})


def node_line(dot: str, node_id: str) -> str:
    return next(line for line in dot.splitlines() if line.strip().startswith(f"{node_id} ["))


def test_hierarchy_and_formula_operators():
    dot = kpi_tree_dot(sales(), "en")
    assert dot.startswith("digraph kpi_tree {") and dot.rstrip().endswith("}")
    for edge in ("kgi -> csf_1;", "kgi -> csf_2;", "kgi -> csf_3 [style=dashed];", "csf_1 -> kpi_11;",
                 "csf_2 -> kpi_12;", "csf_2 -> kpi_13;"):
        assert edge in dot
    assert "csf_4" not in dot, "retired CSFs are left out"
    assert dot.count("×") == 2, "meetings × win_rate × avg_deal"
    assert re.search(r"rank=same; kpi_11 -> f_1 -> kpi_12 -> f_3 -> kpi_13 \[style=invis\]", dot)
    assert "Target ¥144.0M" in node_line(dot, "kgi") and "Target 600 件" in node_line(dot, "kpi_11")
    assert "= meetings * win_rate * avg_deal" in node_line(dot, "kgi")


def test_japanese_labels():
    dot = kpi_tree_dot(sales(), "ja")
    assert "目標 1億4,400万円" in node_line(dot, "kgi")
    assert "主要" in node_line(dot, "csf_1") and "データなし" in node_line(dot, "kpi_11")


@pytest.mark.parametrize("formula, expected", [
    ("a * b * c", ["a", "×", "b", "×", "c"]),
    ("a + b", ["a", "+", "b"]),
    ("(a + b) * c", ["(", "a", "+", "b", ")", "×", "c"]),
    ("a - (b - c)", ["a", "−", "(", "b", "−", "c", ")"]),
    ("a / (b * c)", ["a", "÷", "(", "b", "×", "c", ")"]),
    ("-a * 2", ["−", "a", "×", "2"]),
    ("leads * mql_rate * sql_rate * win_rate * avg_deal",
     ["leads", "×", "mql_rate", "×", "sql_rate", "×", "win_rate", "×", "avg_deal"]),
])
def test_formula_tokens_keep_the_meaning(formula, expected):
    assert [text for _, text in formula_tokens(parse_formula(formula).tree)] == expected


def test_sum_formula_and_unknown_names_and_repeats():
    data = sales(formula="meetings + new_thing + meetings")
    dot = kpi_tree_dot(data, "en")
    assert dot.count("label=<<B>+</B>>") == 2
    assert "<B>new_thing</B>" in dot, "a name that is no KPI is shown as text"
    assert dot.count("kpi_11 [") == 1, "each KPI node is drawn once"


def test_hostile_text_is_escaped_everywhere():
    data = sales(kgi_name='R "Q1"\\ <script>x</script> & co\n]; e [label="x"')
    data.csfs[0].name = "<b>bold</b>"
    data.kpis[0].name = 'He said "hi" \\n'
    dot = kpi_tree_dot(data, "en")
    kgi = node_line(dot, "kgi")
    assert "<script>" not in dot and "&lt;script&gt;" in kgi
    assert "&quot;Q1&quot;" in kgi and "&#92;" in kgi and "&amp; co" in kgi
    assert "<b>bold</b>" not in dot and "&lt;b&gt;bold&lt;/b&gt;" in dot
    assert "&quot;hi&quot; &#92;n" in node_line(dot, "kpi_11")
    assert dot.count("\n") == kpi_tree_dot(sales(), "en").count("\n"), "a newline in a name adds no DOT line"


def test_escape_label_shortens_long_names():
    text = escape_label("x" * 10_000)
    assert len(text) == 40 and text.endswith("…")
    assert escape_label("a\nb\tc") == "a b c"
    assert escape_label("'") == "&#39;"


def test_no_kgi_no_formula_and_orphans():
    data = sales()
    orphan = KPI(plan_id=1, key="nps", name="NPS", csf_id=4, id=14)  # its CSF is retired
    dot = kpi_tree_dot(TreeInput(None, data.csfs, [*data.kpis, orphan], {}), "en")
    assert "KGI not set" in node_line(dot, "kgi")
    assert "kgi -> kpi_14 [style=dotted];" in dot
    assert "rank=same" not in dot
    broken = kpi_tree_dot(sales(formula="meetings **"), "en")
    assert "rank=same" not in broken and "×" not in broken


def test_statuses_colour_the_nodes_from_tracking():
    data = sales()
    actuals = {"meetings": {date(2025, 4, 1): 50.0, date(2025, 5, 1): 52.0},
               "win_rate": {date(2025, 4, 1): 0.18, date(2025, 5, 1): 0.19},
               "avg_deal": {date(2025, 4, 1): 1.12e6, date(2025, 5, 1): 1.15e6},
               "revenue": {date(2025, 4, 1): 10e6, date(2025, 5, 1): 11e6}}
    figures = figures_from_tracking(track_plan(PLAN, data.kgi, data.kpis, {}, actuals))
    assert figures["meetings"] == NodeFigures(date(2025, 5, 1), 52.0, Status.ON_TRACK)
    assert figures["win_rate"].status == Status.OFF_TRACK
    assert figures["avg_deal"].status == Status.AT_RISK
    dot = kpi_tree_dot(TreeInput(data.kgi, data.csfs, data.kpis, figures), "en")
    fill_on, _ = STATUS_COLOURS[Status.ON_TRACK]
    fill_off, _ = STATUS_COLOURS[Status.OFF_TRACK]
    assert f'fillcolor="{fill_on}"' in node_line(dot, "kpi_11")
    assert "Latest 2025-05: 52 件" in node_line(dot, "kpi_11") and "On track" in node_line(dot, "kpi_11")
    assert f'fillcolor="{fill_off}"' in node_line(dot, "kpi_12")
    assert f'fillcolor="{fill_off}"' in node_line(dot, "csf_2"), "a CSF shows its worst KPI"
    no_data, _ = STATUS_COLOURS[Status.NO_DATA]
    assert f'fillcolor="{no_data}"' in node_line(dot, "csf_3")


def test_worst_status():
    assert worst([Status.ON_TRACK, Status.AT_RISK, Status.NO_DATA]) == Status.AT_RISK
    assert worst([Status.NO_DATA]) == Status.NO_DATA and worst([]) == Status.NO_DATA


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' binary not installed")
def test_graphviz_accepts_the_source():
    data = sales(kgi_name='"<script>" & \\ ]')
    result = subprocess.run(["dot", "-Tsvg"], input=kpi_tree_dot(data, "ja"), capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "<script>" not in result.stdout
