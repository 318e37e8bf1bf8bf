"""Authentication, ownership and the error envelope on every endpoint (test 7)."""

import pytest

from tests.e2e.helpers import assert_envelope, echo_body, messages, own_key, start_run
from tests.e2e.helpers import wait_until_inactive

UNKNOWN_THREAD = "thrd_00000000000000000000000000000000"
# Every /v1 endpoint that needs a key, as (method, path template, JSON body).
ENDPOINTS = [
    ("GET", "/v1/threads", None),
    ("POST", "/v1/threads", {}),
    ("GET", "/v1/threads/{thread}", None),
    ("DELETE", "/v1/threads/{thread}", None),
    ("GET", "/v1/threads/{thread}/messages", None),
    ("POST", "/v1/model/response", echo_body("hi", thread_id=None)),
    ("GET", "/v1/model/response/{thread}/stream", None),
    ("POST", "/v1/model/response/{thread}/cancel", None),
]
VALID_LOOKING_UNKNOWN_KEY = "fk_" + "A" * 43
BAD_HEADERS = {
    "missing": {},
    "empty x-api-key": {"X-API-Key": ""},
    "empty bearer": {"Authorization": "Bearer"},
    "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
    "malformed x-api-key": {"X-API-Key": "not-a-key"},
    "malformed bearer": {"Authorization": "Bearer fk_short"},
    "bad characters": {"X-API-Key": "fk_" + "!" * 43},
    "unknown x-api-key": {"X-API-Key": VALID_LOOKING_UNKNOWN_KEY},
    "unknown bearer": {"Authorization": f"Bearer {VALID_LOOKING_UNKNOWN_KEY}"},
}


@pytest.fixture(scope="module")
def owned_thread(server, api_key) -> str:
    """A thread of the key's organization with one finished run."""
    with server.client(api_key) as http:
        thread_id, _ = start_run(http, "owned by org_test", token_delay_ms=0)
        wait_until_inactive(http, thread_id)
    return thread_id


def _call(http, method, template, body, thread_id, **kwargs):
    return http.request(method, template.format(thread=thread_id), json=body, **kwargs)


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_every_endpoint_answers_401_without_a_valid_key(server, owned_thread, headers):
    with server.client() as http:
        for method, template, body in ENDPOINTS:
            reply = _call(http, method, template, body, owned_thread, headers=headers)
            assert_envelope(reply, 401, "UNAUTHORIZED")
        assert http.get("/v1/health", headers=headers).status_code == 200


def test_bearer_and_x_api_key_both_authenticate(server, api_key, owned_thread):
    with server.client() as http:
        for headers in ({"X-API-Key": api_key}, {"Authorization": f"Bearer {api_key}"},
                        {"Authorization": f"bearer {api_key}"}):
            reply = http.get(f"/v1/threads/{owned_thread}", headers=headers)
            assert reply.status_code == 200, reply.text


def test_a_revoked_key_gets_401_with_both_header_styles(server):
    key = own_key(server, "org_revoked")
    with server.client() as http:
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
            assert http.get("/v1/threads", headers=headers).status_code == 200
        server.manage("shell", "-c", (
            "from freddy.auth import hash_api_key; from threads.models import ApiKey; "
            "from threads.services import api_key_revoke; "
            f"api_key_revoke(api_key=ApiKey.objects.get(key_hash=hash_api_key('{key}')))"))
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
            for method, template, body in ENDPOINTS:
                reply = _call(http, method, template, body, UNKNOWN_THREAD, headers=headers)
                assert_envelope(reply, 401, "UNAUTHORIZED")


def test_another_organizations_thread_is_403_everywhere_and_left_untouched(
        server, api_key, other_api_key, owned_thread):
    with server.client(api_key) as owner:
        before = messages(owner, owned_thread)["data"]
    with server.client(other_api_key) as other:
        for method, template, body in ENDPOINTS[2:]:
            if template == "/v1/model/response":
                body = echo_body("intrusion", thread_id=owned_thread)
            assert_envelope(_call(other, method, template, body, owned_thread), 403,
                            "FORBIDDEN")
        legacy = echo_body("intrusion")
        legacy["thread"] = {"id": owned_thread, "metadata": {}}
        assert_envelope(other.post("/v1/model/response", json=legacy), 403, "FORBIDDEN")
        listed = other.get("/v1/threads", params={"limit": 100}).json()["data"]
        assert owned_thread not in [t["id"] for t in listed]
        stolen = other.post("/v1/threads", json={"organization_id": "org_test"})
        assert_envelope(stolen, 403, "FORBIDDEN")
    with server.client(api_key) as owner:
        assert messages(owner, owned_thread)["data"] == before


def test_an_unknown_thread_is_404_thread_not_found_everywhere(client):
    for method, template, body in ENDPOINTS[2:]:
        if template == "/v1/model/response":
            body = echo_body("hello", thread_id=UNKNOWN_THREAD)
        assert_envelope(_call(client, method, template, body, UNKNOWN_THREAD), 404,
                        "THREAD_NOT_FOUND")


def test_a_thread_that_never_had_a_run_has_no_stream(client):
    thread_id = client.post("/v1/threads", json={"title": "empty"}).json()["id"]
    assert_envelope(client.get(f"/v1/model/response/{thread_id}/stream"), 404,
                    "RESPONSE_NOT_FOUND")
    reply = client.post(f"/v1/model/response/{thread_id}/cancel")
    assert reply.json() == {"success": True, "thread_id": thread_id, "response_id": None,
                            "status": "inactive"}


def test_a_second_create_on_a_busy_thread_is_409_and_changes_nothing(client):
    thread_id, response_id = start_run(client, "busy busy busy busy", token_delay_ms=300)
    count = len(messages(client, thread_id)["data"])
    reply = client.post("/v1/model/response", json=echo_body("again", thread_id=thread_id))
    assert_envelope(reply, 409, "CONFLICT")
    listed = messages(client, thread_id)
    assert len(listed["data"]) == count
    assert listed["active_run"]["response_id"] == response_id
    client.post(f"/v1/model/response/{thread_id}/cancel")


def test_validation_errors_name_each_bad_field(client):
    reply = client.post("/v1/model/response", json={
        "model": 123, "inputs": "x", "stream": True, "metadata": []})
    error = assert_envelope(reply, 422, "VALIDATION_ERROR")
    assert {"model", "inputs", "metadata"} <= set(error["details"]), error["details"]
    assert "model" in error["message"]


def test_each_request_gets_its_own_trace_id(client):
    ids = {assert_envelope(client.get(f"/v1/threads/{UNKNOWN_THREAD}"), 404,
                           "THREAD_NOT_FOUND")["trace_id"] for _ in range(5)}
    assert len(ids) == 5
    ok = client.get("/v1/threads")
    assert ok.headers["X-Request-ID"].startswith("req_")
