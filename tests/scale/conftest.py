"""A cluster per test: its own redis-server, daphne servers and workers, on PostgreSQL."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.processes import RedisServer, WorkerProcess, postgres_url
from tests.processes import require_scale_services, wait_until
from tests.server import LiveServer, drop_database, fresh_database_env

# What every process of a cluster shares, besides the database and Redis.
CLUSTER_ENV = {"FREDDY_RUN_EXECUTOR": "worker", "FREDDY_SSE_HEARTBEAT_SECONDS": "1"}


@dataclass
class Cluster:
    """Daphne servers and workers sharing one PostgreSQL database and one Redis."""

    env: dict[str, str]
    redis: RedisServer
    tmp_dir: Path
    servers: list[LiveServer] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)

    def add_server(self) -> LiveServer:
        log = self.tmp_dir / f"daphne-{len(self.servers)}.log"
        self.servers.append(LiveServer(env=self.env, log_path=log).start())
        return self.servers[-1]

    def add_worker(self) -> WorkerProcess:
        log = self.tmp_dir / f"worker-{len(self.workers)}.log"
        self.workers.append(WorkerProcess(env=self.env, log_path=log).start())
        # Listening means blocked on the channel; only then is a run sure to be taken.
        assert wait_until(lambda: self.redis.blocked_pops() >= len(self.workers),
                          timeout=10), "the workers never listened on freddy-runs"
        return self.workers[-1]

    def stop(self) -> None:
        for process in [*self.servers, *self.workers]:
            process.stop()
        self.redis.stop()


@pytest.fixture(scope="session")
def scale_database(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database for these tests, dropped afterwards.

    One for the session: migrating costs seconds, and each test works on its own threads.
    """
    require_scale_services()
    env = fresh_database_env(tmp_path_factory.mktemp("scale"), database_url=postgres_url())
    yield env
    drop_database(env)


@pytest.fixture(scope="session")
def scale_key(scale_database) -> str:
    server = LiveServer(env=scale_database, log_path=Path("/dev/null"))
    return server.create_key("org_scale")


@pytest.fixture
def cluster_factory(scale_database, tmp_path) -> Iterator[Callable[..., Cluster]]:
    """Start clusters; every process a test started is stopped when it ends."""
    clusters: list[Cluster] = []

    def start(*, servers: int = 2, workers: int = 1, env: dict[str, str] | None = None
              ) -> Cluster:
        redis_server = RedisServer(log_path=tmp_path / "redis.log").start()
        cluster = Cluster(env={**scale_database, **CLUSTER_ENV, **(env or {}),
                               "REDIS_URL": redis_server.url},
                          redis=redis_server, tmp_dir=tmp_path)
        clusters.append(cluster)
        for _ in range(servers):
            cluster.add_server()
        for _ in range(workers):
            cluster.add_worker()
        return cluster

    yield start
    for cluster in clusters:
        cluster.stop()
