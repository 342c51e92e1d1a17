"""The participant's view of a workshop, on their own phone or laptop: join with the code, then follow the shared
screen (prompt, timer), write ideas for the current step and place dots. Nothing else of the app is reachable here.

Identity is the token in the link (`?join=CODE&me=TOKEN`), so a reload or a locked phone keeps the same person.
"""
from __future__ import annotations

import streamlit as st

from kpi_core.domain.workshop import IDEA_STEPS, SessionView, VoteStatus, WorkshopError
from kpi_core.services import workshop as ws
from pages.common import get_store, t
from pages.frame import show_flash
from pages.workshop_ui import (
    JOIN_PARAM,
    PARTICIPANT_CSS,
    TOKEN_PARAM,
    act,
    attempt,
    follow_room,
    on_click,
    page_drawn,
    plain,
    show_clock,
    show_notice,
    workshop_error_text,
)


def _join_form(store) -> None:
    st.title(t("workshop.participant.welcome"))
    with st.form("ws_join"):
        code = st.text_input(t("workshop.participant.code"), value=st.query_params.get(JOIN_PARAM, ""),
                             max_chars=12)
        name = st.text_input(t("workshop.participant.name"), max_chars=60)
        if st.form_submit_button(t("workshop.participant.join"), type="primary"):
            done, joined = attempt(lambda: ws.join(store, code, name))
            if done:
                session, me = joined
                st.query_params[JOIN_PARAM] = session.code
                st.query_params[TOKEN_PARAM] = me.token
                st.rerun()


def _follow(store, token: str) -> SessionView:
    """Title, the facilitator's current step and prompt, and the timer."""
    session, me = ws.participant_session(store, token)
    st.caption(plain(t("workshop.participant.hello", name=me.name, title=session.title)))
    st.subheader(t(f"workshop.steps.s{session.step}"))
    st.markdown(plain(t(f"workshop.prompt.s{session.step}")))
    show_clock(session)
    return session


def _idea_form(store, token: str, session: SessionView) -> None:
    with st.form("ws_idea", clear_on_submit=True):
        text = st.text_area(t("workshop.idea"), height=90)
        detail = st.text_input(t("workshop.idea_detail"), help=t(f"workshop.idea_detail_help.s{session.step}"))
        if st.form_submit_button(t("workshop.add_idea"), type="primary", width="stretch"):
            act(lambda: ws.submit_idea(store, token, text, detail), "workshop.idea_added")


def _mine(store, token: str) -> None:
    """My ideas on this step, then the vote: my dots while it is open, the ranking once revealed."""
    session, me = ws.participant_session(store, token)
    vote = ws.current_vote(store, session)
    if vote is None or vote.status == VoteStatus.CLOSED:
        st.markdown(f"**{plain(t('workshop.participant.your_ideas'))}**")
        mine = store.list_ideas(session.id, session.step, participant_id=me.id)
        if not mine:
            st.caption(t("workshop.participant.no_yours"))
        for idea in mine:
            st.markdown("- " + plain(idea.text))
        if vote is not None:
            st.info(t("workshop.error.vote_not_open"))
        return
    st.subheader(t("workshop.vote.title"))
    if vote.status == VoteStatus.REVEALED:
        for item in ws.results(store, vote):
            st.markdown(f"**{item.rank}.** {plain(item.text)} — {item.dots}")
        return
    placed = store.my_dots(vote.id, me.id)
    st.markdown(f"**{plain(t('workshop.participant.dots_left', left=vote.dots - sum(placed.values()), total=vote.dots))}**")
    for idea in store.list_ideas(session.id, session.step):
        with st.container(border=True):
            st.markdown(plain(idea.text))
            mine = placed.get(idea.id, 0)
            add, remove, count = st.columns([1, 1, 2])
            add.button(t("workshop.participant.add_dot"), key=f"ws_dot_{vote.id}_{idea.id}", width="stretch",
                       on_click=on_click(lambda i=idea.id: ws.place_dot(store, token, vote.id, i)))
            remove.button(t("workshop.participant.remove_dot"), key=f"ws_undot_{vote.id}_{idea.id}",
                          width="stretch", disabled=mine == 0,
                          on_click=on_click(lambda i=idea.id: ws.remove_dot(store, token, vote.id, i)))
            count.markdown("●" * mine + " " + plain(t("workshop.participant.your_dots", n=mine)))


def render() -> None:
    st.html(PARTICIPANT_CSS)
    store = get_store()
    token = st.query_params.get(TOKEN_PARAM)
    if not token:
        _join_form(store)
        return
    try:
        session, _ = ws.participant_session(store, token)
    except WorkshopError as exc:
        st.error(workshop_error_text(exc))
        st.query_params.pop(TOKEN_PARAM, None)
        _join_form(store)
        return
    follow_room(store, session.id, 1)
    show_notice()
    show_flash()
    session = _follow(store, token)
    if not session.is_open:
        st.success(t("workshop.participant.closed"))
    elif session.step in IDEA_STEPS:
        _idea_form(store, token, session)
    else:
        st.info(t("workshop.participant.listen"))
    if session.is_open:
        _mine(store, token)
    page_drawn(session.stage_version)


render()
