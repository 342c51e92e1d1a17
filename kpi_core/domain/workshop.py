"""Workshop rules: the agenda, the shared timer, what participants may type, and dot voting limits.

Pure functions and small value objects; the store keeps the state and the services apply these rules inside one
transaction. Times are epoch seconds (float) so that every screen computes the same remaining time from one stored
deadline, whatever its time zone.
"""
from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from kpi_core.errors import WorkbenchError

STEPS = (1, 2, 3, 4, 5)  # the five steps of the method: KGI, gap, CSF, KPI, PDCA
IDEA_STEPS = (3, 4, 5)  # steps where the room puts ideas in: CSF candidates, KPI candidates, reasons/next actions
DEFAULT_MINUTES = {1: 10, 2: 10, 3: 20, 4: 20, 5: 15}
MAX_MINUTES = 240
MAX_IDEA_CHARS = 300
MAX_DETAIL_CHARS = 1000
MAX_NAME_CHARS = 40
MAX_TITLE_CHARS = 120
DEFAULT_DOTS = 3
MAX_DOTS = 10
PRIMARY_SLOTS = 2  # the first promoted CSFs of a workshop are primary, the rest prepared fallbacks
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed on a phone
CODE_LENGTH = 6


class WorkshopError(WorkbenchError):
    """A workshop rule refused an action: a catalogue key and its values, rendered in the user's language."""


class SessionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class VoteStatus(StrEnum):
    OPEN = "open"  # dots being placed, results hidden
    CLOSED = "closed"  # no more dots, results still hidden
    REVEALED = "revealed"  # results shown and ranked


class NoteKind(StrEnum):
    DECISION = "decision"
    PARKING = "parking"


# ---------------------------------------------------------------- agenda
@dataclass(frozen=True)
class AgendaItem:
    step: int
    minutes: int


def default_agenda() -> list[AgendaItem]:
    return [AgendaItem(step, DEFAULT_MINUTES[step]) for step in STEPS]


def validate_agenda(items: list[AgendaItem]) -> list[AgendaItem]:
    if not items:
        raise WorkshopError("workshop.error.agenda_empty")
    for item in items:
        if item.step not in STEPS:
            raise WorkshopError("workshop.error.agenda_step", step=item.step)
        if not 1 <= item.minutes <= MAX_MINUTES:
            raise WorkshopError("workshop.error.agenda_minutes", minutes=item.minutes, max=MAX_MINUTES)
    return items


def agenda_to_json(items: list[AgendaItem]) -> list[dict[str, int]]:
    return [{"step": i.step, "minutes": i.minutes} for i in items]


def agenda_from_json(data: list[dict[str, Any]]) -> list[AgendaItem]:
    return [AgendaItem(int(d["step"]), int(d["minutes"])) for d in data]


def move_position(position: int, delta: int, agenda_length: int) -> int:
    """The agenda position after Next (+1) / Back (-1), held inside the agenda."""
    return max(0, min(agenda_length - 1, position + delta))


# ---------------------------------------------------------------- text typed by people in the room
_TAG = re.compile(r"<\s*[/!?a-zA-Z]")
_MARKDOWN = re.compile(r"\]\(|!\[|`|\*\*|__|~~|\$\$|^\s{0,3}#{1,6}\s|^\s*>\s|javascript:", re.MULTILINE | re.IGNORECASE)
_CODE_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str | None, what: str, max_chars: int, allow_empty: bool = False) -> str:
    """Text from a participant, checked: trimmed, NFC, not empty, not too long, no markup or control characters.

    Markup is refused rather than silently stripped, so that what the room sees is exactly what was typed.
    `what` names the field in the message (a catalogue key suffix: idea, detail, name, title, owner...).
    """
    value = unicodedata.normalize("NFC", (text or "").strip())
    if not value:
        if allow_empty:
            return ""
        raise WorkshopError("workshop.error.empty", field=what)
    if len(value) > max_chars:
        raise WorkshopError("workshop.error.too_long", field=what, length=len(value), max=max_chars)
    if _TAG.search(value) or _MARKDOWN.search(value):
        raise WorkshopError("workshop.error.markup", field=what)
    if _CODE_CHARS.search(value):
        raise WorkshopError("workshop.error.control", field=what)
    return value


def normalise_code(code: str | None) -> str:
    """A join code as typed (lower case, spaces, dashes) in its stored form."""
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", code or "")).upper()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_token() -> str:
    """A secret carried in a participant's link (identity across reloads) or in the facilitator's session."""
    return secrets.token_urlsafe(16)


