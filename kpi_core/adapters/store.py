"""The application database: the only module that runs SQL against it, on a DuckDB file or a PostgreSQL server.

A `postgresql://` URL selects the server (see sql_backend: one SQL text for both engines); everything below about
the file applies to DuckDB only. On the server, each operation borrows a pooled connection, transactions run at
REPEATABLE READ (the snapshot isolation DuckDB gives, so the same version checks hold) and conflicts are retried the
same way.

The database file is held only while the store works (`release_when_idle`, as the app runs it) or for the life of a
command, so that the CLI and the app take turns on one file; a writer that finds it held waits, bounded, then says
who holds it. A cursor per thread, writes in explicit transactions (reentrant: a use case's writes commit together),
write conflicts retried, a version check on every user write. Opening fails safe: a missing folder or file, a
damaged file, a newer release's file or a failed upgrade is refused with the path and what to do; a read-only file is
opened read-only. Nothing is silently lost: deletes are soft, superseded targets and actuals keep their rows, and
every change that matters leaves a line in the audit log.
"""
from __future__ import annotations

import functools
import inspect
import json
import os
import random
import re
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import psycopg
from psycopg_pool import PoolTimeout

from kpi_core.adapters.sql_backend import DUCKDB, POSTGRES, PostgresServer, is_server_url, shown_url
from kpi_core.domain.enums import Aggregation, CSFRole, Direction, Kind, PlanStatus, Status
from kpi_core.domain.model import CSF, KGI, KPI, Actual, CheckIn, Plan
from kpi_core.domain.records import (
    ActualEntry,
    AuditEntry,
    Conflict,
    CurrentActual,
    EarlierImport,
    HealthSnapshot,
    ImportRecord,
    MappingProfile,
    Rejection,
    ReviewEntry,
    TargetEntry,
    TargetRow,
)
from kpi_core.domain.workshop import (
    AgendaItem,
    Idea,
    Note,
    NoteKind,
    Participant,
    SessionStatus,
    SessionView,
    Timer,
    Vote,
    VoteStatus,
    WorkshopError,
    agenda_from_json,
    agenda_to_json,
    check_dot,
    new_code,
)
from kpi_core.errors import WorkbenchError

T = TypeVar("T")

DB_ENV = "KPI_WORKBENCH_DB"
WRITE_RETRIES = 6  # attempts of a whole write on conflicts with other sessions
WRITE_WAIT = 30.0  # seconds a writer waits for the change before it in this process
RETRY_PAUSE = 0.02  # seconds, grows with each attempt, jittered so that retrying sessions do not collide again
REJECTIONS_KEPT = 1000  # rejected rows of an import kept in full; the rest are counted
COPY_BATCH = 5000  # rows read and written at a time when copying a database (`db copy`)
RAW_KEPT = 2000  # characters of a rejected row's original text kept
LOCK_WAIT_ENV = "KPI_WORKBENCH_LOCK_WAIT"
LOCK_WAIT = 30.0  # seconds a process waits for another one (the app, a scheduled import) to release the file
IDLE_RELEASE = 0.25  # seconds the app keeps the file after its last operation, so that a page's reads share one open
DEFAULT_DB = Path(__file__).resolve().parents[2] / "data" / "kpi_workbench.duckdb"


class StoreError(WorkbenchError):
    """Base of the storage errors that the UI turns into a message (key + values for the catalogue)."""

    key = "store.error"


class VersionConflict(StoreError):
    key = "store.version_conflict"


class WriteConflict(StoreError):
    """Other sessions kept writing the same rows: the change was retried and still could not be saved."""

    key = "store.write_conflict"


class StaleEdit(StoreError):
    """The row changed since the writer read it. `conflicts` lists each item with theirs (now stored) and yours
    (what this write would have stored); nothing was written, so the writer can choose."""

    key = "store.stale"

    def __init__(self, conflicts: list[Conflict]):
        first = conflicts[0]
        super().__init__(item=first.item, theirs=_shown(first.theirs), yours=_shown(first.yours),
                         more=len(conflicts) - 1)
        self.conflicts = conflicts


class DeletedUnderEdit(StoreError):
    """What the writer was editing (a plan or a KPI) was deleted by someone else; the edit was not saved."""

    key = "store.deleted_under_edit"


class DatabaseBusy(StoreError):
    """Another change in this process held the database longer than a writer may wait (e.g. a large import)."""

    key = "store.busy"


class DatabaseLocked(StoreError):
    key = "store.locked"


class NotFound(StoreError):
    key = "store.not_found"


class DatabaseMissing(StoreError):
    """No database at the path: creating one is a deliberate act (`db init`), not a side effect of a typo."""

    key = "store.missing"


class FolderMissing(StoreError):
    key = "store.folder_missing"


class NotAFolder(StoreError):
    key = "store.not_a_folder"


class DatabaseDamaged(StoreError):
    key = "store.damaged"


class DatabaseTooNew(StoreError):
    key = "store.too_new"


class MigrationFailed(StoreError):
    key = "store.migration_failed"


class BackupExists(StoreError):
    key = "store.backup_exists"


class DatabaseUnavailable(StoreError):
    """The database server cannot be reached (down, wrong address, refused login, connection lost)."""

    key = "store.server.unavailable"


class BackupOnServer(StoreError):
    """A database on a server is backed up with the server's own tools, not by copying a file."""

    key = "store.server.backup"


class ReadOnlyDatabase(StoreError):
    """A write to a database opened read-only; `reason` says why it is read-only."""

    key = "store.read_only"


def lock_wait() -> float:
    try:
        return max(0.0, float(os.environ.get(LOCK_WAIT_ENV, LOCK_WAIT)))
    except ValueError:
        return LOCK_WAIT


def default_db_path() -> Path | str:
    """KPI_WORKBENCH_DB (a file path or a `postgresql://` URL), else the default file."""
    target = os.environ.get(DB_ENV)
    return target if is_server_url(target) else Path(target or DEFAULT_DB)


