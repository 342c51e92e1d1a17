"""Pieces shared by the facilitator's and the participants' workshop screens: messages, the timer, the join link,
the projector stylesheet. User text is always shown escaped (plain text, never Markdown or HTML)."""
from __future__ import annotations

import html
import io
import os
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import segno
import streamlit as st

from kpi_core.adapters.store import StoreError
from kpi_core.domain.workshop import SessionView, WorkshopError, format_clock
from pages.common import lang, t

WATCH_EVERY = 1.0  # seconds between two looks at the session's change counters: a change shows within 2 s
STALE_AFTER_MS = 6_000  # no look for this long: the screen asks for a full redraw, which sets the looks going again
FOLLOW_KEY = "ws_follow"
NOTICE_KEY = "_ws_notice"
INLINE_KEY = "_ws_look_inline"
DRAWN_KEY = "_ws_drawn"  # the change counter the page was last drawn from to its end; None while a run draws it
PUBLIC_URL_ENV = "KPI_WORKBENCH_PUBLIC_URL"  # the address participants' devices reach (behind a proxy, a LAN IP)
JOIN_PARAM = "join"
TOKEN_PARAM = "me"
PRESENT_PARAM = "present"

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$:])")

# Projector type: fixed sizes, no user text. Sizes from the presenter requirements (1920x1080, read at 6 m).
PRESENTER_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"] { display: none !important; }
[data-testid="stMain"] .block-container, [data-testid="stMainBlockContainer"] { padding-top: 1rem !important;
  max-width: 100%; }
.st-key-ws_notice:not(:has([data-testid="stAlert"])) { display: none !important; }
/* The page frame's title, plan line and intro: the band of the session says it all on the projector. */
[data-testid="stMain"] [data-testid="stElementContainer"]:not(.st-key-ws_page *):has(
  [data-testid="stHeading"], [data-testid="stCaptionContainer"]) { display: none !important; }
.st-key-ws_band h1 { padding-top: 0 !important; }
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label,
[data-testid="stMain"] input, [data-testid="stMain"] textarea, [data-testid="stMain"] button,
[data-testid="stMain"] [data-testid="stCaptionContainer"], [data-testid="stMain"] [data-testid="stMarkdownContainer"] {
  font-size: 26px !important; line-height: 1.35 !important; }
[data-testid="stMain"] h1 { font-size: 60px !important; line-height: 1.15 !important; }
[data-testid="stMain"] h2 { font-size: 48px !important; } [data-testid="stMain"] h3 { font-size: 36px !important; }
[data-testid="stMain"] [data-testid="stMetricValue"], [data-testid="stMain"] [data-testid="stMetricValue"] * {
  font-size: 64px !important; line-height: 1.1 !important; }
[data-testid="stMain"] [data-testid="stMetricLabel"] * { font-size: 26px !important; }
[data-testid="stMain"] [data-testid="stCode"] code { font-size: 24px !important; }
[data-testid="stTable"] td, [data-testid="stTable"] th, [data-testid="stTableStyledTable"] td,
[data-testid="stTableStyledTable"] th { font-size: 24px !important; padding: 0.4rem 0.8rem !important; }
[data-testid="stMain"] .stButton button { min-height: 3.2rem; padding: 0.4rem 0.6rem; }
[data-testid="stMain"] .ws-clock .ws-clock-time { font-size: 88px !important; }
</style>"""

# The countdown runs in the browser: the server draws the stored deadline and its own clock once, the page ticks
# every second without asking the server anything (a rerun every second would race the facilitator's clicks).
_CLOCK_HTML = """<style>
.ws-clock { padding: 0.2rem 0.6rem; border-radius: 0.5rem; border-left: 0.4rem solid transparent; }
.ws-clock .ws-clock-time { font-size: 56px !important; font-weight: 700; font-variant-numeric: tabular-nums;
  line-height: 1.1 !important; margin: 0; }
