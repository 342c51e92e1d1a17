"""The report as one self-contained HTML document (A4 landscape print CSS); it is also the PDF's source.

Every text from the plan is escaped here; charts and the tree are embedded as SVG images (data URIs), so the file
opens anywhere without network access.
"""
from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from datetime import date

from kpi_core.adapters.report.images import REPORT_FONT, chart_svg, dot_svg
from kpi_core.charts.tracking import cumulative_chart
from kpi_core.domain.model import Status
from kpi_core.domain.report import KPILine, ReportContent
from kpi_core.domain.tracking import STATUS_COLOUR, month_label
from kpi_core.domain.tree import STATUS_ICONS, TreeInput, figures_from_tracking, kpi_tree_dot
from kpi_core.domain.units import format_percent, format_value, one_line
from kpi_core.i18n import t

EXEC_TEXT_LIMIT = 110  # characters of a recovery plan or an action on the one-page executive report
WIDE_TREE_KPIS = 6  # beyond this many KPIs one row of the tree gets too small on paper: lay it out left to right

REPORT_CSS = f"""
@page {{ size: A4 landscape; margin: 9mm 10mm 10mm 10mm;
  @bottom-right {{ content: counter(page) " / " counter(pages); font-family: "{REPORT_FONT}", sans-serif;
    font-size: 7pt; color: #64748b; }} }}
* {{ box-sizing: border-box; }}
body {{ font-family: "{REPORT_FONT}", "Noto Sans CJK JP", "DejaVu Sans", sans-serif; font-size: 9pt; color: #0f172a;
  margin: 0; }}
header {{ display: flex; justify-content: space-between; align-items: flex-end; border-bottom: 2px solid #1e3a8a;
  padding-bottom: 1.5mm; margin-bottom: 2.5mm; }}
header h1 {{ font-size: 15pt; margin: 0; }}
header .meta {{ color: #475569; font-size: 8.5pt; text-align: right; }}
h2 {{ font-size: 10.5pt; margin: 0 0 1.5mm 0; color: #1e3a8a; }}
.tiles {{ display: flex; gap: 2mm; margin-bottom: 2.5mm; }}
.tile {{ flex: 1; border: 1px solid #cbd5e1; border-radius: 2mm; padding: 1.5mm 2mm; }}
.tile .label {{ font-size: 7.5pt; color: #475569; }}
.tile .value {{ font-size: 12pt; font-weight: bold; white-space: nowrap; }}
.tile .sub {{ font-size: 7.5pt; color: #475569; }}
.columns {{ display: flex; gap: 4mm; }}
.columns > div {{ flex: 1; min-width: 0; }}
figure {{ margin: 0; break-inside: avoid; page-break-inside: avoid; }}
figure img {{ width: 100%; object-fit: contain; }}
.tree img {{ height: 132mm; }}
.path img {{ height: 56mm; }}
.multiples img {{ max-height: 170mm; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #e2e8f0; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }}
th {{ background: #f1f5f9; font-size: 8pt; }}
td.num {{ text-align: right; white-space: nowrap; }}
td:first-child {{ white-space: nowrap; }}
tr {{ break-inside: avoid; }}
.status {{ white-space: nowrap; font-weight: bold; }}
ul {{ margin: 0; padding-left: 4mm; }}
li {{ margin-bottom: 1mm; }}
.muted {{ color: #64748b; }}
section {{ margin-bottom: 3mm; }}
"""


def _clip(text: str, limit: int = EXEC_TEXT_LIMIT) -> str:
    """One line of the executive page: long texts end in an ellipsis (the field report has them whole)."""
    return one_line(text, limit)


def _e(text: object) -> str:
    return html.escape(str(text if text is not None else ""), quote=True)


