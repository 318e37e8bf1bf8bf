"""Bad input gets the envelope with the right code and leaves nothing behind."""

import pytest

from tests.e2e.helpers import assert_complete_sequence, assert_envelope, echo_body, messages
from tests.e2e.helpers import own_key, reconnect, start_run, thread, wait_until_inactive
from tests.sse import events_of, read_stream

USER = [{"role": "user", "content": "hello there"}]
# (body fields replacing the valid ones, the field `details` must name)
BAD_CREATES = {
    "model is a number": ({"model": 123}, "model"),
    "unknown model": ({"model": "no-such-model"}, "model"),
    "inputs is a string": ({"inputs": "x"}, "inputs"),
    "inputs is empty": ({"inputs": []}, "inputs"),
    "inputs missing": ({"inputs": None}, "inputs"),
    "content empty": ({"inputs": [{"role": "user", "content": ""}]}, "inputs"),
    "content blank": ({"inputs": [{"role": "user", "content": "  \n "}]}, "inputs"),
    "content a number": ({"inputs": [{"role": "user", "content": 5}]}, "inputs"),
    "content parts empty": ({"inputs": [{"role": "user", "content": []}]}, "inputs"),
    "content part not text": ({"inputs": [{"content": [{"type": "text", "text": 5}]}]},
                              "inputs"),
    "texts blank": ({"inputs": [{"role": "user", "texts": [{"text": " "}]}]}, "inputs"),
    "unknown role": ({"inputs": [{"role": "robot", "content": "hi"}]}, "inputs"),
    "input not an object": ({"inputs": ["hi"]}, "inputs"),
    "stream is an object": ({"stream": {}}, "stream"),
    "stream is a word": ({"stream": "maybe"}, "stream"),
    "metadata is a list": ({"metadata": []}, "metadata"),
    "metadata has 17 keys": ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    "metadata key of 65": ({"metadata": {"k" * 65: "v"}}, "metadata"),
    "metadata value of 513": ({"metadata": {"k": "v" * 513}}, "metadata"),
    "metadata value a number": ({"metadata": {"k": 1}}, "metadata"),
    "model_options a string": ({"model_options": "fast"}, "model_options"),
    "negative token delay": ({"model_options": {"token_delay_ms": -1}}, "model_options"),
    "token delay too long": ({"model_options": {"token_delay_ms": 10001}}, "model_options"),
    "repeat zero": ({"model_options": {"repeat": 0}}, "model_options"),
    "repeat too large": ({"model_options": {"repeat": 100001}}, "model_options"),
    "repeat a word": ({"model_options": {"repeat": "many"}}, "model_options"),
    "thread_id a number": ({"thread_id": 123}, "thread_id"),
    "thread a number": ({"thread": 5}, "thread"),
    "thread id a number": ({"thread": {"id": 5}}, "thread"),
    "thread metadata too big": ({"thread": {"id": None, "metadata": {"k" * 65: "v"}}},
                                "thread"),
}
INVALID_JSON_BODIES = [b"{bad", b'{"inputs": [}', b"\xff\xfe", b"{'single': 'quotes'}"]


@pytest.fixture(scope="module")
def fresh(server):
    """A client of an organization used only here, so its threads can be counted."""
    with server.client(own_key(server, "org_validation")) as http:
        yield http


@pytest.fixture(scope="module")
def finished_thread(fresh) -> tuple[str, list[dict]]:
    """A thread with one finished run, and the events of that run."""
    thread_id, _ = start_run(fresh, "kept intact", token_delay_ms=0)
    wait_until_inactive(fresh, thread_id)
    return thread_id, events_of(reconnect(fresh, thread_id))


def _names(details: dict, field: str) -> bool:
    """`details` names the field itself or a part of it (`inputs.0.content`)."""
    return any(key == field or key.startswith(field + ".") for key in details)


def _thread_ids(http) -> list[str]:
    reply = http.get("/v1/threads", params={"limit": 100})
    assert reply.status_code == 200 and not reply.json()["has_more"]
    return [t["id"] for t in reply.json()["data"]]


def _assert_thread_unchanged(http, thread_id: str, events: list[dict]) -> None:
    assert thread(http, thread_id)["message_count"] == 2
    assert thread(http, thread_id)["status"] == "inactive"
    assert events_of(reconnect(http, thread_id)) == events


@pytest.mark.parametrize("change,field", BAD_CREATES.values(), ids=BAD_CREATES.keys())
def test_a_bad_create_is_422_naming_the_field_and_creates_nothing(
        fresh, finished_thread, change, field):
    thread_id, events = finished_thread
    before = _thread_ids(fresh)
    for target in (None, thread_id):
        body = {**echo_body("hello there", thread_id=target), **change}
        body = {k: v for k, v in body.items() if v is not None or k == "thread_id"}
        error = assert_envelope(fresh.post("/v1/model/response", json=body), 422,
                                "VALIDATION_ERROR")
        assert _names(error["details"], field), error["details"]
        assert field in error["message"]
    assert _thread_ids(fresh) == before
    _assert_thread_unchanged(fresh, thread_id, events)


