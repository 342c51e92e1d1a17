"""Workshop use cases: one function per action of the facilitator or of a participant, each one transaction.

Facilitator actions carry the session's facilitator key (held only by the screen that created or reopened the
session); participant actions carry the participant's token from their link. Text typed in the room is checked
by the domain rules before anything is written, so a refused input changes nothing.
"""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from datetime import date

from kpi_core.adapters.store import Store
from kpi_core.domain.gap import GapAnalysis, analyse_gap
from kpi_core.domain.model import CSF, KGI, KPI, CSFRole, Plan
from kpi_core.domain.tree import TreeInput, figures_from_tracking, kpi_tree_dot
from kpi_core.domain.workshop import (
    IDEA_STEPS,
    MAX_DETAIL_CHARS,
    MAX_IDEA_CHARS,
    MAX_NAME_CHARS,
    MAX_TITLE_CHARS,
    AgendaItem,
    Idea,
    Note,
    NoteKind,
    Participant,
    Ranked,
    SessionStatus,
    SessionView,
    Vote,
    VoteStatus,
    WorkshopError,
    clean_text,
    default_agenda,
    kpi_key_for,
    move_position,
    new_token,
    normalise_code,
    promoted_role,
    rank_results,
    validate_agenda,
    validate_dots,
)
from kpi_core.services.tracking import plan_tracking


# ---------------------------------------------------------------- facilitator: the session
def create_session(store: Store, plan_id: int, title: str,
                   agenda: list[AgendaItem] | None = None) -> tuple[SessionView, str]:
    """A new open session on a plan; returns it with the facilitator key that its later actions need."""
    title = clean_text(title, "title", MAX_TITLE_CHARS)
    agenda = validate_agenda(agenda if agenda is not None else default_agenda())
    key = new_token()
    return store.create_workshop(plan_id, title, agenda, key), key


def facilitator_key(store: Store, workshop_id: int) -> str:
    """The key of a session, for the main app's Workshop page (behind the app password) reopening it."""
    return store.workshop_facilitator_key(workshop_id)


def _require_facilitator(store: Store, workshop_id: int, key: str | None) -> None:
    if not key or not hmac.compare_digest(store.workshop_facilitator_key(workshop_id), key):
        raise WorkshopError("workshop.error.not_facilitator")


def move(store: Store, workshop_id: int, key: str, delta: int) -> SessionView:
    """Next (+1) / Back (-1) through the agenda; the timer is set to the new item's time box, not started."""
    _require_facilitator(store, workshop_id, key)
    session = store.get_workshop(workshop_id)
    position = move_position(session.position, delta, len(session.agenda))
    timer = session.timer.reset(session.agenda[position].minutes)
    return store.set_workshop_state(workshop_id, position=position, timer=timer)


def timer_action(store: Store, workshop_id: int, key: str, action: str, now: float | None = None) -> SessionView:
    """start / pause / add_minute / reset of the shared timer, stored as a deadline every screen reads."""
    _require_facilitator(store, workshop_id, key)
    now = time.time() if now is None else now
    session = store.get_workshop(workshop_id)
    timer = session.timer
    changed = {
        "start": lambda: timer.start(now),
        "pause": lambda: timer.pause(now),
        "add_minute": lambda: timer.add_minute(now),
        "reset": lambda: timer.reset(session.agenda[session.position].minutes),
    }.get(action)
    if changed is None:
        raise WorkshopError("workshop.error.timer_action", action=action)
    return store.set_workshop_state(workshop_id, timer=changed())


def close_session(store: Store, workshop_id: int, key: str) -> SessionView:
    _require_facilitator(store, workshop_id, key)
    return store.set_workshop_state(workshop_id, status=SessionStatus.CLOSED)


def reopen_session(store: Store, workshop_id: int, key: str) -> SessionView:
    _require_facilitator(store, workshop_id, key)
    return store.set_workshop_state(workshop_id, status=SessionStatus.OPEN)


# ---------------------------------------------------------------- participants
def join(store: Store, code: str, name: str) -> tuple[SessionView, Participant]:
    """Join an open session by its code with a display name; the returned token keeps the identity."""
    name = clean_text(name, "name", MAX_NAME_CHARS)
    normalised = normalise_code(code)
    if not normalised:
        raise WorkshopError("workshop.error.wrong_code")
    return store.join_workshop(normalised, name, new_token())


def participant_session(store: Store, token: str | None) -> tuple[SessionView, Participant]:
    """The participant behind a link's token and their session (open or closed)."""
    participant = store.participant_by_token(token) if token else None
    if participant is None:
        raise WorkshopError("workshop.error.unknown_participant")
    return store.get_workshop(participant.workshop_id), participant


