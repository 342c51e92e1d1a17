"""Real-browser fixtures: a `streamlit run` server on a free port and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str | None:
    configured = os.environ.get("KPI_WORKBENCH_CHROMIUM")
    for candidate in ([configured] if configured else []) + list(CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not become healthy in time")


def start_server(db_path: Path | str, demo: bool, log_path: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Serve the app on a free port against `db_path` (a file, or a postgresql:// URL with `log_path` given), created
    first as `kpi-workbench db init` would: the app itself creates only its default file, never one at a mistyped
    path."""
    if isinstance(db_path, Path) and not db_path.exists():
        from kpi_core.adapters.store import open_store

        open_store(db_path, create=True).close()
    log_path = log_path or Path(db_path).with_suffix(".log")
    port = _free_port()
    env = {**os.environ, "KPI_WORKBENCH_DB": str(db_path), "KPI_WORKBENCH_DEMO": "1" if demo else "0"}
    log = open(log_path, "w")  # noqa: SIM115 - kept open for the server's lifetime
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
    except RuntimeError:
        process.kill()
        raise RuntimeError(log_path.read_text()[-3000:]) from None
    return process, url


def warm_up(browser, url: str) -> None:
    """Run the app once through a browser session: Streamlit answers a deep link in the very first session of a
    fresh server with a "Page not found" notice (before st.navigation has run once); later sessions are fine."""
    page = browser.new_page()
    page.goto(url)
    wait_for_app(page)
    page.close()


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _chromium()
    if path is None:
        message = "Chromium not found: install Debian's chromium package (make test does it as root)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page_factory(browser):
    contexts = []

    def new_page(locale: str = "en-US"):
        context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield new_page
    for context in contexts:
        context.close()


@pytest.fixture
def shot():
    """Save a full-page screenshot under tests/e2e/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


# Settled: no running indicator, no skeletons, a title or an alert drawn -- and it has stayed so for QUIET_MS,
# because a rerun can start right after the first script run settles.
QUIET_MS = 350
_SETTLED_JS = """(quiet) => {
    const running = document.querySelector('[data-testid="stStatusWidget"]');
    const skeletons = document.querySelectorAll('[data-testid="stSkeleton"]').length;
    const drawn = document.querySelector('[data-testid="stMain"] h1, [data-testid="stMain"] [data-testid="stAlert"]');
    const now = performance.now();
    if (running || skeletons > 0 || !drawn) {
        window.__kpiSettledSince = null;
        return false;
    }
    window.__kpiSettledSince = window.__kpiSettledSince || now;
    return now - window.__kpiSettledSince >= quiet;
}"""


def wait_for_app(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has run the script and drawn it, and nothing has run since for QUIET_MS."""
    page.wait_for_selector("[data-testid='stMain']", timeout=timeout)
    page.evaluate("() => { window.__kpiSettledSince = null; }")
    page.wait_for_function(_SETTLED_JS, arg=QUIET_MS, timeout=timeout, polling=100)


def next_frame(page) -> None:
    """Wait for the browser to lay out and paint what just changed (two animation frames)."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


@pytest.fixture
def two_people(browser):
    """Two separate browser sessions (contexts) at 1440x900, as two people on two laptops."""
    contexts = [browser.new_context(locale="en-US", viewport={"width": 1440, "height": 900}) for _ in range(2)]
    pages = []
    for context in contexts:
        page = context.new_page()
        page.set_default_timeout(60_000)
        pages.append(page)
    yield pages
    for context in contexts:
        context.close()
