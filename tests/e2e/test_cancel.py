"""Cancelling a run mid-stream, and deleting a thread under a live run (test 8)."""

import threading
import time

from tests.e2e.helpers import assert_complete_sequence, assert_envelope, echo_body, messages
from tests.e2e.helpers import reconnect, start_run, thread, wait_until_inactive
from tests.sse import events_of, iter_frames, read_stream

SLOW_TEXT = " ".join(f"word{i}" for i in range(40))  # 40 tokens, 100 ms apart: 4 s


class Reader(threading.Thread):
    """Reads a thread's stream to its end in the background."""

    def __init__(self, server, api_key, thread_id: str) -> None:
        super().__init__(daemon=True)
        self.server, self.api_key, self.thread_id = server, api_key, thread_id
        self.frames = []
        self.started_reading = threading.Event()

    def run(self) -> None:
        with self.server.client(self.api_key) as http, http.stream(
                "GET", f"/v1/model/response/{self.thread_id}/stream") as reply:
            for frame in iter_frames(reply.iter_lines()):
                self.frames.append(frame)
                if frame.json:
                    self.started_reading.set()


def test_cancel_ends_open_streams_with_cancelled_then_done_and_keeps_partial_text(
        server, api_key, client):
    body = echo_body(SLOW_TEXT, token_delay_ms=100)
    with client.stream("POST", "/v1/model/response", json=body) as live:
        frames = iter_frames(live.iter_lines())
        seen = []
        for frame in frames:
            seen.append(frame)
            if len(events_of(seen)) == 4:
                break
        thread_id = events_of(seen)[0]["thread_id"]
        other = Reader(server, api_key, thread_id)
        other.start()
        assert other.started_reading.wait(10)
        reply = client.post(f"/v1/model/response/{thread_id}/cancel")
        seen.extend(frames)
    other.join(10)
    assert not other.is_alive()

    assert reply.status_code == 200, reply.text
    cancelled = reply.json()
    assert set(cancelled) == {"success", "thread_id", "response_id", "status",
                              "partial_content_saved", "elapsed_seconds"}
    assert cancelled["success"] is True and cancelled["status"] == "cancelled"
    assert cancelled["thread_id"] == thread_id and cancelled["partial_content_saved"] is True
    assert 0 <= cancelled["elapsed_seconds"] < 10
    for stream in (seen, other.frames):
        events = assert_complete_sequence(stream)
        assert events[-1]["event"] == "response.cancelled"
        assert events[-1]["status"] == "cancelled"
        assert events[-1]["response_id"] == cancelled["response_id"]
    events = events_of(seen)
    partial = "".join(e["delta"] for e in events[1:-1])
    assert partial and partial != SLOW_TEXT and SLOW_TEXT.startswith(partial)
    assert events[-1]["partial_content_length"] == len(partial)

    listed = messages(client, thread_id)
    assert listed["active_run"] is None
    assistant = listed["data"][-1]
    assert assistant["role"] == "assistant" and assistant["content"] == partial
    assert assistant["status"] == "cancelled" and assistant["metadata"]["cancelled"] is True
    assert thread(client, thread_id)["status"] == "inactive"
    # Nothing was produced after the terminal event.
    assert events_of(reconnect(client, thread_id)) == [
        {**e, "source": "replay"} for e in events]


def test_after_a_cancel_the_thread_accepts_a_new_create(client):
    thread_id, _ = start_run(client, SLOW_TEXT, token_delay_ms=100)
    assert client.post(f"/v1/model/response/{thread_id}/cancel").json()["status"] == "cancelled"
    frames = read_stream(client, "POST", "/v1/model/response",
                         json=echo_body("next turn", thread_id=thread_id, token_delay_ms=0))
    events = assert_complete_sequence(frames)
    assert events[-1]["event"] == "response.completed"
    assert events[-1]["response"] == [{"type": "text", "text": "next turn"}]
    history = messages(client, thread_id)["data"]
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert [m["status"] for m in history[1::2]] == ["cancelled", "completed"]


def test_cancel_without_an_active_run_changes_nothing(client):
    thread_id, _ = start_run(client, "quick", token_delay_ms=0)
    wait_until_inactive(client, thread_id)
    before = messages(client, thread_id)["data"]
    reply = client.post(f"/v1/model/response/{thread_id}/cancel")
    assert reply.json() == {"success": True, "thread_id": thread_id, "response_id": None,
                            "status": "inactive"}
    assert messages(client, thread_id)["data"] == before
    assert events_of(reconnect(client, thread_id))[-1]["event"] == "response.completed"


def test_deleting_a_thread_under_a_live_run_cancels_it_and_the_server_keeps_serving(
        server, api_key, client):
    log_start = server.log_path.stat().st_size
    thread_id, _ = start_run(client, SLOW_TEXT, token_delay_ms=100)
    reader = Reader(server, api_key, thread_id)
    reader.start()
    assert reader.started_reading.wait(10)
    reply = client.delete(f"/v1/threads/{thread_id}")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"success": True, "id": thread_id, "object": "thread.deleted",
                            "deleted": True}
    reader.join(10)
    assert not reader.is_alive()
    events = assert_complete_sequence(reader.frames)
    assert events[-1]["event"] == "response.cancelled"
    for path in (f"/v1/threads/{thread_id}", f"/v1/threads/{thread_id}/messages",
                 f"/v1/model/response/{thread_id}/stream"):
        assert_envelope(client.get(path), 404, "THREAD_NOT_FOUND")
    assert_envelope(client.delete(f"/v1/threads/{thread_id}"), 404, "THREAD_NOT_FOUND")
    assert thread_id not in [t["id"] for t in client.get("/v1/threads").json()["data"]]
    frames = read_stream(client, "POST", "/v1/model/response",
                         json=echo_body("still serving", token_delay_ms=0))
    assert assert_complete_sequence(frames)[-1]["event"] == "response.completed"
    assert client.get("/v1/health").status_code == 200
    with open(server.log_path, "rb") as log:
        log.seek(log_start)
        assert b"Traceback" not in log.read()


def test_cancelling_a_fast_run_reports_exactly_the_partial_text_it_saved(client):
    # Deltas are stored back to back, so the cancel waits for the run's lock while
    # one more batch commits: the terminal event must count that batch too.
    for attempt in range(3):
        thread_id, _ = start_run(client, "alpha beta", token_delay_ms=0, repeat=20000)
        time.sleep(0.2 + 0.1 * attempt)
        assert client.post(f"/v1/model/response/{thread_id}/cancel").json()[
            "status"] == "cancelled"
        events = assert_complete_sequence(reconnect(client, thread_id))
        text = "".join(e["delta"] for e in events[1:-1])
        assert events[-1]["event"] == "response.cancelled"
        assert events[-1]["partial_content_length"] == len(text)
        assert messages(client, thread_id)["data"][-1]["content"] == text
