"""Workshop: the facilitator's screen for a session with the room; `?present=1` turns it into the projector view.

The session (agenda position, timer deadline, ideas, votes) lives in the database, so every screen, the
participants' phones included, shows the same state: a small fragment polls the session's change counter and redraws
the page only when it moved; the countdown ticks in the browser.
"""
from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from kpi_core.adapters.workshop_summary import render_summary_html
from kpi_core.charts.workshop import vote_bars
from kpi_core.domain.model import Plan
from kpi_core.domain.workshop import IDEA_STEPS, MAX_DOTS, Idea, NoteKind, SessionView, VoteStatus
from kpi_core.services import workshop as ws
from pages.common import fmt, fmt_pct, full_digits, lang, t
from pages.frame import PageContext
from pages.workshop_ui import (
    PRESENT_PARAM,
    act,
    apply_presenter_style,
    attempt,
    follow_room,
    join_panel,
    on_click,
    page_drawn,
    plain,
    presenting,
    show_clock,
    show_notice,
)

SESSION_PARAM = "ws"


def _selected(store, plan: Plan) -> SessionView | None:
    """The session named by ?ws= (kept in the link across reloads), if it belongs to the current plan."""
    raw = st.query_params.get(SESSION_PARAM)
    if not raw or not str(raw).isdigit():
        return None
    sessions = {s.id: s for s in store.list_workshops(plan.id)}
    return sessions.get(int(raw))


def _open(session_id: int | None) -> None:
    if session_id is None:
        st.query_params.pop(SESSION_PARAM, None)
    else:
        st.query_params[SESSION_PARAM] = str(session_id)
    st.rerun()


# ---------------------------------------------------------------- sessions of the plan
def _sessions_panel(store, plan: Plan, current: SessionView | None) -> None:
    sessions = store.list_workshops(plan.id)
    with st.expander(t("workshop.sessions"), expanded=current is None):
        if not sessions:
            st.info(t("workshop.no_sessions"))
        for session in sessions:
            label, button = st.columns([5, 1])
            label.markdown(plain(t("workshop.session_label", title=session.title, code=session.code,
                                   status=t(f"workshop.status.{session.status}"),
                                   participants=session.extra["participants"], ideas=session.extra["ideas"])))
            if button.button(t("workshop.open_session"), key=f"ws_open_{session.id}",
                             disabled=current is not None and current.id == session.id):
                _open(session.id)
        with st.form("ws_new", clear_on_submit=True, border=False):
            title = st.text_input(t("workshop.new_title"),
                                  value=t("workshop.new_title_default", date=date.today().isoformat()))
            if st.form_submit_button(t("workshop.create"), type="primary"):
                done, created = attempt(lambda: ws.create_session(store, plan.id, title), "workshop.created")
                if done:
                    _open(created[0].id)


# ---------------------------------------------------------------- header: timer, join, presenter switch
def _timer_controls(store, session: SessionView, key: str) -> None:
    buttons = st.columns(4)
    for column, action in zip(buttons, ("start", "pause", "add_minute", "reset")):
        column.button(t(f"workshop.timer.{action}"), key=f"ws_timer_{action}", width="stretch",
                      disabled=not session.is_open,
                      on_click=on_click(lambda a=action: ws.timer_action(store, session.id, key, a)))


def _agenda(session: SessionView) -> None:
    st.markdown(f"**{plain(t('workshop.agenda'))}**")
    for n, item in enumerate(session.agenda):
        line = plain(t("workshop.agenda_item", n=n + 1, step=t(f"workshop.steps.s{item.step}"), minutes=item.minutes))
        st.markdown(f"**▶ {line}**" if n == session.position else line)


