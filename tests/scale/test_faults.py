"""Faults of a cluster: a worker killed mid-run, Redis stopped and started mid-run."""

import asyncio
import signal
import time

import httpx

from streaming.publish import RUN_ENDS_GROUP, RUN_EVENTS_GROUP
from tests.processes import wait_until
from tests.scale.streams import CREATE_PATH, STREAM_PATH, assert_complete_stream
from tests.scale.streams import echo_body, read_frames, text_of, wait_for_events
from tests.sse import events_of

STALE_SECONDS = 2.0
READER_HEARTBEAT_SECONDS = 0.5


async def test_killed_worker_ends_the_run_as_run_stale_for_every_reader_keeping_its_text(
        cluster_factory, scale_key):
    cluster = cluster_factory(servers=2, workers=1, env={
        "FREDDY_RUN_STALE_SECONDS": str(STALE_SECONDS),
        "FREDDY_SSE_HEARTBEAT_SECONDS": str(READER_HEARTBEAT_SECONDS)})
    a, b = cluster.servers
    text = " ".join(f"slow{i}" for i in range(200))
    streams: list[list] = [[], []]
    async with a.async_client(scale_key) as on_a, b.async_client(scale_key) as on_b:
        creator = asyncio.create_task(read_frames(
            on_a, "POST", CREATE_PATH, into=streams[0], json=echo_body(text, token_delay_ms=50)))
        await wait_for_events(streams[0], 1)
        thread_id = events_of(streams[0])[0]["thread_id"]
        reader = asyncio.create_task(read_frames(
            on_b, "GET", STREAM_PATH.format(thread_id=thread_id), into=streams[1]))
        await wait_for_events(streams[1], 10)
        cluster.workers[0].stop(signal.SIGKILL)
        killed_at = time.monotonic()
        finished = await asyncio.wait_for(asyncio.gather(creator, reader), 30)
        ended_after = time.monotonic() - killed_at
        messages = (await on_b.get(f"/v1/threads/{thread_id}/messages")).json()["data"]

    assert finished == [True, True]
    # Stale once the last heartbeat is STALE_SECONDS old, noticed at the next silence.
    assert ended_after < STALE_SECONDS + READER_HEARTBEAT_SECONDS + 3
    for frames in streams:
        events = assert_complete_stream(frames)
        assert events[-1]["event"] == "response.error"
        assert events[-1]["code"] == "run_stale" and events[-1]["status"] == "failed"
    partial = text_of(events_of(streams[0]))
    assert partial and text.startswith(partial) and partial != text
    assert text_of(events_of(streams[1])) == partial
    assistant = messages[-1]
    assert assistant["role"] == "assistant" and assistant["status"] == "failed"
    assert assistant["content"] == partial
    assert assistant["metadata"]["error"]["code"] == "run_stale"


def _health(server) -> int:
    try:
        return httpx.get(server.url + "/v1/health", timeout=5).status_code
    except httpx.TransportError:
        return 0


async def test_redis_stopped_and_started_mid_run_loses_no_event_and_health_reports_it(
        cluster_factory, scale_key):
    cluster = cluster_factory(servers=2, workers=1)
    a, b = cluster.servers
    text = " ".join(f"t{i}" for i in range(220))
    streams: list[list] = [[], []]
    async with a.async_client(scale_key) as on_a, b.async_client(scale_key) as on_b:
        creator = asyncio.create_task(read_frames(
            on_a, "POST", CREATE_PATH, into=streams[0], json=echo_body(text, token_delay_ms=40)))
        await wait_for_events(streams[0], 1)
        thread_id = events_of(streams[0])[0]["thread_id"]
        reader = asyncio.create_task(read_frames(
            on_b, "GET", STREAM_PATH.format(thread_id=thread_id), into=streams[1]))
        await wait_for_events(streams[1], 10)

        cluster.redis.stop()
        counts_at_stop = [len(events_of(f)) for f in streams]
        down = await asyncio.to_thread(
            lambda: wait_until(lambda: _health(a) == 503 and _health(b) == 503, timeout=10))
        await asyncio.sleep(1.5)
        counts_during = [len(events_of(f)) for f in streams]
        cluster.redis.start()
        up = await asyncio.to_thread(
            lambda: wait_until(lambda: _health(a) == 200 and _health(b) == 200, timeout=15))
        # Both servers (a reader each) and the worker (its run's watcher) are back.
        rejoined = await asyncio.to_thread(lambda: wait_until(
            lambda: cluster.redis.group_size(RUN_EVENTS_GROUP) >= 2
            and cluster.redis.group_size(RUN_ENDS_GROUP) >= 1, timeout=10))
        finished = await asyncio.wait_for(asyncio.gather(creator, reader), 60)

    assert down, "health never reported the outage"
    assert up, "health never recovered"
    assert all(during > at_stop for during, at_stop in zip(counts_during, counts_at_stop)), \
        "readers stalled while Redis was down"
    assert rejoined, "the listeners did not go back to the group"
    assert finished == [True, True]
    for frames in streams:
        events = assert_complete_stream(frames)
        assert events[-1]["event"] == "response.completed"
        assert text_of(events) == text


async def test_create_while_redis_is_down_is_503_and_leaves_the_thread_free(
        cluster_factory, scale_key):
    cluster = cluster_factory(servers=1, workers=0)
    server = cluster.servers[0]
    async with server.async_client(scale_key) as http:
        thread_id = (await http.post("/v1/threads", json={})).json()["id"]
        cluster.redis.stop()
        refused = await http.post(CREATE_PATH, json=echo_body(
            "lost", token_delay_ms=0, thread_id=thread_id))
        messages = (await http.get(f"/v1/threads/{thread_id}/messages")).json()
        cluster.redis.start()
        again = []
        await read_frames(http, "POST", CREATE_PATH, into=again, stop_after=0,
                          json=echo_body("kept", token_delay_ms=0, thread_id=thread_id))

    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assistant = messages["data"][-1]
    assert assistant["status"] == "failed" and messages["active_run"] is None
    assert assistant["metadata"]["error"]["code"] == "executor_unavailable"
    assert again and again[0].retry == 3000  # accepted: the thread was not left busy
