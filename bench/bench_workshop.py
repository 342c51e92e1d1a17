"""Benchmark: a room of participants hammering one workshop session, through the use cases the pages call.

    python bench/bench_workshop.py [--people 20] [--seconds 30] [--db PATH]

Each simulated participant is a thread (as a Streamlit session is) sharing one store: it joins, then loops over
what its page does — a reload (the 1-2 s fragment reads: session, current vote, own ideas, own dots), writing an
idea, placing or removing a dot. The facilitator's thread moves to step 3, polls the shared screen and the timer,
opens the vote after a third of the run, closes and reveals it at the end. Afterwards every acknowledged write is
checked against the database: an idea or dot that was acknowledged but is missing, or one that is there without
having been acknowledged, or an unexpected error, counts as lost. Refusals the rules promise (no dots left, one dot
per idea) are counted apart. A one-participant run of the same loop, in the same process, is the baseline.
The last line is:

    workshop 20 participants: N actions, 0 lost, p95 X ms
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kpi_core.adapters.store import open_store
from kpi_core.domain.model import Plan
from kpi_core.domain.workshop import VoteStatus, WorkshopError
from kpi_core.services import workshop as ws

EXPECTED_REFUSALS = {"workshop.error.no_dots_left", "workshop.error.no_stacking", "workshop.error.vote_not_open",
                     "workshop.error.no_ideas_now"}


class Room:
    def __init__(self, store, people: int, seconds: float, seed: int = 7):
        self.store, self.people, self.seconds = store, people, seconds
        self.random = random.Random(seed)
        plan = store.create_plan(Plan(name="Bench"))
        self.session, self.key = ws.create_session(store, plan.id, "Bench room")
        ws.move(store, self.session.id, self.key, 1)
        ws.move(store, self.session.id, self.key, 1)
        self.lock = threading.Lock()
        self.timings: list[float] = []
        self.refused: Counter[str] = Counter()
        self.errors: list[str] = []
        self.ideas_ok: set[int] = set()
        self.dots_ok: Counter[tuple[int, int]] = Counter()  # (participant id, idea id) -> dots acknowledged
        self.vote_id: int | None = None
        self.stop_at = 0.0
        self.lost_count = 0

    def timed(self, action):
        started = time.perf_counter()
        try:
            return action()
        except WorkshopError as exc:
            with self.lock:
                (self.refused.__setitem__(exc.key, self.refused[exc.key] + 1) if exc.key in EXPECTED_REFUSALS
                 else self.errors.append(exc.key))
            return None
        except Exception as exc:  # noqa: BLE001 - the benchmark reports any failure as a lost action
            with self.lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return None
        finally:
            with self.lock:
                self.timings.append(time.perf_counter() - started)

    def participant(self, n: int) -> None:
        rng = random.Random(n)
        _, me = ws.join(self.store, self.session.code, f"P{n}")
        written = 0
        while time.monotonic() < self.stop_at:
            roll = rng.random()
            if roll < 0.5:  # a reload / fragment refresh
                self.timed(lambda: self.reload(me.token, me.id))
            elif roll < 0.7 and written < 5:
                text = f"Idea {n}-{written}"
                idea = self.timed(lambda text=text: ws.submit_idea(self.store, me.token, text))
                written += 1
                if idea is not None:
                    with self.lock:
                        self.ideas_ok.add(idea.id)
            elif self.vote_id is not None:
                self.dot(me, rng)
            time.sleep(rng.uniform(0.05, 0.25))

    def reload(self, token: str, participant_id: int) -> None:
        session, _ = ws.participant_session(self.store, token)
        vote = ws.current_vote(self.store, session)
        self.store.list_ideas(session.id, session.step, participant_id=participant_id)
        if vote is not None and vote.status == VoteStatus.OPEN:
            self.store.my_dots(vote.id, participant_id)
            self.store.list_ideas(session.id, session.step)

    def dot(self, me, rng: random.Random) -> None:
        vote_id = self.vote_id
        ideas = sorted(self.ideas_ok)
        if not ideas:
            return
        idea_id = rng.choice(ideas)
        if rng.random() < 0.8:
            if self.timed(lambda: ws.place_dot(self.store, me.token, vote_id, idea_id)) is not None:
                with self.lock:
                    self.dots_ok[(me.id, idea_id)] += 1
        else:
            placed = self.store.my_dots(vote_id, me.id)
            if placed:
                target = rng.choice(list(placed))
                before = placed[target]
                self.timed(lambda: ws.remove_dot(self.store, me.token, vote_id, target))
                if self.store.my_dots(vote_id, me.id).get(target, 0) == before - 1:
                    with self.lock:
                        self.dots_ok[(me.id, target)] -= 1

    def facilitator(self) -> None:
        vote_at = time.monotonic() + self.seconds / 3
        while time.monotonic() < self.stop_at:
            self.timed(lambda: self.store.get_workshop(self.session.id))  # the clock fragment
            self.timed(lambda: self.store.list_ideas(self.session.id, 3))  # the shared board
            if self.vote_id is None and time.monotonic() >= vote_at:
                vote = self.timed(lambda: ws.open_vote(self.store, self.session.id, self.key, 3, dots=3))
                self.vote_id = vote.id if vote else None
            elif self.vote_id is not None:
                self.timed(lambda: self.store.vote_progress(self.vote_id))
            time.sleep(0.5)

    def run(self) -> None:
        self.stop_at = time.monotonic() + self.seconds
        threads = [threading.Thread(target=self.participant, args=(n,)) for n in range(self.people)]
        threads.append(threading.Thread(target=self.facilitator))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.vote_id is not None:
            ws.reveal_vote(self.store, self.session.id, self.key, self.vote_id)

    def lost(self) -> int:
        """Acknowledged writes missing from the database, writes present but never acknowledged, and errors."""
        stored_ideas = {i.id for i in self.store.list_ideas(self.session.id)}
        missing = len(self.ideas_ok ^ stored_ideas)
        if self.vote_id is not None:
            rows = self.store.cursor().execute(
                "SELECT participant_id, idea_id, count(*) FROM ws_dots WHERE vote_id = ? GROUP BY ALL",
                [self.vote_id]).fetchall()
            stored = Counter({(p, i): n for p, i, n in rows})
            expected = Counter({k: v for k, v in self.dots_ok.items() if v})
            missing += sum(((stored - expected) + (expected - stored)).values())
        return missing + len(self.errors)


def p95_ms(timings: list[float]) -> float:
    return statistics.quantiles(timings, n=100)[94] * 1000 if len(timings) >= 2 else 0.0


def run_room(path: Path, people: int, seconds: float) -> Room:
    store = open_store(path)
    try:
        room = Room(store, people, seconds)
        room.run()
        room.lost_count = room.lost()
        return room
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        baseline = run_room(args.db.with_suffix(".solo.duckdb") if args.db else base / "solo.duckdb", 1,
                            min(args.seconds, 10))
        room = run_room(args.db or base / "room.duckdb", args.people, args.seconds)
    print(f"baseline 1 participant: {len(baseline.timings)} actions, {baseline.lost_count} lost, "
          f"p95 {p95_ms(baseline.timings):.1f} ms")
    print(f"refusals the rules promise: {dict(room.refused)}; unexpected errors: {room.errors[:5]}")
    print(f"p95 ratio room / solo: {p95_ms(room.timings) / max(p95_ms(baseline.timings), 1e-9):.2f}")
    print(f"workshop {args.people} participants: {len(room.timings)} actions, {room.lost_count} lost, "
          f"p95 {p95_ms(room.timings):.0f} ms")


if __name__ == "__main__":
    main()