.ws-clock .ws-clock-note { margin: 0; opacity: 0.8; }
.ws-clock .ws-clock-over-note { display: none; margin: 0; font-weight: 700; color: #991b1b; }
.ws-clock.ws-clock-over { background: #fee2e2; border-left-color: #dc2626; }
.ws-clock.ws-clock-over .ws-clock-time { color: #b91c1c; }
.ws-clock.ws-clock-over .ws-clock-note { display: none; }
.ws-clock.ws-clock-over .ws-clock-over-note { display: block; }
</style>
<div class="ws-clock{over_class}" id="{element_id}" data-running="{running}" data-deadline="{deadline}"
  data-server-now="{server_now}">
<p class="ws-clock-time">{shown}</p><p class="ws-clock-note">{note}</p><p class="ws-clock-over-note">{over}</p>
</div>
<script>
(() => {
  const box = document.getElementById("{element_id}");
  clearInterval(window.wsClockTick);
  if (!box || box.dataset.running !== "1") { return; }
  const offset = Number(box.dataset.serverNow) * 1000 - Date.now();  // the server's clock minus this device's
  const deadline = Number(box.dataset.deadline) * 1000;
  const time = box.querySelector(".ws-clock-time");
  const pad = (n) => String(n).padStart(2, "0");
  const draw = () => {
    if (!box.isConnected) { clearInterval(window.wsClockTick); return; }
    const left = Math.max(0, deadline - (Date.now() + offset));
    const whole = Math.ceil(left / 1000);  // rounded up: 00:00 only when the time is really over
    const text = pad(Math.floor(whole / 60)) + ":" + pad(whole % 60);
    if (time.textContent !== text) { time.textContent = text; }
    box.classList.toggle("ws-clock-over", left <= 0);
  };
  draw();
  window.wsClockTick = setInterval(draw, 250);
})();
</script>"""


# The screen's own guard on its change watcher. Streamlit re-arms a watcher's timer in the browser only when a full
# run of the page reaches it, so a timer lost in the browser (or a run that never got that far) would leave the screen
# frozen on the old step until reloaded. Each look stamps the time; when the stamps stop, the guard presses the
# hidden "follow" button: one full redraw of the page, which draws the current step and arms the watcher again.
_FOLLOW_HTML = """<style>.st-key-ws_watch { display: none; }</style>
<script>
(() => {
  window.wsLastLook = Date.now();
  if (window.wsFollowGuard) { return; }
  window.wsFollowGuard = setInterval(() => {
    if (Date.now() - window.wsLastLook < {stale_ms}) { return; }
    const again = document.querySelector(".st-key-ws_watch .st-key-ws_follow button");
    if (again) { window.wsLastLook = Date.now(); again.click(); }
  }, 1000);
})();
</script>"""
# A participant's laptop: the view keeps a readable width instead of stretching its form across a wide screen.
PARTICIPANT_CSS = "<style>[data-testid='stMainBlockContainer'] { max-width: 48rem; }</style>"
_LOOK_HTML = '<span class="ws-look" data-look="{look}" hidden></span><script>window.wsLastLook = Date.now();</script>'


def plain(text: str) -> str:
    """User text for st.markdown, shown literally."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(str(text).split()))


def workshop_error_text(exc: WorkshopError) -> str:
    values = dict(exc.values)
    if "field" in values:
        values["field"] = t(f"workshop.field.{values['field']}")
    return t(exc.key, **values)


def attempt(action: Callable[[], Any], success_key: str | None = None) -> tuple[bool, Any]:
    """Run one workshop action: (True, its result), or (False, None) with the refusal shown in the user's
    language and nothing else changed."""
    try:
        result = action()
    except WorkshopError as exc:
        st.error(workshop_error_text(exc))
        return False, None
    except StoreError as exc:
        st.error(exc.message(lang()))
        return False, None
    if success_key:
        st.session_state.setdefault("_flash", []).append(t(success_key))
    return True, result


def on_click(action: Callable[[], Any], success_key: str | None = None) -> Callable[[], None]:
    """A button's callback. Streamlit runs it once, when the click reaches the server and before the page is drawn,
    so the action is applied exactly once however runs are cut short or merged, and the page drawn next already
    shows its result (no second run, so no moment where the old and the new screen are mixed)."""
    def run() -> None:
        try:
            action()
        except WorkshopError as exc:
            st.session_state[NOTICE_KEY] = ("error", workshop_error_text(exc))
        except StoreError as exc:
            st.session_state[NOTICE_KEY] = ("error", exc.message(lang()))
        else:
            if success_key:
                st.session_state[NOTICE_KEY] = ("success", t(success_key))
    return run


def show_notice() -> None:
    """The outcome of the last button, in a slot drawn on every run, so that nothing below it moves."""
    with st.container(key="ws_notice"):
        kind, text = st.session_state.pop(NOTICE_KEY, ("", ""))
        if kind == "error":
            st.error(text)
        elif kind:
            st.success(text, icon=":material/check_circle:")


def follow_room(store, session_id: int, counter: int) -> None:
    """Keep this screen following the session: a look at its change counters every WATCH_EVERY s (counter 0: any
    change, 1: the facilitator's steering), a full redraw when the page is behind, and the guard above. Call it
    first on the page, and `page_drawn` last."""
    st.session_state[DRAWN_KEY] = None  # until this run reaches the end of the page
    st.session_state[INLINE_KEY] = True  # the look called below, within this run, has nothing to compare yet
    with st.container(key="ws_watch"):  # nothing of it takes room on the screen
        st.button(t("workshop.follow"), key=FOLLOW_KEY)
        st.html(_FOLLOW_HTML.replace("{stale_ms}", str(STALE_AFTER_MS)), unsafe_allow_javascript=True)
        _look(store, session_id, counter)


def page_drawn(version: int) -> None:
    """The page was drawn to its end from this counter value."""
    st.session_state[DRAWN_KEY] = version


@st.fragment(run_every=WATCH_EVERY)
def _look(store, session_id: int, counter: int) -> None:
    """One small read of the session's change counters; draws only its time stamp, so a look never races a click
    on the page or fades what is on the screen. The page is behind when the counter moved since it was drawn, and
    also when its last full run was cut short by a newer request before reaching the end (seen on a loaded server:
    the looks kept coming, the half-drawn page stayed): both get a full redraw."""
    if not st.session_state.pop(INLINE_KEY, False):
        versions = store.workshop_versions(session_id)
        if versions is not None and versions[counter] != st.session_state.get(DRAWN_KEY):
            st.rerun()
    st.html(_LOOK_HTML.replace("{look}", f"{time.time():.3f}"), unsafe_allow_javascript=True)


def act(action: Callable[[], Any], success_key: str | None = None) -> None:
    """A button's action: done -> redraw the whole page with the new state; refused -> the message stays."""
    if attempt(action, success_key)[0]:
        st.rerun()


def presenting() -> bool:
    return st.query_params.get(PRESENT_PARAM) == "1"


def apply_presenter_style() -> None:
    st.html(PRESENTER_CSS)


def show_clock(session: SessionView, now: float | None = None) -> None:
    """The shared countdown: every screen computes it from the one stored deadline, offset by the server's clock
    (so a device whose clock is wrong still agrees); a red cue at zero that blocks nothing."""
    now = time.time() if now is None else now
    timer = session.timer
    note = t("workshop.timer.title") + " · " + t("workshop.timer.running" if timer.running else "workshop.timer.paused")
    body = _CLOCK_HTML
    for name, value in {
        "element_id": f"ws-clock-{session.id}-{session.data_version}-{int(now * 1000)}",
        "over_class": " ws-clock-over" if timer.expired(now) else "",
        "running": "1" if timer.running else "0",
        "deadline": repr(float(timer.deadline or 0.0)),
        "server_now": repr(float(now)),
        "shown": format_clock(timer.seconds_left(now)),
        "note": html.escape(note),
        "over": html.escape(t("workshop.timer.over")),
    }.items():
        body = body.replace("{" + name + "}", value)
    with st.container(key="ws_clock"):
        st.html(body, unsafe_allow_javascript=True)


def public_base_url() -> str:
    configured = os.environ.get(PUBLIC_URL_ENV)
    if configured:
        return configured.rstrip("/")
    parts = urlsplit(getattr(st.context, "url", "") or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def join_panel(session: SessionView, presenter: bool, joined: int) -> None:
    """How to join, on the facilitator's screen: code, link and QR code. On the projector a compact column; once
    people have joined, the code stays in view and the QR code and link fold away (latecomers open them)."""
    url = join_url(session.code)
    if not presenter:
        text, code = st.columns([2, 1])
        with text:
            st.markdown(f"**{plain(t('workshop.join_title'))}**")
            st.markdown(f"{plain(t('workshop.join_code'))}: **{session.code}**")
            st.code(url, language=None)
        code.image(qr_png(url), caption=t("workshop.qr_alt"), width=150)
        return
    st.markdown(f"{plain(t('workshop.join_code'))}: **{session.code}**")
    details = st.expander(t("workshop.join_more", n=joined)) if joined else st.container()
    with details:
        code, link = st.columns([1, 2])
        code.image(qr_png(url, scale=5), width=130)
        link.code(url, language=None, wrap_lines=True)


def join_url(code: str, token: str | None = None) -> str:
    query = {JOIN_PARAM: code} | ({TOKEN_PARAM: token} if token else {})
    return f"{public_base_url()}/?{urlencode(query)}"


def qr_png(url: str, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()
