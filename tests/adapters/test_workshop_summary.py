"""The one-page workshop result: every section present, user text escaped, in both languages."""
from __future__ import annotations

from datetime import date
from html.parser import HTMLParser

import pytest

from kpi_core.adapters.workshop_summary import render_summary_html
from kpi_core.domain.model import KGI, Plan
from kpi_core.domain.workshop import NoteKind
from kpi_core.services import workshop as ws


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("lang, heading", [("en", "Chosen CSFs"), ("ja", "選ばれたCSF")])
def test_summary_page_has_every_section_and_escapes(store, lang, heading):
    plan = store.create_plan(Plan(name="Sales <2026>"))
    store.save_kgi(KGI(plan_id=plan.id, name="Revenue & margin", baseline=100.0, target=120.0), None)
    session, key = ws.create_session(store, plan.id, "Room 1")
    ws.move(store, session.id, key, 2)
    _, me = ws.join(store, session.code, "Aiko")
    idea = ws.submit_idea(store, me.token, "Quote < 24 h & follow up")
    vote = ws.open_vote(store, session.id, key, 3)
    ws.place_dot(store, me.token, vote.id, idea.id)
    ws.reveal_vote(store, session.id, key, vote.id)
    ws.promote(store, session.id, key, idea.id, "csf", None)
    ws.add_note(store, session.id, key, NoteKind.DECISION, "Start weekly review", "Sato", date(2026, 12, 1))
    ws.add_note(store, session.id, key, NoteKind.PARKING, "CRM cost")
    html = render_summary_html(ws.summary(store, session.id), lang)
    parsed = _Text()
    parsed.feed(html)
    text = "".join(parsed.text)
    assert set(parsed.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "b", "div",
                                "table", "thead", "tbody", "tr", "th", "td"}
    for expected in ("Sales <2026>", "Revenue & margin", "Quote < 24 h & follow up", "Start weekly review", "Sato",
                     "2026-12-01", "CRM cost", heading):
        assert expected in text
    assert "<2026>" not in html and "&lt;2026&gt;" in html
