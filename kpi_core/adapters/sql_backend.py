"""The two engines the store runs on: the embedded DuckDB file (default) and a PostgreSQL server.

The store writes one SQL text for both: `?` placeholders and the portable types (INTEGER, BIGINT, DOUBLE, VARCHAR,
DATE, TIMESTAMP, BOOLEAN). A dialect says how that text reaches its engine, which of the engine's errors mean "another
session wrote the same rows" (the store retries those) and the few statements that have no common form (listing
tables, reading a table in full, the migration lock). Only the store imports this module.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

SERVER_SCHEMES = ("postgresql://", "postgres://")
POOL_SIZE = 10  # connections per process; a session holds one only while an operation runs
MIGRATION_LOCK_KEY = 8_151_415  # pg_advisory_lock key: one process at a time upgrades the schema


def is_server_url(target: object) -> bool:
    """A `postgresql://` URL selects the server; anything else is a DuckDB file path."""
    return isinstance(target, str) and target.startswith(SERVER_SCHEMES)


def shown_url(url: str) -> str:
    """The URL as messages show it: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class DuckDBDialect:
    name = "duckdb"
    errors: tuple[type[Exception], ...] = (duckdb.Error,)
    conflicts: tuple[type[Exception], ...] = (duckdb.TransactionException,)
    begin = "BEGIN TRANSACTION"
    table_exists = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?"
    table_names = ("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                   "ORDER BY table_name")

    @staticmethod
    def read_in_full(quoted_table: str) -> str:
        """Every column of every row (DuckDB verifies each block's checksum as it reads it); first value: rows."""
        return f"SELECT count(*), max(hash(COLUMNS(*))) FROM {quoted_table}"

    @staticmethod
    def frame(cursor: Any) -> pd.DataFrame:
        return cursor.df()

    # `db copy`: DuckDB cannot set a sequence, so the copy draws values until the next one is past the copied ids.
    advance_sequence = "SELECT max(nextval(?)) FROM range(?)"

    @staticmethod
    def insert_rows(cursor: Any, insert: str, rows: list[tuple]) -> None:
        """`INSERT INTO t (columns)` of a batch of rows, handed over as one Arrow table (binding row by row is about
        100 times slower in DuckDB)."""
        batch = pa.table({f"c{i}": pa.array(values) for i, values in enumerate(zip(*rows))})
        cursor.register("copy_batch", batch)
        try:
            cursor.execute(f"{insert} SELECT * FROM copy_batch")
        finally:
            cursor.unregister("copy_batch")


class PostgresDialect:
    name = "postgresql"
    errors: tuple[type[Exception], ...] = (psycopg.Error,)
    # REPEATABLE READ reports a write to a row that a concurrent transaction changed as a serialization failure;
    # two first writes of one key meet as a unique violation. Both mean: run the whole change again.
    conflicts: tuple[type[Exception], ...] = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected,
                                              pg_errors.UniqueViolation)
    # Snapshot isolation, as DuckDB gives: a change that read a version and writes after someone else committed
    # a newer one fails and is retried, where it then sees the newer version and is refused as stale.
    begin = "BEGIN ISOLATION LEVEL REPEATABLE READ"
    table_exists = ("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
                    "AND table_name = ?")
    table_names = ("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                   "AND table_type = 'BASE TABLE' ORDER BY table_name")
    lock_migrations = f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"
    unlock_migrations = f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"

    @staticmethod
    def read_in_full(quoted_table: str) -> str:
        return f"SELECT count(*) FROM {quoted_table}"

    @staticmethod
    def is_lost(exc: Exception) -> bool:
        """The server is gone or unreachable (not a conflict, not a refused statement): no SQLSTATE at all (the
        connection failed or broke), a connection exception (08...) or the server shutting down (57P0x)."""
        if not isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) or isinstance(exc, PoolTimeout):
            return False
        state = getattr(exc, "sqlstate", None)
        return state is None or state.startswith(("08", "57P"))

    @staticmethod
    def frame(cursor: PgCursor) -> pd.DataFrame:
        names = [column[0] for column in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=names)

    # `db copy`
    advance_sequence = "SELECT setval(?, ?)"

    @staticmethod
    def insert_rows(cursor: PgCursor, insert: str, rows: list[tuple]) -> None:
        cursor.executemany(f"{insert} VALUES ({', '.join(['?'] * len(rows[0]))})", rows)


