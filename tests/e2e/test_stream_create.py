"""A streamed create over real HTTP against daphne."""

from tests.sse import events_of, read_stream

TEXT = "The quick brown fox jumps over the lazy dog"


def test_streamed_create_sends_contiguous_ids_in_order_then_done(client):
    frames = read_stream(client, "POST", "/v1/model/response", json={
        "model": "echo", "stream": True, "model_options": {"token_delay_ms": 1},
        "inputs": [{"role": "user", "content": TEXT}]})

    assert frames[0].retry == 3000
    assert frames[-1].is_done and frames[-1].id is None
    events = events_of(frames)
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))
    assert [f.id for f in frames if f.json] == [e["sequence_number"] for e in events]
    assert events[0]["event"] == "response.created"
    assert events[0]["status"] == "in_progress" and events[0]["model"] == "echo"
    assert {e["event"] for e in events[1:-1]} == {"response.content_delta"}
    assert "".join(e["delta"] for e in events[1:-1]) == TEXT
    assert events[-1]["event"] == "response.completed"
    assert events[-1]["response"] == [{"type": "text", "text": TEXT}]
    assert all("source" not in e for e in events)
    assert all(e["thread_id"].startswith("thrd_") and e["response_id"].startswith("resp_")
               for e in events)
