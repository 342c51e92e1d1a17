"""Workshop use cases against a real DuckDB file: every rule, and every refused input changing nothing."""
from __future__ import annotations

import threading

import pytest

from kpi_core.domain.model import Plan
from kpi_core.domain.workshop import AgendaItem, NoteKind, SessionStatus, VoteStatus, WorkshopError
from kpi_core.services import workshop as ws


@pytest.fixture
def plan(store):
    return store.create_plan(Plan(name="Sales 2026"))


@pytest.fixture
def session(store, plan):
    return ws.create_session(store, plan.id, "Kick-off")


def _at_step(store, session, step):
    view, key = session
    for _ in range(step - 1 - view.position):
        view = ws.move(store, view.id, key, +1)
    assert view.step == step
    return view, key


def _snapshot(store, workshop_id):
    """Everything a workshop holds, to prove a refused action changed nothing."""
    cur = store.cursor()
    return {table: cur.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            for table in ("workshops", "ws_participants", "ws_ideas", "ws_votes", "ws_dots", "ws_notes", "csfs")}


def _refused(store, session, key_expected, action):
    before = _snapshot(store, session[0].id)
    with pytest.raises(WorkshopError) as caught:
        action()
    assert caught.value.key == key_expected
    assert _snapshot(store, session[0].id) == before
    return caught.value


def test_session_is_stored_on_the_plan_with_its_agenda(store, plan, session):
    view, key = session
    assert view.is_open and view.position == 0 and view.step == 1
    assert [a.step for a in view.agenda] == [1, 2, 3, 4, 5]
    assert view.timer.seconds_left(0) == view.agenda[0].minutes * 60
    assert [s.id for s in store.list_workshops(plan.id)] == [view.id]
    assert ws.facilitator_key(store, view.id) == key


def test_custom_agenda_and_bad_title(store, plan):
    view, _ = ws.create_session(store, plan.id, "Review", [AgendaItem(5, 30)])
    assert view.step == 5 and view.timer.duration == 1800
    with pytest.raises(WorkshopError, match="markup"):
        ws.create_session(store, plan.id, "<b>x</b>")
    with pytest.raises(WorkshopError, match="agenda_minutes"):
        ws.create_session(store, plan.id, "Bad", [AgendaItem(3, 999)])
    assert len(store.list_workshops(plan.id)) == 1


def test_join_keeps_identity_by_token(store, session):
    view, _ = session
    joined, me = ws.join(store, view.code.lower(), "Aiko")
    assert joined.id == view.id and me.token
    again, same = ws.participant_session(store, me.token)
    assert again.id == view.id and same.id == me.id and same.name == "Aiko"
    _refused(store, session, "workshop.error.unknown_participant", lambda: ws.participant_session(store, "nope"))


@pytest.mark.parametrize("code, name, key", [
    ("ZZZZZZ", "Ken", "workshop.error.wrong_code"),
    ("", "Ken", "workshop.error.wrong_code"),
    (None, "", "workshop.error.empty"),
    (None, "<script>x</script>", "workshop.error.markup"),
    (None, "K" * 41, "workshop.error.too_long"),
])
def test_bad_joins_change_nothing(store, session, code, name, key):
    _refused(store, session, key, lambda: ws.join(store, session[0].code if code is None else code, name))


def test_joining_a_closed_session_is_refused_and_reopen_allows_it(store, session):
    view, key = session
    ws.close_session(store, view.id, key)
    _refused(store, session, "workshop.error.closed", lambda: ws.join(store, view.code, "Ken"))
    assert ws.reopen_session(store, view.id, key).status == SessionStatus.OPEN
    ws.join(store, view.code, "Ken")


def test_only_the_facilitator_steers(store, session):
    view, key = session
    _, me = ws.join(store, view.code, "Ken")
    for wrong in (None, "", me.token, key + "x"):
        _refused(store, session, "workshop.error.not_facilitator", lambda w=wrong: ws.move(store, view.id, w, 1))
        _refused(store, session, "workshop.error.not_facilitator",
                 lambda w=wrong: ws.timer_action(store, view.id, w, "start"))
        _refused(store, session, "workshop.error.not_facilitator",
                 lambda w=wrong: ws.open_vote(store, view.id, w, 3))
        _refused(store, session, "workshop.error.not_facilitator",
                 lambda w=wrong: ws.close_session(store, view.id, w))


