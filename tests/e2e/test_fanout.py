"""Many readers of one run, and several runs writing at once (test 9)."""

import asyncio

import httpx

from tests.e2e.helpers import assert_complete_sequence, echo_body
from tests.sse import events_of, iter_frames

READERS = 20
RUNS = 5
WORDS = " ".join(f"w{i}" for i in range(100))  # 100 tokens, 20 ms apart: about 2 s


async def _read(http: httpx.AsyncClient, method: str, url: str, *,
                first: asyncio.Future | None = None, **kwargs) -> list:
    """Read a stream to its end; `first` gets the first event's JSON."""
    lines = []
    async with http.stream(method, url, **kwargs) as reply:
        assert reply.status_code == 200, await reply.aread()
        async for line in reply.aiter_lines():
            lines.append(line)
            if first is not None and not first.done() and line.startswith("data: {"):
                first.set_result(list(iter_frames(lines))[-1].json)
    return list(iter_frames(lines))


async def test_twenty_concurrent_readers_of_one_live_run_each_get_the_full_sequence(
        server, api_key):
    limits = httpx.Limits(max_connections=READERS + 5)
    async with server.async_client(api_key, limits=limits) as http:
        first = asyncio.get_running_loop().create_future()
        creator = asyncio.create_task(_read(http, "POST", "/v1/model/response", first=first,
                                            json=echo_body(WORDS, token_delay_ms=20)))
        thread_id = (await asyncio.wait_for(first, timeout=10))["thread_id"]
        readers = [_read(http, "GET", f"/v1/model/response/{thread_id}/stream")
                   for _ in range(READERS)]
        results = await asyncio.wait_for(asyncio.gather(creator, *readers), timeout=60)

    reference = assert_complete_sequence(results[0])
    assert reference[0]["thread_id"] == thread_id
    assert reference[-1]["response"] == [{"type": "text", "text": WORDS}]
    live_counts = []
    for frames in results[1:]:
        events = assert_complete_sequence(frames)
        assert [{k: v for k, v in e.items() if k != "source"} for e in events] == reference
        live_counts.append(sum("source" not in e for e in events))
    # Each joined while the run was going (none waited for a database connection
    # until the end), and most of the streams came mostly live.
    assert min(live_counts) > 0, live_counts
    assert sorted(live_counts)[READERS // 2] > len(reference) // 2, live_counts


async def test_several_runs_writing_at_once_all_complete_without_lock_errors(
        server, api_key):
    async with server.async_client(api_key) as http:
        bodies = [echo_body(f"run{i} " + WORDS, token_delay_ms=0, repeat=20)
                  for i in range(RUNS)]
        results = await asyncio.wait_for(asyncio.gather(
            *[_read(http, "POST", "/v1/model/response", json=body) for body in bodies]),
            timeout=60)
        for index, frames in enumerate(results):
            events = assert_complete_sequence(frames)
            assert events[-1]["event"] == "response.completed", events[-1]
            expected = " ".join([f"run{index} " + WORDS] * 20)
            assert events[-1]["response"] == [{"type": "text", "text": expected}]
            listed = (await http.get(f"/v1/threads/{events[0]['thread_id']}/messages")).json()
            assert listed["data"][-1]["content"] == expected
            assert listed["data"][-1]["status"] == "completed"
    assert len({events_of(f)[0]["thread_id"] for f in results}) == RUNS
    assert b"database is locked" not in server.log_path.read_bytes()


async def test_simultaneous_creates_on_one_thread_start_exactly_one_run(server, api_key):
    async with server.async_client(api_key) as http:
        first = await _read(http, "POST", "/v1/model/response",
                            json=echo_body("first turn", token_delay_ms=0))
        thread_id = events_of(first)[0]["thread_id"]

        async def create(index: int) -> tuple[int, bytes]:
            # A second of output: every other create arrives while it runs.
            body = echo_body(f"attempt {index} " + WORDS[:40], thread_id=thread_id,
                             token_delay_ms=100)
            async with http.stream("POST", "/v1/model/response", json=body) as reply:
                return reply.status_code, await reply.aread()

        results = await asyncio.wait_for(
            asyncio.gather(*[create(i) for i in range(8)]), timeout=60)
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] + [409] * 7, statuses
        assert all(b'"CONFLICT"' in raw for status, raw in results if status == 409)
        listed = (await http.get(f"/v1/threads/{thread_id}/messages")).json()
        assert len(listed["data"]) == 4 and listed["active_run"] is None
