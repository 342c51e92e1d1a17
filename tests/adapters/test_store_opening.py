"""Opening the database fails safe: every wrong path, damaged, read-only, newer or failing-upgrade file is refused or
opened read-only with a message naming the path, and `kpi-workbench db init / check / backup` exist."""
from __future__ import annotations

import io
import os
import stat
from datetime import date
from pathlib import Path

import duckdb
import pytest

from kpi_core import i18n
from kpi_core.adapters import store as store_module
from kpi_core.adapters.store import (
    DatabaseDamaged,
    DatabaseMissing,
    DatabaseTooNew,
    FolderMissing,
    MigrationFailed,
    NotAFolder,
    ReadOnlyDatabase,
    open_store,
)
from kpi_core.cli import main
from kpi_core.domain.model import Actual, Plan

APR = date(2026, 4, 1)


def _filled(path: Path) -> Path:
    """A database with enough rows that its data spans many blocks."""
    store = open_store(path)
    plan = store.create_plan(Plan(name="Sales", fiscal_start=APR))
    store.save_actuals(plan.id, [Actual(f"m{i}", date(2000 + i // 12, i % 12 + 1, 1), float(i)) for i in range(3000)])
    store.close()
    return path


def _messages(exc) -> list[str]:
    return [i18n.t(exc.key, lang, **exc.values) for lang in ("en", "ja")]


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--lang", "en", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_missing_folder_is_refused_naming_the_path_and_nothing_is_created(tmp_path):
    path = tmp_path / "unmounted" / "kpi.duckdb"
    with pytest.raises(FolderMissing) as caught:
        open_store(path, create=False)
    assert all(str(path) in text for text in _messages(caught.value))
    with pytest.raises(FolderMissing):
        open_store(path, create=True)  # even db init does not invent folders
    assert not (tmp_path / "unmounted").exists()
    code, _, err = cli("db", "init", "--db", str(path))
    assert code == 1 and f"The folder {path.parent} does not exist" in err


def test_a_parent_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    path = tmp_path / "notes.txt" / "kpi.duckdb"
    with pytest.raises(NotAFolder) as caught:
        open_store(path)
    assert caught.value.values == {"path": str(path), "parent": str(tmp_path / "notes.txt")}
    code, _, err = cli("db", "check", "--db", str(path))
    assert code == 1 and "is a file, not a folder" in err and "Traceback" not in err


def test_a_missing_file_is_created_only_on_purpose(tmp_path):
    path = tmp_path / "typo.duckdb"
    with pytest.raises(DatabaseMissing) as caught:
        open_store(path, create=False)
    assert "kpi-workbench db init --db " + str(path) in _messages(caught.value)[0]
    code, _, err = cli("import", "--plan", "1", "--db", str(path), str(tmp_path / "a.csv"))
    assert code == 1 and "There is no database at" in err and not path.exists()
    code, out, _ = cli("db", "init", "--db", str(path))
    assert code == 0 and "Database ready at" in out and path.exists()
    code, out, _ = cli("db", "init", "--db", str(path))
    assert code == 0 and "already exists" in out
    assert open_store(path, create=False).schema_version() == store_module.latest_schema()


def test_the_default_path_is_created_on_first_start(tmp_path, monkeypatch):
    default = tmp_path / "data" / "kpi_workbench.duckdb"
    default.parent.mkdir()
    monkeypatch.setattr(store_module, "DEFAULT_DB", default)
    assert store_module.may_create(default) and not store_module.may_create(tmp_path / "other.duckdb")
    open_store(default, create=store_module.may_create(default)).close()
    assert default.exists()


def test_read_only_file_opens_for_viewing_and_refuses_writes(tmp_path):
    path = _filled(tmp_path / "kpi.duckdb")
    writable = open_store(path)
    assert not writable.read_only
    writable.close()
    before = path.read_bytes()
    path.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        store = open_store(path, create=False)
        assert store.read_only and store.read_only_reason == "file"
        assert store.list_plans()[0].name == "Sales"
        assert len(store.actual_values(1)) == 3000
        with pytest.raises(ReadOnlyDatabase) as caught:
            store.save_actuals(1, [Actual("m1", APR, 5.0)])
        assert caught.value.values == {"path": str(path), "reason": "file"}
        store.close()
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert path.read_bytes() == before


def test_truncated_file_is_reported_as_damaged(tmp_path):
    path = _filled(tmp_path / "kpi.duckdb")
    open_store(path).close()  # intact: opens
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DatabaseDamaged) as caught:
        open_store(path, create=False)
    assert caught.value.values == {"path": str(path)}
    assert all(str(path) in text for text in _messages(caught.value))
    code, _, err = cli("db", "check", "--db", str(path))
    assert code == 1 and "is damaged" in err and "Traceback" not in err and "IO Error" not in err


def test_overwritten_bytes_are_detected_at_start(tmp_path):
    path = _filled(tmp_path / "kpi.duckdb")
    code, out, _ = cli("db", "check", "--db", str(path))
    assert code == 0 and "readable in full" in out
    size = path.stat().st_size
    with path.open("r+b") as file:
        for offset in range(64 * 1024, size - 4096, 64 * 1024):  # garbage over every data region
            file.seek(offset)
            file.write(os.urandom(2048))
    with pytest.raises(DatabaseDamaged):
        open_store(path, create=False)


def test_database_from_a_newer_release_is_refused(tmp_path):
    path = _filled(tmp_path / "kpi.duckdb")
    store = open_store(path)
    store.cursor().execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')")
    store.close()
    with pytest.raises(DatabaseTooNew) as caught:
        open_store(path, create=False)
    assert caught.value.values == {"path": str(path), "found": 999, "supported": store_module.latest_schema()}
    assert "newer release" in _messages(caught.value)[0]


def test_failing_migration_rolls_back_says_which_and_keeps_a_copy(tmp_path, monkeypatch):
    path = _filled(tmp_path / "kpi.duckdb")
    latest = store_module.latest_schema()
    broken = [*store_module.MIGRATIONS, (latest + 1, "add a column", "CREATE TABLE t (i INTEGER); SELECT * FROM nope")]
    monkeypatch.setattr(store_module, "MIGRATIONS", broken)
    with pytest.raises(MigrationFailed) as caught:
        open_store(path, create=False)
    values = caught.value.values
    assert (values["version"], values["name"]) == (latest + 1, "add a column")
    assert "nope" in values["reason"]
    copy = Path(values["backup"])
    assert copy.name == f"kpi.before-v{latest + 1}.duckdb" and copy.exists()
    message = _messages(caught.value)[0]
    assert f"step {latest + 1} (add a column)" in message and str(copy) in message
    monkeypatch.undo()
    store = open_store(path, create=False)
    assert store.schema_version() == latest and len(store.actual_values(1)) == 3000
    assert "t" not in store.check()
    store.close()
    kept = open_store(copy, create=False)
    assert len(kept.actual_values(1)) == 3000
    kept.close()


def test_upgrading_an_older_database_keeps_a_copy_first(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    open_store(path).close()
    monkeypatch.undo()
    store = open_store(path, create=False)
    assert store.schema_version() == store_module.latest_schema()
    store.close()
    copy = duckdb.connect(str(tmp_path / "old.before-v2.duckdb"), read_only=True)
    assert copy.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == 1  # the file as it was
    copy.close()


def test_db_backup_writes_a_consistent_copy_and_never_overwrites(tmp_path):
    path = _filled(tmp_path / "kpi.duckdb")
    target = tmp_path / "copy.duckdb"
    code, out, _ = cli("db", "backup", "--db", str(path), "--to", str(target))
    assert code == 0 and str(target) in out
    assert len(open_store(target, create=False).actual_values(1)) == 3000
    code, _, err = cli("db", "backup", "--db", str(path), "--to", str(target))
    assert code == 1 and "already exists" in err
    code, out, _ = cli("db", "backup", "--db", str(path))
    assert code == 0 and ".backup-" in out
