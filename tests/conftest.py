"""Shared fixtures: real daphne servers, API keys, a Django test database for unit tests."""

from collections.abc import Callable, Iterator

import pytest

from tests.server import LiveServer, drop_database, fresh_database_env


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory) -> Iterator[Callable[..., LiveServer]]:
    """Start daphne servers on fresh databases; all are stopped at the end."""
    started: list[LiveServer] = []

    def start(env: dict[str, str] | None = None, *, share_with: LiveServer | None = None
              ) -> LiveServer:
        tmp_dir = tmp_path_factory.mktemp("server")
        base = share_with.env if share_with else fresh_database_env(tmp_dir)
        server = LiveServer(env={**base, **(env or {})}, log_path=tmp_dir / "daphne.log")
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    for env in {s.env["DATABASE_URL"]: s.env for s in started}.values():
        drop_database(env)


@pytest.fixture(scope="session")
def server(server_factory) -> LiveServer:
    """One shared server on the default settings."""
    return server_factory({"FREDDY_SSE_HEARTBEAT_SECONDS": "1"})


@pytest.fixture(scope="session")
def api_key(server) -> str:
    return server.create_key("org_test")


@pytest.fixture(scope="session")
def other_api_key(server) -> str:
    return server.create_key("org_other")


@pytest.fixture
def client(server, api_key):
    with server.client(api_key) as http:
        yield http
