"""Workshop rules: text typed in the room, the shared timer, dot limits, ranking, promotion roles."""
from __future__ import annotations

import pytest

from kpi_core.domain.workshop import (
    CODE_ALPHABET,
    MAX_IDEA_CHARS,
    AgendaItem,
    Timer,
    WorkshopError,
    check_dot,
    clean_text,
    format_clock,
    kpi_key_for,
    move_position,
    new_code,
    normalise_code,
    promoted_role,
    rank_results,
    validate_agenda,
    validate_dots,
)


@pytest.mark.parametrize("text", ["  Faster first reply  ", "R&D の提案数 > 20 件", "win rate 3 * 2", "見積提出数（件／月）"])
def test_ordinary_text_is_kept_trimmed(text):
    assert clean_text(text, "idea", MAX_IDEA_CHARS) == text.strip()


@pytest.mark.parametrize("text, key", [
    ("", "workshop.error.empty"),
    ("   \n ", "workshop.error.empty"),
    ("x" * 5000, "workshop.error.too_long"),
    ("<script>alert(1)</script>", "workshop.error.markup"),
    ("<img src=x onerror=alert(1)>", "workshop.error.markup"),
    ("[click](http://evil.example)", "workshop.error.markup"),
    ("![img](x.png)", "workshop.error.markup"),
    ("**bold** idea", "workshop.error.markup"),
    ("# Heading", "workshop.error.markup"),
    ("`code`", "workshop.error.markup"),
    ("javascript:alert(1)", "workshop.error.markup"),
    ("abc\x00def", "workshop.error.control"),
    ("right\u202eleft", "workshop.error.control"),
])
def test_bad_text_is_refused_with_its_key(text, key):
    with pytest.raises(WorkshopError) as caught:
        clean_text(text, "idea", MAX_IDEA_CHARS)
    assert caught.value.key == key
    assert caught.value.values["field"] == "idea"


def test_empty_allowed_where_optional():
    assert clean_text("  ", "detail", 10, allow_empty=True) == ""


def test_join_codes_are_unambiguous_and_normalised():
    code = new_code()
    assert len(code) == 6 and set(code) <= set(CODE_ALPHABET)
    assert normalise_code(" ab-c 2x ") == "ABC2X"
    assert normalise_code("ＡＢＣ２３４") == "ABC234"  # typed full-width on a Japanese phone


def test_timer_counts_from_a_stored_deadline():
    timer = Timer().reset(5)
    assert timer.seconds_left(1000) == 300 and not timer.expired(1000)
    running = timer.start(1000)
    assert running.deadline == 1300
    assert running.seconds_left(1100) == 200
    paused = running.pause(1100)
    assert not paused.running and paused.seconds_left(5000) == 200
    resumed = paused.start(6000)
    assert resumed.deadline == 6200
    longer = resumed.add_minute(6100)
    assert longer.seconds_left(6100) == 160
    assert longer.seconds_left(7000) == 0 and longer.expired(7000)


def test_timer_plus_minute_after_zero_restarts_from_now():
    expired = Timer().reset(1).start(0)
    assert expired.expired(100)
    assert expired.add_minute(100).seconds_left(100) == 60


def test_timer_plus_minute_while_paused_and_reset():
    paused = Timer().reset(2)
    assert paused.add_minute(0).seconds_left(0) == 180
    assert paused.start(0).reset(3) == Timer(duration=180, running=False, deadline=None, remaining=180)


def test_clock_rounds_up():
    assert format_clock(0) == "00:00"
    assert format_clock(0.2) == "00:01"
    assert format_clock(125) == "02:05"


def test_agenda_moves_stay_inside():
    assert move_position(0, -1, 5) == 0
    assert move_position(4, 1, 5) == 4
    assert move_position(2, 1, 5) == 3


@pytest.mark.parametrize("items, key", [
    ([], "workshop.error.agenda_empty"),
    ([AgendaItem(6, 10)], "workshop.error.agenda_step"),
    ([AgendaItem(1, 0)], "workshop.error.agenda_minutes"),
])
def test_bad_agendas(items, key):
    with pytest.raises(WorkshopError) as caught:
        validate_agenda(items)
    assert caught.value.key == key


def test_dot_limits():
    check_dot(used=2, on_idea=0, limit=3, stacking=False)
    check_dot(used=2, on_idea=2, limit=3, stacking=True)
    with pytest.raises(WorkshopError, match="no_dots_left"):
        check_dot(used=3, on_idea=0, limit=3, stacking=True)
    with pytest.raises(WorkshopError, match="no_stacking"):
        check_dot(used=1, on_idea=1, limit=3, stacking=False)
    with pytest.raises(WorkshopError, match="dots_range"):
        validate_dots(0)
    with pytest.raises(WorkshopError, match="dots_range"):
        validate_dots(11)


def test_ranking_orders_by_dots_then_voters_and_shares_ties():
    ranked = rank_results([(1, "a", 2, 2), (2, "b", 5, 3), (3, "c", 2, 2), (4, "d", 2, 1), (5, "e", 0, 0)])
    assert [(r.idea_id, r.rank) for r in ranked] == [(2, 1), (1, 2), (3, 2), (4, 4), (5, 5)]


def test_promoted_roles_and_kpi_keys():
    assert [promoted_role(n, slots=2) for n in range(4)] == ["primary", "primary", "fallback", "fallback"]
    assert kpi_key_for(7, set()) == "ws_idea_7"
    assert kpi_key_for(7, {"ws_idea_7"}) == "ws_idea_7_2"