# ---------------------------------------------------------------- migrations
# Each entry runs once, in one transaction, and is recorded in schema_migrations. Never edit a released entry:
# append a new one.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "initial schema", """
    CREATE SEQUENCE seq_plan START 1;
    CREATE SEQUENCE seq_kgi START 1;
    CREATE SEQUENCE seq_csf START 1;
    CREATE SEQUENCE seq_kpi START 1;
    CREATE SEQUENCE seq_target START 1;
    CREATE SEQUENCE seq_actual START 1;
    CREATE SEQUENCE seq_import START 1;
    CREATE SEQUENCE seq_profile START 1;
    CREATE SEQUENCE seq_checkin START 1;
    CREATE SEQUENCE seq_review START 1;
    CREATE SEQUENCE seq_audit START 1;
    CREATE TABLE plans (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_plan'),
        name VARCHAR NOT NULL, department VARCHAR NOT NULL DEFAULT '',
        fiscal_start DATE NOT NULL, months INTEGER NOT NULL DEFAULT 12,
        currency VARCHAR NOT NULL DEFAULT 'JPY', status VARCHAR NOT NULL DEFAULT 'draft',
        template VARCHAR NOT NULL DEFAULT '', version INTEGER NOT NULL DEFAULT 0,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp, deleted_at TIMESTAMP);
    CREATE TABLE kgis (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_kgi'), plan_id BIGINT NOT NULL,
        key VARCHAR NOT NULL DEFAULT 'kgi', name VARCHAR NOT NULL DEFAULT '', unit VARCHAR NOT NULL DEFAULT 'JPY',
        direction VARCHAR NOT NULL DEFAULT 'up', aggregation VARCHAR NOT NULL DEFAULT 'sum',
        baseline DOUBLE, target DOUBLE, current_value DOUBLE, deadline DATE,
        basis VARCHAR NOT NULL DEFAULT '', formula VARCHAR NOT NULL DEFAULT '');
    CREATE TABLE csfs (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_csf'), plan_id BIGINT NOT NULL, name VARCHAR NOT NULL,
        role VARCHAR NOT NULL DEFAULT 'primary', contribution DOUBLE NOT NULL DEFAULT 0,
        actions VARCHAR NOT NULL DEFAULT '[]', description VARCHAR NOT NULL DEFAULT '',
        position INTEGER NOT NULL DEFAULT 0, deleted_at TIMESTAMP);
    CREATE TABLE kpis (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_kpi'), plan_id BIGINT NOT NULL, csf_id BIGINT,
        key VARCHAR NOT NULL, name VARCHAR NOT NULL, definition VARCHAR NOT NULL DEFAULT '',
        unit VARCHAR NOT NULL DEFAULT '', direction VARCHAR NOT NULL DEFAULT 'up',
        kind VARCHAR NOT NULL DEFAULT 'leading', aggregation VARCHAR NOT NULL DEFAULT 'sum',
        ratio_weight VARCHAR NOT NULL DEFAULT '', owner VARCHAR NOT NULL DEFAULT '',
        data_source VARCHAR NOT NULL DEFAULT '', annual_target DOUBLE,
        amber_threshold DOUBLE NOT NULL DEFAULT 0.95, red_threshold DOUBLE NOT NULL DEFAULT 0.85,
        recovery_plan VARCHAR NOT NULL DEFAULT '', rationale VARCHAR NOT NULL DEFAULT '',
        position INTEGER NOT NULL DEFAULT 0, deleted_at TIMESTAMP);
    CREATE TABLE monthly_targets (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_target'), plan_id BIGINT NOT NULL,
        metric_key VARCHAR NOT NULL, month DATE NOT NULL, value DOUBLE NOT NULL,
        version INTEGER NOT NULL, reason VARCHAR NOT NULL DEFAULT '',
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp, superseded_at TIMESTAMP);
    CREATE TABLE imports (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_import'), plan_id BIGINT NOT NULL,
        file_name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, encoding VARCHAR NOT NULL DEFAULT '',
        delimiter VARCHAR NOT NULL DEFAULT '', shape VARCHAR NOT NULL DEFAULT '',
        mapping VARCHAR NOT NULL DEFAULT '{}', rows_total INTEGER NOT NULL DEFAULT 0,
        rows_accepted INTEGER NOT NULL DEFAULT 0, rows_rejected INTEGER NOT NULL DEFAULT 0,
        status VARCHAR NOT NULL DEFAULT 'committed',
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp, reverted_at TIMESTAMP);
    CREATE TABLE import_rejections (
        import_id BIGINT NOT NULL, line_no INTEGER, reason VARCHAR NOT NULL, raw VARCHAR NOT NULL DEFAULT '');
    CREATE TABLE actuals (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_actual'), plan_id BIGINT NOT NULL,
        metric_key VARCHAR NOT NULL, month DATE NOT NULL, value DOUBLE NOT NULL,
        source VARCHAR NOT NULL DEFAULT 'manual', import_id BIGINT,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        superseded_at TIMESTAMP, superseded_by BIGINT);
    CREATE TABLE mapping_profiles (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_profile'), plan_id BIGINT,
        name VARCHAR NOT NULL, header_signature VARCHAR NOT NULL, mapping VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp);
    CREATE TABLE checkins (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_checkin'), plan_id BIGINT NOT NULL,
        metric_key VARCHAR NOT NULL, month DATE NOT NULL, status VARCHAR NOT NULL DEFAULT 'no_data',
        why VARCHAR NOT NULL DEFAULT '', next_action VARCHAR NOT NULL DEFAULT '',
        owner VARCHAR NOT NULL DEFAULT '', due DATE, result VARCHAR NOT NULL DEFAULT '',
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp);
    CREATE TABLE reviews (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_review'), plan_id BIGINT NOT NULL,
        review_date DATE NOT NULL, metric_key VARCHAR NOT NULL, decision VARCHAR NOT NULL,
        reason VARCHAR NOT NULL DEFAULT '', created_at TIMESTAMP NOT NULL DEFAULT current_timestamp);
    CREATE TABLE audit_log (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_audit'), plan_id BIGINT, action VARCHAR NOT NULL,
        detail VARCHAR NOT NULL DEFAULT '{}', logged_at TIMESTAMP NOT NULL DEFAULT current_timestamp);
    CREATE TABLE settings (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
    """),
    # One current value per cell, enforced by the database: a row per (plan, metric, month) pointing at the current
    # actual, and one per (plan, metric) holding the current target version. Two sessions writing the same cell both
    # write its row, so DuckDB lets one commit and the other retries. Duplicates left by earlier releases are
    # superseded first, the newest value kept.
    (2, "one current value per cell", """
    UPDATE actuals SET superseded_at = current_timestamp, superseded_by = k.keep_id
      FROM (SELECT plan_id, metric_key, month, max(id) AS keep_id FROM actuals WHERE superseded_at IS NULL
            GROUP BY plan_id, metric_key, month HAVING count(*) > 1) k
     WHERE actuals.plan_id = k.plan_id AND actuals.metric_key = k.metric_key AND actuals.month = k.month
       AND actuals.superseded_at IS NULL AND actuals.id <> k.keep_id;
    CREATE TABLE actual_cells (
        plan_id BIGINT NOT NULL, metric_key VARCHAR NOT NULL, month DATE NOT NULL, actual_id BIGINT,
        version INTEGER NOT NULL, PRIMARY KEY (plan_id, metric_key, month));
    INSERT INTO actual_cells
    SELECT plan_id, metric_key, month, max(id) FILTER (WHERE superseded_at IS NULL), count(*)
      FROM actuals GROUP BY plan_id, metric_key, month;
    UPDATE monthly_targets SET superseded_at = current_timestamp
      FROM (SELECT plan_id, metric_key, month, max(id) AS keep_id FROM monthly_targets WHERE superseded_at IS NULL
            GROUP BY plan_id, metric_key, month HAVING count(*) > 1) k
     WHERE monthly_targets.plan_id = k.plan_id AND monthly_targets.metric_key = k.metric_key
       AND monthly_targets.month = k.month AND monthly_targets.superseded_at IS NULL
       AND monthly_targets.id <> k.keep_id;
    CREATE TABLE target_sets (
        plan_id BIGINT NOT NULL, metric_key VARCHAR NOT NULL, version INTEGER NOT NULL,
        PRIMARY KEY (plan_id, metric_key));
    INSERT INTO target_sets SELECT plan_id, metric_key, max(version) FROM monthly_targets GROUP BY plan_id, metric_key
    """),
    # A version on each row a user edits, so that a save based on an older copy is refused instead of overwriting.
    (3, "row versions", """
    ALTER TABLE kpis ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE csfs ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE checkins ADD COLUMN version INTEGER NOT NULL DEFAULT 0
    """),
]

# ---------------------------------------------------------------- migrations: workshops (20-29)
MIGRATIONS.append((20, "workshop sessions", """
    CREATE SEQUENCE seq_workshop START 1;
    CREATE SEQUENCE seq_ws_participant START 1;
    CREATE SEQUENCE seq_ws_idea START 1;
    CREATE SEQUENCE seq_ws_vote START 1;
    CREATE SEQUENCE seq_ws_dot START 1;
    CREATE SEQUENCE seq_ws_note START 1;
    CREATE TABLE workshops (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_workshop'), plan_id BIGINT NOT NULL,
        title VARCHAR NOT NULL, code VARCHAR NOT NULL UNIQUE, facilitator_key VARCHAR NOT NULL,
        status VARCHAR NOT NULL DEFAULT 'open', position INTEGER NOT NULL DEFAULT 0,
        agenda VARCHAR NOT NULL DEFAULT '[]', timer_duration DOUBLE NOT NULL DEFAULT 0,
        timer_running BOOLEAN NOT NULL DEFAULT false, timer_deadline DOUBLE, timer_remaining DOUBLE NOT NULL DEFAULT 0,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp, closed_at TIMESTAMP);
    CREATE TABLE ws_participants (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_ws_participant'), workshop_id BIGINT NOT NULL,
        token VARCHAR NOT NULL UNIQUE, name VARCHAR NOT NULL,
        joined_at TIMESTAMP NOT NULL DEFAULT current_timestamp, last_seen_at TIMESTAMP);
    CREATE TABLE ws_ideas (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_ws_idea'), workshop_id BIGINT NOT NULL, step INTEGER NOT NULL,
        participant_id BIGINT, text VARCHAR NOT NULL, detail VARCHAR NOT NULL DEFAULT '',
        group_label VARCHAR NOT NULL DEFAULT '', merged_into BIGINT,
        promoted_kind VARCHAR NOT NULL DEFAULT '', promoted_ref BIGINT, promoted_dots INTEGER,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp, updated_at TIMESTAMP, deleted_at TIMESTAMP);
    CREATE TABLE ws_votes (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_ws_vote'), workshop_id BIGINT NOT NULL, step INTEGER NOT NULL,
        dots INTEGER NOT NULL CHECK (dots BETWEEN 1 AND 10), stacking BOOLEAN NOT NULL DEFAULT false,
        status VARCHAR NOT NULL DEFAULT 'open', opened_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        closed_at TIMESTAMP, revealed_at TIMESTAMP);
    CREATE TABLE ws_dots (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_ws_dot'), vote_id BIGINT NOT NULL, idea_id BIGINT NOT NULL,
        participant_id BIGINT NOT NULL, placed_at TIMESTAMP NOT NULL DEFAULT current_timestamp);
    CREATE TABLE ws_notes (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_ws_note'), workshop_id BIGINT NOT NULL, kind VARCHAR NOT NULL,
        text VARCHAR NOT NULL, owner VARCHAR NOT NULL DEFAULT '', due DATE,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp, deleted_at TIMESTAMP)
"""))

# Two change counters per session, polled by the screens so that they redraw only when something moved:
# data_version moves with every write (ideas, dots, notes, agenda, timer, status); stage_version only with the
# facilitator's steering (agenda, timer, status, opening/closing/revealing a vote), all a participant's screen follows.
MIGRATIONS.append((21, "workshop change counters", """
    ALTER TABLE workshops ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE workshops ADD COLUMN stage_version BIGINT NOT NULL DEFAULT 0
"""))

# One idea becomes at most one CSF or KPI draft, and a CSF or KPI comes from at most one idea, whichever screen or
# process clicks: the promotion's update only takes an idea not yet promoted, and the index refuses a second link.
MIGRATIONS.append((22, "workshop promotion links unique", """
    CREATE UNIQUE INDEX ws_ideas_promoted ON ws_ideas (promoted_kind, promoted_ref)
"""))

_WORKSHOP_WRITES = threading.Lock()

# ---------------------------------------------------------------- migrations: health check (30-39)
# Hand ticks of the readiness checklist (every tick and untick kept, the latest counts) and score snapshots (monthly
# or on demand) so that a team sees its score move.
MIGRATIONS.append((30, "health checklist ticks and score snapshots", """
    CREATE SEQUENCE seq_health_tick START 1;
    CREATE SEQUENCE seq_health_snapshot START 1;
    CREATE TABLE health_ticks (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_health_tick'), plan_id BIGINT NOT NULL,
        item VARCHAR NOT NULL, ticked BOOLEAN NOT NULL, ticked_by VARCHAR NOT NULL DEFAULT '',
        ticked_at TIMESTAMP NOT NULL DEFAULT current_timestamp);
    CREATE TABLE health_snapshots (
        id BIGINT PRIMARY KEY DEFAULT nextval('seq_health_snapshot'), plan_id BIGINT NOT NULL,
        taken_at TIMESTAMP NOT NULL DEFAULT current_timestamp, month DATE NOT NULL,
        score DOUBLE NOT NULL CHECK (score >= 0 AND score <= 100), high INTEGER NOT NULL DEFAULT 0,
        medium INTEGER NOT NULL DEFAULT 0, low INTEGER NOT NULL DEFAULT 0,
        lights VARCHAR NOT NULL DEFAULT '{}', trigger VARCHAR NOT NULL DEFAULT 'manual');
    """))

# ---------------------------------------------------------------- migrations: speed (70-79)
# The plan's data version counts its audit lines (see `plan_data_version`): an index so that the count stays cheap
# however long the log grows.
MIGRATIONS.append((70, "audit log by plan", """
    CREATE INDEX audit_log_plan ON audit_log (plan_id);
    """))

_LOCK_HOLDER = re.compile(r"PID (\d+)")


def _connect(path: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting up to `wait` s while another process holds it (saying so through the waiting marker,
    which an app that releases the file when idle honours); refuse a damaged or newer file."""
    deadline = time.monotonic() + wait
    pause = 0.01
    try:
        while True:
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" not in text.lower():
                    raise _opening_error(path, exc) from exc
                if time.monotonic() >= deadline:
                    holder = _LOCK_HOLDER.search(text)
                    raise DatabaseLocked(path=str(path), pid=holder.group(1) if holder else "?",
                                         seconds=int(wait)) from exc
                _mark_waiting(path)
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
            except duckdb.Error as exc:
                raise _opening_error(path, exc) from exc
    finally:
        _waiting_marker(path).unlink(missing_ok=True)


def _waiting_marker(path: Path) -> Path:
    return path.with_name(path.name + ".waiting")


def _mark_waiting(path: Path) -> None:
    try:
        _waiting_marker(path).touch()
    except OSError:
        pass  # a read-only folder: the other process releases the file when idle anyway


def _someone_waiting(path: Path) -> bool:
    """Another process is waiting for the file now (a marker touched within the last second)."""
    try:
        return time.time() - _waiting_marker(path).stat().st_mtime < 1.0
    except OSError:
        return False


def _opening_error(path: Path, exc: duckdb.Error) -> StoreError:
    text = str(exc)
    if "version number" in text.lower() or "newer version" in text.lower():
        return DatabaseTooNew(path=str(path), found="?", supported=latest_schema())
    return DatabaseDamaged(path=str(path))


def latest_schema() -> int:
    """The newest schema version this release knows."""
    return max(version for version, _, _ in MIGRATIONS)


def _check_location(path: Path, create: bool) -> None:
    """Refuse a path that cannot hold the database, naming it; a missing file is created only when asked."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise NotAFolder(path=str(path), parent=str(parent))
    if path.is_dir():
        raise NotAFolder(path=str(path), parent=str(path))
    if not path.parent.exists():
        raise FolderMissing(path=str(path), folder=str(path.parent))
    if not path.exists() and not create:
        raise DatabaseMissing(path=str(path))


def _read_only_reason(path: Path) -> str | None:
    """Why the file can only be read ('file' or 'folder'), or None when it can be written. A file without any write
    permission bit counts as read-only even for a superuser: someone marked it so."""
    if not path.exists():
        return None
    mode = path.stat().st_mode
    if not os.access(path, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return "file"
    if not os.access(path.parent, os.W_OK):
        return "folder"  # DuckDB writes its journal beside the file
    return None


def _rollback_quietly(cur: duckdb.DuckDBPyConnection) -> None:
    """Leave no transaction open after a failed COMMIT (the engine may already have ended it)."""
    try:
        cur.execute("ROLLBACK")
    except (duckdb.Error, psycopg.Error):
        pass


def _unlock_quietly(cur) -> None:
    """Let the migration lock go (a lost connection has let it go already)."""
    try:
        cur.execute(POSTGRES.unlock_migrations)
    except psycopg.Error:
        pass


def _first_line(exc: Exception) -> str:
    """The engine's own words, shortened, as the `reason` of a catalogue message."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _copy_into(original: T, saved: T) -> T:
    """Give the caller's object the ids and versions of what was committed (only once it was committed)."""
    vars(original).update(vars(saved))
    return original


def _shown(value: Any) -> str:
    """A stored value as a conflict message shows it (empty for a cleared cell)."""
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class Store:
    """The application database. Create with `open_store()`; share one per process."""

    def __init__(self, path: Path | str, create: bool = True, release_when_idle: bool = False):
        """Open the database at `path` (a file, or a `postgresql://` URL): checked, upgraded (a copy of a file kept
        first), ready. `create` allows a new file (an empty server database: its schema); `release_when_idle` lets
        the file go between operations (the app) so that others can write."""
        self.server: PostgresServer | None = None
        self.dialect = DUCKDB
        self.path: Path | None = None if is_server_url(path) else Path(path)
        self.location = shown_url(str(path)) if self.path is None else str(self.path)
        self.release_when_idle = release_when_idle
        self._local = threading.local()
        # Writes of this process take turns (on either engine): sessions of one server never race each other, and
        # the database constraints catch any writer that does not go through here (another process).
        self._write_turn = threading.Lock()
        self._file_lock = threading.RLock()
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._users = 0
        self._generation = 0
        self._last_use = time.monotonic()
        self._reaper: threading.Thread | None = None
        self._closed = False
        self.created_schema = False  # this opening laid out the schema of a new database
        if self.path is None:
            self._open_server(str(path), create)
            return
        _check_location(self.path, create)
        self.read_only_reason = _read_only_reason(self.path)
        with self._holding():
            self._verify()
            self.migrate()

    def _open_server(self, url: str, create: bool) -> None:
        """Connect (refusing fast with the reason when the server cannot be reached), then check and upgrade as
        for a file. An empty database gets its schema only when `create` (as a new file would)."""
        self.dialect = POSTGRES
        self.read_only_reason = None
        try:
            psycopg.connect(url, connect_timeout=max(1, int(lock_wait()))).close()
            self.server = PostgresServer(url, lock_wait())
        except psycopg.Error as exc:
            raise DatabaseUnavailable(where=self.location, reason=_first_line(exc)) from exc
        try:
            with self._holding():
                if not create and not self._applied_versions():
                    raise DatabaseMissing(path=self.location)
                self._verify()
                self.migrate()
        except BaseException:
            self.server.close()
            raise

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    # ------------------------------------------------------------ plumbing
    @contextmanager
    def _holding(self) -> Iterator[None]:
        """Hold the file open for the duration of an operation (opening it if it was released); on a server, hold
        a pooled connection."""
        if self.server is not None:
            try:
                with self.server.holding(self._local):
                    yield
            except PoolTimeout as exc:
                raise DatabaseBusy(seconds=int(lock_wait())) from exc
            except psycopg.Error as exc:
                if POSTGRES.is_lost(exc):
                    raise DatabaseUnavailable(where=self.location, reason=_first_line(exc)) from exc
                raise
            return
        with self._file_lock:
            if self._conn is None:
                if self.release_when_idle:
                    self._let_waiting_writer_go_first()
                self._conn = self._open()
                self._generation += 1
                self._closed = False
                if self.release_when_idle and (self._reaper is None or not self._reaper.is_alive()):
                    self._reaper = threading.Thread(target=self._release_when_idle, daemon=True,
                                                    name="store-idle-release")
                    self._reaper.start()
            self._users += 1
        try:
            yield
        finally:
            with self._file_lock:
                self._users -= 1
                self._last_use = time.monotonic()
                if self._users == 0 and self.release_when_idle and _someone_waiting(self.path):
                    self._release_if_idle()  # a command waits: let go now, not after the idle delay

    def _release_when_idle(self) -> None:
        """One background thread per store: closes the file once no operation has run for IDLE_RELEASE s."""
        while not self._closed:
            time.sleep(IDLE_RELEASE / 2)
            with self._file_lock:
                if self._users == 0 and self._conn is not None and \
                        time.monotonic() - self._last_use >= IDLE_RELEASE:
                    self._release_if_idle()

    def _let_waiting_writer_go_first(self) -> None:
        """Before taking the file back, give another process that is waiting for it its turn (bounded)."""
        deadline = time.monotonic() + lock_wait()
        while _someone_waiting(self.path) and time.monotonic() < deadline:
            time.sleep(0.02)

    def _open(self) -> duckdb.DuckDBPyConnection:
        try:
            return _connect(self.path, self.read_only, lock_wait())
        except DatabaseDamaged as exc:
            engine_text = str(exc.__cause__).lower()
            if self.read_only or not any(w in engine_text for w in ("read-only file system", "permission")):
                raise
        self.read_only_reason = "filesystem"  # a read-only mount: the file looked writable but is not
        return _connect(self.path, True, lock_wait())

    def _release_if_idle(self) -> None:
        with self._file_lock:
            if self._users == 0 and self._conn is not None:
                self._conn.close()
                self._conn = None

    def release(self) -> None:
        """Let the file go now if no operation is running (the next operation opens it again). A server's
        connections go back to the pool after each operation anyway."""
        if self.server is None:
            self._release_if_idle()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB connections are shared, cursors are not). Store methods hold the file while
        they run; a caller using the cursor directly should do so inside `transaction()` or `atomic()`."""
        if self.server is not None:
            return self.server.cursor(self._local)
        with self._file_lock:
            if self._conn is None:
                self._conn = self._open()
                self._generation += 1
            generation, conn = self._generation, self._conn
        cached = getattr(self._local, "cursor", None)
        if cached is None or cached[0] != generation:
            cached = (generation, conn.cursor())
            self._local.cursor = cached
        return cached[1]

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            return
        with self._file_lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction on this thread's cursor. Reentrant: a nested call joins the outer transaction, so a use
        case that calls several write methods commits once or not at all."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield self.cursor()
            finally:
                self._local.depth = depth
            return
        if self.read_only:
            raise ReadOnlyDatabase(path=str(self.path), reason=self.read_only_reason)
        if not self._write_turn.acquire(timeout=WRITE_WAIT):
            raise DatabaseBusy(seconds=int(WRITE_WAIT))
        try:
            with self._holding():
                cur = self.cursor()
                cur.execute(self.dialect.begin)
                self._local.depth = 1
                try:
                    yield cur
                except BaseException:
                    self._local.depth = 0
                    _rollback_quietly(cur)
                    raise
                self._local.depth = 0
                try:
                    cur.execute("COMMIT")
                except self.dialect.errors:
                    _rollback_quietly(cur)
                    raise
        finally:
            self._write_turn.release()

    def in_transaction(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def atomic(self, fn: Callable[[], T], retries: int = WRITE_RETRIES) -> T:
        """Run `fn()` in ONE transaction and return its result. Store writes called inside join it. On a write
        conflict with another session the whole of `fn` runs again (bounded); inside an outer transaction it joins
        that one and leaves conflicts to it."""
        if self.in_transaction():
            return fn()
        for attempt in range(retries):
            try:
                with self.transaction():
                    return fn()
            except self.dialect.conflicts as exc:
                if attempt == retries - 1:
                    raise WriteConflict(attempts=retries) from exc
                time.sleep(RETRY_PAUSE * (attempt + 1) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _write(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `work(cursor)` atomically (see `atomic`)."""
        return self.atomic(lambda: work(self.cursor()))

    def _rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        cur = self.cursor().execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def _typed(self, model: Callable[..., T], sql: str, params: list | tuple = ()) -> list[T]:
        """Rows as read models: each column passed by name to `model`."""
        return [model(**row) for row in self._rows(sql, params)]

    def _audit(self, cur, plan_id: int | None, action: str, **detail: Any) -> None:
        cur.execute("INSERT INTO audit_log (plan_id, action, detail) VALUES (?, ?, ?)",
                    [plan_id, action, _json(detail)])

    def _bump_version(self, cur, plan_id: int, expected_version: int | None) -> int:
        """Advance the plan's version; refuse when someone else saved since `expected_version` was read."""
        if expected_version is None:
            row = cur.execute("UPDATE plans SET version = version + 1, updated_at = current_timestamp "
                              "WHERE id = ? AND deleted_at IS NULL RETURNING version", [plan_id]).fetchone()
        else:
            row = cur.execute("UPDATE plans SET version = version + 1, updated_at = current_timestamp "
                              "WHERE id = ? AND version = ? AND deleted_at IS NULL RETURNING version",
                              [plan_id, expected_version]).fetchone()
        if row is None:
            current = cur.execute("SELECT version FROM plans WHERE id = ?", [plan_id]).fetchone()
            if current is None:
                raise NotFound(plan_id=plan_id)
            self._require_live_plan(cur, plan_id)
            raise VersionConflict(expected=expected_version, current=current[0])
        return row[0]

    @staticmethod
    def _require_live_plan(cur, plan_id: int) -> None:
        """Refuse a write to a plan that is missing or was deleted while the writer was editing it."""
        row = cur.execute("SELECT name, deleted_at FROM plans WHERE id = ?", [plan_id]).fetchone()
        if row is None:
            raise NotFound(plan_id=plan_id)
        if row[1] is not None:
            raise DeletedUnderEdit(name=row[0])

    @staticmethod
    def _check_row_version(cur, table: str, row_id: int, seen: int, item: str, theirs_column: str, yours: Any,
                           soft_deleted: bool = True) -> None:
        """Refuse the write when the row moved past the version the writer saw, or was deleted meanwhile.
        `table` and `theirs_column` are names from this module, never from input."""
        deleted = "deleted_at" if soft_deleted else "NULL"
        row = cur.execute(f"SELECT version, {deleted}, {theirs_column} FROM {table} WHERE id = ?",
                          [row_id]).fetchone()
        if row is None or row[1] is not None:
            raise DeletedUnderEdit(name=item)
        if row[0] != seen:
            raise StaleEdit([Conflict(item, row[2], yours, row[0])])

    # ------------------------------------------------------------ migrations
    def _applied_versions(self) -> set[int]:
        cur = self.cursor()
        if not cur.execute(self.dialect.table_exists, ["schema_migrations"]).fetchone()[0]:
            return set()
        return {row[0] for row in cur.execute("SELECT version FROM schema_migrations").fetchall()}

    def _verify(self) -> None:
        """Refuse a database this release cannot use: damaged, or written by a newer release."""
        try:
            newest = max(self._applied_versions(), default=0)
        except self.dialect.errors as exc:
            raise DatabaseDamaged(path=self.location) from exc
        if newest > latest_schema():
            raise DatabaseTooNew(path=self.location,
                                 found=newest, supported=latest_schema())
        self.check()

    def check(self) -> dict[str, int]:
        """Read every table in full, every column (DuckDB verifies each block's checksum as it reads it) and return
        the rows per table; a file that cannot be read completely raises DatabaseDamaged."""
        cur = self.cursor()
        counts: dict[str, int] = {}
        try:
            for (name,) in cur.execute(self.dialect.table_names).fetchall():
                quoted = '"' + name.replace('"', '""') + '"'
                counts[name] = cur.execute(self.dialect.read_in_full(quoted)).fetchone()[0]
        except self.dialect.errors as exc:
            raise DatabaseDamaged(path=self.location) from exc
        return counts

    def migrate(self) -> list[int]:
        """Apply every pending migration, each in its own transaction, after keeping a copy of an existing file;
        return the versions applied. A failing one is rolled back and reported with its number and reason. On a
        server, processes starting together take turns (an advisory lock): the second finds nothing pending."""
        if self.server is None:
            return self._migrate()
        cur = self.cursor()
        cur.execute(POSTGRES.lock_migrations)
        try:
            return self._migrate()
        finally:
            _unlock_quietly(cur)

    def _migrate(self) -> list[int]:
        done = self._applied_versions()
        pending = [(version, name, sql) for version, name, sql in MIGRATIONS if version not in done]
        if not pending:
            return []
        if self.read_only:
            raise ReadOnlyDatabase(path=str(self.path),
                                   reason=self.read_only_reason)
        backup = self.backup(self.path.with_name(f"{self.path.stem}.before-v{pending[0][0]}{self.path.suffix}")) \
            if done and self.server is None else None
        with self.transaction() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                        "name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)")
        applied = []
        self.created_schema = not done
        for version, name, sql in pending:
            try:
                with self.transaction() as tx:
                    for statement in (s.strip() for s in sql.split(";")):
                        if statement:
                            tx.execute(statement)
                    tx.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            except self.dialect.errors as exc:
                raise MigrationFailed(version=version, name=name, reason=_first_line(exc),
                                      backup=str(backup) if backup else "-") from exc
            applied.append(version)
        return applied

    def schema_version(self) -> int:
        return max(self._applied_versions(), default=0)

    def backup(self, target: Path | str | None = None) -> Path:
        """A consistent copy of the database file (journal folded in first, no write running meanwhile). The default
        name is beside the file, stamped with the time; an existing file is never overwritten. A server database is
        backed up with the server's tools (pg_dump): refused here, saying so."""
        if self.server is not None:
            raise BackupOnServer(where=self.location)
        target = Path(target) if target else self.path.with_name(
            f"{self.path.stem}.backup-{time.strftime('%Y%m%d-%H%M%S')}{self.path.suffix}")
        _check_location(target, create=True)
        if target.exists():
            raise BackupExists(path=str(target))
        with self._write_turn:
            if not self.read_only:
                self.cursor().execute("CHECKPOINT")
            shutil.copy2(self.path, target)
        return target

    # ------------------------------------------------------------ settings
    # ------------------------------------------------------------ plans
    @staticmethod
    def _plan(row: dict) -> Plan:
        return Plan(id=row["id"], name=row["name"], department=row["department"],
                    fiscal_start=row["fiscal_start"], months=row["months"], currency=row["currency"],
                    status=PlanStatus(row["status"]), template=row["template"], version=row["version"])

    def create_plan(self, plan: Plan) -> Plan:
        def work(cur):
            row = cur.execute(
                "INSERT INTO plans (name, department, fiscal_start, months, currency, status, template) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [plan.name, plan.department, plan.fiscal_start, plan.months, plan.currency,
                 str(plan.status), plan.template]).fetchone()
            self._audit(cur, row[0], "plan.create", name=plan.name)
            return row[0]
        return self.get_plan(self._write(work))

    def get_plan(self, plan_id: int) -> Plan:
        rows = self._rows("SELECT * FROM plans WHERE id = ? AND deleted_at IS NULL", [plan_id])
        if not rows:
            raise NotFound(plan_id=plan_id)
        return self._plan(rows[0])

    def list_plans(self, include_archived: bool = True) -> list[Plan]:
        sql = "SELECT * FROM plans WHERE deleted_at IS NULL"
        if not include_archived:
            sql += " AND status <> 'archived'"
        return [self._plan(r) for r in self._rows(sql + " ORDER BY id")]

    def update_plan(self, plan: Plan, expected_version: int | None) -> Plan:
        def work(cur):
            self._bump_version(cur, plan.id, expected_version)
            cur.execute("UPDATE plans SET name = ?, department = ?, fiscal_start = ?, months = ?, currency = ?, "
                        "status = ?, template = ? WHERE id = ?",
                        [plan.name, plan.department, plan.fiscal_start, plan.months, plan.currency,
                         str(plan.status), plan.template, plan.id])
            self._audit(cur, plan.id, "plan.update", name=plan.name, status=str(plan.status))
        self._write(work)
        return self.get_plan(plan.id)

    def set_plan_status(self, plan_id: int, status: PlanStatus) -> Plan:
        plan = self.get_plan(plan_id)
        plan.status = status
        return self.update_plan(plan, None)

    def delete_plan(self, plan_id: int) -> None:
        """Soft delete: the plan disappears from lists but every row stays, and the deletion is logged."""
        def work(cur):
            cur.execute("UPDATE plans SET deleted_at = current_timestamp WHERE id = ?", [plan_id])
            self._audit(cur, plan_id, "plan.delete")
        self._write(work)

    def restore_plan(self, plan_id: int) -> None:
        def work(cur):
            cur.execute("UPDATE plans SET deleted_at = NULL WHERE id = ?", [plan_id])
            self._audit(cur, plan_id, "plan.restore")
        self._write(work)

    def deleted_plans(self) -> list[Plan]:
        return [self._plan(r) for r in self._rows("SELECT * FROM plans WHERE deleted_at IS NOT NULL ORDER BY id")]

    def duplicate_plan(self, plan_id: int, new_name: str) -> Plan:
        """A copy of the plan's design (KGI, CSFs, KPIs, current targets); actuals and logs stay with the original."""
        self.get_plan(plan_id)  # raises NotFound for a missing or deleted plan

        def work(cur):
            new_id = cur.execute(
                "INSERT INTO plans (name, department, fiscal_start, months, currency, status, template) "
                "SELECT ?, department, fiscal_start, months, currency, 'draft', template FROM plans WHERE id = ? "
                "RETURNING id", [new_name, plan_id]).fetchone()[0]
            kgi_cols = "key, name, unit, direction, aggregation, baseline, target, current_value, deadline, basis, formula"
            cur.execute(f"INSERT INTO kgis (plan_id, {kgi_cols}) SELECT ?, {kgi_cols} FROM kgis WHERE plan_id = ?",
                        [new_id, plan_id])
            csf_map = {}
            for old_id, in cur.execute("SELECT id FROM csfs WHERE plan_id = ? AND deleted_at IS NULL ORDER BY position",
                                       [plan_id]).fetchall():
                csf_map[old_id] = cur.execute(
                    "INSERT INTO csfs (plan_id, name, role, contribution, actions, description, position) "
                    "SELECT ?, name, role, contribution, actions, description, position FROM csfs WHERE id = ? "
                    "RETURNING id", [new_id, old_id]).fetchone()[0]
            kpi_cols = ("key, name, definition, unit, direction, kind, aggregation, ratio_weight, owner, data_source, "
                        "annual_target, amber_threshold, red_threshold, recovery_plan, rationale, position")
            for old_id, old_csf in cur.execute(
                    "SELECT id, csf_id FROM kpis WHERE plan_id = ? AND deleted_at IS NULL", [plan_id]).fetchall():
                cur.execute(f"INSERT INTO kpis (plan_id, csf_id, {kpi_cols}) SELECT ?, ?, {kpi_cols} FROM kpis "
                            "WHERE id = ?", [new_id, csf_map.get(old_csf), old_id])
            cur.execute("INSERT INTO monthly_targets (plan_id, metric_key, month, value, version, reason) "
                        "SELECT ?, metric_key, month, value, 1, 'duplicated' FROM monthly_targets "
                        "WHERE plan_id = ? AND superseded_at IS NULL", [new_id, plan_id])
            cur.execute("INSERT INTO target_sets (plan_id, metric_key, version) SELECT DISTINCT ?, metric_key, 1 "
                        "FROM monthly_targets WHERE plan_id = ?", [new_id, new_id])
            self._audit(cur, new_id, "plan.duplicate", source=plan_id, name=new_name)
            return new_id
        return self.get_plan(self._write(work))

    # ------------------------------------------------------------ KGI
    def get_kgi(self, plan_id: int) -> KGI | None:
        rows = self._rows("SELECT * FROM kgis WHERE plan_id = ? ORDER BY id LIMIT 1", [plan_id])
        if not rows:
            return None
        r = rows[0]
        return KGI(id=r["id"], plan_id=plan_id, key=r["key"], name=r["name"], unit=r["unit"],
                   direction=Direction(r["direction"]), aggregation=Aggregation(r["aggregation"]),
                   baseline=r["baseline"], target=r["target"], current=r["current_value"],
                   deadline=r["deadline"], basis=r["basis"], formula=r["formula"])

    def save_kgi(self, kgi: KGI, expected_version: int | None) -> int:
        """Insert or update the plan's KGI; returns the plan's new version."""
        def work(cur):
            version = self._bump_version(cur, kgi.plan_id, expected_version)
            values = [kgi.key, kgi.name, kgi.unit, str(kgi.direction), str(kgi.aggregation), kgi.baseline,
                      kgi.target, kgi.current, kgi.deadline, kgi.basis, kgi.formula]
            existing = cur.execute("SELECT id, target FROM kgis WHERE plan_id = ?", [kgi.plan_id]).fetchone()
            if existing:
                cur.execute("UPDATE kgis SET key = ?, name = ?, unit = ?, direction = ?, aggregation = ?, "
                            "baseline = ?, target = ?, current_value = ?, deadline = ?, basis = ?, formula = ? "
                            "WHERE id = ?", values + [existing[0]])
                kgi.id = existing[0]
            else:
                kgi.id = cur.execute("INSERT INTO kgis (key, name, unit, direction, aggregation, baseline, target, "
                                     "current_value, deadline, basis, formula, plan_id) "
                                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                                     values + [kgi.plan_id]).fetchone()[0]
            self._audit(cur, kgi.plan_id, "kgi.save", target=kgi.target,
                        previous_target=existing[1] if existing else None)
            return version
        return self._write(work)

    # ------------------------------------------------------------ CSFs
    def list_csfs(self, plan_id: int, include_retired: bool = True) -> list[CSF]:
        sql = "SELECT * FROM csfs WHERE plan_id = ? AND deleted_at IS NULL"
        if not include_retired:
            sql += " AND role <> 'retired'"
        return [CSF(id=r["id"], plan_id=plan_id, name=r["name"], role=CSFRole(r["role"]),
                    contribution=r["contribution"], actions=json.loads(r["actions"]),
                    description=r["description"], position=r["position"], version=r["version"])
                for r in self._rows(sql + " ORDER BY position, id", [plan_id])]

    def save_csf(self, original: CSF, expected_version: int | None) -> CSF:
        def work(cur):
            csf = replace(original)  # changed on a copy: a retried attempt starts from the caller's copy
            self._bump_version(cur, csf.plan_id, expected_version)
            values = [csf.name, str(csf.role), csf.contribution, _json(list(csf.actions)), csf.description]
            if csf.id is None:
                position = cur.execute("SELECT coalesce(max(position) + 1, 0) FROM csfs WHERE plan_id = ?",
                                       [csf.plan_id]).fetchone()[0]
                csf.position = position
                csf.id = cur.execute("INSERT INTO csfs (name, role, contribution, actions, description, position, "
                                     "plan_id) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                                     values + [position, csf.plan_id]).fetchone()[0]
            else:
                self._check_row_version(cur, "csfs", csf.id, csf.version, csf.name, "name", csf.name)
                cur.execute("UPDATE csfs SET name = ?, role = ?, contribution = ?, actions = ?, description = ?, "
                            "version = version + 1 WHERE id = ?", values + [csf.id])
                csf.version += 1
            self._audit(cur, csf.plan_id, "csf.save", csf_id=csf.id, name=csf.name, role=str(csf.role))
            return csf
        return _copy_into(original, self._write(work))

    def delete_csf(self, plan_id: int, csf_id: int, expected_version: int | None) -> None:
        self._soft_delete(plan_id, "csf", csf_id, expected_version)

    def _soft_delete(self, plan_id: int, kind: str, row_id: int, expected_version: int | None) -> None:
        """A CSF or KPI ("csf" / "kpi") marked deleted, kept with its history; the plan's version moves on."""
        table = {"csf": "csfs", "kpi": "kpis"}[kind]

        def work(cur):
            self._bump_version(cur, plan_id, expected_version)
            cur.execute(f"UPDATE {table} SET deleted_at = current_timestamp WHERE id = ?", [row_id])
            self._audit(cur, plan_id, f"{kind}.delete", **{f"{kind}_id": row_id})
        self._write(work)

    def reorder_csfs(self, plan_id: int, ordered_ids: list[int], expected_version: int | None) -> None:
        def work(cur):
            self._bump_version(cur, plan_id, expected_version)
            for position, csf_id in enumerate(ordered_ids):
                cur.execute("UPDATE csfs SET position = ? WHERE id = ? AND plan_id = ?", [position, csf_id, plan_id])
            self._audit(cur, plan_id, "csf.reorder", order=ordered_ids)
        self._write(work)

    # ------------------------------------------------------------ KPIs
    _KPI_FIELDS = ("csf_id", "key", "name", "definition", "unit", "direction", "kind", "aggregation", "ratio_weight",
                   "owner", "data_source", "annual_target", "amber_threshold", "red_threshold", "recovery_plan",
                   "rationale")

    def list_kpis(self, plan_id: int) -> list[KPI]:
        kpis = []
        for r in self._rows("SELECT * FROM kpis WHERE plan_id = ? AND deleted_at IS NULL ORDER BY position, id",
                            [plan_id]):
            values = {f.name: r[f.name] for f in fields(KPI) if f.name in r}
            values.update(direction=Direction(r["direction"]), kind=Kind(r["kind"]),
                          aggregation=Aggregation(r["aggregation"]))
            kpis.append(KPI(**values))
        return kpis

    def save_kpi(self, original: KPI, expected_version: int | None, reason: str = "") -> KPI:
        def work(cur):
            kpi = replace(original)  # changed on a copy: a retried attempt starts from the caller's copy
            self._bump_version(cur, kpi.plan_id, expected_version)
            record = asdict(kpi)
            values = [str(record[f]) if f in ("direction", "kind", "aggregation") else record[f]
                      for f in self._KPI_FIELDS]
            clash = cur.execute("SELECT id FROM kpis WHERE plan_id = ? AND key = ? AND deleted_at IS NULL "
                                "AND id IS DISTINCT FROM ?", [kpi.plan_id, kpi.key, kpi.id]).fetchone()
            if clash:
                raise StoreError("store.duplicate_kpi_key", key_name=kpi.key)
            if kpi.id is None:
                position = cur.execute("SELECT coalesce(max(position) + 1, 0) FROM kpis WHERE plan_id = ?",
                                       [kpi.plan_id]).fetchone()[0]
                kpi.position = position
                columns = ", ".join(self._KPI_FIELDS)
                marks = ", ".join("?" for _ in self._KPI_FIELDS)
                kpi.id = cur.execute(f"INSERT INTO kpis ({columns}, position, plan_id) VALUES ({marks}, ?, ?) "
                                     "RETURNING id", values + [position, kpi.plan_id]).fetchone()[0]
                previous = None
            else:
                self._check_row_version(cur, "kpis", kpi.id, kpi.version, kpi.name, "annual_target", kpi.annual_target)
                previous = cur.execute("SELECT annual_target FROM kpis WHERE id = ?", [kpi.id]).fetchone()
                assignments = ", ".join(f"{f} = ?" for f in self._KPI_FIELDS)
                cur.execute(f"UPDATE kpis SET {assignments}, version = version + 1 WHERE id = ?", values + [kpi.id])
                kpi.version += 1
            self._audit(cur, kpi.plan_id, "kpi.save", kpi_id=kpi.id, key=kpi.key, annual_target=kpi.annual_target,
                        previous_target=previous[0] if previous else None, reason=reason)
            return kpi
        return _copy_into(original, self._write(work))

    def delete_kpi(self, plan_id: int, kpi_id: int, expected_version: int | None) -> None:
        self._soft_delete(plan_id, "kpi", kpi_id, expected_version)

    # ------------------------------------------------------------ monthly targets (versioned)
    def get_monthly_targets(self, plan_id: int) -> dict[str, dict[date, float]]:
        targets: dict[str, dict[date, float]] = {}
        for key, month, value in self.cursor().execute(
                "SELECT t.metric_key, t.month, t.value FROM target_sets s JOIN monthly_targets t "
                "ON t.plan_id = s.plan_id AND t.metric_key = s.metric_key AND t.version = s.version "
                "WHERE s.plan_id = ? AND t.superseded_at IS NULL ORDER BY t.metric_key, t.month", [plan_id]).fetchall():
            targets.setdefault(key, {})[month] = value
        return targets

    def set_monthly_targets(self, plan_id: int, metric_key: str, values: dict[date, float], reason: str = "",
                            expected_version: int | None = None, based_on: int | None = None) -> int:
        """Replace the metric's monthly targets with a new version; the previous version stays, superseded. The
        metric's row in `target_sets` names the current version: two writers of one metric cannot both commit.
        `based_on`: the target-set version the writer saw (`target_set_versions`); a set saved by someone else
        since is refused with StaleEdit, nothing written."""
        def work(cur):
            self._bump_version(cur, plan_id, expected_version)
            if based_on is not None:
                self._check_target_set(cur, plan_id, metric_key, based_on, values)
            version = cur.execute(
                "INSERT INTO target_sets (plan_id, metric_key, version) SELECT ?, ?, coalesce(max(version), 0) + 1 "
                "FROM monthly_targets WHERE plan_id = ? AND metric_key = ? ON CONFLICT (plan_id, metric_key) "
                "DO UPDATE SET version = excluded.version RETURNING version",
                [plan_id, metric_key, plan_id, metric_key]).fetchone()[0]
            cur.execute("UPDATE monthly_targets SET superseded_at = current_timestamp "
                        "WHERE plan_id = ? AND metric_key = ? AND superseded_at IS NULL", [plan_id, metric_key])
            cur.executemany("INSERT INTO monthly_targets (plan_id, metric_key, month, value, version, reason) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            [[plan_id, metric_key, month, float(v), version, reason]
                             for month, v in sorted(values.items())])
            self._audit(cur, plan_id, "targets.set", key=metric_key, version=version, reason=reason)
            return version
        return self._write(work)

    def target_history(self, plan_id: int, metric_key: str) -> list[TargetEntry]:
        return self._typed(TargetEntry,
            "SELECT version, month, value, reason, created_at, superseded_at FROM monthly_targets "
            "WHERE plan_id = ? AND metric_key = ? ORDER BY version, month", [plan_id, metric_key])

    # ------------------------------------------------------------ actuals
    # `actual_cells` holds one row per (plan, metric, month): the current actual (NULL once cleared) and the cell's
    # version. Every write goes through it, so the database itself keeps one current value per cell.
    _CURRENT_ACTUALS = ("FROM actual_cells c JOIN actuals a ON a.id = c.actual_id WHERE c.plan_id = ?")

    def get_actuals(self, plan_id: int, keys: list[str] | None = None) -> list[CurrentActual]:
        """Current actuals with their source, by metric then month."""
        sql = "SELECT c.metric_key, c.month, a.value, a.source, a.import_id " + self._CURRENT_ACTUALS
        params: list[Any] = [plan_id]
        if keys:
            sql += " AND c.metric_key IN (SELECT unnest(?::VARCHAR[]))"
            params.append(list(keys))
        return self._typed(CurrentActual, sql + " ORDER BY c.metric_key, c.month", params)

    def actual_values(self, plan_id: int) -> dict[str, dict[date, float]]:
        """Current actuals as {metric_key: {month: value}}."""
        values: dict[str, dict[date, float]] = {}
        for key, month, value in self.cursor().execute(
                "SELECT c.metric_key, c.month, a.value " + self._CURRENT_ACTUALS, [plan_id]).fetchall():
            values.setdefault(key, {})[month] = value
        return values

    def actual_versions(self, plan_id: int) -> dict[tuple[str, date], int]:
        """The version of every cell that was ever written ({(metric_key, month): version}; absent means 0). A
        save passes the versions it was based on, so that a value someone else saved meanwhile is not overwritten."""
        return {(key, month): version for key, month, version in self.cursor().execute(
            "SELECT metric_key, month, version FROM actual_cells WHERE plan_id = ?", [plan_id]).fetchall()}

    def actual_snapshot(self, plan_id: int) -> tuple[dict[str, dict[date, float]], dict[tuple[str, date], int]]:
        """Current values and cell versions read together (one statement, so they match): what an editor shows
        and the `based_on` its save passes."""
        values: dict[str, dict[date, float]] = {}
        versions: dict[tuple[str, date], int] = {}
        for key, month, value, version in self.cursor().execute(
                "SELECT c.metric_key, c.month, a.value, c.version FROM actual_cells c "
                "LEFT JOIN actuals a ON a.id = c.actual_id WHERE c.plan_id = ?", [plan_id]).fetchall():
            versions[(key, month)] = version
            if value is not None:
                values.setdefault(key, {})[month] = value
        return values, versions

    @staticmethod
    def _write_cells(cur, plan_id: int, values: dict[tuple[str, date], float | None], source: str,
                     import_id: int | None, based_on: dict[tuple[str, date], int] | None) -> tuple[int, int]:
        """Set each cell to its value (None clears it); a changed cell's previous actual is superseded and kept in
        history. With `based_on`, a cell whose version moved since is refused (StaleEdit) and nothing is written.
        Returns (changed, unchanged). A fixed number of statements however many cells: set-based.

        The current value of a cell is the latest write of a manual edit or of an import that is not reverted (see
        `_restore_current`), so an import records every value it carries, even one equal to the current value, and
        a clear is recorded as a 'cleared' row (never current). A manual save of the current value is no write."""
        if not values:
            return 0, 0
        cells = list(values)
        compared = cur.execute(
            "SELECT i.metric_key, i.month, i.value, c.actual_id, a.value, coalesce(c.version, 0) FROM ("
            "SELECT unnest(?::VARCHAR[]) AS metric_key, unnest(?::DATE[]) AS month, unnest(?::DOUBLE[]) AS value) i "
            "LEFT JOIN actual_cells c ON c.plan_id = ? AND c.metric_key = i.metric_key AND c.month = i.month "
            "LEFT JOIN actuals a ON a.id = c.actual_id",
            [[k for k, _ in cells], [m for _, m in cells], [values[c] for c in cells], plan_id]).fetchall()
        changed = [row for row in compared if row[2] != row[4]]
        if based_on is not None:
            stale = [Conflict(f"{key} {month:%Y-%m}", theirs, yours, version, key, month)
                     for key, month, yours, _, theirs, version in changed if version != based_on.get((key, month), 0)]
            if stale:
                raise StaleEdit(stale)
        recorded = compared if import_id is not None else changed
        if not recorded:
            return 0, len(compared)
        typed = [row for row in recorded if row[2] is not None]
        new_ids: dict[tuple[str, date], int] = {}
        if typed:
            new_ids = {(key, month): new_id for new_id, key, month in cur.execute(
                "INSERT INTO actuals (plan_id, metric_key, month, value, source, import_id) SELECT ?, "
                "unnest(?::VARCHAR[]), unnest(?::DATE[]), unnest(?::DOUBLE[]), ?, ? RETURNING id, metric_key, month",
                [plan_id, [r[0] for r in typed], [r[1] for r in typed], [r[2] for r in typed], source,
                 import_id]).fetchall()}
        cleared = [row for row in recorded if row[2] is None]
        cleared_ids: dict[tuple[str, date], int] = {}
        if cleared:
            cleared_ids = {(key, month): new_id for new_id, key, month in cur.execute(
                "INSERT INTO actuals (plan_id, metric_key, month, value, source, superseded_at) SELECT ?, "
                "unnest(?::VARCHAR[]), unnest(?::DATE[]), 0, 'cleared', current_timestamp "
                "RETURNING id, metric_key, month", [plan_id, [r[0] for r in cleared], [r[1] for r in cleared]]
            ).fetchall()}
        new_of = [new_ids.get((r[0], r[1])) for r in recorded]
        cur.execute(
            "INSERT INTO actual_cells (plan_id, metric_key, month, actual_id, version) SELECT ?, "
            "unnest(?::VARCHAR[]), unnest(?::DATE[]), unnest(?::BIGINT[]), 1 ON CONFLICT (plan_id, metric_key, month) "
            "DO UPDATE SET actual_id = excluded.actual_id, version = actual_cells.version + 1",
            [plan_id, [r[0] for r in recorded], [r[1] for r in recorded], new_of])
        replaced = [(new_ids.get((row[0], row[1])) or cleared_ids[(row[0], row[1])], row[3])
                    for row in recorded if row[3] is not None]
        if replaced:
            cur.execute("UPDATE actuals SET superseded_at = current_timestamp, superseded_by = r.new_id "
                        "FROM (SELECT unnest(?::BIGINT[]) AS new_id, unnest(?::BIGINT[]) AS old_id) r "
                        "WHERE actuals.id = r.old_id", [[n for n, _ in replaced], [o for _, o in replaced]])
        return len(changed), len(compared) - len(changed)

    def save_actuals(self, plan_id: int, actuals: list[Actual], source: str = "manual",
                     clears: list[tuple[str, date]] = (),
                     based_on: dict[tuple[str, date], int] | None = None) -> int:
        """Typed actuals, in one transaction: each changed metric-month supersedes the previous value, and each
        (metric, month) in `clears` is emptied; both stay in history. `based_on` holds the cell versions the writer
        saw (`actual_versions`): a cell changed by someone else since is refused with StaleEdit, nothing saved.
        Returns the number of cells changed."""
        values: dict[tuple[str, date], float | None] = {(a.metric_key, a.month): float(a.value) for a in actuals}
        values.update({(key, month): None for key, month in clears})

        def work(cur):
            self._require_live_plan(cur, plan_id)
            self._require_live_metrics(cur, plan_id, {key for key, _ in values})
            written, _ = self._write_cells(cur, plan_id, values, source, None, based_on)
            if written:
                self._audit(cur, plan_id, "actuals.save", source=source, rows=written)
            return written
        return self._write(work)

    @staticmethod
    def _require_live_metrics(cur, plan_id: int, keys: set[str]) -> None:
        """Refuse values for a KPI that was deleted while the writer was editing (keys never defined pass: the KGI
        and imported metrics are not KPIs)."""
        if not keys:
            return
        gone = cur.execute(
            "SELECT name FROM kpis WHERE plan_id = ? AND key IN (SELECT unnest(?::VARCHAR[])) "
            "AND deleted_at IS NOT NULL "
            "AND key NOT IN (SELECT key FROM kpis WHERE plan_id = ? AND deleted_at IS NULL) ORDER BY id DESC LIMIT 1",
            [plan_id, sorted(keys), plan_id]).fetchone()
        if gone:
            raise DeletedUnderEdit(name=gone[0])

    def actual_history(self, plan_id: int, metric_key: str, month: date | None = None) -> list[ActualEntry]:
        sql = ("SELECT a.month, a.value, a.source, a.import_id, i.file_name, a.created_at, a.superseded_at "
               "FROM actuals a LEFT JOIN imports i ON i.id = a.import_id WHERE a.plan_id = ? AND a.metric_key = ? "
               "AND a.source <> 'cleared'")
        params: list[Any] = [plan_id, metric_key]
        if month is not None:
            sql += " AND a.month = ?"
            params.append(month)
        return self._typed(ActualEntry, sql + " ORDER BY a.month, a.id", params)

    # ------------------------------------------------------------ imports
    def find_import(self, plan_id: int, sha256: str) -> EarlierImport | None:
        """The latest committed import of the same file bytes into the plan, if any."""
        rows = self._rows("SELECT id, created_at, mapping, rows_rejected FROM imports WHERE plan_id = ? AND sha256 = ? "
                          "AND status = 'committed' ORDER BY id DESC LIMIT 1", [plan_id, sha256])
        if not rows:
            return None
        try:
            mapping = json.loads(rows[0]["mapping"] or "{}")
        except ValueError:
            mapping = None
        return EarlierImport(rows[0]["id"], rows[0]["created_at"], mapping, int(rows[0]["rows_rejected"] or 0))

    def commit_import(self, plan_id: int, meta: dict[str, Any], actuals: list[Actual],
                      rejections: list[tuple[int | None, str, str]], replaces: int | None = None) -> dict[str, Any]:
        """Record an import and write its values, all in one transaction. `meta` holds file_name, sha256, encoding,
        delimiter, shape, mapping, rows_total. `replaces`: an earlier import reverted in the same transaction (the
        same file read with a corrected mapping). Returns {import_id, written, unchanged}."""
        def work(cur):
            if replaces is not None:
                self._revert(cur, replaces)
            import_id = cur.execute(
                "INSERT INTO imports (plan_id, file_name, sha256, encoding, delimiter, shape, mapping, rows_total, "
                "rows_accepted, rows_rejected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [plan_id, meta.get("file_name", ""), meta["sha256"], meta.get("encoding", ""),
                 meta.get("delimiter", ""), meta.get("shape", ""), _json(meta.get("mapping", {})),
                 int(meta.get("rows_total", 0)), int(meta.get("rows_accepted", len(actuals))),
                 len(rejections)]).fetchone()[0]
            kept = rejections[:REJECTIONS_KEPT]  # the count covers them all (rows_rejected)
            if kept:
                cur.execute("INSERT INTO import_rejections (import_id, line_no, reason, raw) SELECT ?, "
                            "unnest(?::INTEGER[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                            [import_id, [line for line, _, _ in kept], [reason for _, reason, _ in kept],
                             [raw[:RAW_KEPT] for _, _, raw in kept]])
            values = {(a.metric_key, a.month): float(a.value) for a in actuals}
            written, unchanged = self._write_cells(cur, plan_id, values, "import", import_id, None)
            self._audit(cur, plan_id, "import.commit", import_id=import_id, file=meta.get("file_name", ""),
                        written=written, unchanged=unchanged, replaces=replaces)
            return {"import_id": import_id, "written": written, "unchanged": unchanged}
        return self._write(work)

    def revert_import(self, import_id: int) -> dict[str, Any]:
        """Undo an import. Returns {plan_id, rows: values it took back, already: reverted before (nothing done),
        reverted_at}."""
        return self._write(lambda cur: self._revert(cur, import_id))

    # ------------------------------------------------------------ import area: history with one rule
    # The current value of a metric-month is the latest write (highest id) of a manual edit or of an import that
    # is not reverted; a manual clear is a write of "no value" (a row with source 'cleared', never current).
    def _revert(self, cur, import_id: int) -> dict[str, Any]:
        row = cur.execute("SELECT plan_id, status, reverted_at FROM imports WHERE id = ?", [import_id]).fetchone()
        if row is None:
            raise NotFound(import_id=import_id)
        plan_id, status, reverted_at = row
        if status == "reverted":
            return {"plan_id": plan_id, "rows": 0, "already": True, "reverted_at": reverted_at}
        live = cur.execute("SELECT count(*) FROM actual_cells c JOIN actuals a ON a.id = c.actual_id "
                           "WHERE a.import_id = ?", [import_id]).fetchone()[0]
        cur.execute("UPDATE imports SET status = 'reverted', reverted_at = current_timestamp WHERE id = ?",
                    [import_id])
        self._restore_current(cur, plan_id, import_id)
        self._audit(cur, plan_id, "import.revert", import_id=import_id, rows=live)
        return {"plan_id": plan_id, "rows": live, "already": False, "reverted_at": None}

    @staticmethod
    def _restore_current(cur, plan_id: int, import_id: int) -> None:
        """Make the latest valid write current again in every cell the import wrote (set-based)."""
        latest = cur.execute(
            "SELECT t.metric_key, t.month, w.id, w.source FROM (SELECT DISTINCT metric_key, month FROM actuals "
            "WHERE import_id = ?) t LEFT JOIN (SELECT a.metric_key, a.month, max(a.id) AS id FROM actuals a "
            "LEFT JOIN imports i ON i.id = a.import_id WHERE a.plan_id = ? AND (a.import_id IS NULL OR "
            "i.status = 'committed') GROUP BY a.metric_key, a.month) m ON m.metric_key = t.metric_key "
            "AND m.month = t.month LEFT JOIN actuals w ON w.id = m.id", [import_id, plan_id]).fetchall()
        wanted = [[r[0] for r in latest], [r[1] for r in latest],
                  [None if r[3] == "cleared" else r[2] for r in latest]]
        moved = cur.execute(
            "SELECT c.actual_id, n.id FROM (SELECT unnest(?::VARCHAR[]) AS metric_key, unnest(?::DATE[]) AS month, "
            "unnest(?::BIGINT[]) AS id) n JOIN actual_cells c ON c.plan_id = ? AND c.metric_key = n.metric_key "
            "AND c.month = n.month WHERE c.actual_id IS DISTINCT FROM n.id", [*wanted, plan_id]).fetchall()
        if not moved:
            return
        cur.execute("UPDATE actuals SET superseded_at = current_timestamp WHERE id IN (SELECT unnest(?::BIGINT[]))",
                    [[old for old, _ in moved if old is not None]])
        cur.execute("UPDATE actuals SET superseded_at = NULL, superseded_by = NULL "
                    "WHERE id IN (SELECT unnest(?::BIGINT[]))", [[new for _, new in moved if new is not None]])
        cur.execute(
            "UPDATE actual_cells SET actual_id = n.id, version = actual_cells.version + 1 FROM (SELECT "
            "unnest(?::VARCHAR[]) AS metric_key, unnest(?::DATE[]) AS month, unnest(?::BIGINT[]) AS id) n "
            "WHERE actual_cells.plan_id = ? AND actual_cells.metric_key = n.metric_key AND actual_cells.month = n.month "
            "AND actual_cells.actual_id IS DISTINCT FROM n.id", [*wanted, plan_id])

    # ------------------------------------------------------------ imports: listing
    def live_values_by_import(self, plan_id: int) -> dict[int, int]:
        """{import id: its values still current}."""
        return dict(self.cursor().execute(
            "SELECT a.import_id, count(*) FROM actual_cells c JOIN actuals a ON a.id = c.actual_id "
            "WHERE c.plan_id = ? AND a.import_id IS NOT NULL GROUP BY a.import_id", [plan_id]).fetchall())

    def list_imports(self, plan_id: int) -> list[ImportRecord]:
        """The plan's imports, newest first."""
        return self._typed(ImportRecord,
            "SELECT id, file_name, encoding, shape, rows_total, rows_accepted, rows_rejected, status, created_at, "
            "reverted_at FROM imports WHERE plan_id = ? ORDER BY id DESC", [plan_id])

    def import_rejections(self, import_id: int) -> list[Rejection]:
        return self._typed(Rejection, "SELECT line_no, reason, raw FROM import_rejections WHERE import_id = ? "
                                      "ORDER BY line_no", [import_id])

    # ------------------------------------------------------------ mapping profiles
    def save_profile(self, name: str, header_signature: str, mapping: dict, plan_id: int | None = None) -> int:
        def work(cur):
            existing = cur.execute("SELECT id FROM mapping_profiles WHERE header_signature = ? "
                                   "AND plan_id IS NOT DISTINCT FROM ?", [header_signature, plan_id]).fetchone()
            if existing:
                cur.execute("UPDATE mapping_profiles SET name = ?, mapping = ?, updated_at = current_timestamp "
                            "WHERE id = ?", [name, _json(mapping), existing[0]])
                return existing[0]
            return cur.execute("INSERT INTO mapping_profiles (plan_id, name, header_signature, mapping) "
                               "VALUES (?, ?, ?, ?) RETURNING id",
                               [plan_id, name, header_signature, _json(mapping)]).fetchone()[0]
        return self._write(work)

    def find_profile(self, header_signature: str, plan_id: int | None = None) -> MappingProfile | None:
        """The profile saved for this header signature: the plan's own first, then a global one."""
        return next(iter(self._profiles("header_signature = ? AND (plan_id = ? OR plan_id IS NULL) "
                                        "ORDER BY plan_id NULLS LAST, updated_at DESC LIMIT 1",
                                        [header_signature, plan_id])), None)

    def get_profile(self, name_or_id: str | int) -> MappingProfile | None:
        return next(iter(self._profiles("CAST(id AS VARCHAR) = ? OR name = ? ORDER BY updated_at DESC LIMIT 1",
                                        [str(name_or_id), str(name_or_id)])), None)

    def list_profiles(self, plan_id: int | None = None) -> list[MappingProfile]:
        return self._profiles("plan_id IS NOT DISTINCT FROM ? OR plan_id IS NULL ORDER BY name", [plan_id])

    def _profiles(self, condition: str, params: list[Any]) -> list[MappingProfile]:
        rows = self._rows("SELECT id, plan_id, name, header_signature, mapping, updated_at FROM mapping_profiles "
                          f"WHERE {condition}", params)
        return [MappingProfile(**(r | {"mapping": json.loads(r["mapping"])})) for r in rows]

    # ------------------------------------------------------------ check-ins and reviews
    def list_checkins(self, plan_id: int, metric_key: str | None = None) -> list[CheckIn]:
        sql = "SELECT * FROM checkins WHERE plan_id = ?"
        params: list[Any] = [plan_id]
        if metric_key:
            sql += " AND metric_key = ?"
            params.append(metric_key)
        return [CheckIn(id=r["id"], plan_id=plan_id, metric_key=r["metric_key"], month=r["month"],
                        status=Status(r["status"]), why=r["why"], next_action=r["next_action"], owner=r["owner"],
                        due=r["due"], result=r["result"], version=r["version"])
                for r in self._rows(sql + " ORDER BY month DESC, id DESC", params)]

    def save_checkin(self, original: CheckIn) -> CheckIn:
        """Insert, or update the check-in as read at `checkin.version` (a newer stored one is refused as stale)."""
        def work(cur):
            checkin = replace(original)  # changed on a copy: a retried attempt starts from the caller's copy
            self._require_live_plan(cur, checkin.plan_id)
            values = [checkin.metric_key, checkin.month, str(checkin.status), checkin.why, checkin.next_action,
                      checkin.owner, checkin.due, checkin.result]
            if checkin.id is None:
                checkin.id = cur.execute(
                    "INSERT INTO checkins (metric_key, month, status, why, next_action, owner, due, result, plan_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id", values + [checkin.plan_id]).fetchone()[0]
            else:
                self._check_row_version(cur, "checkins", checkin.id, checkin.version, checkin.next_action,
                                        "result", checkin.result, soft_deleted=False)
                cur.execute("UPDATE checkins SET metric_key = ?, month = ?, status = ?, why = ?, next_action = ?, "
                            "owner = ?, due = ?, result = ?, updated_at = current_timestamp, version = version + 1 "
                            "WHERE id = ?", values + [checkin.id])
                checkin.version += 1
            self._audit(cur, checkin.plan_id, "checkin.save", checkin_id=checkin.id, key=checkin.metric_key)
            return checkin
        return _copy_into(original, self._write(work))

    def add_review(self, plan_id: int, review_date: date, metric_key: str, decision: str, reason: str,
                   expected_version: int | None = None) -> None:
        """Record a review decision; with `expected_version`, refused when the plan changed since it was read."""
        def work(cur):
            if expected_version is None:
                self._require_live_plan(cur, plan_id)
            else:
                self._bump_version(cur, plan_id, expected_version)
            cur.execute("INSERT INTO reviews (plan_id, review_date, metric_key, decision, reason) VALUES (?, ?, ?, ?, ?)",
                        [plan_id, review_date, metric_key, decision, reason])
            self._audit(cur, plan_id, "review.add", key=metric_key, decision=decision)
        self._write(work)

    def list_reviews(self, plan_id: int) -> list[ReviewEntry]:
        """Review decisions, newest first."""
        return self._typed(ReviewEntry, "SELECT review_date, metric_key, decision, reason FROM reviews "
                                        "WHERE plan_id = ? ORDER BY review_date DESC, id DESC", [plan_id])

    # ------------------------------------------------------------ conflicts: the version each write is based on
    # Targets carry the version of the metric's target set, reviews the last review the writer saw; CSFs, KPIs and
    # check-ins their row version, actuals their cell version. A save based on an older one is refused, shown.
    def target_set_versions(self, plan_id: int) -> dict[str, int]:
        """{metric_key: current version of its monthly targets}; absent means none saved yet (version 0)."""
        return dict(self.cursor().execute("SELECT metric_key, version FROM target_sets WHERE plan_id = ?",
                                          [plan_id]).fetchall())

    def review_version(self, plan_id: int) -> int:
        """The last review decision recorded for the plan (0: none): what a review form is based on."""
        return self.cursor().execute("SELECT coalesce(max(id), 0) FROM reviews WHERE plan_id = ?",
                                     [plan_id]).fetchone()[0]

    def _check_target_set(self, cur, plan_id: int, metric_key: str, seen: int, yours: dict[date, float]) -> None:
        """Refuse targets based on an older set of the metric (or on a KPI deleted meanwhile): theirs / yours per
        month that differs."""
        self._require_live_metrics(cur, plan_id, {metric_key})
        row = cur.execute("SELECT version FROM target_sets WHERE plan_id = ? AND metric_key = ?",
                          [plan_id, metric_key]).fetchone()
        current = row[0] if row else 0
        if current == seen:
            return
        theirs = dict(cur.execute(
            "SELECT month, value FROM monthly_targets WHERE plan_id = ? AND metric_key = ? AND version = ? "
            "AND superseded_at IS NULL", [plan_id, metric_key, current]).fetchall())
        months = sorted(set(theirs) | set(yours))
        differing = [m for m in months if theirs.get(m) != yours.get(m)] or months[:1]
        raise StaleEdit([Conflict(f"{metric_key} {month:%Y-%m}", theirs.get(month), yours.get(month), current,
                                  metric_key, month) for month in differing])

    def check_reviews(self, plan_id: int, seen: int, decisions: dict[str, tuple[str, str]]) -> None:
        """Refuse review decisions ({metric key: (decision, reason)}) when someone recorded a decision for one of
        the same KPIs since the review version `seen`: theirs / yours for each. Call it inside the transaction that
        records them."""
        newer = self.cursor().execute(
            "SELECT metric_key, decision, reason, id FROM reviews WHERE plan_id = ? AND id > ? ORDER BY id",
            [plan_id, seen]).fetchall()
        latest = {key: (decision, reason, row_id) for key, decision, reason, row_id in newer}
        clashes = [Conflict(key, f"{latest[key][0]}: {latest[key][1]}", f"{decision}: {reason}", newer[-1][3],
                            metric_key=key, theirs_decision=latest[key][:2], yours_decision=(decision, reason))
                   for key, (decision, reason) in decisions.items() if key in latest]
        if clashes:
            raise StaleEdit(clashes)

    # ------------------------------------------------------------ health check (checklist ticks, score snapshots)
    def review_dates(self, plan_id: int) -> list[date]:
        """Distinct dates of the quarterly reviews of the plan's KPI set."""
        return [row[0] for row in self.cursor().execute(
            "SELECT DISTINCT review_date FROM reviews WHERE plan_id = ? ORDER BY review_date", [plan_id]).fetchall()]

    def target_change_dates(self, plan_id: int) -> dict[str, list[date]]:
        """Per metric, the dates its targets were revised after they were first set: a later version of the
        monthly targets, or a review that changed the KPI."""
        changes: dict[str, list[date]] = {}
        for key, day in self.cursor().execute(
                "SELECT metric_key, CAST(min(created_at) AS DATE) FROM monthly_targets WHERE plan_id = ? "
                "AND version > 1 GROUP BY metric_key, version UNION ALL SELECT metric_key, review_date FROM reviews "
                "WHERE plan_id = ? AND decision = 'change' ORDER BY 1, 2", [plan_id, plan_id]).fetchall():
            changes.setdefault(key, []).append(day)
        return changes

    def workshop_decision_count(self, plan_id: int) -> int:
        """Decisions recorded in the plan's workshops (the room took part in the targets)."""
        return self.cursor().execute(
            "SELECT count(*) FROM ws_notes n JOIN workshops w ON w.id = n.workshop_id WHERE w.plan_id = ? "
            "AND n.kind = 'decision' AND n.deleted_at IS NULL", [plan_id]).fetchone()[0]

    def health_ticks(self, plan_id: int) -> dict[str, tuple[bool, str, Any]]:
        """The latest hand tick of each checklist item: {item: (ticked, who, when)}."""
        rows = self.cursor().execute(
            "SELECT item, ticked, ticked_by, ticked_at FROM health_ticks WHERE id IN "
            "(SELECT max(id) FROM health_ticks WHERE plan_id = ? GROUP BY item)", [plan_id]).fetchall()
        return {item: (bool(ticked), who, when) for item, ticked, who, when in rows}

    def tick_health_item(self, plan_id: int, item: str, ticked: bool, ticked_by: str) -> None:
        def work(cur):
            cur.execute("INSERT INTO health_ticks (plan_id, item, ticked, ticked_by) VALUES (?, ?, ?, ?)",
                        [plan_id, item, ticked, ticked_by])
            self._audit(cur, plan_id, "health.tick", item=item, ticked=ticked, by=ticked_by)
        self._write(work)

    def add_health_snapshot(self, plan_id: int, month: date, score: float, counts: dict[str, int],
                            lights: dict, trigger: str) -> int:
        def work(cur):
            snapshot_id = cur.execute(
                "INSERT INTO health_snapshots (plan_id, month, score, high, medium, low, lights, trigger) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [plan_id, month, score, counts.get("high", 0), counts.get("medium", 0), counts.get("low", 0),
                 _json(lights), trigger]).fetchone()[0]
            self._audit(cur, plan_id, "health.snapshot", score=score, trigger=trigger)
            return snapshot_id
        return self._write(work)

    def health_snapshots(self, plan_id: int) -> list[HealthSnapshot]:
        """Score snapshots of the plan, oldest first."""
        rows = self._rows("SELECT id, taken_at, month, score, high, medium, low, lights, trigger "
                          "FROM health_snapshots WHERE plan_id = ? ORDER BY taken_at, id", [plan_id])
        return [HealthSnapshot(**(r | {"lights": json.loads(r["lights"])})) for r in rows]

    def audit_log(self, plan_id: int | None = None, limit: int = 200) -> list[AuditEntry]:
        sql = "SELECT logged_at, plan_id, action, detail FROM audit_log"
        params: list[Any] = []
        if plan_id is not None:
            sql += " WHERE plan_id = ?"
            params.append(plan_id)
        return self._typed(AuditEntry, sql + " ORDER BY id DESC LIMIT ?", params + [limit])

    # ------------------------------------------------------------ workshops (sessions, participants, ideas, dots)
    # Every workshop write runs under one process-wide lock (a room of people writing at once would otherwise
    # collide on DuckDB's optimistic transactions) and touches the row it depends on, so that a writer in another
    # process conflicts and retries instead of reading a stale status or dot count.
    def _ws_write(self, work):
        with _WORKSHOP_WRITES:
            return self._write(work)

    @staticmethod
    def _ws_session(row: dict) -> SessionView:
        timer = Timer(duration=row["timer_duration"], running=row["timer_running"], deadline=row["timer_deadline"],
                      remaining=row["timer_remaining"])
        return SessionView(id=row["id"], plan_id=row["plan_id"], title=row["title"], code=row["code"],
                           status=SessionStatus(row["status"]), position=row["position"],
                           agenda=agenda_from_json(json.loads(row["agenda"])), timer=timer,
                           created_at=row["created_at"], closed_at=row["closed_at"],
                           data_version=row["data_version"], stage_version=row["stage_version"])

    @staticmethod
    def _ws_live(cur, workshop_id: int) -> None:
        """Inside a write: the session exists and is open. Bumping its data version also orders writers across
        processes (they conflict on the row and retry)."""
        row = cur.execute("UPDATE workshops SET data_version = data_version + 1 WHERE id = ? RETURNING status",
                          [workshop_id]).fetchone()
        if row is None:
            raise WorkshopError("workshop.error.not_found")
        if row[0] != SessionStatus.OPEN:
            raise WorkshopError("workshop.error.closed")

    def create_workshop(self, plan_id: int, title: str, agenda: list[AgendaItem], facilitator_key: str) -> SessionView:
        def work(cur):
            if cur.execute("SELECT 1 FROM plans WHERE id = ? AND deleted_at IS NULL", [plan_id]).fetchone() is None:
                raise NotFound(plan_id=plan_id)
            code = new_code()
            while cur.execute("SELECT 1 FROM workshops WHERE code = ?", [code]).fetchone():
                code = new_code()
            first = agenda[0].minutes * 60.0
            row = cur.execute(
                "INSERT INTO workshops (plan_id, title, code, facilitator_key, agenda, timer_duration, "
                "timer_remaining) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [plan_id, title, code, facilitator_key, _json(agenda_to_json(agenda)), first, first]).fetchone()
            self._audit(cur, plan_id, "workshop.create", workshop_id=row[0], title=title)
            return row[0]
        return self.get_workshop(self._ws_write(work))

    def get_workshop(self, workshop_id: int) -> SessionView:
        return self._ws_session(self._ws_row("workshops", workshop_id, "workshop.error.not_found"))

    def _ws_row(self, table: str, row_id: int, missing_key: str) -> dict[str, Any]:
        """One session or vote row by id (`table` is one of this section's own), or the catalogue's error."""
        rows = self._rows(f"SELECT * FROM {table} WHERE id = ?", [row_id])
        if not rows:
            raise WorkshopError(missing_key)
        return rows[0]

    def workshop_versions(self, workshop_id: int) -> tuple[int, int] | None:
        """(data version, stage version) of a session, None if there is no such session: what the screens poll."""
        row = self.cursor().execute("SELECT data_version, stage_version FROM workshops WHERE id = ?",
                                    [workshop_id]).fetchone()
        return None if row is None else (row[0], row[1])

    @staticmethod
    def _ws_new_stage(cur, workshop_id: int) -> None:
        cur.execute("UPDATE workshops SET stage_version = stage_version + 1 WHERE id = ?", [workshop_id])

    def workshop_facilitator_key(self, workshop_id: int) -> str:
        row = self.cursor().execute("SELECT facilitator_key FROM workshops WHERE id = ?", [workshop_id]).fetchone()
        if row is None:
            raise WorkshopError("workshop.error.not_found")
        return row[0]

    def list_workshops(self, plan_id: int) -> list[SessionView]:
        rows = self._rows(
            "SELECT w.*, (SELECT count(*) FROM ws_participants p WHERE p.workshop_id = w.id) AS participants, "
            "(SELECT count(*) FROM ws_ideas i WHERE i.workshop_id = w.id AND i.deleted_at IS NULL "
            " AND i.merged_into IS NULL) AS ideas "
            "FROM workshops w WHERE w.plan_id = ? ORDER BY w.id DESC", [plan_id])
        sessions = []
        for row in rows:
            session = self._ws_session(row)
            session.extra = {"participants": row["participants"], "ideas": row["ideas"]}
            sessions.append(session)
        return sessions

    def set_workshop_state(self, workshop_id: int, *, position: int | None = None, timer: Timer | None = None,
                           status: SessionStatus | None = None) -> SessionView:
        """Move the agenda, set the timer, or close/reopen the session (closing and reopening skip the open check)."""
        def work(cur):
            if status is None:
                self._ws_live(cur, workshop_id)
            self._ws_new_stage(cur, workshop_id)
            if position is not None:
                cur.execute("UPDATE workshops SET position = ? WHERE id = ?", [position, workshop_id])
            if timer is not None:
                cur.execute("UPDATE workshops SET timer_duration = ?, timer_running = ?, timer_deadline = ?, "
                            "timer_remaining = ? WHERE id = ?",
                            [timer.duration, timer.running, timer.deadline, timer.remaining, workshop_id])
            if status is not None:
                closed = "current_timestamp" if status == SessionStatus.CLOSED else "NULL"
                row = cur.execute(f"UPDATE workshops SET status = ?, closed_at = {closed}, data_version = "
                                  "data_version + 1 WHERE id = ? RETURNING plan_id",
                                  [str(status), workshop_id]).fetchone()
                if row is None:
                    raise WorkshopError("workshop.error.not_found")
                self._audit(cur, row[0], f"workshop.{status}", workshop_id=workshop_id)
        self._ws_write(work)
        return self.get_workshop(workshop_id)

    # participants
    def join_workshop(self, code: str, name: str, token: str) -> tuple[SessionView, Participant]:
        def work(cur):
            row = cur.execute("SELECT id, status FROM workshops WHERE code = ?", [code]).fetchone()
            if row is None:
                raise WorkshopError("workshop.error.wrong_code")
            self._ws_live(cur, row[0])
            pid = cur.execute("INSERT INTO ws_participants (workshop_id, token, name, last_seen_at) "
                              "VALUES (?, ?, ?, current_timestamp) RETURNING id", [row[0], token, name]).fetchone()[0]
            return row[0], pid
        workshop_id, participant_id = self._ws_write(work)
        return self.get_workshop(workshop_id), Participant(participant_id, workshop_id, name, token)

    def participant_by_token(self, token: str) -> Participant | None:
        rows = self._rows("SELECT id, workshop_id, name, token FROM ws_participants WHERE token = ?", [token])
        return Participant(**rows[0]) if rows else None

    def list_participants(self, workshop_id: int) -> list[Participant]:
        rows = self._rows("SELECT id, workshop_id, name FROM ws_participants WHERE workshop_id = ? ORDER BY id",
                          [workshop_id])
        return [Participant(**r) for r in rows]

    # ideas
    def add_idea(self, workshop_id: int, step: int, text: str, detail: str, participant_id: int | None) -> Idea:
        def work(cur):
            self._ws_live(cur, workshop_id)
            return cur.execute("INSERT INTO ws_ideas (workshop_id, step, participant_id, text, detail) "
                               "VALUES (?, ?, ?, ?, ?) RETURNING id",
                               [workshop_id, step, participant_id, text, detail]).fetchone()[0]
        idea_id = self._ws_write(work)
        return Idea(idea_id, workshop_id, step, text, detail, participant_id)

    def list_ideas(self, workshop_id: int, step: int | None = None, participant_id: int | None = None) -> list[Idea]:
        """Live ideas (not merged away, not deleted), oldest first, with their author's display name."""
        sql = ("SELECT i.id, i.workshop_id, i.step, i.text, i.detail, i.participant_id, coalesce(p.name, '') AS "
               "author, i.group_label, i.merged_into, i.promoted_kind, i.promoted_ref, i.promoted_dots "
               "FROM ws_ideas i LEFT JOIN ws_participants p ON p.id = i.participant_id "
               "WHERE i.workshop_id = ? AND i.deleted_at IS NULL AND i.merged_into IS NULL")
        params: list[Any] = [workshop_id]
        if step is not None:
            sql += " AND i.step = ?"
            params.append(step)
        if participant_id is not None:
            sql += " AND i.participant_id = ?"
            params.append(participant_id)
        return [Idea(**r) for r in self._rows(sql + " ORDER BY i.id", params)]

    def edit_idea(self, workshop_id: int, idea_id: int, text: str, detail: str, group_label: str) -> None:
        def work(cur):
            self._ws_live(cur, workshop_id)
            row = cur.execute("UPDATE ws_ideas SET text = ?, detail = ?, group_label = ?, updated_at = "
                              "current_timestamp WHERE id = ? AND workshop_id = ? AND deleted_at IS NULL RETURNING id",
                              [text, detail, group_label, idea_id, workshop_id]).fetchone()
            if row is None:
                raise WorkshopError("workshop.error.idea_not_found")
        self._ws_write(work)

    def merge_ideas(self, workshop_id: int, keep_id: int, merged_ids: list[int]) -> None:
        """Fold duplicates into `keep_id`: they disappear from lists and their dots count for the one kept."""
        def work(cur):
            self._ws_live(cur, workshop_id)
            live = {r[0]: r[1] for r in cur.execute(
                "SELECT id, step FROM ws_ideas WHERE workshop_id = ? AND deleted_at IS NULL AND merged_into IS NULL",
                [workshop_id]).fetchall()}
            if keep_id not in live or any(i not in live or live[i] != live[keep_id] for i in merged_ids):
                raise WorkshopError("workshop.error.idea_not_found")
            for idea_id in merged_ids:
                cur.execute("UPDATE ws_ideas SET merged_into = ?, updated_at = current_timestamp WHERE id = ?",
                            [keep_id, idea_id])
                cur.execute("UPDATE ws_dots SET idea_id = ? WHERE idea_id = ?", [keep_id, idea_id])
        self._ws_write(work)

    def delete_idea(self, workshop_id: int, idea_id: int) -> None:
        self._ws_soft_delete("ws_ideas", workshop_id, idea_id)

    def _ws_soft_delete(self, table: str, workshop_id: int, row_id: int) -> None:
        """An idea or note of a live session marked deleted (`table` is one of this section's own)."""
        def work(cur):
            self._ws_live(cur, workshop_id)
            cur.execute(f"UPDATE {table} SET deleted_at = current_timestamp WHERE id = ? AND workshop_id = ?",
                        [row_id, workshop_id])
        self._ws_write(work)

    # dot votes
    @staticmethod
    def _ws_vote(row: dict) -> Vote:
        return Vote(id=row["id"], workshop_id=row["workshop_id"], step=row["step"], dots=row["dots"],
                    stacking=row["stacking"], status=VoteStatus(row["status"]))

    def open_vote(self, workshop_id: int, step: int, dots: int, stacking: bool) -> Vote:
        def work(cur):
            self._ws_live(cur, workshop_id)
            if cur.execute("SELECT 1 FROM ws_votes WHERE workshop_id = ? AND status = 'open'",
                           [workshop_id]).fetchone():
                raise WorkshopError("workshop.error.vote_already_open")
            if not cur.execute("SELECT count(*) FROM ws_ideas WHERE workshop_id = ? AND step = ? AND deleted_at IS "
                               "NULL AND merged_into IS NULL", [workshop_id, step]).fetchone()[0]:
                raise WorkshopError("workshop.error.nothing_to_vote")
            self._ws_new_stage(cur, workshop_id)
            return cur.execute("INSERT INTO ws_votes (workshop_id, step, dots, stacking) VALUES (?, ?, ?, ?) "
                               "RETURNING id", [workshop_id, step, dots, stacking]).fetchone()[0]
        return self.get_vote(self._ws_write(work))

    def get_vote(self, vote_id: int) -> Vote:
        return self._ws_vote(self._ws_row("ws_votes", vote_id, "workshop.error.no_vote"))

    def latest_vote(self, workshop_id: int, step: int) -> Vote | None:
        rows = self._rows("SELECT * FROM ws_votes WHERE workshop_id = ? AND step = ? ORDER BY id DESC LIMIT 1",
                          [workshop_id, step])
        return self._ws_vote(rows[0]) if rows else None

    def set_vote_status(self, vote_id: int, status: VoteStatus, allowed_from: tuple[VoteStatus, ...]) -> Vote:
        def work(cur):
            vote = cur.execute("SELECT workshop_id, status FROM ws_votes WHERE id = ?", [vote_id]).fetchone()
            if vote is None:
                raise WorkshopError("workshop.error.no_vote")
            self._ws_live(cur, vote[0])
            if vote[1] not in allowed_from:
                raise WorkshopError(f"workshop.error.vote_{vote[1]}")
            self._ws_new_stage(cur, vote[0])
            column = "closed_at" if status == VoteStatus.CLOSED else "revealed_at"
            cur.execute(f"UPDATE ws_votes SET status = ?, {column} = current_timestamp WHERE id = ?",
                        [str(status), vote_id])
        self._ws_write(work)
        return self.get_vote(vote_id)

    def place_dot(self, vote_id: int, participant_id: int, idea_id: int) -> int:
        """One more dot on an idea, within the vote's limits; returns the dots this participant has left."""
        def work(cur):
            vote = cur.execute("UPDATE ws_votes SET dots = dots WHERE id = ? RETURNING workshop_id, step, dots, "
                               "stacking, status", [vote_id]).fetchone()
            if vote is None:
                raise WorkshopError("workshop.error.no_vote")
            workshop_id, step, limit, stacking, status = vote
            self._ws_live(cur, workshop_id)
            if status != VoteStatus.OPEN:
                raise WorkshopError("workshop.error.vote_not_open")
            if cur.execute("UPDATE ws_participants SET last_seen_at = current_timestamp WHERE id = ? AND "
                           "workshop_id = ? RETURNING id", [participant_id, workshop_id]).fetchone() is None:
                raise WorkshopError("workshop.error.not_participant")
            if cur.execute("SELECT 1 FROM ws_ideas WHERE id = ? AND workshop_id = ? AND step = ? AND deleted_at IS "
                           "NULL AND merged_into IS NULL", [idea_id, workshop_id, step]).fetchone() is None:
                raise WorkshopError("workshop.error.idea_not_found")
            used, on_idea = cur.execute(
                "SELECT count(*), count(*) FILTER (WHERE idea_id = ?) FROM ws_dots WHERE vote_id = ? AND "
                "participant_id = ?", [idea_id, vote_id, participant_id]).fetchone()
            check_dot(used, on_idea, limit, stacking)
            cur.execute("INSERT INTO ws_dots (vote_id, idea_id, participant_id) VALUES (?, ?, ?)",
                        [vote_id, idea_id, participant_id])
            return limit - used - 1
        return self._ws_write(work)

    def remove_dot(self, vote_id: int, participant_id: int, idea_id: int) -> None:
        def work(cur):
            vote = cur.execute("UPDATE ws_votes SET dots = dots WHERE id = ? RETURNING workshop_id, status",
                               [vote_id]).fetchone()
            if vote is None:
                raise WorkshopError("workshop.error.no_vote")
            self._ws_live(cur, vote[0])
            if vote[1] != VoteStatus.OPEN:
                raise WorkshopError("workshop.error.vote_not_open")
            cur.execute("DELETE FROM ws_dots WHERE id = (SELECT min(id) FROM ws_dots WHERE vote_id = ? AND "
                        "participant_id = ? AND idea_id = ?)", [vote_id, participant_id, idea_id])
        self._ws_write(work)

    def my_dots(self, vote_id: int, participant_id: int) -> dict[int, int]:
        rows = self.cursor().execute("SELECT idea_id, count(*) FROM ws_dots WHERE vote_id = ? AND participant_id = ? "
                                     "GROUP BY idea_id", [vote_id, participant_id]).fetchall()
        return {idea_id: n for idea_id, n in rows}

    def vote_progress(self, vote_id: int) -> tuple[int, int]:
        """(dots placed, people who placed at least one): what may be shown before the reveal."""
        return self.cursor().execute("SELECT count(*), count(DISTINCT participant_id) FROM ws_dots WHERE vote_id = ?",
                                     [vote_id]).fetchone()

    def vote_totals(self, vote_id: int) -> list[tuple[int, str, int, int]]:
        """(idea id, text, dots, voters) for every live idea of the vote's step, zero-dot ideas included."""
        return self.cursor().execute(
            "SELECT i.id, i.text, count(d.id), count(DISTINCT d.participant_id) FROM ws_votes v "
            "JOIN ws_ideas i ON i.workshop_id = v.workshop_id AND i.step = v.step AND i.deleted_at IS NULL "
            "AND i.merged_into IS NULL LEFT JOIN ws_dots d ON d.vote_id = v.id AND d.idea_id = i.id "
            "WHERE v.id = ? GROUP BY i.id, i.text ORDER BY i.id", [vote_id]).fetchall()

    def promote_idea(self, workshop_id: int, idea_id: int, make_item, expected_version: int | None):
        """Turn an idea into a CSF or a KPI draft of the session's plan, and link the idea to it, in one transaction.

        `make_item(cur_state)` builds the CSF/KPI from (plan id, idea, dots, primaries already promoted, KPI keys).
        """
        def work(cur):
            self._ws_live(cur, workshop_id)
            plan_id = cur.execute("SELECT plan_id FROM workshops WHERE id = ?", [workshop_id]).fetchone()[0]
            row = cur.execute("SELECT text, detail, promoted_kind FROM ws_ideas WHERE id = ? AND workshop_id = ? AND "
                              "deleted_at IS NULL AND merged_into IS NULL", [idea_id, workshop_id]).fetchone()
            if row is None:
                raise WorkshopError("workshop.error.idea_not_found")
            if row[2]:
                raise WorkshopError("workshop.error.already_promoted")
            dots = cur.execute("SELECT count(*) FROM ws_dots d JOIN ws_votes v ON v.id = d.vote_id "
                               "WHERE d.idea_id = ? AND v.status = 'revealed'", [idea_id]).fetchone()[0]
            primaries = cur.execute(
                "SELECT count(*) FROM ws_ideas i JOIN csfs c ON c.id = i.promoted_ref WHERE i.workshop_id = ? "
                "AND i.promoted_kind = 'csf' AND c.role = 'primary'", [workshop_id]).fetchone()[0]
            keys = {r[0] for r in cur.execute("SELECT key FROM kpis WHERE plan_id = ?", [plan_id]).fetchall()}
            item = make_item(plan_id, Idea(idea_id, workshop_id, 0, row[0], row[1]), dots, primaries, keys)
            kind = "csf" if isinstance(item, CSF) else "kpi"  # saved below inside this same transaction
            saved = self.save_csf(item, expected_version) if kind == "csf" else self.save_kpi(item, expected_version)
            linked = cur.execute("UPDATE ws_ideas SET promoted_kind = ?, promoted_ref = ?, promoted_dots = ? "
                                 "WHERE id = ? AND promoted_kind = '' RETURNING id",
                                 [kind, saved.id, dots, idea_id]).fetchone()
            if linked is None:  # another screen or process promoted it first: this CSF/KPI is rolled back
                raise WorkshopError("workshop.error.already_promoted")
            self._audit(cur, plan_id, "workshop.promote", workshop_id=workshop_id, idea_id=idea_id, kind=kind,
                        ref=saved.id, dots=dots)
            return saved
        return self._ws_write(work)

    # decisions and parking lot
    def add_note(self, workshop_id: int, kind: NoteKind, text: str, owner: str, due: date | None) -> Note:
        def work(cur):
            self._ws_live(cur, workshop_id)
            return cur.execute("INSERT INTO ws_notes (workshop_id, kind, text, owner, due) VALUES (?, ?, ?, ?, ?) "
                               "RETURNING id", [workshop_id, str(kind), text, owner, due]).fetchone()[0]
        return Note(self._ws_write(work), workshop_id, kind, text, owner, due)

    def list_notes(self, workshop_id: int, kind: NoteKind | None = None) -> list[Note]:
        sql = "SELECT id, workshop_id, kind, text, owner, due FROM ws_notes WHERE workshop_id = ? AND deleted_at IS NULL"
        params: list[Any] = [workshop_id]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(str(kind))
        return [Note(**(r | {"kind": NoteKind(r["kind"])})) for r in self._rows(sql + " ORDER BY id", params)]

    def delete_note(self, workshop_id: int, note_id: int) -> None:
        self._ws_soft_delete("ws_notes", workshop_id, note_id)

    # ------------------------------------------------------------ report: the plan file and the workbook
    def target_versions(self, plan_id: int) -> list[TargetRow]:
        """Every version of every metric's monthly targets, current and superseded, ordered by metric, version and
        month: one query for the whole plan."""
        return self._typed(TargetRow, "SELECT metric_key, version, reason, month, value FROM monthly_targets "
                                      "WHERE plan_id = ? ORDER BY metric_key, version, month", [plan_id])

    # ------------------------------------------------------------ database copy (`db copy`): dump / load all tables
    def app_tables(self) -> list[str]:
        """The tables of the application database in name order, without the migration record (each database
        keeps its own)."""
        return [row[0] for row in self.cursor().execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY table_name").fetchall()]

    def _table_columns(self, table: str) -> list[tuple[str, str | None]]:
        """(column, sequence feeding it or None) in column order, read from the catalogue."""
        rows = self.cursor().execute(
            "SELECT column_name, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position", [table]).fetchall()
        return [(name, _sequence_of(default)) for name, default in rows]

    def dump_tables(self, batch: int = COPY_BATCH) -> Iterator[TableDump]:
        """Every table with its columns and its rows (in batches, in a stable order), as stored: ids, versions,
        soft-deleted and superseded rows included. Read inside one transaction, so the dump is one moment."""
        with self.transaction() as cur:
            for table in self.app_tables():
                columns = [name for name, _ in self._table_columns(table)]
                yield TableDump(table, columns, self._table_batches(cur, table, columns, batch))

    @staticmethod
    def _table_batches(cur, table: str, columns: list[str], batch: int) -> Iterator[list[tuple]]:
        order = ", ".join(str(position) for position in range(1, len(columns) + 1))
        result = cur.execute(f"SELECT {', '.join(map(_quoted, columns))} FROM {_quoted(table)} ORDER BY {order}")
        while rows := result.fetchmany(batch):
            yield [tuple(row) for row in rows]

    def load_tables(self, dumps: Iterator[TableDump], source: str) -> dict[str, int]:
        """Write every dumped table into this database, which must be freshly initialised (no rows) and at the
        same tables; advance each sequence past the ids written. One transaction: all of it lands or none.
        Returns the rows written per table."""
        written: dict[str, int] = {}
        with self.transaction() as cur:
            self._require_empty(cur, source)
            expected = set(self.app_tables())
            for dump in dumps:
                if dump.table not in expected:
                    raise CopyTargetMismatch(source=source, target=self.location, table=dump.table)
                written[dump.table] = self._load_table(cur, dump, source)
        return written

    def _require_empty(self, cur, source: str) -> None:
        for table in self.app_tables():
            if cur.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0]:
                raise CopyTargetNotEmpty(target=self.location, table=table, source=source)

    def _load_table(self, cur, dump: TableDump, source: str) -> int:
        columns = dict(self._table_columns(dump.table))
        if set(dump.columns) != set(columns):
            raise CopyTargetMismatch(source=source, target=self.location, table=dump.table)
        insert = f"INSERT INTO {_quoted(dump.table)} ({', '.join(map(_quoted, dump.columns))})"
        count = 0
        for rows in dump.batches:
            self.dialect.insert_rows(cur, insert, rows)
            count += len(rows)
        for column, sequence in columns.items():
            if sequence and count:
                highest = cur.execute(f"SELECT max({_quoted(column)}) FROM {_quoted(dump.table)}").fetchone()[0]
                if highest is not None:  # the next id drawn is past every copied one
                    cur.execute(self.dialect.advance_sequence, [sequence, int(highest)])
        return count

    # ------------------------------------------------------------ speed: the plan's data version
    def plan_data_version(self, plan_id: int) -> tuple[int, int, int]:
        """What a cache of the plan's read models is keyed on, in one cheap query: the plan's version, its audit
        lines and its workshop decisions (added or deleted). Every write that changes what a page shows of the plan
        (KGI, CSFs, KPIs, targets, actuals, imports and reverts, check-ins, reviews, health ticks) leaves an audit
        line in its own transaction, and the log is append-only, so the count moves whichever process wrote, in
        whatever order concurrent writers commit. A missing plan gives (-1, 0, 0)."""
        row = self.cursor().execute(
            "SELECT (SELECT version FROM plans WHERE id = ?), (SELECT count(*) FROM audit_log WHERE plan_id = ?), "
            "(SELECT count(*) + count(n.deleted_at) FROM ws_notes n JOIN workshops w ON w.id = n.workshop_id "
            "WHERE w.plan_id = ? AND n.kind = 'decision')", [plan_id, plan_id, plan_id]).fetchone()
        return (-1 if row[0] is None else int(row[0]), int(row[1]), int(row[2]))


# ---------------------------------------------------------------- database copy (`db copy`): errors and helpers
class CopyTargetNotEmpty(StoreError):
    key = "dbcopy.not_empty"


class CopyTargetMismatch(StoreError):
    """The target's tables differ from the source's although both report the same schema version."""

    key = "dbcopy.mismatch"


class CopySchemaDiffers(StoreError):
    key = "dbcopy.schema_differs"


@dataclass
class TableDump:
    """One table of a database being copied: its columns and its rows, read lazily in batches."""

    table: str
    columns: list[str]
    batches: Iterator[list[tuple]]


_NEXTVAL = re.compile(r"nextval\('([^']+)'")


def _sequence_of(column_default: str | None) -> str | None:
    """The sequence named in a column default such as nextval('seq_plan') (PostgreSQL adds '::regclass')."""
    match = _NEXTVAL.search(column_default or "")
    return match.group(1) if match else None


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _holding_the_file(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def holding(self: Store, *args: Any, **kwargs: Any) -> T:
        with self._holding():
            return method(self, *args, **kwargs)
    return holding


# Every public operation holds the file while it runs (and only then, for a store that releases it when idle).
for _name, _member in list(vars(Store).items()):
    if not _name.startswith("_") and inspect.isfunction(_member) and _name not in {
            "cursor", "close", "release", "transaction", "in_transaction"}:
        setattr(Store, _name, _holding_the_file(_member))


def may_create(path: Path | str) -> bool:
    """Only the default file is created by simply starting: any other path, and any server database, must exist
    (`db init` creates one)."""
    return not is_server_url(path) and Path(path).resolve() == DEFAULT_DB.resolve()


def open_store(path: Path | str | None = None, create: bool = True, release_when_idle: bool = False) -> Store:
    """Open (creating when allowed, checking and migrating) the database at `path` (a file or a `postgresql://`
    URL), the env override, or the default file. The app and the CLI pass `create=may_create(path)`."""
    return Store(path or default_db_path(), create=create, release_when_idle=release_when_idle)