def test_next_and_back_follow_the_agenda_and_reset_the_timer(store, session):
    view, key = session
    ws.timer_action(store, view.id, key, "start", now=100)
    moved = ws.move(store, view.id, key, +1)
    assert moved.step == 2 and not moved.timer.running and moved.timer.duration == moved.agenda[1].minutes * 60
    assert ws.move(store, view.id, key, -1).step == 1
    assert ws.move(store, view.id, key, -1).step == 1


def test_timer_is_one_stored_deadline(store, session):
    view, key = session
    started = ws.timer_action(store, view.id, key, "start", now=1000)
    assert started.timer.deadline == 1000 + 600
    # Another screen reading the session later sees the same remaining time.
    assert store.get_workshop(view.id).timer.seconds_left(1010) == 590
    ws.timer_action(store, view.id, key, "add_minute", now=1010)
    assert store.get_workshop(view.id).timer.seconds_left(1010) == 650
    paused = ws.timer_action(store, view.id, key, "pause", now=1050)
    assert paused.timer.seconds_left(9999) == 610
    reset = ws.timer_action(store, view.id, key, "reset")
    assert reset.timer.seconds_left(0) == 600 and not reset.timer.running
    _refused(store, session, "workshop.error.timer_action", lambda: ws.timer_action(store, view.id, key, "explode"))


def test_participant_ideas_go_to_the_current_step_only(store, session):
    view, _key = session
    _, me = ws.join(store, view.code, "Aiko")
    _refused(store, session, "workshop.error.no_ideas_now", lambda: ws.submit_idea(store, me.token, "Too early"))
    _at_step(store, session, 3)
    idea = ws.submit_idea(store, me.token, "More first meetings", "two per rep per week")
    assert idea.step == 3
    ideas = store.list_ideas(view.id, 3)
    assert [(i.text, i.author, i.detail) for i in ideas] == [("More first meetings", "Aiko", "two per rep per week")]
    assert store.list_ideas(view.id, participant_id=me.id)[0].id == idea.id


@pytest.mark.parametrize("text, key", [
    ("", "workshop.error.empty"),
    ("x" * 5000, "workshop.error.too_long"),
    ("<script>alert(1)</script>", "workshop.error.markup"),
    ("[x](javascript:alert(1))", "workshop.error.markup"),
])
def test_bad_ideas_change_nothing(store, session, text, key):
    _at_step(store, session, 3)
    _, me = ws.join(store, session[0].code, "Aiko")
    error = _refused(store, session, key, lambda: ws.submit_idea(store, me.token, text))
    assert error.values["field"] == "idea"


def test_closed_session_refuses_ideas_and_dots(store, session):
    view, key = session
    _at_step(store, session, 3)
    _, me = ws.join(store, view.code, "Aiko")
    idea = ws.submit_idea(store, me.token, "A")
    vote = ws.open_vote(store, view.id, key, 3)
    ws.close_session(store, view.id, key)
    _refused(store, session, "workshop.error.closed", lambda: ws.submit_idea(store, me.token, "B"))
    _refused(store, session, "workshop.error.closed", lambda: ws.place_dot(store, me.token, vote.id, idea.id))