def _step_nav(store, session: SessionView, key: str) -> None:
    back, where, forward = st.columns([1, 2, 1], vertical_alignment="center")
    back.button("◀ " + t("workshop.back"), key="ws_back", width="stretch",
                disabled=session.position == 0 or not session.is_open,
                on_click=on_click(lambda: ws.move(store, session.id, key, -1)))
    where.markdown(plain(t("workshop.step_of", n=session.position + 1, total=len(session.agenda))))
    forward.button(t("workshop.next") + " ▶", key="ws_next", type="primary", width="stretch",
                   disabled=session.position >= len(session.agenda) - 1 or not session.is_open,
                   on_click=on_click(lambda: ws.move(store, session.id, key, +1)))


# ---------------------------------------------------------------- steps 1 and 2: the goal and the gap
def _goal(store, plan: Plan, step: int) -> None:
    kgi = store.get_kgi(plan.id)
    if kgi is None or kgi.target is None:
        st.info(t("workshop.kgi_none"))
        return
    st.subheader(plain(kgi.name))
    summary = ws.kgi_gap(kgi, plan)
    first, second, third = st.columns(3)
    if step == 1:
        first.metric(t("workshop.kgi_baseline"), fmt(kgi.baseline, kgi.unit))
        second.metric(t("workshop.kgi_target"), fmt(kgi.target, kgi.unit))
        third.metric(t("workshop.deadline"), kgi.deadline.isoformat() if kgi.deadline else t("common.none"))
    elif summary is not None:
        first.metric(t("workshop.kgi_current"), fmt(summary.current, kgi.unit))
        second.metric(t("workshop.gap"), fmt(summary.gap, kgi.unit))
        third.metric(t("workshop.gap_pct"), fmt_pct(summary.gap_pct, signed=True))


# ---------------------------------------------------------------- steps 3-5: ideas, votes, promotion
def _live_board(store, session_id: int, step: int, presenter: bool) -> None:
    ideas = store.list_ideas(session_id, step)
    people = len({i.participant_id for i in ideas})
    st.markdown(f"**{plain(t('workshop.ideas_count', n=len(ideas), people=people))}**")
    if not ideas:
        st.info(t("workshop.no_ideas"))
    groups: dict[str, list[Idea]] = {}
    for idea in ideas:
        groups.setdefault(idea.group_label, []).append(idea)
    for label, members in sorted(groups.items(), key=lambda g: (g[0] == "", g[0])):
        if len(groups) > 1:
            st.markdown(f"**{plain(label or t('workshop.ungrouped'))}**")
        columns = st.columns(3 if presenter else 2)
        for n, idea in enumerate(members):
            with columns[n % len(columns)].container(border=True):
                st.markdown(plain(idea.text))
                author = t("workshop.by", name=idea.author) if idea.author else t("workshop.by_facilitator")
                st.caption(plain(f"{idea.detail} · {author}" if idea.detail else author))
    vote = store.latest_vote(session_id, step)
    if vote is not None and vote.status != VoteStatus.REVEALED:
        dots, voters = store.vote_progress(vote.id)
        message = "workshop.vote.progress" if vote.status == VoteStatus.OPEN else "workshop.vote.closed_hidden"
        st.info(t(message, dots=dots, people=voters), icon=":material/how_to_vote:")


def _kpi_tree(store, plan: Plan) -> None:
    """The plan's KPI tree as the room has built it so far, scaled to the screen's width."""
    st.subheader(t("workshop.tree_title"))
    dot = ws.plan_tree(store, plan, lang(), full_digits())
    if dot is None:
        st.info(t("workshop.tree_empty"))
        return
    with st.container(key="ws_tree"):
        st.graphviz_chart(dot, width="stretch")


