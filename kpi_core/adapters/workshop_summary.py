"""The one-page result of a workshop session as a standalone printable HTML document.

Every piece of text typed by people is escaped; the page needs no script and prints on one A4 page.
"""
from __future__ import annotations

from datetime import date
from html import escape

from kpi_core import i18n
from kpi_core.domain import units
from kpi_core.domain.workshop import Note
from kpi_core.services.workshop import PromotedItem, WorkshopSummary

_STYLE = """
@page { size: A4; margin: 14mm; }
body { font-family: "Noto Sans CJK JP", "Noto Sans", sans-serif; color: #0f172a; font-size: 11pt; margin: 0; }
h1 { font-size: 18pt; margin: 0 0 2mm; } h2 { font-size: 12.5pt; margin: 5mm 0 1.5mm; color: #1e3a8a; }
p.meta { color: #475569; margin: 0 0 3mm; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid #cbd5e1; padding: 1.2mm 2mm;
text-align: left; vertical-align: top; } th { background: #f1f5f9; font-weight: 600; } td.num { text-align: right; }
.figures { display: flex; gap: 6mm; } .figure { border: 1px solid #cbd5e1; border-radius: 2mm; padding: 2mm 4mm; }
.figure b { display: block; font-size: 14pt; }
"""


def _table(headers: list[str], rows: list[list[str]], numeric: set[int], none: str) -> str:
    if not rows:
        return f"<p>{escape(none)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    def cell(i: int, text: str) -> str:
        return f"<td class='num'>{escape(text)}</td>" if i in numeric else f"<td>{escape(text)}</td>"

    body = "".join("<tr>" + "".join(cell(i, text) for i, text in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_summary_html(result: WorkshopSummary, lang: str, today: date | None = None) -> str:
    def t(key: str, **values: object) -> str:
        return i18n.t(key, lang, **values)

    session, kgi, none = result.session, result.kgi, t("workshop.summary.none")
    created = session.created_at.date() if session.created_at else (today or date.today())
    meta = t("workshop.summary.meta", plan=result.plan.name, date=created.isoformat(),
             participants=result.participants)
    parts = [f"<h1>{escape(t('workshop.summary.heading', title=session.title))}</h1>",
             f"<p class='meta'>{escape(meta)}</p>",
             f"<h2>{escape(t('workshop.summary.kgi'))}</h2>"]
    if kgi is None:
        parts.append(f"<p>{escape(t('workshop.kgi_none'))}</p>")
    else:
        figures = [(t("workshop.kgi_baseline"), units.format_value(kgi.baseline, kgi.unit, lang)),
                   (t("workshop.kgi_target"), units.format_value(kgi.target, kgi.unit, lang))]
        if result.gap is not None:
            figures.append((t("workshop.gap"), units.format_value(result.gap.gap, kgi.unit, lang)))
        boxes = "".join(f"<div class='figure'>{escape(label)}<b>{escape(value)}</b></div>" for label, value in figures)
        parts.append(f"<p><b>{escape(kgi.name)}</b></p><div class='figures'>{boxes}</div>")

    def promoted(items: list[PromotedItem], second: str) -> str:
        rows = [[item.name, t(f"enum.role.{item.role}") if item.kind == "csf" else item.role, str(item.dots)]
                for item in items]
        return _table([t("workshop.summary.name"), second, t("workshop.summary.dots")], rows, {2}, none)

    def notes(items: list[Note], with_owner: bool) -> str:
        if not with_owner:
            return _table([t("workshop.notes.text")], [[n.text] for n in items], set(), none)
        rows = [[n.text, n.owner, n.due.isoformat() if n.due else ""] for n in items]
        return _table([t("workshop.notes.text"), t("workshop.summary.owner"), t("workshop.summary.due")], rows,
                      set(), none)

    parts += [f"<h2>{escape(t('workshop.summary.csfs'))}</h2>", promoted(result.csfs, t("workshop.summary.role")),
              f"<h2>{escape(t('workshop.summary.kpis'))}</h2>", promoted(result.kpis, t("workshop.summary.key")),
              f"<h2>{escape(t('workshop.summary.decisions'))}</h2>", notes(result.decisions, True),
              f"<h2>{escape(t('workshop.summary.parking'))}</h2>", notes(result.parking, False)]
    title = escape(t("workshop.summary.heading", title=session.title))
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")
