"""Reconnecting to a run's stream: after a drop, at the end, with bad cursors (tests 2, 5, 10)."""

import time

import pytest

from tests.e2e.helpers import assert_complete_sequence, assert_envelope, messages, reconnect
from tests.e2e.helpers import start_run, thread, wait_until_inactive
from tests.sse import events_of, iter_frames, read_stream

# Tolerance for comparing event times with the test's clock (same machine), which
# covers the time from creating an event to committing it on a loaded machine.
CLOCK_SLACK_SECONDS = 0.15
TEXT = "one two three four five six seven eight nine ten"


def test_dropped_client_can_resume_after_k_and_gets_the_rest_as_replay(client):
    frames = read_stream(client, "POST", "/v1/model/response", stop_after=4, json={
        "model": "echo", "stream": True, "model_options": {"token_delay_ms": 60},
        "inputs": [{"role": "user", "content": TEXT}]})
    first = events_of(frames)
    thread_id = first[0]["thread_id"]
    assert [e["sequence_number"] for e in first] == [1, 2, 3, 4]

    assert thread(client, thread_id)["status"] == "streaming"
    listed = client.get("/v1/threads", params={"status": "streaming"}).json()["data"]
    assert thread_id in [t["id"] for t in listed]
    ended = wait_until_inactive(client, thread_id)
    assert ended["status"] == "inactive" and ended["last_model_used"] == "echo"

    rest = assert_complete_sequence(reconnect(client, thread_id, last_event_id=4), after=4)
    assert all(e["source"] == "replay" for e in rest)
    assert rest[-1]["event"] == "response.completed"
    assert rest[-1]["response"] == [{"type": "text", "text": TEXT}]
    deltas = [e["delta"] for e in first[1:] + rest[:-1]]
    assert "".join(deltas) == TEXT
    assistant = messages(client, thread_id)["data"][-1]
    assert assistant["role"] == "assistant" and assistant["content"] == TEXT
    assert assistant["status"] == "completed" and assistant["response_id"] == rest[0][
        "response_id"]


def test_reconnect_sends_retry_first_the_sse_headers_and_every_event_from_zero(client):
    thread_id, _ = start_run(client, TEXT, token_delay_ms=1)
    wait_until_inactive(client, thread_id)
    with client.stream("GET", f"/v1/model/response/{thread_id}/stream") as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert reply.headers["cache-control"] == "no-cache"
        assert reply.headers["x-accel-buffering"] == "no"
        raw = reply.read()
    assert raw.startswith(b"retry: 3000\n\n")
    assert raw.endswith(b"data: [DONE]\n\n")
    assert b"event:" not in raw
    frames = reconnect(client, thread_id)
    events = assert_complete_sequence(frames)
    assert frames[0].retry == 3000
    assert [e["event"] for e in events[:1]] == ["response.created"]
    assert all(e["source"] == "replay" for e in events)


def test_last_event_id_header_is_used_when_the_query_has_none(client):
    thread_id, _ = start_run(client, TEXT, token_delay_ms=1)
    wait_until_inactive(client, thread_id)
    with client.stream("GET", f"/v1/model/response/{thread_id}/stream",
                       headers={"Last-Event-ID": "7"}) as reply:
        with_header = list(iter_frames(reply.iter_lines()))
    assert_complete_sequence(with_header, after=7)
    # The query parameter wins over the header.
    with client.stream("GET", f"/v1/model/response/{thread_id}/stream",
                       params={"last_event_id": 9}, headers={"Last-Event-ID": "2"}) as reply:
        both = list(iter_frames(reply.iter_lines()))
    assert_complete_sequence(both, after=9)