def test_facilitator_edits_merges_groups_and_deletes(store, session):
    view, key = session
    _at_step(store, session, 3)
    _, a = ws.join(store, view.code, "A")
    one = ws.submit_idea(store, a.token, "Faster replies")
    two = ws.submit_idea(store, a.token, "Reply faster")
    three = ws.add_idea_as_facilitator(store, view.id, key, 3, "Referral program")
    ws.edit_idea(store, view.id, key, one.id, "Reply within 1 hour", "", group_label="Speed")
    ws.merge_ideas(store, view.id, key, one.id, [one.id, two.id])
    ideas = store.list_ideas(view.id, 3)
    assert [(i.id, i.text, i.group_label) for i in ideas] == [(one.id, "Reply within 1 hour", "Speed"),
                                                               (three.id, "Referral program", "")]
    assert ideas[1].participant_id is None
    _refused(store, session, "workshop.error.merge_needs_two", lambda: ws.merge_ideas(store, view.id, key, 1, [1]))
    _refused(store, session, "workshop.error.markup",
             lambda: ws.edit_idea(store, view.id, key, one.id, "ok", "", group_label="<i>"))
    ws.delete_idea(store, view.id, key, three.id)
    assert [i.id for i in store.list_ideas(view.id, 3)] == [one.id]


def _voting_room(store, session, people=3):
    view, key = _at_step(store, session, 3)
    tokens = [ws.join(store, view.code, f"P{n}")[1].token for n in range(people)]
    ideas = [ws.submit_idea(store, tokens[n % people], text) for n, text in
             enumerate(["Meetings", "Win rate", "Deal size", "Referrals"])]
    return view, key, tokens, ideas


def test_dot_vote_limits_hidden_results_and_reveal(store, session):
    view, key, tokens, ideas = _voting_room(store, session)
    vote = ws.open_vote(store, view.id, key, 3, dots=3, stacking=False)
    assert ws.current_vote(store, view).id == vote.id
    assert ws.place_dot(store, tokens[0], vote.id, ideas[0].id) == 2
    _refused(store, session, "workshop.error.no_stacking", lambda: ws.place_dot(store, tokens[0], vote.id, ideas[0].id))
    ws.place_dot(store, tokens[0], vote.id, ideas[1].id)
    ws.place_dot(store, tokens[0], vote.id, ideas[2].id)
    _refused(store, session, "workshop.error.no_dots_left",
             lambda: ws.place_dot(store, tokens[0], vote.id, ideas[3].id))
    ws.remove_dot(store, tokens[0], vote.id, ideas[2].id)
    ws.place_dot(store, tokens[0], vote.id, ideas[3].id)
    ws.place_dot(store, tokens[1], vote.id, ideas[0].id)
    ws.place_dot(store, tokens[2], vote.id, ideas[0].id)
    assert store.my_dots(vote.id, store.participant_by_token(tokens[0]).id) == {
        ideas[0].id: 1, ideas[1].id: 1, ideas[3].id: 1}
    assert store.vote_progress(vote.id) == (5, 3)
    _refused(store, session, "workshop.error.results_hidden", lambda: ws.results(store, store.get_vote(vote.id)))
    _refused(store, session, "workshop.error.vote_already_open", lambda: ws.open_vote(store, view.id, key, 3))
    closed = ws.close_vote(store, view.id, key, vote.id)
    assert closed.status == VoteStatus.CLOSED
    _refused(store, session, "workshop.error.vote_not_open",
             lambda: ws.place_dot(store, tokens[1], vote.id, ideas[1].id))
    _refused(store, session, "workshop.error.results_hidden", lambda: ws.results(store, closed))
    revealed = ws.reveal_vote(store, view.id, key, vote.id)
    ranked = ws.results(store, revealed)
    assert [(r.text, r.dots, r.rank) for r in ranked] == [("Meetings", 3, 1), ("Win rate", 1, 2),
                                                         ("Referrals", 1, 2), ("Deal size", 0, 4)]
    _refused(store, session, "workshop.error.vote_revealed", lambda: ws.close_vote(store, view.id, key, vote.id))


def test_stacking_vote_and_bad_dot_counts(store, session):
    view, key, tokens, ideas = _voting_room(store, session)
    for dots in (0, 11):
        _refused(store, session, "workshop.error.dots_range", lambda d=dots: ws.open_vote(store, view.id, key, 3, d))
    vote = ws.open_vote(store, view.id, key, 3, dots=2, stacking=True)
    ws.place_dot(store, tokens[0], vote.id, ideas[1].id)
    assert ws.place_dot(store, tokens[0], vote.id, ideas[1].id) == 0
    _refused(store, session, "workshop.error.idea_not_found", lambda: ws.place_dot(store, tokens[1], vote.id, 999))