def _idea_tools(store, session: SessionView, key: str) -> None:
    step = session.step
    with st.form("ws_fac_idea", clear_on_submit=True):
        text = st.text_input(t("workshop.idea"))
        detail = st.text_input(t("workshop.idea_detail"), help=t(f"workshop.idea_detail_help.s{step}"))
        if st.form_submit_button(t("workshop.add_idea")):
            act(lambda: ws.add_idea_as_facilitator(store, session.id, key, step, text, detail),
               "workshop.idea_added")
    ideas = store.list_ideas(session.id, step)
    if not ideas:
        return
    names = {i.id: i.text for i in ideas}
    with st.expander(t("workshop.edit")):
        chosen = st.selectbox(t("workshop.edit_pick"), list(names), format_func=names.get, key="ws_edit_pick")
        idea = next(i for i in ideas if i.id == chosen)
        with st.form(f"ws_edit_{chosen}"):
            text = st.text_input(t("workshop.idea"), value=idea.text)
            detail = st.text_input(t("workshop.idea_detail"), value=idea.detail)
            group = st.text_input(t("workshop.group"), value=idea.group_label)
            save, delete = st.columns(2)
            if save.form_submit_button(t("workshop.save_idea")):
                act(lambda: ws.edit_idea(store, session.id, key, chosen, text, detail, group), "common.saved")
            if delete.form_submit_button(t("workshop.delete_idea")):
                act(lambda: ws.delete_idea(store, session.id, key, chosen), "common.saved")
    with st.expander(t("workshop.merge")), st.form("ws_merge"):
        keep = st.selectbox(t("workshop.merge_keep"), list(names), format_func=names.get)
        others = st.multiselect(t("workshop.merge_others"), list(names), format_func=names.get)
        if st.form_submit_button(t("workshop.merge_do")):
            act(lambda: ws.merge_ideas(store, session.id, key, keep, others), "common.saved")


def _vote_controls(store, session: SessionView, key: str, ctx: PageContext) -> None:
    vote = store.latest_vote(session.id, session.step)
    st.subheader(t("workshop.vote.title"))
    if vote is None or vote.status == VoteStatus.REVEALED:
        dots_col, stack_col, open_col = st.columns([1, 1, 1])
        dots_col.number_input(t("workshop.vote.dots"), 1, MAX_DOTS, 3, key="ws_vote_dots")
        stack_col.checkbox(t("workshop.vote.stacking"), key="ws_vote_stacking")
        open_col.button(t("workshop.vote.open"), key="ws_vote_open", type="primary", disabled=not session.is_open,
                        on_click=on_click(lambda: ws.open_vote(
                            store, session.id, key, session.step, int(st.session_state["ws_vote_dots"]),
                            bool(st.session_state["ws_vote_stacking"]))))
    else:
        close_col, reveal_col = st.columns(2)
        if vote.status == VoteStatus.OPEN:
            close_col.button(t("workshop.vote.close"), key="ws_vote_close",
                             on_click=on_click(lambda: ws.close_vote(store, session.id, key, vote.id)))
        reveal_col.button(t("workshop.vote.reveal"), key="ws_vote_reveal", type="primary",
                          on_click=on_click(lambda: ws.reveal_vote(store, session.id, key, vote.id)))
    if vote is not None and vote.status == VoteStatus.REVEALED:
        _results(store, session, key, vote, ctx)


