"""Processes under test: daphne (Freddy or the peer), the run worker, their databases."""

import logging
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from tests.server import free_port

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
FREDDY_APP = ("freddy.settings", "freddy.asgi:application")
PEER_APP = ("bench.peer.settings", "bench.peer.asgi:application")
# A storm of 1,000 simultaneous connects overflows daphne's default listen backlog of
# 50; dropped SYNs would then cost whole seconds of retransmit, measuring the kernel.
LISTEN_BACKLOG = 4096
START_TIMEOUT_SECONDS = 60


def raise_fd_limit() -> int:
    """Lift this process's open-file limit to the hard limit; returns the new soft limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _admin_url() -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + "/postgres"


@dataclass
class Database:
    """A fresh database of one kind, migrated for one Django project."""

    kind: str  # "sqlite" or "postgres"
    url: str

    @classmethod
    def create(cls, kind: str, tmp_dir: Path, settings_module: str) -> "Database":
        name = f"bench_{uuid.uuid4().hex[:10]}"
        if kind == "postgres":
            with psycopg.connect(_admin_url(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
        else:
            url = f"sqlite:///{tmp_dir / (name + '.sqlite3')}"
        database = cls(kind, url)
        database.run_django(settings_module, "migrate", "--noinput", "-v", "0")
        return database

    def env(self, settings_module: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FREDDY_", "DATABASE_URL", "REDIS_URL"))}
        env.update(DATABASE_URL=self.url, DJANGO_SETTINGS_MODULE=settings_module,
                   PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
        env.update(extra)
        return env

    def run_django(self, settings_module: str, *args: str, stdin: str | None = None) -> str:
        """Run a django-admin command (or `shell` with code on stdin) on this database."""
        done = subprocess.run([PYTHON, "-m", "django", *args], cwd=ROOT, input=stdin,
                              env=self.env(settings_module), capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"django {args[0]} failed: {done.stderr[-3000:]}")
        return done.stdout

    def drop(self) -> None:
        if self.kind == "postgres":
            name = self.url.rsplit("/", 1)[1]
            with psycopg.connect(_admin_url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            path = Path(self.url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)


def _lift_child_fd_limit() -> None:
    # Runs in the child before exec: 1,000 streams need more than the usual 1,024 files.
    raise_fd_limit()


@dataclass
class Process:
    """A daphne server or a run worker, in its own process group."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen | None = None

    @classmethod
    def daphne(cls, app: tuple[str, str], database: Database, log_dir: Path,
               **env: str) -> "Process":
        port = free_port()
        endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog={LISTEN_BACKLOG}"
        return cls([PYTHON, "-m", "daphne", "-e", endpoint, app[1]],
                   database.env(app[0], **env), log_dir / f"daphne-{port}.log", port)

    @classmethod
    def daphne_plain(cls, app_path: str, log_dir: Path) -> "Process":
        """daphne serving an app that needs no Django and no database."""
        port = free_port()
        endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog={LISTEN_BACKLOG}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        return cls([PYTHON, "-m", "daphne", "-e", endpoint, app_path], env,
                   log_dir / f"daphne-{port}.log", port)

    @classmethod
    def worker(cls, database: Database, log_dir: Path, **env: str) -> "Process":
        return cls([PYTHON, "manage.py", "runworker", "freddy-runs"],
                   database.env(FREDDY_APP[0], **env), log_dir / "worker.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, health_path: str | None = None) -> "Process":
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=_lift_child_fd_limit)
        if health_path is None:
            return self
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                httpx.get(self.url + health_path, timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start in time")

    def rss_kb(self) -> int:
        """Resident memory of the process, from /proc (VmRSS, in KiB)."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
