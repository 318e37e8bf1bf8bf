"""Several workers and several writers on one PostgreSQL database."""

import asyncio
import subprocess

import psycopg

from tests.scale.streams import CREATE_PATH, STREAM_PATH, assert_complete_stream
from tests.scale.streams import echo_body, read_frames, text_of
from tests.server import PYTHON, ROOT
from tests.sse import events_of


async def test_two_workers_execute_two_runs_at_once_and_each_stream_is_complete(
        cluster_factory, scale_key):
    cluster = cluster_factory(servers=2, workers=2)
    a, b = cluster.servers
    texts = [" ".join(f"{name}{i}" for i in range(60)) for name in ("left", "right")]
    streams: list[list] = [[], []]
    async with a.async_client(scale_key) as on_a, b.async_client(scale_key) as on_b:
        await asyncio.wait_for(asyncio.gather(*[
            read_frames(client, "POST", CREATE_PATH, into=frames,
                        json=echo_body(text, token_delay_ms=20))
            for client, frames, text in zip((on_a, on_b), streams, texts)]), 60)

    runs = []
    for frames, text in zip(streams, texts):
        events = assert_complete_stream(frames)
        assert events[-1]["event"] == "response.completed"
        assert text_of(events) == text
        runs.append((events[0]["response_id"], events[0]["created_at"],
                     events[-1]["created_at"]))
    assert runs[0][0] != runs[1][0] and events_of(streams[0])[0]["thread_id"] != \
        events_of(streams[1])[0]["thread_id"]
    # At once: each run started before the other ended.
    assert runs[0][1] < runs[1][2] and runs[1][1] < runs[0][2]
    executed = [worker.executed_runs() for worker in cluster.workers]
    assert sorted(run for ran in executed for run in ran) == sorted(r[0] for r in runs)
    assert all(len(ran) == 1 for ran in executed), executed


APPEND_SCRIPT = """
from streaming.services import run_append_deltas
for i in range({batches}):
    assert run_append_deltas(response_id="{response_id}", deltas=["{tag}." + str(i), "|"])
"""


async def test_sequence_ids_stay_gap_free_and_unique_with_four_writer_processes(
        cluster_factory, scale_key):
    # No worker: the run stays queued, and four processes write its events at once.
    cluster = cluster_factory(servers=1, workers=0)
    server = cluster.servers[0]
    batches, writers = 40, 4
    async with server.async_client(scale_key) as http:
        created = []
        await read_frames(http, "POST", CREATE_PATH, into=created, stop_after=0,
                          json=echo_body("unused", token_delay_ms=0))
        thread = (await http.get("/v1/threads", params={"limit": 1})).json()["data"][0]
        active = (await http.get(f"/v1/threads/{thread['id']}/messages")).json()["active_run"]
        response_id = active["response_id"]
        procs = [subprocess.Popen(
            [PYTHON, "manage.py", "shell", "-c",
             APPEND_SCRIPT.format(batches=batches, response_id=response_id, tag=f"w{n}")],
            cwd=ROOT, env=cluster.env) for n in range(writers)]
        assert [proc.wait(timeout=120) for proc in procs] == [0] * writers
        await http.post(f"/v1/model/response/{thread['id']}/cancel")
        frames = []
        await read_frames(http, "GET", STREAM_PATH.format(thread_id=thread["id"]),
                          into=frames)

    events = assert_complete_stream(frames)
    assert len(events) == writers * batches * 2 + 1
    deltas = [e["delta"] for e in events[:-1]]
    for n in range(writers):  # each writer's deltas once each, in its own order
        assert [d for d in deltas if d.startswith(f"w{n}.")] == [
            f"w{n}.{i}" for i in range(batches)]
    with psycopg.connect(cluster.env["DATABASE_URL"]) as conn:
        count, distinct, low, high = conn.execute(
            "SELECT count(*), count(DISTINCT sequence_number), min(sequence_number),"
            " max(sequence_number) FROM streaming_responseevent WHERE response_id = %s",
            [response_id]).fetchone()
    assert (count, distinct, low, high) == (len(events),) * 2 + (1, len(events))
