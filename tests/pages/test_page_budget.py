"""Pages stay thin: a page file that grows past the budget has logic that belongs in kpi_core or a shared widget."""
from __future__ import annotations

from pathlib import Path

import pytest

PAGE_BUDGET = 400  # lines
PAGES = sorted((Path(__file__).resolve().parents[2] / "pages").glob("*.py"))


def test_the_pages_folder_is_found():
    assert len(PAGES) > 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_page_file_is_within_the_line_budget(page: Path):
    lines = len(page.read_text(encoding="utf-8").splitlines())
    assert lines <= PAGE_BUDGET, f"{page.name}: {lines} lines, budget {PAGE_BUDGET}"
