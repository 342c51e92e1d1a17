"""Shared fixtures: every test gets its own real DuckDB file in a temp dir."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "test.duckdb"
    monkeypatch.setenv("KPI_WORKBENCH_DB", str(path))
    monkeypatch.setenv("KPI_WORKBENCH_DEMO", "0")
    return path


@pytest.fixture
def store(db_path: Path):
    from kpi_core.store import open_store

    opened = open_store(db_path)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def _run_from_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest resolves page paths relative to the working directory."""
    monkeypatch.chdir(ROOT)
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