DUCKDB = DuckDBDialect()
POSTGRES = PostgresDialect()

_LITERAL_OR_MARK = re.compile(r"'(?:[^']|'')*'|\?|%|\bDOUBLE\b(?!\s+PRECISION)", re.IGNORECASE)


@lru_cache(maxsize=1024)
def to_postgres(sql: str) -> str:
    """The store's SQL as psycopg takes it: `?` -> `%s`, every `%` doubled (psycopg reads them even inside
    quotes), DOUBLE -> DOUBLE PRECISION; a `?` or DOUBLE inside a string literal stays as it is."""
    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("'"):
            return token.replace("%", "%%")
        return {"?": "%s", "%": "%%"}.get(token, "DOUBLE PRECISION")
    return _LITERAL_OR_MARK.sub(swap, sql)


class PgCursor:
    """A psycopg cursor that takes the store's SQL (see `to_postgres`); `execute` returns the cursor, as DuckDB's
    does, so that `cur.execute(...).fetchone()` reads the same on both."""

    def __init__(self, cursor: psycopg.Cursor):
        self._cursor = cursor

    def execute(self, sql: str, params: list | tuple = ()) -> PgCursor:
        self._cursor.execute(to_postgres(sql), list(params))
        return self

    def executemany(self, sql: str, rows: list) -> PgCursor:
        self._cursor.executemany(to_postgres(sql), rows)
        return self

    def fetchone(self) -> tuple | None:
        return self._cursor.fetchone()

    def fetchall(self) -> list[tuple]:
        return self._cursor.fetchall()

    def fetchmany(self, size: int) -> list[tuple]:
        return self._cursor.fetchmany(size)

    @property
    def description(self) -> Any:
        return self._cursor.description


class PostgresServer:
    """The connection pool of one process (psycopg_pool). A thread holds one connection for the length of a store
    operation (nested operations share it) and gives it back after, so idle sessions hold none."""

    def __init__(self, url: str, wait: float):
        self.url = url
        self.pool = ConnectionPool(url, min_size=1, max_size=POOL_SIZE, timeout=wait, open=False,
                                   kwargs={"autocommit": True}, check=ConnectionPool.check_connection,
                                   name="kpi-workbench")
        self.pool.open(wait=True, timeout=wait)

    @contextmanager
    def holding(self, local: threading.local) -> Iterator[None]:
        depth = getattr(local, "pg_depth", 0)
        if depth == 0 and getattr(local, "pg_conn", None) is None:
            local.pg_conn = self.pool.getconn()
            local.pg_borrowed = True
        local.pg_depth = depth + 1
        try:
            yield
        finally:
            local.pg_depth = depth
            if depth == 0 and getattr(local, "pg_borrowed", False):
                conn, local.pg_conn, local.pg_borrowed = local.pg_conn, None, False
                self.pool.putconn(conn)

    def cursor(self, local: threading.local) -> PgCursor:
        """This thread's connection's cursor; outside an operation the thread keeps a connection of its own."""
        if getattr(local, "pg_conn", None) is None:
            local.pg_conn = self.pool.getconn()
            local.pg_borrowed = False
        cached = getattr(local, "pg_cursor", None)
        if cached is None or cached[0] is not local.pg_conn:
            cached = local.pg_cursor = (local.pg_conn, PgCursor(local.pg_conn.cursor()))
        return cached[1]

    def close(self) -> None:
        self.pool.close()