def _results(store, session: SessionView, key: str, vote, ctx: PageContext) -> None:
    """A promotion writes a CSF or KPI: it carries the plan version this session last drew, read when the click
    arrives (the callback runs before the page is drawn again)."""
    ranked = ws.results(store, vote)
    presenter = presenting()
    st.subheader(t("workshop.vote.results"))
    st.altair_chart(vote_bars(ranked, t("workshop.vote.chart_dots"), presenter), width="stretch")
    if presenter:  # a static table takes the projector stylesheet (the interactive grid draws on a canvas)
        st.table(pd.DataFrame([[r.rank, r.text, r.dots, r.voters] for r in ranked],
                              columns=[t("workshop.vote.rank"), t("workshop.vote.idea_col"),
                                       t("workshop.vote.dots_col"), t("workshop.vote.voters_col")]), hide_index=True)
    promoted = {i.id: i for i in store.list_ideas(session.id, session.step) if i.promoted_kind}
    kind = {3: "csf", 4: "kpi"}.get(session.step)
    plan = store.get_plan(session.plan_id)
    for item in ranked:
        text, dots, action = st.columns([5, 1, 2])
        text.markdown(f"**{item.rank}.** {plain(item.text)}")
        dots.markdown(plain(t("workshop.vote.dots_col") + f" {item.dots}"))
        done = promoted.get(item.idea_id)
        if done is not None:
            role = t(f"enum.role.{_role_of(store, plan.id, done)}") if done.promoted_kind == "csf" else ""
            message = "workshop.promote.done_csf" if done.promoted_kind == "csf" else "workshop.promote.done_kpi"
            action.success(t(message, role=role, dots=done.promoted_dots or 0))
        elif kind:
            action.button(t(f"workshop.promote.{kind}"), key=f"ws_promote_{item.idea_id}",
                          disabled=not session.is_open,
                          on_click=on_click(lambda i=item.idea_id: ws.promote(store, session.id, key, i, kind,
                                                                              ctx.seen_version)))


def _role_of(store, plan_id: int, idea: Idea) -> str:
    roles = {c.id: str(c.role) for c in store.list_csfs(plan_id)}
    return roles.get(idea.promoted_ref, "retired")


# ---------------------------------------------------------------- decisions, parking lot, result
def _notes(store, session: SessionView, key: str) -> None:
    st.subheader(t("workshop.notes.title"))
    decisions, parking = st.columns(2)
    with decisions:
        st.markdown(f"**{plain(t('workshop.notes.decisions'))}**")
        _note_list(store, session, key, NoteKind.DECISION)
        with st.form("ws_decision", clear_on_submit=True):
            text = st.text_input(t("workshop.notes.text"))
            owner_col, due_col = st.columns(2)
            owner = owner_col.text_input(t("workshop.notes.owner"))
            due = due_col.date_input(t("workshop.notes.due"), value=None)
            if st.form_submit_button(t("workshop.notes.add_decision")):
                act(lambda: ws.add_note(store, session.id, key, NoteKind.DECISION, text, owner, due),
                   "common.saved")
    with parking:
        st.markdown(f"**{plain(t('workshop.notes.parking'))}**")
        _note_list(store, session, key, NoteKind.PARKING)
        with st.form("ws_parking", clear_on_submit=True):
            text = st.text_input(t("workshop.notes.text"), key="ws_parking_text")
            if st.form_submit_button(t("workshop.notes.add_parking")):
                act(lambda: ws.add_note(store, session.id, key, NoteKind.PARKING, text), "common.saved")


def _note_list(store, session: SessionView, key: str, kind: NoteKind) -> None:
    notes = store.list_notes(session.id, kind)
    if not notes:
        st.caption(t("workshop.notes.none"))
    for note in notes:
        text, remove = st.columns([5, 1])
        extra = " · ".join(part for part in (note.owner, note.due.isoformat() if note.due else "") if part)
        text.markdown("- " + plain(note.text) + (f" ({plain(extra)})" if extra else ""))
        remove.button(t("workshop.notes.remove"), key=f"ws_note_rm_{note.id}", disabled=not session.is_open,
                      on_click=on_click(lambda n=note.id: ws.delete_note(store, session.id, key, n)))


def _result(store, session: SessionView) -> None:
    result = ws.summary(store, session.id)
    with st.expander(t("workshop.summary.title")):
        rows = [[c.name, t(f"enum.role.{c.role}"), c.dots] for c in result.csfs]
        if rows:
            st.table(pd.DataFrame(rows, columns=[t("workshop.summary.name"), t("workshop.summary.role"),
                                                 t("workshop.summary.dots")]))
        st.download_button(t("workshop.summary.download"), render_summary_html(result, lang()),
                           file_name=f"workshop-{session.code}.html", mime="text/html", key="ws_summary")
        st.caption(t("workshop.summary.print_hint"))


