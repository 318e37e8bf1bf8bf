"""Schema fuzzing: schemathesis drives every documented operation of the running service."""

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.sse import events_of, parse_frames, read_stream

OPERATIONS = [
    ("GET", "/v1/health"), ("GET", "/v1/threads"), ("POST", "/v1/threads"),
    ("GET", "/v1/threads/{thread_id}"), ("DELETE", "/v1/threads/{thread_id}"),
    ("GET", "/v1/threads/{thread_id}/messages"), ("POST", "/v1/model/response"),
    ("GET", "/v1/model/response/{thread_id}/stream"),
    ("POST", "/v1/model/response/{thread_id}/cancel"),
]
# Negative data needs an input to break: the health check takes none.
CASES = [(method, path, mode) for method, path in OPERATIONS
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if not (path == "/v1/health" and mode is GenerationMode.NEGATIVE)]
# 17 operation-and-mode pairs x 10 examples: about 170 requests, 30-60 s here.
EXAMPLES_PER_OPERATION = 10
REQUEST_TIMEOUT_SECONDS = 30
# The same examples on every run, so `make test` is reproducible; FUZZ_RANDOM=1 explores
# new ones (hypothesis prints the seed of a failure).
DERANDOMIZE = os.environ.get("FUZZ_RANDOM") != "1"
ENVELOPE_ERROR_KEYS = {"code", "message", "system_message", "type", "status", "details",
                       "trace_id", "timestamp"}
SSE_LINE_END = re.compile(r"\r\n|\r|\n")
EVENT_KEYS = {"event", "sequence_number", "thread_id", "response_id", "created_at"}
PROTECTED_TEXT = "fuzzing must leave this stream intact"


@pytest.fixture(scope="module")
def fuzz_target(server_factory):
    """A server of its own (fuzzing creates many threads), a key and a finished run."""
    server = server_factory({"FREDDY_SSE_HEARTBEAT_SECONDS": "1"})
    key = server.create_key("org_fuzz")
    with server.client(key) as client:
        done = client.post("/v1/model/response", json={
            "model": "echo", "model_options": {"token_delay_ms": 0},
            "inputs": [{"role": "user", "content": PROTECTED_TEXT}]}).json()
        before = events_of(read_stream(client, "GET",
                                       f"/v1/model/response/{done['thread_id']}/stream"))
    schema = schemathesis.openapi.from_url(server.url + "/v1/openapi.json")
    return server, key, schema, done["thread_id"], before


def _steer(case, mode: GenerationMode, thread_id: str) -> None:
    """Point valid requests at real data; keep echo runs fast."""
    if mode is GenerationMode.POSITIVE:
        # Random ids only ever reach 404: read and cancel on a real thread instead
        # (never delete it), and create new threads with the model that exists.
        if case.path_parameters and case.method != "DELETE":
            case.path_parameters["thread_id"] = thread_id
        if isinstance(case.body, dict) and "inputs" in case.body:
            case.body.update(model="echo", thread_id=None, thread=None)
    # The fuzzer checks validation and errors, not throughput: short, fast runs.
    if isinstance(case.body, dict) and isinstance(case.body.get("model_options"), dict):
        options = case.body["model_options"]
        if isinstance(options.get("token_delay_ms"), int):
            options["token_delay_ms"] = min(options["token_delay_ms"], 5)
        if isinstance(options.get("repeat"), int):
            options["repeat"] = min(options["repeat"], 3)


def _assert_envelope(response) -> None:
    body = response.json()
    assert body["success"] is False and set(body["error"]) == ENVELOPE_ERROR_KEYS, body
    assert body["error"]["status"] == response.status_code, body
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert headers["x-request-id"] == [body["error"]["trace_id"]]


def _assert_whole_stream(response) -> None:
    """A stream that answered 200 is ordered, without holes, and ends with [DONE]."""
    # SSE lines end only at CR, LF or CRLF; str.splitlines would also cut at U+2028 etc.,
    # which a fuzzed delta may hold.
    frames = parse_frames(SSE_LINE_END.split(response.content.decode()))
    events = events_of(frames)
    assert frames[0].retry == 3000 and frames[-1].is_done
    assert [e["sequence_number"] for e in events] == [f.id for f in frames if f.json]
    ids = [e["sequence_number"] for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids))) if ids else True
    assert all(EVENT_KEYS <= set(e) for e in events)
    assert not events or events[-1]["event"] in {
        "response.completed", "response.error", "response.cancelled"}


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_fuzzed_requests_get_no_500_and_every_error_is_the_envelope(
        fuzz_target, method, path, mode):
    server, key, schema, thread_id, _ = fuzz_target
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              derandomize=DERANDOMIZE, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        _steer(case, mode, thread_id)
        response = case.call(base_url=server.url, headers={"X-API-Key": key},
                             timeout=REQUEST_TIMEOUT_SECONDS)
        checks = [not_a_server_error, content_type_conformance]
        if mode is GenerationMode.POSITIVE or response.status_code >= 400:
            checks.append(response_schema_conformance)
        case.validate_response(response, checks=checks)
        if response.status_code >= 400 and path != "/v1/health":
            _assert_envelope(response)
        content_type = response.headers.get("content-type", [""])[0]
        if response.status_code == 200 and content_type.startswith("text/event-stream"):
            _assert_whole_stream(response)

    fuzz()


def test_after_fuzzing_the_protected_run_still_replays_intact(fuzz_target):
    server, key, _, thread_id, before = fuzz_target
    with server.client(key) as client:
        frames = read_stream(client, "GET", f"/v1/model/response/{thread_id}/stream")
        messages = client.get(f"/v1/threads/{thread_id}/messages").json()["data"]

    after = events_of(frames)
    assert after == before
    assert [e["sequence_number"] for e in after] == list(range(1, len(after) + 1))
    assert all(e["source"] == "replay" for e in after) and frames[-1].is_done
    assert "".join(e["delta"] for e in after[1:-1]) == PROTECTED_TEXT
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", PROTECTED_TEXT), ("assistant", PROTECTED_TEXT)]


# Inputs the fuzzer found to break PostgreSQL (it stores no NUL), pinned for both backends.
NUL_BODIES = [
    ("/v1/model/response", {"inputs": [{"role": "user", "content": "a\u0000b"}]}),
    ("/v1/model/response", {"inputs": [{"content": [{"type": "text", "text": "\u0000"}]}]}),
    ("/v1/model/response", {"inputs": [{"content": "hi"}], "model_options": {"x": ["\u0000"]}}),
    ("/v1/model/response", {"inputs": [{"content": "hi"}], "metadata": {"k\u0000": "v"}}),
    ("/v1/threads", {"metadata": {"\u0000": "v"}}),
    ("/v1/threads", {"title": "\u0000"}),
]
NUL_PATHS = ["/v1/threads/a%00b", "/v1/threads/a%00b/messages",
             "/v1/model/response/a%00b/stream"]


def test_nul_characters_get_a_422_or_404_envelope_never_a_500(fuzz_target):
    server, key, _, _, _ = fuzz_target
    with server.client(key) as client:
        posted = [client.post(url, json=body) for url, body in NUL_BODIES]
        fetched = [client.get(url) for url in NUL_PATHS]
        cancelled = client.post("/v1/model/response/a%00b/cancel")

    assert [r.status_code for r in posted] == [422] * len(NUL_BODIES)
    assert [r.status_code for r in fetched + [cancelled]] == [404] * (len(NUL_PATHS) + 1)
    for reply in posted + fetched + [cancelled]:
        assert reply.json()["success"] is False