def _image(svg: str, alt_text: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img src="data:image/svg+xml;base64,{data}" alt="{_e(alt_text)}">'


class _Writer:
    def __init__(self, content: ReportContent, lang: str, full_digits: bool):
        self.c, self.lang, self.full = content, lang, full_digits

    def t(self, key: str, **values: object) -> str:
        return t(key, self.lang, **values)

    def value(self, number: float | None, unit: str) -> str:
        return format_value(number, unit, self.lang, self.full)

    def status(self, status: Status) -> str:
        return (f'<span class="status" style="color:{STATUS_COLOUR[status]}">{STATUS_ICONS[status]} '
                f'{_e(self.t(f"enum.status.{status}"))}</span>')

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int] = frozenset()) -> str:
        head = "".join(f"<th>{_e(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
                                        for i, cell in enumerate(row)) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    # -- page parts
    def header(self, generated: date) -> str:
        plan = self.c.plan
        title = self.t(f"report.title.{self.c.audience}")
        department = f" · {_e(plan.department)}" if plan.department else ""
        return (f"<header><h1>{_e(plan.name)}{department} — {_e(title)}</h1>"
                f'<div class="meta">{_e(self.t("report.month", month=month_label(self.c.month, self.lang)))}<br>'
                f'{_e(self.t("report.generated", date=f"{generated:%Y-%m-%d}"))}</div></header>')

    def tile(self, label: str, value: str, sub: str = "") -> str:
        sub_html = f'<div class="sub">{sub}</div>' if sub else ""
        return f'<div class="tile"><div class="label">{_e(label)}</div><div class="value">{value}</div>{sub_html}</div>'

    def kgi_tiles(self) -> str:
        kgi = self.c.kgi
        if kgi is None:
            return f'<p class="muted">{_e(self.t("report.no_kgi"))}</p>'
        unit, metric = kgi.unit, self.c.tracking.kgi
        deadline = f"{kgi.deadline:%Y-%m-%d}" if kgi.deadline else self.t("report.kgi.no_deadline")
        tiles = [
            self.tile(self.t("report.kgi.name"), _e(kgi.name), _e(self.t("report.kgi.deadline", date=deadline))),
            self.tile(self.t("report.kgi.baseline"), _e(self.value(kgi.baseline, unit))),
            self.tile(self.t("report.kgi.target"), _e(self.value(kgi.target, unit))),
            self.tile(self.t("report.kgi.current"), _e(self.value(kgi.current, unit))),
            self.tile(self.t("report.kgi.gap"), _e(self.value(self.c.gap, unit))),
        ]
        if metric is not None:
            tiles += [
                self.tile(self.t("report.kgi.ytd"), _e(self.value(metric.ytd_actual, unit)),
                          _e(self.t("report.kgi.pace", pct=format_percent(metric.pace)))),
                self.tile(self.t("report.kgi.forecast"), _e(self.value(metric.forecast, unit)),
                          _e(self.t("report.kgi.forecast_sub", pct=format_percent(metric.forecast_attainment)))),
                self.tile(self.t("report.kgi.status"), self.status(metric.status)),
            ]
        return f'<div class="tiles">{"".join(tiles)}</div>'

    def tree(self) -> str:
        figures = figures_from_tracking(self.c.tracking)
        rankdir = "LR" if len(self.c.kpis) > WIDE_TREE_KPIS else "TB"
        dot = kpi_tree_dot(TreeInput(self.c.kgi, self.c.csfs, self.c.kpis, figures), self.lang, self.full, rankdir)
        title = self.t("report.tree")
        return f'<figure class="tree"><h2>{_e(title)}</h2>{_image(dot_svg(dot), title)}</figure>'

    def kgi_path(self) -> str:
        metric = self.c.tracking.kgi
        title = self.t("report.path")
        if metric is None or not metric.data_months:
            return f'<h2>{_e(title)}</h2><p class="muted">{_e(self.t("report.no_actuals"))}</p>'
        svg = chart_svg(cumulative_chart(metric, self.lang, self.full).properties(height=230))
        return f'<figure class="path"><h2>{_e(title)}</h2>{_image(svg, title)}</figure>'

    def risks(self) -> str:
        items = []
        for m in self.c.risks:
            line = self.t("report.risks.line", pace=format_percent(m.pace), forecast=self.value(m.forecast, m.spec.unit))
            recovery = (f"<br><span class='muted'>{_e(self.t('report.risks.recovery', plan=_clip(m.spec.recovery_plan)))}"
                        "</span>" if m.spec.recovery_plan else "")
            items.append(f"<li><b>{_e(m.spec.name)}</b> {self.status(m.status)} {_e(line)}{recovery}</li>")
        body = f"<ul>{''.join(items)}</ul>" if items else f'<p class="muted">{_e(self.t("report.risks.none"))}</p>'
        return f'<section><h2>{_e(self.t("report.risks.title"))}</h2>{body}</section>'

    def decisions(self) -> str:
        names = {k.key: k.name for k in self.c.kpis}
        items = []
        for d in self.c.decisions:
            if d.kind == "switch":
                options = ", ".join(d.options) if d.options else self.t("report.decisions.no_fallback")
                items.append(f"<li>{_e(self.t('report.decisions.switch', name=d.metric, options=options))}</li>")
            else:
                owner, due = d.options
                text = self.t("report.decisions.overdue", name=names.get(d.metric, d.metric), action=_clip(d.detail),
                              owner=owner, due=due)
                items.append(f"<li>{_e(text)}</li>")
        body = f"<ul>{''.join(items)}</ul>" if items else f'<p class="muted">{_e(self.t("report.decisions.none"))}</p>'
        return f'<section><h2>{_e(self.t("report.decisions.title"))}</h2>{body}</section>'

    def kpi_table(self) -> str:
        headers = [self.t(f"report.field.{h}") for h in
                   ("kpi", "owner", "target", "actual", "attainment", "status", "ytd", "pace")]
        rows = [self.kpi_row(line) for line in self.c.lines]
        body = self.table(headers, rows, {2, 3, 4, 6, 7}) if rows else f'<p class="muted">{_e(self.t("report.no_kpis"))}</p>'
        return f'<section><h2>{_e(self.t("report.field.title"))}</h2>{body}</section>'

    def kpi_row(self, line: KPILine) -> list[str]:
        unit = line.kpi.unit
        return [f"<b>{_e(line.kpi.name)}</b>", _e(line.kpi.owner), _e(self.value(line.target, unit)),
                _e(self.value(line.actual, unit)), _e(format_percent(line.attainment)), self.status(line.status),
                _e(self.value(line.ytd.ytd_actual, unit)), _e(format_percent(line.ytd.pace))]

    def checkins(self) -> str:
        names = {k.key: k.name for k in self.c.kpis}
        headers = [self.t(f"report.checkins.{h}") for h in ("kpi", "status", "why", "next", "owner", "due")]
        rows = [[_e(names.get(c.metric_key, c.metric_key)), self.status(c.status), _e(c.why), _e(c.next_action),
                 _e(c.owner), _e(f"{c.due:%Y-%m-%d}" if c.due else "")] for c in self.c.checkins]
        body = self.table(headers, rows) if rows else f'<p class="muted">{_e(self.t("report.checkins.none"))}</p>'
        return f'<section><h2>{_e(self.t("report.checkins.title"))}</h2>{body}</section>'

    def actions(self) -> str:
        names = {k.key: k.name for k in self.c.kpis}
        headers = [self.t(f"report.checkins.{h}") for h in ("kpi", "next", "owner", "due")]
        rows = [[_e(names.get(a.checkin.metric_key, a.checkin.metric_key)), _e(a.checkin.next_action),
                 _e(a.checkin.owner),
                 _e((f"{a.checkin.due:%Y-%m-%d}" if a.checkin.due else "")
                    + (" " + self.t("report.actions.overdue") if a.overdue else ""))] for a in self.c.actions]
        body = self.table(headers, rows) if rows else f'<p class="muted">{_e(self.t("report.actions.none"))}</p>'
        return f'<section><h2>{_e(self.t("report.actions.title"))}</h2>{body}</section>'

    # -- audiences
    def executive(self) -> str:
        """One page: the figures across the top, the tree on the left, the path, risks and decisions on the right."""
        return (self.kgi_tiles()
                + f'<div class="columns"><div>{self.tree()}</div>'
                + f"<div>{self.kgi_path()}{self.risks()}{self.decisions()}</div></div>")

    def field(self) -> str:
        return self.kgi_tiles() + self.kpi_table() + self.checkins() + self.actions()


def render_html(content: ReportContent, lang: str, generated: date, full_digits: bool = False) -> str:
    """The whole document. `generated` is printed in the header (passed in, so the output is reproducible)."""
    writer = _Writer(content, lang, full_digits)
    parts: dict[str, Callable[[], str]] = {"exec": writer.executive, "field": writer.field}
    title = f"{content.plan.name} — {t(f'report.title.{content.audience}', lang)}"
    return (f'<!DOCTYPE html><html lang="{_e(lang)}"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{REPORT_CSS}</style></head><body>{writer.header(generated)}{parts[content.audience]()}"
            "</body></html>")
