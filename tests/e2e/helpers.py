"""Helpers of the issue-2 end-to-end tests: start runs, read state, check envelopes."""

import re
import time

import httpx

from tests.server import LiveServer
from tests.sse import Frame, events_of, iter_frames

ENVELOPE_ERROR_KEYS = {"code", "message", "system_message", "type", "status", "details",
                       "trace_id", "timestamp"}
ERROR_TYPES = {
    "UNAUTHORIZED": "authentication_error", "FORBIDDEN": "authorization_error",
    "THREAD_NOT_FOUND": "not_found_error", "RESPONSE_NOT_FOUND": "not_found_error",
    "NOT_FOUND": "not_found_error", "VALIDATION_ERROR": "invalid_request_error",
    "INVALID_JSON": "invalid_request_error", "METHOD_NOT_ALLOWED": "invalid_request_error",
    "CONFLICT": "conflict_error", "INTERNAL_ERROR": "server_error",
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# Bounds every wait on a run in these tests; a run that needs longer is a failure.
RUN_WAIT_SECONDS = 30
# The organizations of these tests that need their own key, made in one process: each
# `manage.py` start costs seconds on a loaded machine.
OWN_ORGANIZATIONS = ("org_revoked", "org_validation", "org_threads_api")
_keys: dict[tuple[str, str], str] = {}


def own_key(server: LiveServer, organization: str) -> str:
    """A key of one of OWN_ORGANIZATIONS on this server (all made on first use)."""
    if (server.url, organization) not in _keys:
        script = ("from threads.services import api_key_create\n"
                  f"for org in {OWN_ORGANIZATIONS!r}:\n"
                  "    print('KEY', org, api_key_create(organization_id=org)[1])")
        for line in server.manage("shell", "-c", script).splitlines():
            if line.startswith("KEY "):
                _, org, key = line.split()
                _keys[(server.url, org)] = key
    return _keys[(server.url, organization)]


def echo_body(text: str, *, stream: bool = True, thread_id: str | None = None,
              **options) -> dict:
    """A create body for the echo model."""
    return {"model": "echo", "stream": stream, "thread_id": thread_id,
            "model_options": options, "inputs": [{"role": "user", "content": text}]}


def start_run(client: httpx.Client, text: str, *, thread_id: str | None = None,
              **options) -> tuple[str, str]:
    """Create a streamed run, drop the connection after `response.created`."""
    with client.stream("POST", "/v1/model/response",
                       json=echo_body(text, thread_id=thread_id, **options)) as response:
        assert response.status_code == 200, response.read()
        for frame in iter_frames(response.iter_lines()):
            if frame.json:
                assert frame.json["event"] == "response.created"
                return frame.json["thread_id"], frame.json["response_id"]
    raise AssertionError("the stream ended before response.created")


def messages(client: httpx.Client, thread_id: str, **params) -> dict:
    reply = client.get(f"/v1/threads/{thread_id}/messages", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def thread(client: httpx.Client, thread_id: str) -> dict:
    reply = client.get(f"/v1/threads/{thread_id}")
    assert reply.status_code == 200, reply.text
    return reply.json()


def wait_until_inactive(client: httpx.Client, thread_id: str) -> dict:
    """Poll the thread until no run is active; the thread."""
    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while time.monotonic() < deadline:
        if (current := thread(client, thread_id))["status"] == "inactive":
            return current
        time.sleep(0.05)
    raise AssertionError(f"thread {thread_id} still streaming after {RUN_WAIT_SECONDS}s")


def reconnect(client: httpx.Client, thread_id: str, *, stop_after: int | None = None,
              **params) -> list[Frame]:
    """Read the thread's stream (to the end or `stop_after` event frames)."""
    frames = []
    with client.stream("GET", f"/v1/model/response/{thread_id}/stream",
                       params=params) as response:
        assert response.status_code == 200, response.read()
        for frame in iter_frames(response.iter_lines()):
            frames.append(frame)
            if stop_after is not None and len(events_of(frames)) >= stop_after:
                break
    return frames


def assert_complete_sequence(frames: list[Frame], *, after: int = 0) -> list[dict]:
    """Ids after+1..n with nothing missing or repeated, one terminal event, then [DONE]."""
    events = events_of(frames)
    ids = [e["sequence_number"] for e in events]
    assert ids == list(range(after + 1, after + 1 + len(ids))), ids[:20]
    assert [f.id for f in frames if f.json] == ids
    assert frames[-1].is_done and frames[-1].id is None
    assert events[-1]["event"].startswith("response.")
    assert events[-1]["event"] in {"response.completed", "response.cancelled",
                                   "response.error"}
    assert all(e["event"] not in {"response.completed", "response.cancelled",
                                  "response.error"} for e in events[:-1])
    return events


def assert_envelope(reply: httpx.Response, status: int, code: str) -> dict:
    """The reply is exactly the contract's error envelope; its `error` object."""
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json"), reply.headers
    body = reply.json()
    assert set(body) == {"success", "error"} and body["success"] is False, body
    error = body["error"]
    assert set(error) == ENVELOPE_ERROR_KEYS, error
    assert error["code"] == code and error["status"] == status, error
    assert error["type"] == ERROR_TYPES[code], error
    assert error["trace_id"] == reply.headers["X-Request-ID"], error
    assert error["trace_id"].startswith("req_")
    assert TIMESTAMP.match(error["timestamp"]), error
    assert isinstance(error["details"], dict)
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in reply.text and 'File "' not in reply.text
    return error