# ---------------------------------------------------------------- ideas
def _clean_idea(text: str, detail: str) -> tuple[str, str]:
    return clean_text(text, "idea", MAX_IDEA_CHARS), clean_text(detail, "detail", MAX_DETAIL_CHARS, allow_empty=True)


def submit_idea(store: Store, token: str, text: str, detail: str = "") -> Idea:
    """A participant's idea for the session's current step."""
    session, participant = participant_session(store, token)
    text, detail = _clean_idea(text, detail)
    if session.step not in IDEA_STEPS:
        raise WorkshopError("workshop.error.no_ideas_now")
    return store.add_idea(session.id, session.step, text, detail, participant.id)


def add_idea_as_facilitator(store: Store, workshop_id: int, key: str, step: int, text: str,
                            detail: str = "") -> Idea:
    _require_facilitator(store, workshop_id, key)
    text, detail = _clean_idea(text, detail)
    if step not in IDEA_STEPS:
        raise WorkshopError("workshop.error.no_ideas_now")
    return store.add_idea(workshop_id, step, text, detail, None)


def edit_idea(store: Store, workshop_id: int, key: str, idea_id: int, text: str, detail: str = "",
              group_label: str = "") -> None:
    _require_facilitator(store, workshop_id, key)
    text, detail = _clean_idea(text, detail)
    group_label = clean_text(group_label, "group", MAX_NAME_CHARS, allow_empty=True)
    store.edit_idea(workshop_id, idea_id, text, detail, group_label)


def merge_ideas(store: Store, workshop_id: int, key: str, keep_id: int, merged_ids: list[int]) -> None:
    _require_facilitator(store, workshop_id, key)
    others = [i for i in merged_ids if i != keep_id]
    if not others:
        raise WorkshopError("workshop.error.merge_needs_two")
    store.merge_ideas(workshop_id, keep_id, others)


def delete_idea(store: Store, workshop_id: int, key: str, idea_id: int) -> None:
    _require_facilitator(store, workshop_id, key)
    store.delete_idea(workshop_id, idea_id)


# ---------------------------------------------------------------- dot voting
def open_vote(store: Store, workshop_id: int, key: str, step: int, dots: int = 3, stacking: bool = False) -> Vote:
    _require_facilitator(store, workshop_id, key)
    return store.open_vote(workshop_id, step, validate_dots(dots), stacking)


def _vote_of(store: Store, workshop_id: int, vote_id: int) -> Vote:
    vote = store.get_vote(vote_id)
    if vote.workshop_id != workshop_id:
        raise WorkshopError("workshop.error.no_vote")
    return vote


def close_vote(store: Store, workshop_id: int, key: str, vote_id: int) -> Vote:
    _require_facilitator(store, workshop_id, key)
    _vote_of(store, workshop_id, vote_id)
    return store.set_vote_status(vote_id, VoteStatus.CLOSED, (VoteStatus.OPEN,))


def reveal_vote(store: Store, workshop_id: int, key: str, vote_id: int) -> Vote:
    """Show the results; an open vote is closed by revealing it."""
    _require_facilitator(store, workshop_id, key)
    _vote_of(store, workshop_id, vote_id)
    return store.set_vote_status(vote_id, VoteStatus.REVEALED, (VoteStatus.OPEN, VoteStatus.CLOSED))


def current_vote(store: Store, session: SessionView) -> Vote | None:
    """The latest vote on the session's current step."""
    return store.latest_vote(session.id, session.step)


def place_dot(store: Store, token: str, vote_id: int, idea_id: int) -> int:
    """A participant's dot; returns the dots they have left."""
    session, participant = participant_session(store, token)
    _vote_of(store, session.id, vote_id)
    return store.place_dot(vote_id, participant.id, idea_id)


def remove_dot(store: Store, token: str, vote_id: int, idea_id: int) -> None:
    session, participant = participant_session(store, token)
    _vote_of(store, session.id, vote_id)
    store.remove_dot(vote_id, participant.id, idea_id)


def results(store: Store, vote: Vote) -> list[Ranked]:
    """The ranked results, only once revealed (hidden until then on every screen)."""
    if vote.status != VoteStatus.REVEALED:
        raise WorkshopError("workshop.error.results_hidden")
    return rank_results(store.vote_totals(vote.id))