# ---------------------------------------------------------------- the page
def _session_bar(store, session: SessionView, key: str) -> None:
    toggle, status = st.columns([2, 1], vertical_alignment="center")
    shown = toggle.toggle(t("workshop.present_on"), value=presenting(), help=t("workshop.present_help"),
                          key="ws_present")
    if shown != presenting():
        if shown:
            st.query_params[PRESENT_PARAM] = "1"
        else:
            st.query_params.pop(PRESENT_PARAM, None)
        st.rerun()
    if session.is_open:
        status.button(t("workshop.close"), key="ws_close",
                      on_click=on_click(lambda: ws.close_session(store, session.id, key)))
    else:
        st.warning(t("workshop.closed_note"))
        status.button(t("workshop.reopen"), key="ws_reopen",
                      on_click=on_click(lambda: ws.reopen_session(store, session.id, key)))


def _step_body(store, plan: Plan, session: SessionView, key: str, ctx: PageContext, presenter: bool) -> None:
    """What the room works on at this step: the goal's figures, the ideas and the vote, the tree, the notes."""
    if session.step in (1, 2):
        _goal(store, plan, session.step)
    if session.step in IDEA_STEPS:
        _live_board(store, session.id, session.step, presenter)
        _vote_controls(store, session, key, ctx)
        if not presenter:
            _idea_tools(store, session, key)
    if session.step == 4:
        _kpi_tree(store, plan)
    if session.step == 5 or not presenter:
        _notes(store, session, key)


def _facilitator_view(store, plan: Plan, session: SessionView, key: str, ctx: PageContext) -> None:
    _session_bar(store, session, key)
    clock, join = st.columns([1, 2])
    with clock:
        show_clock(session)
        _timer_controls(store, session, key)
    with join:
        join_panel(session, presenter=False, joined=0)
    steps, main = st.columns([1, 3])
    with steps:
        _agenda(session)
    with main:
        st.header(t(f"workshop.steps.s{session.step}"))
        st.markdown(plain(t(f"workshop.prompt.s{session.step}")))
        _step_nav(store, session, key)
        _step_body(store, plan, session, key, ctx, presenter=False)


def _presenter_view(store, plan: Plan, session: SessionView, key: str, ctx: PageContext) -> None:
    """The projector: one band with the step, the timer and how to join, the controls in one row, then the step's
    content from the upper third of the screen down; agenda, session switches and the result below it."""
    with st.container(key="ws_band"):
        title, clock, join = st.columns([5, 2, 3])
        with title:
            st.title(t(f"workshop.steps.s{session.step}"))
            st.caption(plain(session.title))
        with clock:
            show_clock(session)
        with join:
            join_panel(session, presenter=True, joined=len(store.list_participants(session.id)))
    nav, timer = st.columns([2, 3])
    with nav:
        _step_nav(store, session, key)
    with timer:
        _timer_controls(store, session, key)
    with st.container(key="ws_step"):
        st.markdown(plain(t(f"workshop.prompt.s{session.step}")))
        _step_body(store, plan, session, key, ctx, presenter=True)
    _agenda(session)
    _session_bar(store, session, key)


def render(ctx: PageContext) -> None:
    store, plan = ctx.store, ctx.plan
    presenter = presenting()
    session = _selected(store, plan)
    if presenter and session is not None:
        apply_presenter_style()
    if session is None or not presenter:
        _sessions_panel(store, plan, session)
    if session is None:
        return
    key = ws.facilitator_key(store, session.id)
    with st.container(key="ws_page"):
        follow_room(store, session.id, 0)
        show_notice()
        if presenter:
            _presenter_view(store, plan, session, key, ctx)
        else:
            _facilitator_view(store, plan, session, key, ctx)
        _result(store, session)
    page_drawn(session.data_version)
