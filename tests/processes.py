"""Processes for the scale-out tests: a test-owned redis-server and `runworker` workers.

These tests always run on PostgreSQL and Redis, even in the embedded pass of CI: the
feature they test only exists there. Under `CI=true` a missing PostgreSQL or
redis-server fails the test; elsewhere it skips it. `.ci/run` runs them once, in its
first pass (FREDDY_TEST_SKIP_SCALE=1 in the second).
"""

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import redis

from tests.server import PYTHON, ROOT, free_port

# The loopback PostgreSQL of CI; each test module gets a fresh database on it.
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"
# redis-server starts in milliseconds; a loaded box may take a second.
REDIS_START_TIMEOUT_SECONDS = 10
# A worker imports Django before it listens on the channel.
WORKER_START_TIMEOUT_SECONDS = 30
_EXECUTED_RUN = re.compile(r"Executing run (resp_\w+)")


def postgres_url() -> str:
    """The PostgreSQL server to use: DATABASE_URL if it is one, else CI's loopback one."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgres") else DEFAULT_POSTGRES_URL


def require_scale_services() -> None:
    """Fail (under CI) or skip unless PostgreSQL answers and redis-server exists."""
    if os.environ.get("FREDDY_TEST_SKIP_SCALE") == "1":
        # Set by .ci/run for its second pass: these tests bring their own PostgreSQL
        # database and Redis, so a second run would repeat the first one exactly.
        pytest.skip("tests/scale already ran in the first pass of .ci/run")
    problems = []
    try:
        with psycopg.connect(postgres_url(), connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        problems.append(f"PostgreSQL unreachable at {postgres_url()}: {exc}")
    if shutil.which("redis-server") is None:
        problems.append("redis-server is not installed")
    if problems and os.environ.get("CI", "").lower() == "true":
        pytest.fail("; ".join(problems))
    if problems:
        pytest.skip("; ".join(problems))


def _stop_group(process: subprocess.Popen | None, sig: int) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class RedisServer:
    """A redis-server owned by one test, on a free port, without persistence."""

    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self) -> "RedisServer":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + REDIS_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with self.client() as conn:
                    conn.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start in time")

    def stop(self) -> None:
        _stop_group(self.process, signal.SIGTERM)

    def blocked_pops(self) -> int:
        """Clients blocked in a pop: idle workers (and idle stream readers)."""
        with self.client() as conn:
            return sum(1 for c in conn.client_list() if c.get("cmd") == "bzpopmin")

    def group_size(self, group: str) -> int:
        """Channels in a channels_redis group (default prefix `asgi`)."""
        with self.client() as conn:
            return conn.zcard(f"asgi:group:{group}")


@dataclass
class WorkerProcess:
    """`python manage.py runworker freddy-runs` with a server's environment."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [PYTHON, "manage.py", "runworker", "freddy-runs"], cwd=ROOT, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + WORKER_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runworker exited: {self.log_path.read_text()[-3000:]}")
            if "Running worker for channels" in self.log_path.read_text():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("runworker did not start in time")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        _stop_group(self.process, sig)

    def executed_runs(self) -> list[str]:
        """Ids of the runs this worker took from the channel, from its log."""
        return _EXECUTED_RUN.findall(self.log_path.read_text())


def wait_until(predicate, *, timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
