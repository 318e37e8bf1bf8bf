"""Threads, messages and the non-streamed create, as the contract shapes them."""

import pytest

from tests.e2e.helpers import assert_envelope, echo_body, messages, start_run, thread
from tests.e2e.helpers import own_key, wait_until_inactive

THREAD_KEYS = {"id", "object", "created_at", "updated_at", "last_message_at", "metadata",
               "organization_id", "title", "status", "message_count", "last_model_used"}
MESSAGE_KEYS = {"id", "object", "created_at", "thread_id", "role", "content", "metadata",
                "status", "response_id"}
LIST_KEYS = {"object", "data", "first_id", "last_id", "has_more", "limit"}


@pytest.fixture(scope="module")
def own(server):
    """A client of an organization used only by this module."""
    with server.client(own_key(server, "org_threads_api")) as http:
        yield http


def test_create_get_and_list_threads_in_the_contract_shape(own):
    reply = own.post("/v1/threads", json={"title": "First", "metadata": {"k": "v"},
                                          "organization_id": "org_threads_api"})
    assert reply.status_code == 201, reply.text
    created = reply.json()
    assert set(created) == THREAD_KEYS
    assert created["id"].startswith("thrd_") and len(created["id"]) >= 5 + 24
    assert created["object"] == "thread" and created["title"] == "First"
    assert created["metadata"] == {"k": "v"} and created["organization_id"] == "org_threads_api"
    assert created["status"] == "inactive" and created["message_count"] == 0
    assert created["last_model_used"] is None
    assert created["created_at"].endswith("Z")
    assert thread(own, created["id"]) == created

    second = own.post("/v1/threads", json={}).json()
    assert second["title"] is None and second["metadata"] == {}
    listed = own.get("/v1/threads").json()
    assert set(listed) == LIST_KEYS and listed["object"] == "list" and listed["limit"] == 20
    ids = [t["id"] for t in listed["data"]]
    assert ids.index(second["id"]) < ids.index(created["id"])  # newest activity first
    assert listed["first_id"] == ids[0] and listed["last_id"] == ids[-1]


def test_thread_list_pages_with_cursors_and_filters_by_status(own):
    made = [own.post("/v1/threads", json={"title": f"page {i}"}).json()["id"]
            for i in range(3)]
    page = own.get("/v1/threads", params={"limit": 2}).json()
    assert [t["id"] for t in page["data"]] == made[::-1][:2] and page["has_more"] is True
    after = own.get("/v1/threads", params={"limit": 2, "after": page["last_id"]}).json()
    assert after["data"][0]["id"] == made[0]
    before = own.get("/v1/threads", params={"limit": 2, "before": made[0]}).json()
    assert [t["id"] for t in before["data"]] == made[::-1][:2]
    ascending = own.get("/v1/threads", params={"order": "asc", "limit": 100}).json()
    assert [t["id"] for t in ascending["data"]][-3:] == made

    thread_id, _ = start_run(own, "status filter check", token_delay_ms=200)
    streaming = own.get("/v1/threads", params={"status": "streaming"}).json()["data"]
    assert [t["id"] for t in streaming] == [thread_id]
    assert streaming[0]["status"] == "streaming"
    inactive = own.get("/v1/threads", params={"status": "inactive", "limit": 100}).json()
    assert thread_id not in [t["id"] for t in inactive["data"]]
    own.post(f"/v1/model/response/{thread_id}/cancel")
    assert own.get("/v1/threads", params={"status": "streaming"}).json()["data"] == []


def test_messages_list_oldest_first_with_response_ids_and_no_active_run(own):
    body = echo_body("the last user words", stream=False, token_delay_ms=0)
    body["inputs"] = [{"role": "system", "content": "be brief"},
                      {"role": "user", "content": "first words"},
                      {"role": "user", "content": "the last user words"}]
    result = own.post("/v1/model/response", json=body).json()
    listed = messages(own, result["thread_id"])
    assert set(listed) == LIST_KEYS | {"active_run"} and listed["active_run"] is None
    data = listed["data"]
    assert all(set(m) == MESSAGE_KEYS and m["object"] == "message" for m in data)
    assert [m["role"] for m in data] == ["system", "user", "user", "assistant"]
    assert [m["content"] for m in data] == ["be brief", "first words", "the last user words",
                                            "the last user words"]
    assert [m["response_id"] for m in data] == [None, None, None, result["response_id"]]
    assert data[-1]["status"] == "completed" and data[-1]["id"].startswith("msg_")
    newest = messages(own, result["thread_id"], order="desc", limit=1)
    assert newest["data"][0]["id"] == data[-1]["id"] and newest["has_more"] is True
    assert thread(own, result["thread_id"])["message_count"] == 4


def test_a_non_streamed_create_waits_and_answers_in_the_contract_shape(own):
    reply = own.post("/v1/model/response", json=echo_body(
        "wait for the whole answer", stream=False, token_delay_ms=1))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    result = reply.json()
    assert {"success", "thread_id", "response_id", "response", "stop_reason",
            "is_summarized", "usage"} <= set(result)
    assert result["success"] is True and result["is_summarized"] is False
    assert result["thread_id"].startswith("thrd_")
    assert result["response_id"].startswith("resp_")
    assert result["response"] == [{"type": "text", "text": "wait for the whole answer"}]
    assert result["stop_reason"] == "end_turn"
    assert result["usage"] == {"input_tokens": 5, "output_tokens": 5}
    current = thread(own, result["thread_id"])
    assert current["status"] == "inactive" and current["last_model_used"] == "echo"
    # The default is not streamed.
    body = echo_body("default", token_delay_ms=0)
    del body["stream"]
    assert own.post("/v1/model/response", json=body).json()["response"] == [
        {"type": "text", "text": "default"}]


def test_a_create_with_thread_metadata_starts_a_thread_that_keeps_it(own):
    body = {**echo_body("with metadata", stream=False, token_delay_ms=0),
            "thread": {"id": None, "metadata": {"source": "test"}}, "metadata": {"m": "1"}}
    del body["thread_id"]
    result = own.post("/v1/model/response", json=body).json()
    assert thread(own, result["thread_id"])["metadata"] == {"source": "test"}


def test_delete_removes_the_thread_its_messages_and_its_stream(own):
    thread_id, _ = start_run(own, "to be deleted", token_delay_ms=0)
    wait_until_inactive(own, thread_id)
    reply = own.delete(f"/v1/threads/{thread_id}")
    assert reply.json() == {"success": True, "id": thread_id, "object": "thread.deleted",
                            "deleted": True}
    for path in (f"/v1/threads/{thread_id}", f"/v1/threads/{thread_id}/messages",
                 f"/v1/model/response/{thread_id}/stream"):
        assert_envelope(own.get(path), 404, "THREAD_NOT_FOUND")
    assert thread_id not in [t["id"] for t in own.get(
        "/v1/threads", params={"limit": 100}).json()["data"]]
