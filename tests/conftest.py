"""Shared fixtures: every test gets its own real DuckDB file in a temp dir, and the store and service tests run
again on a real PostgreSQL database (a throwaway cluster for the session, a fresh database per test)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("duckdb", "postgresql")
# Tests of these folders that use the `store` fixture run on every backend (unless marked duckdb_only); the report
# renderers' tests check file formats, which do not depend on the engine the figures were read from.
BOTH_BACKENDS = (ROOT / "tests" / "adapters", ROOT / "tests" / "services")
ONE_BACKEND_FILES = ("test_report_*.py",)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames or metafunc.definition.get_closest_marker("duckdb_only"):
        return
    path = Path(metafunc.definition.path)
    if any(path.is_relative_to(folder) for folder in BOTH_BACKENDS) and not any(
            path.match(pattern) for pattern in ONE_BACKEND_FILES):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The engine under the `store` fixture: DuckDB unless the test is parametrised over both."""
    return getattr(request, "param", "duckdb")


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL cluster for the whole session, with a template database already migrated. Without the server
    binaries: a failure in CI (the tests must run there), a skip elsewhere."""
    from pg_cluster import TEMPLATE, Cluster, ClusterUnavailable

    from kpi_core.adapters.store import open_store

    try:
        cluster = Cluster().start()
    except ClusterUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL tests cannot run in CI: {exc}")
        pytest.skip(str(exc))
    try:
        cluster.admin(f"CREATE DATABASE {TEMPLATE}")
        open_store(cluster.url(TEMPLATE), create=True).close()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """A fresh database with the current schema (a copy of the migrated template), dropped afterwards."""
    with pg_cluster.database() as url:
        yield url


@pytest.fixture
def pg_empty_url(pg_cluster) -> str:
    """A new database without any schema (as a database team hands one over), dropped afterwards."""
    with pg_cluster.database(template=None) as url:
        yield url


@pytest.fixture
def fresh_target(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a new database can be made on purpose: a file not yet there, or an empty server database."""
    if backend == "duckdb":
        return tmp_path / "fresh.duckdb"
    return request.getfixturevalue("pg_empty_url")


@pytest.fixture
def db_target(backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path | str:
    """Where the test's database is, as `open_store` and KPI_WORKBENCH_DB take it: a file or a server URL."""
    if backend == "duckdb":
        return request.getfixturevalue("db_path")
    url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("KPI_WORKBENCH_DB", url)
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "0")
    return url


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "test.duckdb"
    monkeypatch.setenv("KPI_WORKBENCH_DB", str(path))
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "0")
    from kpi_core.adapters.store import open_store

    open_store(path).close()  # the app opens only an existing file (or the default one)
    return path


@pytest.fixture
def store(db_target: Path | str):
    from kpi_core.adapters.store import open_store

    opened = open_store(db_target)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def _run_from_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest resolves page paths relative to the working directory."""
    monkeypatch.chdir(ROOT)
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")


def switch_to(at, page: str):
    """Open a page of the page table by its file (e.g. "pages/step1_kgi.py"); `at.run()` then draws it.

    The frame registers pages as functions, which AppTest.switch_page (files only) cannot open: this sets the
    page the way a click in the navigation would, by the hash of the page's URL path.
    """
    from streamlit.util import calc_hash

    from pages.frame import PAGES

    slug = next(spec.slug for spec in PAGES if spec.path == page)
    at._page_hash = calc_hash(slug)
    return at


@pytest.fixture
def open_page():
    return switch_to


@pytest.fixture
def make_app(db_path: Path):
    """Build and run the whole app (navigation + sidebar) on one page, in one language, against `db_path`."""
    from streamlit.testing.v1 import AppTest

    def build(page: str = "pages/plans.py", lang: str = "en", plan_id: int | None = None, run: bool = True):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params["lang"] = lang
        if plan_id is not None:
            at.query_params["plan"] = str(plan_id)
        if run:
            at.run()
            if page != "pages/plans.py":
                switch_to(at, page).run()
        return at

    return build


def assert_no_exception(at) -> None:
    """No exception element (a message box may be expected: bad input is refused with one)."""
    assert not at.exception, [e.value for e in at.exception]


def assert_clean(at) -> None:
    """No exception element and no error box on the page."""
    assert_no_exception(at)
    assert not at.error, [e.value for e in at.error]


DEMO_TODAY = __import__("datetime").date(2026, 11, 20)


@pytest.fixture
def demo_plan(store, monkeypatch: pytest.MonkeyPatch):
    """The demo sales plan (as `make run` seeds it), dated so that six months of actuals exist."""
    from kpi_core.services.demo import seed_demo

    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "1")
    plan = seed_demo(store, today=DEMO_TODAY, lang="en")
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "0")
    assert plan is not None
    return plan