def promote(store: Store, workshop_id: int, key: str, idea_id: int, kind: str,
            expected_version: int | None) -> CSF | KPI:
    """One click: the idea becomes a CSF (the first ones primary, then fallbacks) or a KPI draft of the plan,
    with the idea keeping a link to it and to its dots."""
    _require_facilitator(store, workshop_id, key)
    if kind not in ("csf", "kpi"):
        raise WorkshopError("workshop.error.promote_kind", kind=kind)

    def make(plan_id: int, idea: Idea, dots: int, primaries: int, kpi_keys: set[str]) -> CSF | KPI:
        if kind == "csf":
            return CSF(plan_id=plan_id, name=idea.text, role=CSFRole(promoted_role(primaries)),
                       description=idea.detail)
        return KPI(plan_id=plan_id, key=kpi_key_for(idea.id, kpi_keys), name=idea.text, definition=idea.detail)

    return store.promote_idea(workshop_id, idea_id, make, expected_version)


# ---------------------------------------------------------------- decisions and parking lot
def add_note(store: Store, workshop_id: int, key: str, kind: NoteKind, text: str, owner: str = "",
             due: date | None = None) -> Note:
    _require_facilitator(store, workshop_id, key)
    text = clean_text(text, "note", MAX_IDEA_CHARS)
    owner = clean_text(owner, "owner", MAX_NAME_CHARS, allow_empty=True)
    return store.add_note(workshop_id, NoteKind(kind), text, owner, due)


def delete_note(store: Store, workshop_id: int, key: str, note_id: int) -> None:
    _require_facilitator(store, workshop_id, key)
    store.delete_note(workshop_id, note_id)


# ---------------------------------------------------------------- the result
@dataclass
class PromotedItem:
    name: str
    kind: str  # csf or kpi
    role: str  # primary / fallback / retired for a CSF, the KPI key for a KPI
    dots: int
    owner: str = ""


@dataclass
class WorkshopSummary:
    session: SessionView
    plan: Plan
    kgi: KGI | None
    gap: GapAnalysis | None
    participants: int
    csfs: list[PromotedItem] = field(default_factory=list)
    kpis: list[PromotedItem] = field(default_factory=list)
    decisions: list[Note] = field(default_factory=list)
    parking: list[Note] = field(default_factory=list)


def kgi_gap(kgi: KGI, plan: Plan) -> GapAnalysis | None:
    """The gap from the confirmed current value (or the baseline when none is confirmed yet) to the target."""
    current = kgi.current if kgi.current is not None else kgi.baseline
    return analyse_gap(kgi, plan, current) if kgi.target is not None and current is not None else None


def summary(store: Store, workshop_id: int) -> WorkshopSummary:
    """Everything the one-page result shows: KGI and gap, what the room chose (with dots), who does what next."""
    session = store.get_workshop(workshop_id)
    plan = store.get_plan(session.plan_id)
    kgi = store.get_kgi(plan.id)
    gap = kgi_gap(kgi, plan) if kgi is not None else None
    csfs = {c.id: c for c in store.list_csfs(plan.id)}
    kpis = {k.id: k for k in store.list_kpis(plan.id)}
    result = WorkshopSummary(session, plan, kgi, gap, len(store.list_participants(workshop_id)),
                             decisions=store.list_notes(workshop_id, NoteKind.DECISION),
                             parking=store.list_notes(workshop_id, NoteKind.PARKING))
    for idea in store.list_ideas(workshop_id):
        dots = idea.promoted_dots or 0
        if idea.promoted_kind == "csf" and idea.promoted_ref in csfs:
            csf = csfs[idea.promoted_ref]
            result.csfs.append(PromotedItem(csf.name, "csf", str(csf.role), dots))
        elif idea.promoted_kind == "kpi" and idea.promoted_ref in kpis:
            kpi = kpis[idea.promoted_ref]
            result.kpis.append(PromotedItem(kpi.name, "kpi", kpi.key, dots, kpi.owner))
    result.csfs.sort(key=lambda item: (item.role != "primary", -item.dots))
    return result


def plan_tree(store: Store, plan: Plan, lang: str, full_digits: bool = False) -> str | None:
    """DOT of the plan's KPI tree for the shared screen, None while the plan has no KGI. Laid out left to right: the
    KPIs stack instead of widening the graph, so when it is scaled to the screen's width its labels grow with it."""
    kgi = store.get_kgi(plan.id)
    if kgi is None:
        return None
    figures = figures_from_tracking(plan_tracking(store, plan))
    return kpi_tree_dot(TreeInput(kgi, store.list_csfs(plan.id), store.list_kpis(plan.id), figures), lang,
                        full_digits, rankdir="LR")
