"""A real, throw-away PostgreSQL server for tests and benchmarks (Debian `postgresql` package).

`PostgresServer` runs `initdb` and `postgres` in a temp dir on a free loopback port, with password (SCRAM)
authentication for an application role, and stops and deletes everything on `stop()`. As root (this machine,
CI) the server runs as the `postgres` OS user, which owns the data directory; otherwise as the current user.

Use the `postgres` fixture (import it into the test module) or the class directly (benchmarks).
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "db" / "migrations"


def postgres_bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for candidate in candidates:
        if os.access(os.path.join(candidate, "postgres"), os.X_OK):
            return Path(candidate)
    raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run scripts/setup.sh "
                       "(apt-get install postgresql)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self, database: str = "news", user: str = "news_app", durable: bool = False):
        """`durable=False` (tests) turns off fsync and synchronous commit; benchmarks use PostgreSQL's defaults."""
        self.durable = durable
        self.database = database
        self.user = user
        self.password = secrets.token_urlsafe(18)
        self.host = "127.0.0.1"
        self.port = 0
        self._dir: Path | None = None
        self._process: subprocess.Popen | None = None
        self._as_postgres = os.geteuid() == 0

    # -- lifecycle -------------------------------------------------------------------------------------------
    def _run_as(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self._as_postgres else argv

    def start(self) -> "PostgresServer":
        bin_dir = postgres_bin_dir()
        self._dir = Path(tempfile.mkdtemp(prefix="pgtest-"))
        data, sockets = self._dir / "data", self._dir / "sock"
        sockets.mkdir()
        pwfile = self._dir / "superuser.pw"
        superuser_password = secrets.token_urlsafe(18)
        pwfile.write_text(superuser_password + "\n")
        if self._as_postgres:
            pg = pwd.getpwnam("postgres")
            for path in (self._dir, sockets, pwfile):
                os.chown(path, pg.pw_uid, pg.pw_gid)
        subprocess.run(
            self._run_as([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--pwfile", str(pwfile),
                          "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8", "--no-sync"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for attempt in range(5):
            self.port = free_port()
            speed = [] if self.durable else ["-c", "fsync=off", "-c", "synchronous_commit=off",
                                              "-c", "full_page_writes=off"]
            self._process = subprocess.Popen(
                self._run_as([str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port),
                              "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}",
                              *speed, "-c", "max_connections=50", "-c", "shared_buffers=128MB"]),
                stdout=subprocess.DEVNULL, stderr=open(self._dir / "server.log", "wb"),
                start_new_session=True,
            )
            if self._wait_ready(superuser_password):
                break
            self._kill()
        else:
            raise RuntimeError(f"PostgreSQL did not start: {(self._dir / 'server.log').read_text()[-2000:]}")
        self._superuser_password = superuser_password
        with self.connect(user="postgres", password=superuser_password, dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'")
            conn.execute(f"CREATE DATABASE {self.database} OWNER {self.user}")
        return self

    def _wait_ready(self, password: str, timeout: float = 30.0) -> bool:
        import psycopg

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                psycopg.connect(host=self.host, port=self.port, user="postgres", password=password,
                                dbname="postgres", connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.2)
        return False

    def _kill(self) -> None:
        if self._process and self._process.poll() is None:
            # SIGINT = PostgreSQL "fast" shutdown: disconnect clients, then exit cleanly.
            os.killpg(self._process.pid, signal.SIGINT)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None

    def stop(self) -> None:
        self._kill()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- access ----------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """libpq URL with the password (what a local run puts in the env var named by --db-url-env)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def secret(self) -> dict:
        """The RDS-style secret JSON Secrets Manager would hold for this database."""
        return {"engine": "postgres", "host": self.host, "port": self.port, "username": self.user,
                "password": self.password, "dbname": self.database}

    def connect(self, user: str | None = None, password: str | None = None, dbname: str | None = None):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=user or self.user,
                               password=password if password is not None else self.password,
                               dbname=dbname or self.database)

    def migrate(self) -> None:
        with self.connect() as conn:
            for script in sorted(MIGRATIONS.glob("*.sql")):
                conn.execute(script.read_text())

    def reset_articles(self) -> None:
        with self.connect() as conn:
            conn.execute("DROP TABLE IF EXISTS articles CASCADE")
        self.migrate()


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer().start()
    try:
        server.migrate()
        yield server
    finally:
        server.stop()