def test_vote_needs_ideas(store, session):
    view, key = _at_step(store, session, 4)
    _refused(store, session, "workshop.error.nothing_to_vote", lambda: ws.open_vote(store, view.id, key, 4))


def test_concurrent_dots_never_exceed_the_limit(store, session):
    view, key, tokens, ideas = _voting_room(store, session, people=1)
    vote = ws.open_vote(store, view.id, key, 3, dots=3, stacking=True)
    outcomes: list[str] = []

    def click():
        try:
            ws.place_dot(store, tokens[0], vote.id, ideas[0].id)
            outcomes.append("ok")
        except WorkshopError as exc:
            outcomes.append(exc.key)

    threads = [threading.Thread(target=click) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 3 and outcomes.count("workshop.error.no_dots_left") == 9
    assert store.vote_progress(vote.id) == (3, 1)


def test_promote_winners_to_csfs_and_a_kpi_draft(store, plan, session):
    view, key, tokens, ideas = _voting_room(store, session)
    vote = ws.open_vote(store, view.id, key, 3)
    for token in tokens:
        ws.place_dot(store, token, vote.id, ideas[0].id)
    ws.place_dot(store, tokens[0], vote.id, ideas[1].id)
    ws.reveal_vote(store, view.id, key, vote.id)
    version = store.get_plan(plan.id).version
    first = ws.promote(store, view.id, key, ideas[0].id, "csf", version)
    second = ws.promote(store, view.id, key, ideas[1].id, "csf", version + 1)
    third = ws.promote(store, view.id, key, ideas[2].id, "csf", version + 2)
    assert [str(c.role) for c in (first, second, third)] == ["primary", "primary", "fallback"]
    assert [c.name for c in store.list_csfs(plan.id)] == ["Meetings", "Win rate", "Deal size"]
    linked = {i.id: (i.promoted_kind, i.promoted_ref, i.promoted_dots) for i in store.list_ideas(view.id, 3)}
    assert linked[ideas[0].id] == ("csf", first.id, 3)
    assert linked[ideas[1].id] == ("csf", second.id, 1)
    _refused(store, session, "workshop.error.already_promoted",
             lambda: ws.promote(store, view.id, key, ideas[0].id, "csf", version + 3))
    kpi = ws.promote(store, view.id, key, ideas[3].id, "kpi", version + 3)
    assert kpi.key == f"ws_idea_{ideas[3].id}" and [k.name for k in store.list_kpis(plan.id)] == ["Referrals"]


def test_one_idea_promoted_once_when_screens_click_together(store, plan, session):
    """Two facilitator tabs (or one click delivered twice) promoting the same idea: one CSF, the others refused."""
    view, key, _tokens, ideas = _voting_room(store, session)
    outcomes: list[str] = []

    def click() -> None:
        try:
            ws.promote(store, view.id, key, ideas[0].id, "csf", None)
            outcomes.append("ok")
        except WorkshopError as exc:
            outcomes.append(exc.key)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1 and outcomes.count("workshop.error.already_promoted") == 5
    assert [c.name for c in store.list_csfs(plan.id)] == ["Meetings"]
    csf = store.list_csfs(plan.id)[0]
    with pytest.raises(store.dialect.errors):  # the database itself refuses a second idea on that CSF
        store.cursor().execute("UPDATE ws_ideas SET promoted_kind = 'csf', promoted_ref = ? WHERE id = ?",
                               [csf.id, ideas[1].id])


def test_promote_with_a_stale_plan_version_changes_nothing(store, plan, session):
    from kpi_core.adapters.store import VersionConflict

    view, key, _tokens, ideas = _voting_room(store, session)
    stale = store.get_plan(plan.id).version - 1
    before = _snapshot(store, view.id)
    with pytest.raises(VersionConflict):
        ws.promote(store, view.id, key, ideas[0].id, "csf", stale)
    assert _snapshot(store, view.id) == before


def test_decisions_parking_lot_and_summary(store, plan, session):
    from datetime import date

    from kpi_core.domain.model import KGI

    store.save_kgi(KGI(plan_id=plan.id, name="Revenue", baseline=120e6, target=144e6), None)
    view, key, tokens, ideas = _voting_room(store, session)
    vote = ws.open_vote(store, view.id, key, 3)
    ws.place_dot(store, tokens[0], vote.id, ideas[0].id)
    ws.reveal_vote(store, view.id, key, vote.id)
    ws.promote(store, view.id, key, ideas[0].id, "csf", None)
    ws.add_note(store, view.id, key, NoteKind.DECISION, "Weekly pipeline review", "Sato", date(2026, 12, 15))
    parked = ws.add_note(store, view.id, key, NoteKind.PARKING, "CRM licence cost")
    _refused(store, session, "workshop.error.markup",
             lambda: ws.add_note(store, view.id, key, NoteKind.DECISION, "ok", owner="<b>"))
    result = ws.summary(store, view.id)
    assert result.kgi.name == "Revenue" and result.gap.gap == pytest.approx(24e6)
    assert [(c.name, c.role, c.dots) for c in result.csfs] == [("Meetings", "primary", 1)]
    assert [(d.text, d.owner, d.due) for d in result.decisions] == [("Weekly pipeline review", "Sato",
                                                                     date(2026, 12, 15))]
    assert [p.text for p in result.parking] == ["CRM licence cost"] and result.participants == 3
    ws.delete_note(store, view.id, key, parked.id)
    assert ws.summary(store, view.id).parking == []


def test_sessions_survive_reopening_the_database(db_target, store, plan, session):
    from kpi_core.adapters.store import open_store

    view, key = session
    ws.timer_action(store, view.id, key, "start", now=500)
    store.close()
    again = open_store(db_target)
    try:
        kept = again.get_workshop(view.id)
        assert kept.code == view.code and kept.timer.deadline == 1100
        assert ws.move(again, view.id, key, 1).step == 2
    finally:
        again.close()


def test_change_counters_move_with_every_write_and_steering_only_moves_the_stage(store, session):
    """The screens redraw only when a counter moved: every change moves the data version; only the facilitator's
    steering (what a participant's screen follows) moves the stage version; reading moves neither."""
    view, key = session
    seen = [store.workshop_versions(view.id)]

    def moved(stage: bool) -> None:
        data_now, stage_now = store.workshop_versions(view.id)
        assert data_now > seen[-1][0]
        assert (stage_now > seen[-1][1]) if stage else (stage_now == seen[-1][1])
        seen.append((data_now, stage_now))

    _, aiko = ws.join(store, view.code, "Aiko")
    moved(stage=False)
    ws.timer_action(store, view.id, key, "start", now=100)
    moved(stage=True)
    _at_step(store, (store.get_workshop(view.id), key), 3)
    moved(stage=True)
    idea = ws.submit_idea(store, aiko.token, "Weekly pipeline review")
    moved(stage=False)
    ws.edit_idea(store, view.id, key, idea.id, "Weekly pipeline review", "", "Pipeline")
    moved(stage=False)
    vote = ws.open_vote(store, view.id, key, 3, 3)
    moved(stage=True)
    ws.place_dot(store, aiko.token, vote.id, idea.id)
    moved(stage=False)
    ws.reveal_vote(store, view.id, key, vote.id)
    moved(stage=True)
    ws.add_note(store, view.id, key, NoteKind.PARKING, "Pricing")
    moved(stage=False)
    ws.close_session(store, view.id, key)
    moved(stage=True)
    for _ in range(3):
        store.get_workshop(view.id), store.list_ideas(view.id), ws.participant_session(store, aiko.token)
    drawn = store.get_workshop(view.id)
    assert store.workshop_versions(view.id) == seen[-1] == (drawn.data_version, drawn.stage_version)
    assert store.workshop_versions(view.id + 999) is None
