"""AppTest of the facilitator's Workshop page and the participant's view, in both languages."""
from __future__ import annotations

import pytest
from apptest_text import rendered_text
from conftest import ROOT, assert_clean, switch_to

from kpi_core.domain.model import Plan
from kpi_core.services import workshop as ws


def _participant_app(query: dict[str, str], lang: str = "en"):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["lang"] = lang
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    return at


def _clock_html(at) -> str:
    """The countdown element as sent to the browser (it ticks there, not on the server)."""
    return "\n".join(str(e.proto.body) for e in at.get("html") if "ws-clock" in e.proto.body)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_workshop_page_on_an_empty_database(make_app, lang):
    at = make_app("pages/workshop_host.py", lang=lang)
    assert_clean(at)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_facilitator_starts_a_session_and_walks_the_agenda(make_app, store, demo_plan, lang):
    at = make_app("pages/workshop_host.py", lang=lang, plan_id=demo_plan.id)
    assert_clean(at)
    create = next(b for b in at.button if b.label in ("Start a new session", "新しいセッションを始める"))
    create.click().run()
    assert_clean(at)
    session = store.list_workshops(demo_plan.id)[0]
    assert str(at.query_params["ws"]) in (str(session.id), str([str(session.id)]))
    assert session.code in rendered_text(at)
    clock = _clock_html(at)
    assert '<p class="ws-clock-time">10:00</p>' in clock and 'data-running="0"' in clock
    for _ in range(2):
        at.button(key="ws_next").click().run()
    assert_clean(at)
    assert store.get_workshop(session.id).step == 3
    at.button(key="ws_timer_start").click().run()
    assert store.get_workshop(session.id).timer.running
    assert_clean(at)
    # The browser counts down from the stored deadline, offset by the server's clock: both are in the page.
    clock = _clock_html(at)
    deadline = store.get_workshop(session.id).timer.deadline
    assert 'data-running="1"' in clock and f'data-deadline="{deadline!r}"' in clock and "setInterval" in clock


def test_presenter_view_and_results_with_promotion(make_app, store, demo_plan):
    session, key = ws.create_session(store, demo_plan.id, "Room")
    ws.move(store, session.id, key, 1)
    ws.move(store, session.id, key, 1)
    _, aiko = ws.join(store, session.code, "Aiko")
    idea = ws.submit_idea(store, aiko.token, "Weekly pipeline review")
    second = ws.submit_idea(store, aiko.token, "Quote within a day")
    vote = ws.open_vote(store, session.id, key, 3)
    ws.place_dot(store, aiko.token, vote.id, idea.id)
    ws.reveal_vote(store, session.id, key, vote.id)
    at = make_app("pages/workshop_host.py", lang="ja", plan_id=demo_plan.id, run=False)
    at.query_params["ws"] = str(session.id)
    at.query_params["present"] = "1"
    at.run()
    switch_to(at, "pages/workshop_host.py").run()
    assert_clean(at)
    assert "Weekly pipeline review" in rendered_text(at)
    at.button(key=f"ws_promote_{idea.id}").click().run()
    assert_clean(at)
    assert "Weekly pipeline review" in [c.name for c in store.list_csfs(demo_plan.id)]
    # The next click straight after, on the page the first one drew: applied once, not refused as stale.
    at.button(key=f"ws_promote_{second.id}").click().run()
    assert_clean(at)
    assert not at.error
    names = [c.name for c in store.list_csfs(demo_plan.id)]
    assert names.count("Weekly pipeline review") == 1 and names.count("Quote within a day") == 1


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_participant_joins_writes_and_is_refused_clearly(store, lang):
    plan = store.create_plan(Plan(name="P"))
    session, key = ws.create_session(store, plan.id, "Room")
    at = _participant_app({"join": session.code}, lang)
    assert_clean(at)
    assert not at.sidebar.children or not any(str(e.value) for e in at.sidebar.markdown)
    at.text_input[1].input("Ken")
    at.button[0].click().run()
    assert_clean(at)
    token = at.query_params["me"]
    token = token[0] if isinstance(token, list) else token
    assert store.participant_by_token(token).name == "Ken"
    # steps 1-2: nothing to write; step 3: the idea form follows the facilitator
    ws.move(store, session.id, key, 1)
    ws.move(store, session.id, key, 1)
    at.run()
    assert_clean(at)
    at.text_area[0].input("<script>alert(1)</script>")
    _add_idea(at).click().run()
    assert at.error and store.list_ideas(session.id) == []
    at.text_area[0].input("Call back within a day")
    _add_idea(at).click().run()
    assert [i.text for i in store.list_ideas(session.id)] == ["Call back within a day"]
    at.run()  # a fresh full run, as a reload would draw it
    assert "Call back within a day" in rendered_text(at)


def _add_idea(at):
    """The idea form's button (the page also holds the hidden button its follow guard presses)."""
    return next(b for b in at.button if b.label in ("Add idea", "アイデアを追加"))


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_participant_wrong_code_and_closed_session(store, lang):
    plan = store.create_plan(Plan(name="P"))
    session, key = ws.create_session(store, plan.id, "Room")
    at = _participant_app({"join": "WRONG1"}, lang)
    at.text_input[1].input("Ken")
    at.button[0].click().run()
    assert at.error and "me" not in at.query_params
    _, me = ws.join(store, session.code, "Mia")
    ws.close_session(store, session.id, key)
    at = _participant_app({"join": session.code, "me": me.token}, lang)
    assert_clean(at)
    assert at.success


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_step_four_shows_the_kpi_tree_the_room_built(make_app, store, demo_plan, lang):
    session, key = ws.create_session(store, demo_plan.id, "Room")
    for _ in range(3):
        ws.move(store, session.id, key, 1)
    at = make_app("pages/workshop_host.py", lang=lang, plan_id=demo_plan.id, run=False)
    at.query_params["ws"] = str(session.id)
    at.query_params["present"] = "1"
    at.run()
    switch_to(at, "pages/workshop_host.py").run()
    assert_clean(at)
    charts = at.get("graphviz_chart")
    assert len(charts) == 1
    assert "rankdir=LR" in charts[0].proto.spec
    assert store.get_kgi(demo_plan.id).name in charts[0].proto.spec


def test_step_four_without_a_kgi_says_where_the_tree_comes_from(make_app, store):
    plan = store.create_plan(Plan(name="Empty"))
    session, key = ws.create_session(store, plan.id, "Room")
    for _ in range(3):
        ws.move(store, session.id, key, 1)
    at = make_app("pages/workshop_host.py", lang="en", plan_id=plan.id, run=False)
    at.query_params["ws"] = str(session.id)
    at.run()
    switch_to(at, "pages/workshop_host.py").run()
    assert_clean(at)
    assert not at.get("graphviz_chart")
    assert any("once the plan has a KGI" in str(i.value) for i in at.info)
