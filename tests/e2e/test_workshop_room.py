"""A workshop in real browsers: one facilitator and five participants on their own devices.

Join by link, write ideas, dot-vote, reveal, promote the winners to CSFs, the timer the same on every screen, and
the presenter view measured at 1920x1080.
"""
from __future__ import annotations

import os
import re
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from kpi_core.adapters.store import open_store

from .conftest import SCREENSHOTS, start_server, stop_server, wait_for_app, warm_up

PEOPLE = ["Aiko", "Ben", "Chika", "Dan", "Emi"]
IDEAS = ["Two first meetings per rep per week", "Quote within 24 hours", "Referral asks after every win",
         "Weekly pipeline review", "Follow up lost deals after 90 days"]
CLOCK = ".ws-clock-time"
SHARED_SCREEN_BUDGET_MS = 2_000  # an idea shows on the shared screen within 2 s of its submit


@pytest.fixture(scope="module")
def room_server(tmp_path_factory, browser):
    path = tmp_path_factory.mktemp("room") / "room.duckdb"
    open_store(path).close()  # the app creates only its default file by itself; the demo is seeded at start
    SCREENSHOTS.mkdir(exist_ok=True)
    process, url = start_server(path, demo=True, log_path=SCREENSHOTS / "workshop_room_server.log")
    warm_up(browser, url)
    yield url, path
    stop_server(process)


