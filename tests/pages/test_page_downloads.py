"""Table downloads neutralise formula cells: the toolbar export (raw) is switched off, the check-in log offers its
own CSV in which =, +, -, @ starts are made text."""
from __future__ import annotations

import csv
import io
import tomllib
from datetime import date

from test_page_pdca import APR, seed_sales

from kpi_core.domain.model import CheckIn

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_toolbar_export_is_switched_off():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["disableDataExport"] is True


def test_checkin_log_download_neutralises_formula_cells(make_app, store):
    plan = seed_sales(store)
    store.save_checkin(CheckIn(plan.id, "meetings", APR, why='=HYPERLINK("http://x","y")', next_action="@SUM(A1)",
                               owner="+cmd|calc", due=date(2025, 5, 1), result="-2+3"))
    at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
    assert not at.exception
    assert any("pdca_ci_download" in str(b.proto.id) for b in at.get("download_button"))
    from kpi_core import ingest
    log = next(d.value for d in at.dataframe if "Next action" in list(d.value.columns))
    rows = list(csv.reader(io.StringIO(ingest.frame_csv(log).decode("utf-8-sig"))))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=HYPERLINK(\"http://x\",\"y\")" in cells and "'@SUM(A1)" in cells and "'+cmd|calc" in cells
    assert "'-2+3" in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
