"""A fake OpenAI server and a daphne server whose upstream is that fake."""

from collections.abc import Iterator

import pytest

from tests.server import LiveServer, free_port
from tests.upstream.fake_openai import FakeOpenAI

UPSTREAM_MODEL = "fake-model"
FIRST_TOKEN_TIMEOUT_SECONDS = 3.0
IDLE_TIMEOUT_SECONDS = 2.0
MAX_RETRIES = 2
HISTORY_MESSAGES = 4


def upstream_env(base_url: str) -> dict[str, str]:
    # Small timeouts keep the fault tests short; still generous for a loaded 2-core box.
    return {
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": "test",
        "FREDDY_MODELS": UPSTREAM_MODEL,
        "FREDDY_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS": str(FIRST_TOKEN_TIMEOUT_SECONDS),
        "FREDDY_UPSTREAM_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT_SECONDS),
        "FREDDY_UPSTREAM_MAX_RETRIES": str(MAX_RETRIES),
        "FREDDY_UPSTREAM_RETRY_BACKOFF_SECONDS": "0.1",
        "FREDDY_UPSTREAM_HISTORY_MESSAGES": str(HISTORY_MESSAGES),
        "FREDDY_SSE_HEARTBEAT_SECONDS": "1",
    }


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def upstream_server(server_factory, fake_openai) -> LiveServer:
    """Daphne with `fake-model` served by the fake upstream."""
    return server_factory(upstream_env(fake_openai.url + "/v1"))


@pytest.fixture(scope="module")
def upstream_key(upstream_server) -> str:
    return upstream_server.create_key("org_upstream")


@pytest.fixture
def upstream_client(upstream_server, upstream_key):
    with upstream_server.client(upstream_key) as http:
        yield http


@pytest.fixture(scope="module")
def refused_server(server_factory, upstream_server) -> LiveServer:
    """Daphne on the same database, its upstream a loopback port nobody listens on."""
    return server_factory(
        upstream_env(f"http://127.0.0.1:{free_port()}/v1"), share_with=upstream_server
    )