class Trace:
    """What each screen said to the server and heard back, decoded from the websocket frames, plus its console: the
    record written out when the test fails (which runs were asked for, which fragment ticks, which button fired)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.started = time.monotonic()

    def _add(self, who: str, text: str) -> None:
        self.lines.append(f"{time.monotonic() - self.started:8.3f} {who:6} {text}")

    def follow(self, page, who: str) -> None:
        page.on("console", lambda message: self._add(who, f"console {message.type}: {message.text}"))
        page.on("websocket", lambda socket: (
            socket.on("framesent", lambda payload: self._sent(who, payload)),
            socket.on("framereceived", lambda payload: self._received(who, payload))))

    def _sent(self, who: str, payload) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if isinstance(payload, str):
            return
        message = BackMsg.FromString(payload)
        if message.WhichOneof("type") != "rerun_script":
            return
        rerun = message.rerun_script
        fired = [w.id.rsplit("-", 1)[-1] for w in rerun.widget_states.widgets
                 if w.WhichOneof("value") == "trigger_value" and w.trigger_value]
        self._add(who, f"-> rerun fragment={rerun.fragment_id[:8] or 'app'} auto={rerun.is_auto_rerun} "
                       f"fired={fired}")

    def _received(self, who: str, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        message = ForwardMsg.FromString(payload)
        kind = message.WhichOneof("type")
        if kind == "new_session":
            run = message.metadata.run
            self._add(who, f"<- start run={run.script_run_id[:8]} fragments={[f[:8] for f in run.fragment_ids]}")
        elif kind == "script_finished":
            self._add(who, f"<- finished {ForwardMsg.ScriptFinishedStatus.Name(message.script_finished)}")
        elif kind == "auto_rerun":
            self._add(who, f"<- auto_rerun {message.auto_rerun.fragment_id[:8]} every {message.auto_rerun.interval}")
        elif kind == "stop_auto_rerun":
            self._add(who, f"<- stop_auto_rerun {[f[:8] for f in message.stop_auto_rerun.fragment_ids]}")

    def write(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / f"{name}.log").write_text("\n".join(self.lines) + "\n")


def _context_page(browser, width: int, height: int, locale: str = "en-US", trace: Trace | None = None,
                  who: str = ""):
    context = browser.new_context(locale=locale, viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(120_000)  # a loaded 2-core machine serving six browsers
    if trace is not None:
        trace.follow(page, who)
    return context, page


def _seconds(text: str) -> int:
    minutes, seconds = re.fullmatch(r"\s*(\d+):(\d+)\s*", text).groups()
    return int(minutes) * 60 + int(seconds)


def _font_px(page, selector: str) -> float:
    """The computed size of the text itself: the deepest element under the first match (the one holding it)."""
    return page.eval_on_selector(selector, """e => {
        while (e.firstElementChild) { e = e.firstElementChild; }
        return parseFloat(getComputedStyle(e).fontSize);
    }""")


def _smallest_svg_text_px(page, selector: str) -> float:
    """The smallest text of an SVG drawing as it reaches the eye: its font size times the drawing's scale on screen
    (a graph scaled to the screen's width enlarges or shrinks its type with it)."""
    return page.eval_on_selector(selector, """root => {
        const sizes = [...root.querySelectorAll("svg text")].filter(t => t.textContent.trim()).map(t => {
            const matrix = t.getScreenCTM();
            return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(matrix.a, matrix.b);
        });
        return sizes.length ? Math.min(...sizes) : 0;
    }""")


def _settled(page) -> None:
    """No run under way on a participant's screen (it has no page title for `wait_for_app` to look for)."""
    for _ in range(2):
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", polling=200)
        page.wait_for_timeout(350)


def _seconds_until_shown(host, idea: str, submitted: float) -> float:
    """Wait for the idea on the shared screen within the budget; past it, keep waiting so the figure is known."""
    shown = host.get_by_text(idea, exact=True).first
    try:
        shown.wait_for(timeout=SHARED_SCREEN_BUDGET_MS)
    except PlaywrightTimeout:
        shown.wait_for()
    return time.monotonic() - submitted


def _report_delays(delays: list[float]) -> None:
    """Print the figures beside the load: a wall-clock figure on a shared machine is a measurement to read, not a
    pass/fail condition (the load benchmark, bench/bench_workshop.py, holds the server's side to its target)."""
    print(f"\nidea on the shared screen after submit: {', '.join(f'{d:.2f}' for d in delays)} s "
          f"(max {max(delays):.2f} s, budget {SHARED_SCREEN_BUDGET_MS / 1000:.0f} s, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def _wait_count(page, text: str, count: int) -> None:
    """Wait until the screen shows `text` exactly `count` times (counted in the page, so a screen caught between two
    runs, old and new elements side by side, is waited out rather than read)."""
    page.wait_for_function("""([text, count]) => [...document.querySelectorAll('[data-testid="stMain"] p')]
        .filter(p => p.textContent.includes(text)).length === count""", arg=[text, count], polling=200)


def _assert_step_in_upper_part(page) -> None:
    """On the projector the step's own content starts in the upper 40 % of the screen (the band above it: step,
    timer, join code; the controls in one row)."""
    page.evaluate("() => window.scrollTo(0, 0)")
    top = page.eval_on_selector(".st-key-ws_step", "e => e.getBoundingClientRect().top")
    height = page.evaluate("() => window.innerHeight")
    print(f"presenter step content starts at {top:.0f} px of {height} px")
    assert top <= 0.4 * height, (top, height)


def _promoted_ideas(db_path) -> list[tuple[str, int]]:
    """What the database holds: each promoted idea's text and the CSF it is linked to."""
    store = open_store(db_path, create=False)
    try:
        return [tuple(row) for row in store.cursor().execute(
            "SELECT text, promoted_ref FROM ws_ideas WHERE promoted_kind = 'csf' AND deleted_at IS NULL").fetchall()]
    finally:
        store.close()


@pytest.mark.e2e
def test_a_workshop_with_five_participants(room_server, browser):
    room_server, db_path = room_server
    contexts = []
    trace = Trace()
    try:
        context, host = _context_page(browser, 1920, 1080, trace=trace, who="host")
        contexts.append(context)
        host.goto(f"{room_server}/workshop?lang=en")
        wait_for_app(host)
        host.get_by_role("button", name="Start a new session").click()
        host.wait_for_selector("[data-testid='stCode']")
        join_link = host.inner_text("[data-testid='stCode']").strip()
        assert "join=" in join_link
        wait_for_app(host)

        # Presenter view at 1920x1080, steps 1 and 2: the goal's figures in projector type.
        host.goto(host.url + "&present=1")
        wait_for_app(host)
        host.wait_for_selector("[data-testid='stMetricValue']")
        assert host.locator("[data-testid='stSidebar']").is_hidden()
        presenter_url = host.url
        assert _font_px(host, ".st-key-ws_band h1") >= 48
        assert _font_px(host, ".st-key-ws_step [data-testid='stMarkdownContainer'] p") >= 24
        assert _font_px(host, "[data-testid='stMetricValue']") >= 56
        assert _font_px(host, "[data-testid='stMetricLabel']") >= 24
        assert _font_px(host, "[data-testid='stCode']") >= 24
        _assert_step_in_upper_part(host)
        _shot(host, "workshop_presenter_step1_1920")

        participants = []
        for name in PEOPLE:
            context, phone = _context_page(browser, 390, 844, "ja-JP" if name == "Chika" else "en-US", trace, name)
            contexts.append(context)
            phone.goto(join_link + ("&lang=ja" if name == "Chika" else "&lang=en"), wait_until="domcontentloaded")
            phone.wait_for_selector("[data-testid='stForm']")
            phone.locator("input[type='text']").nth(1).fill(name)
            phone.locator("[data-testid='stFormSubmitButton'] button").click()
            phone.wait_for_selector(CLOCK)
            assert phone.locator("[data-testid='stSidebarNav']").count() == 0
            participants.append(phone)
        # A reload keeps the person: the token is in the link.
        participants[0].reload()
        participants[0].wait_for_selector(CLOCK)
        assert "Aiko" in participants[0].inner_text("[data-testid='stMain']")

        for step in (2, 3):  # one click at a time: wait until the step has really moved
            host.get_by_role("button", name=re.compile("Next")).click()
            host.get_by_text(f"Step {step} of 5").wait_for()
        host.locator("h1", has_text="CSF: what must go right").wait_for()
        delays = []
        for phone, idea in zip(participants, IDEAS):
            phone.locator("textarea").wait_for()
            phone.locator("textarea").fill(idea)
            submitted = time.monotonic()
            phone.locator("[data-testid='stFormSubmitButton'] button").click()
            # New ideas reach the shared screen by its own polling, without a click.
            delays.append(_seconds_until_shown(host, idea, submitted))
            phone.get_by_text(idea).first.wait_for()
        _report_delays(delays)
        host.get_by_text("5 ideas from 5 people").wait_for()
        _assert_step_in_upper_part(host)
        _shot(host, "workshop_presenter_ideas_1920")

        host.get_by_role("button", name="Open the vote").click()
        wait_for_app(host)
        for n, phone in enumerate(participants):
            dots = phone.get_by_role("button", name="+ dot") if n != 2 else phone.get_by_role("button", name="＋ドット")
            dots.first.wait_for(timeout=60_000)
            _settled(phone)  # the vote arrived with a redraw: tap once it is drawn, as a person would
            dots.nth(0).click()
            phone.get_by_text(re.compile("(Dots left: 2 of 3|残りドット：2 / 3)")).wait_for()
            _settled(phone)
            dots.nth(1 + n % 2).click()
            phone.get_by_text(re.compile("(Dots left: 1 of 3|残りドット：1 / 3)")).wait_for()
        host.get_by_text("10 dots placed by 5 people", exact=False).wait_for(timeout=60_000)
        host.get_by_role("button", name="Reveal the results").click()
        host.get_by_text("Results").first.wait_for()
        wait_for_app(host)
        host.wait_for_selector("[data-testid='stTable'] td")  # drawn once its code has loaded in the browser
        assert _font_px(host, "[data-testid='stTable'] td") >= 20
        host.wait_for_selector("[data-testid='stVegaLiteChart'] svg text")
        chart_px = _smallest_svg_text_px(host, "[data-testid='stVegaLiteChart']")
        print(f"presenter vote chart: smallest axis/label text {chart_px:.1f} px")
        assert chart_px >= 16
        _shot(host, "workshop_presenter_results_1920")

        for promoted in (1, 2):
            wait_for_app(host)  # each promotion redraws the page: the next click once it is drawn
            host.get_by_role("button", name="Make CSF").first.click()
            _wait_count(host, "Now a Primary CSF", promoted)
        wait_for_app(host)
        _wait_count(host, "Now a Primary CSF", 2)
        assert sorted(text for text, _ in _promoted_ideas(db_path)) == sorted(IDEAS[:2])
        participants[0].get_by_text(IDEAS[0]).first.wait_for()

        # The timer: started by the facilitator, the same on every screen (one stored deadline).
        host.get_by_role("button", name="Start", exact=True).click()
        wait_for_app(host)
        for phone in participants:
            phone.get_by_text(re.compile("(Timer · running|タイマー · 進行中)")).wait_for()
        shown = [_seconds(p.inner_text(CLOCK)) for p in [host, *participants]]
        assert max(shown) - min(shown) <= 2, shown  # +-1 s, read one screen after another
        _shot(participants[2], "workshop_participant_phone_ja")

        # Step 4 on the projector: the KPI tree with the CSFs just chosen, its labels readable across the room.
        host.get_by_role("button", name=re.compile("Next")).click()
        host.get_by_text("Step 4 of 5").wait_for()
        host.wait_for_selector(".st-key-ws_tree svg text")
        wait_for_app(host)
        assert IDEAS[0] in host.inner_text(".st-key-ws_tree")
        tree_px = _smallest_svg_text_px(host, ".st-key-ws_tree")
        print(f"presenter KPI tree: smallest label {tree_px:.1f} px")
        assert tree_px >= 16
        host.locator(".st-key-ws_tree").scroll_into_view_if_needed()
        _shot(host, "workshop_presenter_tree_1920")
        for phone in participants:  # the phones follow the step without a click
            phone.locator("h3", has_text="KPI").wait_for()

        # A phone whose watcher timer is lost in the browser (every timer of the page stopped but the guard's) is
        # brought back by the guard: no look for a few seconds -> one full redraw, which arms the watcher again.
        lost = participants[1]
        lost.evaluate("""() => { for (let id = 1; id < 100000; id++) {
            if (id !== window.wsFollowGuard) { clearInterval(id); } } }""")
        host.get_by_role("button", name=re.compile("Next")).click()
        host.get_by_text("Step 5 of 5").wait_for()
        lost.locator("h3", has_text="PDCA").wait_for(timeout=60_000)
        assert any(line.split()[1] == PEOPLE[1] and "fired=['ws_follow']" in line for line in trace.lines)
        for phone in participants:
            phone.locator("h3", has_text="PDCA").wait_for()
            assert phone.locator(".st-key-ws_watch").is_hidden()

        # Screens for the eye: the projector in Japanese at 1920x1080 and 1440x900, a participant on a laptop.
        host.goto(presenter_url.replace("lang=en", "lang=ja"))
        host.locator(".st-key-ws_band h1").wait_for()
        wait_for_app(host)
        _shot(host, "workshop_presenter_step5_ja_1920")
        host.set_viewport_size({"width": 1440, "height": 900})
        wait_for_app(host)
        _assert_step_in_upper_part(host)
        _shot(host, "workshop_presenter_step5_ja_1440")
        participants[3].set_viewport_size({"width": 1440, "height": 900})
        participants[3].locator("h3", has_text="PDCA").wait_for()
        _shot(participants[3], "workshop_participant_laptop_1440")
        _shot(participants[0], "workshop_participant_phone_en")

        host.goto(f"{room_server}/csf?lang=en")
        wait_for_app(host)
        text = host.inner_text("[data-testid='stMain']")
        assert IDEAS[0] in text
        for page in [host, *participants]:
            assert page.locator("[data-testid='stException']").count() == 0
    except Exception:
        for n, context in enumerate(contexts):  # what each screen showed when it failed, for the report
            for page in context.pages:
                _shot(page, f"workshop_failure_{n}")
        raise
    finally:
        trace.write("workshop_room_trace")
        for context in contexts:
            context.close()
