"""The password gate: every page but the participant view asks once per session; unset, nothing changes."""
from __future__ import annotations

import pytest
from apptest_text import rendered_text
from conftest import ROOT, assert_clean, switch_to

from kpi_core.domain.model import Plan
from kpi_core.services import workshop as ws


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_pages_ask_for_the_password_once(make_app, monkeypatch, lang):
    monkeypatch.setenv("KPI_WORKBENCH_PASSWORD", "open sesame")
    monkeypatch.setattr("pages.access.failure_delay", lambda failures: 0.0)
    at = make_app(lang=lang)
    assert_clean(at)
    assert len(at.text_input) == 1 and not at.sidebar.children
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert at.error and len(at.text_input) == 1
    at.text_input[0].input("open sesame")
    at.button[0].click().run()
    assert_clean(at)
    assert not at.error
    switch_to(at, "pages/workshop_host.py").run()
    assert_clean(at)
    assert "open sesame" not in rendered_text(at)
    assert [str(t.value) for t in at.title] == [{"en": "Workshop", "ja": "ワークショップ"}[lang]], rendered_text(at)


def test_without_password_the_app_is_open(make_app, monkeypatch):
    monkeypatch.delenv("KPI_WORKBENCH_PASSWORD", raising=False)
    at = make_app()
    assert_clean(at)
    assert not any(t.label in ("Password", "パスワード") for t in at.text_input)


def test_participant_view_needs_no_password(store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("KPI_WORKBENCH_PASSWORD", "open sesame")
    plan = store.create_plan(Plan(name="P"))
    session, _ = ws.create_session(store, plan.id, "Room")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["lang"] = "en"
    at.query_params["join"] = session.code
    at.run()
    assert_clean(at)
    assert [t.label for t in at.text_input] == ["Code shown on the screen", "Your name (shown to the room)"]
