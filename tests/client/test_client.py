"""The Python client against a real daphne through a proxy that keeps cutting connections."""

import subprocess
import sys

import pytest

from freddy.client import (ApiError, AsyncFreddyClient, ContentDelta, FreddyClient,
                           ResponseCompleted, ResponseCreated, RetryPolicy, StreamGaveUp)
from tests.client.proxy import CuttingProxy
from tests.server import PYTHON, ROOT, free_port
from tests.sse import events_of, read_stream

TEXT = " ".join(f"word{n}" for n in range(1, 51))
# Slow enough that the run is still going while the client is cut and comes back.
TOKEN_DELAY_MS = 30
# Varied cut points, so cuts land in headers, inside frames and between them; each is
# larger than the headers plus the biggest frame, so every connection makes progress.
CUT_AFTER_BYTES = [900, 1400, 2000, 1100, 1700]
FAST_RETRY = RetryPolicy(max_retries=5, backoff_seconds=0.05, max_backoff_seconds=0.5)


def start_run(client, text: str = TEXT) -> str:
    """Start a slow echo run, leave its stream after the first event; the thread id."""
    frames = read_stream(client, "POST", "/v1/model/response", stop_after=1, json={
        "model": "echo", "stream": True, "model_options": {"token_delay_ms": TOKEN_DELAY_MS},
        "inputs": [{"role": "user", "content": text}]})
    return events_of(frames)[0]["thread_id"]


@pytest.fixture
def proxy(server):
    with CuttingProxy(server.port, CUT_AFTER_BYTES) as cutting:
        yield cutting


def assert_full_answer(events, proxy: CuttingProxy) -> None:
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(1, len(events) + 1)), numbers  # strictly increasing, no hole
    assert isinstance(events[0], ResponseCreated)
    assert "".join(e.delta for e in events if isinstance(e, ContentDelta)) == TEXT
    assert isinstance(events[-1], ResponseCompleted) and events[-1].text == TEXT
    assert proxy.cuts >= 3, "the proxy did not cut the stream: nothing was resumed"


def test_sync_client_stream_resumes_after_every_cut_and_assembles_the_full_answer(
        client, api_key, proxy):
    thread_id = start_run(client)
    with FreddyClient(proxy.url, api_key, retry=FAST_RETRY) as freddy:
        events = list(freddy.stream(thread_id))
    assert_full_answer(events, proxy)


async def test_async_client_stream_resumes_after_every_cut_and_assembles_the_full_answer(
        client, api_key, proxy):
    thread_id = start_run(client)
    async with AsyncFreddyClient(proxy.url, api_key, retry=FAST_RETRY) as freddy:
        events = [event async for event in freddy.stream(thread_id)]
    assert_full_answer(events, proxy)


def test_sync_respond_creates_a_run_and_resumes_it_through_cuts(client, api_key, proxy):
    thread_id = client.post("/v1/threads", json={}).json()["id"]
    with FreddyClient(proxy.url, api_key, retry=FAST_RETRY) as freddy:
        events = list(freddy.respond(TEXT, thread_id=thread_id,
                                     model_options={"token_delay_ms": TOKEN_DELAY_MS}))
    assert_full_answer(events, proxy)
    assert {e.thread_id for e in events} == {thread_id}


async def test_async_respond_on_a_new_thread_resumes_it_through_cuts(api_key, proxy):
    async with AsyncFreddyClient(proxy.url, api_key, retry=FAST_RETRY) as freddy:
        events = [e async for e in freddy.respond(
            TEXT, model_options={"token_delay_ms": TOKEN_DELAY_MS})]
    assert_full_answer(events, proxy)


def test_stream_from_a_last_event_id_yields_only_later_events(client, api_key, proxy):
    thread_id = start_run(client)
    with FreddyClient(proxy.url, api_key, retry=FAST_RETRY) as freddy:
        events = list(freddy.stream(thread_id, last_event_id=10))
    assert [e.sequence_number for e in events] == list(range(11, 11 + len(events)))
    assert "".join(e.delta for e in events if isinstance(e, ContentDelta)) == \
        events[-1].text[len(" ".join(TEXT.split()[:9])):]


def test_cli_tail_prints_the_full_answer_through_cut_connections(client, api_key, proxy):
    thread_id = start_run(client)
    done = subprocess.run(
        [PYTHON, "-m", "freddy.client", "tail", thread_id, "--backoff-seconds", "0.05"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"FREDDY_BASE_URL": proxy.url, "FREDDY_API_KEY": api_key, "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout == TEXT + "\n"
    assert "reconnecting" in done.stderr and "response.completed" in done.stderr
    assert proxy.cuts >= 3


def test_client_raises_the_api_error_at_once_for_an_unknown_thread(server, api_key):
    with FreddyClient(server.url, api_key, retry=FAST_RETRY) as freddy:
        with pytest.raises(ApiError) as raised:
            list(freddy.stream("thrd_doesnotexist"))
    assert raised.value.status == 404 and raised.value.code == "THREAD_NOT_FOUND"


def test_client_gives_up_after_its_retry_budget_when_nothing_answers(api_key):
    unreachable = f"http://127.0.0.1:{free_port()}"
    with FreddyClient(unreachable, api_key, retry=FAST_RETRY) as freddy:
        with pytest.raises(StreamGaveUp):
            list(freddy.stream("thrd_any"))


def test_the_client_package_never_imports_django():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, freddy.client, freddy.client.__main__; "
         "sys.exit('django' in sys.modules)"], cwd=ROOT, timeout=60)
    assert done.returncode == 0
