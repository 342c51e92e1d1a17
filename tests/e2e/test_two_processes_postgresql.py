"""Two app processes and the CLI on one PostgreSQL database, in a real browser.

Process A and process B are two `streamlit run app.py` on different ports with the same postgresql:// URL (a
throwaway cluster); the CLI is a third process. A save in A shows in B on its next load, a CLI import shows in both,
and two people editing one plan's KGI from A and B get the conflict message in the second save, never an overwrite.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from .conftest import ROOT, start_server, stop_server, wait_for_app, warm_up

MAIN = "[data-testid='stMain']"
PLAN = 1  # the demo plan, the first plan of the new database
MAPPING = '{"shape": "long", "date_column": "month", "label_column": "metric", "value_column": "value", ' \
          '"metrics": {"meetings": {"source": "label", "label": "meetings"}}}'


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    """`kpi-workbench` as a separate process, as a scheduler runs it."""
    env = {**os.environ, "KPI_WORKBENCH_DEMO": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "kpi_core.cli", "--db", url, "--lang", "en", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def database(pg_cluster):
    """A new, empty database of the test cluster, initialised and seeded with the demo plan by the CLI."""
    with pg_cluster.database(template=None) as url:
        for command in (("db", "init"), ("seed",)):
            done = cli(url, *command)
            assert done.returncode == 0, done.stderr
        yield url


@pytest.fixture(scope="module")
def servers(database, tmp_path_factory, browser):
    folder = tmp_path_factory.mktemp("two_processes")
    started = []
    try:
        for name in ("a", "b"):
            started.append(start_server(database, demo=False, log_path=folder / f"server_{name}.log"))
            warm_up(browser, started[-1][1])
        yield [url for _, url in started]
    finally:
        for process, _ in started:
            stop_server(process)


def open_kgi(page, server: str) -> None:
    page.goto(f"{server}/kgi?plan={PLAN}&lang=en")
    wait_for_app(page)


def save_kgi_name(page, name: str) -> None:
    page.get_by_role("textbox", name="KGI name").fill(name)
    page.get_by_role("button", name="Save").click()
    wait_for_app(page)


@pytest.mark.e2e
def test_a_save_in_one_process_shows_in_the_other(servers, page_factory, shot):
    server_a, server_b = servers
    in_a, in_b = page_factory(), page_factory()
    open_kgi(in_a, server_a)
    open_kgi(in_b, server_b)
    save_kgi_name(in_a, "Revenue saved in process A")
    in_a.get_by_text("Saved").first.wait_for()

    in_b.reload()
    wait_for_app(in_b)
    expect(in_b.get_by_role("textbox", name="KGI name")).to_have_value("Revenue saved in process A", timeout=30_000)
    shot(in_b, "two_processes_saved_in_a_seen_in_b")


@pytest.mark.e2e
def test_a_cli_import_shows_in_both_processes(servers, database, page_factory, tmp_path, shot):
    mapping = tmp_path / "scheduled.mapping.json"
    mapping.write_text(MAPPING, encoding="utf-8")
    export = tmp_path / "scheduled-export-from-cli.csv"
    export.write_text("month,metric,value\n2026-07,meetings,4321\n", encoding="utf-8")
    done = cli(database, "import", "--plan", str(PLAN), "--mapping", str(mapping), "--replace", str(export))
    assert done.returncode == 0, done.stderr

    for name, server in zip(("a", "b"), servers):
        page = page_factory()
        page.goto(f"{server}/import?plan={PLAN}&lang=en")
        wait_for_app(page)
        page.get_by_role("tab", name="Import history").click()
        page.locator(MAIN).get_by_text("scheduled-export-from-cli.csv").first.wait_for(timeout=30_000)
        shot(page, f"two_processes_cli_import_in_{name}")


@pytest.mark.e2e
def test_concurrent_kgi_edits_from_both_processes_give_the_conflict_message(servers, page_factory, shot):
    server_a, server_b = servers
    in_a, in_b = page_factory(), page_factory()
    open_kgi(in_a, server_a)
    open_kgi(in_b, server_b)
    save_kgi_name(in_a, "Revenue (process A)")
    in_a.get_by_text("Saved").first.wait_for()

    save_kgi_name(in_b, "Revenue (process B)")
    in_b.get_by_text("Someone else saved this plan").first.wait_for()
    shot(in_b, "two_processes_conflict")
    in_b.get_by_role("button", name="Reload the latest version").first.click()
    in_b.get_by_text("Someone else saved this plan").first.wait_for(state="detached", timeout=60_000)
    wait_for_app(in_b)
    expect(in_b.get_by_role("textbox", name="KGI name")).to_have_value("Revenue (process A)", timeout=30_000)

    in_a.reload()  # A's save stands: B's was refused, not applied
    wait_for_app(in_a)
    expect(in_a.get_by_role("textbox", name="KGI name")).to_have_value("Revenue (process A)", timeout=30_000)