@pytest.mark.parametrize("raw", INVALID_JSON_BODIES)
def test_a_body_that_is_not_json_is_400_invalid_json(fresh, finished_thread, raw):
    thread_id, events = finished_thread
    before = _thread_ids(fresh)
    headers = {"Content-Type": "application/json"}
    for url in ("/v1/model/response", "/v1/threads"):
        assert_envelope(fresh.post(url, content=raw, headers=headers), 400, "INVALID_JSON")
    assert _thread_ids(fresh) == before
    _assert_thread_unchanged(fresh, thread_id, events)


@pytest.mark.parametrize("body", [[], "text", None, 5])
def test_a_json_body_that_is_not_an_object_is_422(fresh, body):
    before = _thread_ids(fresh)
    reply = fresh.post("/v1/model/response", json=body)
    assert_envelope(reply, 422, "VALIDATION_ERROR")
    assert _thread_ids(fresh) == before


def test_unknown_fields_are_ignored_and_older_input_forms_accepted(fresh):
    body = {**echo_body("ignored extras", token_delay_ms=0, upstream_only=True),
            "temperature": 0.3, "tools": [], "surprise": {"deep": [1, 2]}}
    body["inputs"][0]["name"] = "someone"
    frames = read_stream(fresh, "POST", "/v1/model/response", json=body)
    events = assert_complete_sequence(frames)
    assert events[-1]["response"] == [{"type": "text", "text": "ignored extras"}]
    thread_id = events[0]["thread_id"]
    older = {"model": "echo", "stream": True, "thread": {"id": thread_id, "metadata": {}},
             "model_options": {"token_delay_ms": 0},
             "inputs": [{"role": "user", "texts": [{"text": "older "}, {"text": "form"}]}]}
    events = assert_complete_sequence(read_stream(fresh, "POST", "/v1/model/response",
                                                  json=older))
    assert events[0]["thread_id"] == thread_id
    assert events[-1]["response"] == [{"type": "text", "text": "older form"}]
    parts = {**older, "thread": thread_id, "inputs": [
        {"role": "user", "content": [{"type": "text", "text": "parts"}]}]}
    events = assert_complete_sequence(read_stream(fresh, "POST", "/v1/model/response",
                                                  json=parts))
    assert events[-1]["response"] == [{"type": "text", "text": "parts"}]
    assert thread(fresh, thread_id)["message_count"] == 6


@pytest.mark.parametrize("title,metadata,field", [
    ("t" * 201, {}, "title"), (5, {}, "title"),
    ("ok", {f"k{i}": "v" for i in range(17)}, "metadata"),
    ("ok", {"k" * 65: "v"}, "metadata"), ("ok", {"k": "v" * 513}, "metadata"),
])
def test_a_bad_thread_create_is_422_and_creates_nothing(fresh, title, metadata, field):
    before = _thread_ids(fresh)
    reply = fresh.post("/v1/threads", json={"title": title, "metadata": metadata})
    error = assert_envelope(reply, 422, "VALIDATION_ERROR")
    assert _names(error["details"], field), error["details"]
    assert _thread_ids(fresh) == before


def test_metadata_at_the_limits_is_accepted(fresh):
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    reply = fresh.post("/v1/threads", json={"title": "t" * 200, "metadata": metadata})
    assert reply.status_code == 201, reply.text
    assert reply.json()["metadata"] == metadata
    fresh.delete(f"/v1/threads/{reply.json()['id']}")


@pytest.mark.parametrize("method,path", [
    ("PUT", "/v1/threads"), ("PATCH", "/v1/threads/{thread}"),
    ("POST", "/v1/threads/{thread}/messages"), ("GET", "/v1/model/response"),
    ("PUT", "/v1/model/response"), ("DELETE", "/v1/model/response/{thread}/stream"),
    ("POST", "/v1/model/response/{thread}/stream"), ("GET", "/v1/model/response/{thread}/cancel"),
])
def test_a_wrong_method_is_405_in_the_envelope(fresh, finished_thread, method, path):
    reply = fresh.request(method, path.format(thread=finished_thread[0]))
    assert_envelope(reply, 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/threads/", "/v1/threads/a/b/c",
                                  "/nothing", "/v1/model/response/x/stream/more"])
def test_an_unknown_url_is_404_in_the_envelope(fresh, path):
    assert_envelope(fresh.get(path), 404, "NOT_FOUND")


def test_list_parameters_out_of_range_are_422(fresh, finished_thread):
    for params in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"order": "sideways"},
                   {"status": "sleeping"}, {"after": "thrd_unknown"}):
        error = assert_envelope(fresh.get("/v1/threads", params=params), 422,
                                "VALIDATION_ERROR")
        assert set(params) <= set(error["details"]), error
    reply = fresh.get(f"/v1/threads/{finished_thread[0]}/messages", params={"limit": 0})
    assert_envelope(reply, 422, "VALIDATION_ERROR")
    assert messages(fresh, finished_thread[0], limit=1)["has_more"] is True
