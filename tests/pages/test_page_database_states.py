"""The app on a database it cannot change or cannot use: read-only opens for viewing with a banner and refuses saves
with the reason; a damaged file or a missing folder is explained, never a traceback."""
from __future__ import annotations

import stat

from test_page_pdca import edit_grid, save_button, seed_sales, texts


def test_read_only_database_is_viewable_with_a_banner_and_saving_says_why(make_app, store, db_path):
    plan = seed_sales(store, months_of_actuals=2)
    store.close()
    db_path.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        at = make_app("pages/step5_pdca.py", lang="en", plan_id=plan.id)
        assert not at.exception, [e.value for e in at.exception]
        banner = " ".join(w.value for w in at.warning)
        assert f"Read-only: the database {db_path} can be viewed but not changed" in banner
        assert "the file is marked read-only" in banner
        assert at.data_editor[0].value["meetings"][0] == "50"  # viewing works
        edit_grid(at, {2: {"meetings": "41"}})
        save_button(at, "pdca_save_actuals").click().run()
        assert "Nothing was saved: the database" in texts(at)
    finally:
        db_path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_read_only_banner_in_japanese(make_app, store, db_path):
    store.close()
    db_path.chmod(stat.S_IRUSR)
    try:
        at = make_app("pages/plans.py", lang="ja")
        assert "読み取り専用" in " ".join(w.value for w in at.warning)
    finally:
        db_path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_damaged_database_is_explained(make_app, store, db_path):
    seed_sales(store, months_of_actuals=2)
    store.close()
    data = db_path.read_bytes()
    db_path.write_bytes(data[: len(data) // 3])
    at = make_app("pages/plans.py", lang="en")
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(e.value for e in at.error)
    assert f"The database file {db_path} is damaged" in shown and "IO Error" not in shown


def test_missing_folder_is_explained_and_nothing_created(make_app, tmp_path, monkeypatch):
    missing = tmp_path / "unmounted" / "kpi.duckdb"
    monkeypatch.setenv("KPI_WORKBENCH_DB", str(missing))
    at = make_app("pages/plans.py", lang="en")
    assert not at.exception
    assert f"The folder {missing.parent} does not exist" in " ".join(e.value for e in at.error)
    assert not missing.parent.exists()
