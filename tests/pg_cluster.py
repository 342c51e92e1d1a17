"""A throwaway PostgreSQL cluster for the tests and the benchmarks.

`initdb` into a temporary folder (as an unprivileged user when run as root: PostgreSQL refuses to run as root),
started on 127.0.0.1 at a free port with trust authentication for its one role and no Unix socket, stopped and
deleted at the end. The binaries come from Debian's `postgresql` package (/usr/lib/postgresql/N/bin, not on PATH),
or from the folder named by KPI_WORKBENCH_PG_BIN.

    with throwaway_cluster() as cluster:
        url = cluster.create_database("bench")   # postgresql://workbench@127.0.0.1:PORT/bench
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PG_BIN_ENV = "KPI_WORKBENCH_PG_BIN"
ROLE = "workbench"
UNPRIVILEGED_USER = "nobody"  # the account that runs initdb and the server when we are root
START_ATTEMPTS = 3  # a free port can be taken by someone else between choosing it and the server binding it
# Settings for a cluster that lives for one test run: no durability needed, enough connections for the benchmarks.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
COMMON_SETTINGS = ("listen_addresses=127.0.0.1", "unix_socket_directories=", "max_connections=200",
                   "shared_buffers=64MB")


class ClusterUnavailable(RuntimeError):
    """PostgreSQL's binaries are not installed (or the cluster could not be started)."""


def pg_bin() -> Path | None:
    """The folder holding initdb, pg_ctl and createdb, the newest installed version first; None when missing."""
    configured = os.environ.get(PG_BIN_ENV)
    candidates = [configured] if configured else []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))  # Debian links a few binaries only
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_of, reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def _version_of(folder: str) -> int:
    name = Path(folder).parent.name
    return int(name) if name.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    folder: Path
    port: int
    bin: Path
    as_user: str | None  # the OS account running the server (None: this process's own)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new, empty database (or a copy of `template`); returns its URL."""
        command = [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE]
        if template:
            command += ["-T", template]
        _run([*command, name])
        return self.url(name)

    def drop_database(self, name: str) -> None:
        _run([str(self.bin / "dropdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "--force", name])

    def stop(self) -> None:
        try:
            _run(self._as_owner([str(self.bin / "pg_ctl"), "stop", "-D", str(self.folder / "data"), "-m", "fast",
                                 "-w", "-t", "30"]))
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _as_owner(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", self.as_user, "--", *command] if self.as_user else command


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        program = Path(command[4] if command[0] == "runuser" else command[0]).name
        raise ClusterUnavailable(f"{program} failed: {(done.stderr or done.stdout).strip()[-1500:]}")
    return done.stdout


def start_cluster(durable: bool = False) -> Cluster:
    """initdb + start on a free port; `durable` keeps PostgreSQL's default fsync settings (for benchmarks)."""
    binaries = pg_bin()
    if binaries is None:
        raise ClusterUnavailable("PostgreSQL is not installed: install Debian's postgresql package "
                                 "(make test does it as root)")
    as_user = UNPRIVILEGED_USER if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="kpi-workbench-pg-"))
    if as_user:
        account = pwd.getpwnam(as_user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    cluster = Cluster(folder, 0, binaries, as_user)
    try:
        _run(cluster._as_owner([str(binaries / "initdb"), "-D", str(folder / "data"), "-U", ROLE, "--auth=trust",
                                "-E", "UTF8", "--locale=C", "--no-sync"]))
        settings = COMMON_SETTINGS + (() if durable else FAST_SETTINGS)
        for attempt in range(START_ATTEMPTS):
            cluster.port = _free_port()
            options = " ".join(f"-c {setting}" for setting in settings) + f" -p {cluster.port}"
            try:
                _run(cluster._as_owner([str(binaries / "pg_ctl"), "start", "-D", str(folder / "data"), "-w",
                                        "-t", "60", "-l", str(folder / "server.log"), "-o", options]))
                return cluster
            except ClusterUnavailable:
                if attempt == START_ATTEMPTS - 1:
                    raise
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


@contextmanager
def throwaway_cluster(durable: bool = False) -> Iterator[Cluster]:
    cluster = start_cluster(durable)
    try:
        yield cluster
    finally:
        cluster.stop()
