"""Reconnect to any daphne process of a cluster and get the exact remainder."""

import asyncio
import random
import signal

from tests.scale.streams import CREATE_PATH, STREAM_PATH, assert_complete_stream
from tests.scale.streams import echo_body, last_id, read_frames, text_of, wait_for_events
from tests.sse import events_of

WORDS = " ".join(f"word{i}" for i in range(40))


async def test_stream_dropped_on_a_resumes_on_b_with_exactly_the_remainder(
        cluster_factory, scale_key):
    cluster = cluster_factory(servers=2, workers=1)
    a, b = cluster.servers
    first, rest = [], []
    async with a.async_client(scale_key) as on_a, b.async_client(scale_key) as on_b:
        await read_frames(on_a, "POST", CREATE_PATH, into=first, stop_after=5,
                          json=echo_body(WORDS, token_delay_ms=40))
        thread_id = events_of(first)[0]["thread_id"]
        await read_frames(on_b, "GET", STREAM_PATH.format(thread_id=thread_id),
                          into=rest, params={"last_event_id": 5})

    assert last_id(first) == 5
    events = assert_complete_stream(rest, after=5)
    assert events[-1]["event"] == "response.completed"
    assert any("source" not in e for e in events), "the run had ended: not mid-run"
    assert text_of(events_of(first)) + text_of(events) == WORDS
    assert events[-1]["response"] == [{"type": "text", "text": WORDS}]
    assert cluster.workers[0].executed_runs() == [events[-1]["response_id"]]


async def test_three_clients_of_a_killed_server_resume_on_another_with_their_last_ids(
        cluster_factory, scale_key):
    cluster = cluster_factory(servers=2, workers=1)
    a, b = cluster.servers
    text = " ".join(f"token{i}" for i in range(120))
    streams: list[list] = [[], [], []]
    async with a.async_client(scale_key) as on_a, b.async_client(scale_key) as on_b:
        creator = asyncio.create_task(read_frames(
            on_a, "POST", CREATE_PATH, into=streams[0], json=echo_body(text, token_delay_ms=30)))
        await wait_for_events(streams[0], 1)
        path = STREAM_PATH.format(thread_id=events_of(streams[0])[0]["thread_id"])
        readers = [asyncio.create_task(read_frames(on_a, "GET", path, into=frames))
                   for frames in streams[1:]]
        for frames, count in zip(streams, (10, 15, 20)):
            await wait_for_events(frames, count)
        a.stop(signal.SIGKILL)
        finished = await asyncio.wait_for(asyncio.gather(creator, *readers), 30)
        assert finished == [False, False, False], "a stream outlived its server"
        cut_at = [last_id(frames) for frames in streams]
        remainders = [[], [], []]
        await asyncio.wait_for(asyncio.gather(*[
            read_frames(on_b, "GET", path, into=rest, headers={"Last-Event-ID": str(cut)})
            for rest, cut in zip(remainders, cut_at)]), 60)

    for frames, cut, rest in zip(streams, cut_at, remainders):
        assert [e["sequence_number"] for e in events_of(frames)] == list(range(1, cut + 1))
        events = assert_complete_stream(rest, after=cut)
        assert events[-1]["event"] == "response.completed"
        assert text_of(events_of(frames)) + text_of(events) == text
    assert len({last_id(rest) for rest in remainders}) == 1


async def test_fifty_reconnects_at_random_ids_split_over_two_servers_get_exact_remainders(
        cluster_factory, scale_key):
    cluster = cluster_factory(servers=2, workers=1)
    a, b = cluster.servers
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    text = " ".join(f"w{i}" for i in range(1500))
    created = []
    async with a.async_client(scale_key) as on_a, b.async_client(scale_key) as on_b:
        creator = asyncio.create_task(read_frames(
            on_a, "POST", CREATE_PATH, into=created, json=echo_body(text, token_delay_ms=1)))
        await wait_for_events(created, 1)
        path = STREAM_PATH.format(thread_id=events_of(created)[0]["thread_id"])

        async def reconnect(client) -> tuple[int, list]:
            await asyncio.sleep(rng.uniform(0, 1.5))
            after = rng.randint(0, last_id(created))
            frames = []
            await read_frames(client, "GET", path, into=frames,
                              params={"last_event_id": after})
            return after, frames

        results = await asyncio.wait_for(asyncio.gather(
            *[reconnect(on_a) for _ in range(25)], *[reconnect(on_b) for _ in range(25)]), 90)
        await asyncio.wait_for(creator, 60)

    total = assert_complete_stream(created)
    n = total[-1]["sequence_number"]
    assert text_of(total) == text
    mid_run = 0
    for after, frames in results:
        if after == n:  # the run had ended at that id: nothing is left but [DONE]
            assert [f.data for f in frames if f.data] == ["[DONE]"], f"seed {seed}"
            continue
        events = assert_complete_stream(frames, after=after)
        assert events[-1]["sequence_number"] == n, f"seed {seed}"
        mid_run += any("source" not in e for e in events)
    assert mid_run >= 10, f"only {mid_run} reconnects were mid-run (seed {seed})"