@pytest.mark.parametrize("past", [0, 1, 1000, 2**31 - 1, 10**30])
def test_cursor_at_or_past_the_end_of_a_finished_run_gets_only_done(client, past):
    thread_id, _ = start_run(client, "short answer", token_delay_ms=0)
    wait_until_inactive(client, thread_id)
    last = len(events_of(reconnect(client, thread_id)))
    frames = reconnect(client, thread_id, last_event_id=last + past)
    assert [f.retry for f in frames[:1]] == [3000]
    assert events_of(frames) == []
    assert frames[-1].is_done and len(frames) == 2


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "", " ", "+3", "0x10", "²", "1e3"])
def test_a_cursor_that_is_not_a_non_negative_integer_is_rejected(client, bad):
    thread_id, _ = start_run(client, "short answer", token_delay_ms=0)
    url = f"/v1/model/response/{thread_id}/stream"
    error = assert_envelope(client.get(url, params={"last_event_id": bad}), 422,
                            "VALIDATION_ERROR")
    assert "last_event_id" in error["details"]
    if bad.strip() and bad.isascii():  # else not a legal header value at all
        error = assert_envelope(client.get(url, headers={"Last-Event-ID": bad}), 422,
                                "VALIDATION_ERROR")
        assert "last_event_id" in error["details"]


def test_idle_stream_sends_keep_alive_comments_between_slow_events(client):
    # The shared server beats every second; a token every 2.5 s leaves silences.
    thread_id, _ = start_run(client, "slow words here", token_delay_ms=2500)
    # Events 1 and 2 come at once; event 3 only after the first pause.
    frames = reconnect(client, thread_id, last_event_id=2, stop_after=1)
    assert any("keep-alive" in f.comments for f in frames)
    client.post(f"/v1/model/response/{thread_id}/cancel")


def test_active_run_last_event_id_equals_the_last_stored_event_at_that_moment(client):
    # Tokens 400 ms apart: an endpoint one event behind (or ahead) shows up in the
    # `created_at` of the events around the id it reported, far beyond clock jitter.
    thread_id, response_id = start_run(client, "a b c d e f g h i", token_delay_ms=400)
    samples = []
    while (len(samples) < 8 and (before := time.time())
           and (seen := messages(client, thread_id)) and seen["active_run"]):
        samples.append((before, time.time(), seen))
        assert seen["active_run"]["response_id"] == response_id
        assert seen["active_run"]["status"] == "in_progress" and seen["active_run"]["started_at"]
        time.sleep(0.3)
    assert len(samples) >= 4
    wait_until_inactive(client, thread_id)
    assert messages(client, thread_id)["active_run"] is None
    events = {e["sequence_number"]: e for e in events_of(reconnect(client, thread_id))}
    for before, after, seen in samples:
        last = seen["active_run"]["last_event_id"]
        assert events[last]["created_at"] <= after + CLOCK_SLACK_SECONDS
        assert events[last + 1]["created_at"] >= before - CLOCK_SLACK_SECONDS
        # The assistant message listed with it holds at least the text up to `last`.
        text = "".join(events[i]["delta"] for i in range(2, last + 1))
        assert seen["data"][-1]["content"].startswith(text)


def test_a_process_has_one_group_membership_for_all_its_listeners_and_leaves_after(
        server, client):
    if not server.env.get("REDIS_URL"):
        pytest.skip("only Redis shows a group's members to another process")
    import redis

    from streaming.publish import RUN_ENDS_GROUP, RUN_EVENTS_GROUP

    layer = redis.Redis.from_url(server.env["REDIS_URL"])
    readers, watchers = (f"asgi:group:{group}" for group in (RUN_EVENTS_GROUP, RUN_ENDS_GROUP))
    assert _eventually(lambda: layer.zcard(readers) == 0)  # earlier tests' runs ended
    thread_id, _ = start_run(client, TEXT, token_delay_ms=400)
    # The run executes in the server process and listens to every event of it.
    assert _eventually(lambda: layer.zcard(readers) == 1)
    with client.stream("GET", f"/v1/model/response/{thread_id}/stream") as reply:
        # Held in a name: a line iterator that is dropped closes the connection.
        lines = reply.iter_lines()
        assert any(line.startswith("data: {") for line in lines)
        assert layer.zcard(readers) == 1  # the reader shares the process's membership
    client.post(f"/v1/model/response/{thread_id}/cancel")
    assert _eventually(lambda: layer.zcard(readers) == 0)
    assert layer.zcard(watchers) == 0  # only workers watch the run-ends group


def _eventually(check, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False