# ---------------------------------------------------------------- timer
@dataclass(frozen=True)
class Timer:
    """The shared countdown. Running: `deadline` is the epoch second it ends. Paused: `remaining` seconds are kept."""

    duration: float = 0.0
    running: bool = False
    deadline: float | None = None
    remaining: float = 0.0

    def seconds_left(self, now: float) -> float:
        if self.running and self.deadline is not None:
            return max(0.0, self.deadline - now)
        return max(0.0, self.remaining)

    def expired(self, now: float) -> bool:
        """At zero after having been started: a cue on every screen, never a block."""
        return self.duration > 0 and self.seconds_left(now) <= 0

    def start(self, now: float) -> Timer:
        if self.running:
            return self
        left = self.remaining if self.remaining > 0 else self.duration
        return replace(self, running=True, deadline=now + left, remaining=left)

    def pause(self, now: float) -> Timer:
        if not self.running:
            return self
        return replace(self, running=False, deadline=None, remaining=self.seconds_left(now))

    def add_minute(self, now: float) -> Timer:
        if self.running:
            base = max(self.deadline or now, now)  # a timer already at zero restarts from now
            return replace(self, deadline=base + 60, duration=self.duration + 60)
        return replace(self, remaining=self.remaining + 60, duration=self.duration + 60)

    def reset(self, minutes: int) -> Timer:
        return Timer(duration=minutes * 60.0, running=False, deadline=None, remaining=minutes * 60.0)


def format_clock(seconds: float) -> str:
    """mm:ss, rounded up so that 0:00 shows only when the time is really over."""
    whole = int(-(-seconds // 1))
    return f"{whole // 60:02d}:{whole % 60:02d}"


# ---------------------------------------------------------------- dot voting
def validate_dots(dots: int) -> int:
    if not 1 <= dots <= MAX_DOTS:
        raise WorkshopError("workshop.error.dots_range", dots=dots, max=MAX_DOTS)
    return dots


def check_dot(used: int, on_idea: int, limit: int, stacking: bool) -> None:
    """May a participant who has placed `used` dots (`on_idea` of them on this idea) place one more here?"""
    if used >= limit:
        raise WorkshopError("workshop.error.no_dots_left", limit=limit)
    if on_idea >= 1 and not stacking:
        raise WorkshopError("workshop.error.no_stacking")


@dataclass(frozen=True)
class Ranked:
    idea_id: int
    text: str
    dots: int
    voters: int
    rank: int


def rank_results(totals: list[tuple[int, str, int, int]]) -> list[Ranked]:
    """(idea id, text, dots, voters) ranked by dots, then voters, then the earlier idea; ties share a rank."""
    ordered = sorted(totals, key=lambda r: (-r[2], -r[3], r[0]))
    ranked: list[Ranked] = []
    for position, (idea_id, text, dots, voters) in enumerate(ordered, start=1):
        same = ranked and ranked[-1].dots == dots and ranked[-1].voters == voters
        ranked.append(Ranked(idea_id, text, dots, voters, ranked[-1].rank if same else position))
    return ranked


def promoted_role(primaries_already: int, slots: int = PRIMARY_SLOTS) -> str:
    """The CSF role of the next promoted idea: the first `slots` are primary, later ones prepared fallbacks."""
    return "primary" if primaries_already < slots else "fallback"


def kpi_key_for(idea_id: int, taken: set[str]) -> str:
    """A KPI key for a promoted idea (keys are identifiers in driver formulas; names may be Japanese)."""
    base = f"ws_idea_{idea_id}"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


@dataclass
class SessionView:
    """What a screen needs to draw a workshop session (facilitator, presenter or participant)."""

    id: int
    plan_id: int
    title: str
    code: str
    status: SessionStatus
    position: int
    agenda: list[AgendaItem]
    timer: Timer
    created_at: Any = None
    closed_at: Any = None
    data_version: int = 0  # moved by every write to the session
    stage_version: int = 0  # moved by the facilitator's steering only (agenda, timer, status, votes)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return self.agenda[self.position].step if self.agenda else 1

    @property
    def is_open(self) -> bool:
        return self.status == SessionStatus.OPEN


@dataclass
class Participant:
    id: int
    workshop_id: int
    name: str
    token: str = ""


@dataclass
class Idea:
    id: int
    workshop_id: int
    step: int
    text: str
    detail: str = ""
    participant_id: int | None = None  # None: put in by the facilitator
    author: str = ""
    group_label: str = ""
    merged_into: int | None = None
    promoted_kind: str = ""  # "csf" or "kpi" once promoted
    promoted_ref: int | None = None
    promoted_dots: int | None = None


@dataclass
class Vote:
    id: int
    workshop_id: int
    step: int
    dots: int
    stacking: bool
    status: VoteStatus


@dataclass
class Note:
    id: int
    workshop_id: int
    kind: NoteKind
    text: str
    owner: str = ""
    due: Any = None
