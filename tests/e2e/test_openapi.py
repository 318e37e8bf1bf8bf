"""The OpenAPI 3 schema at /v1/openapi.json and the docs page at /docs/, over real HTTP."""

import re

import httpx
import pytest
from openapi_spec_validator import validate

# Every endpoint of API.md section 4.
CONTRACT_ENDPOINTS = {
    ("post", "/v1/threads"), ("get", "/v1/threads"), ("get", "/v1/threads/{thread_id}"),
    ("delete", "/v1/threads/{thread_id}"), ("get", "/v1/threads/{thread_id}/messages"),
    ("post", "/v1/model/response"), ("get", "/v1/model/response/{thread_id}/stream"),
    ("post", "/v1/model/response/{thread_id}/cancel"), ("get", "/v1/health"),
}
ENVELOPE_ERROR_FIELDS = {"code", "message", "system_message", "type", "status", "details",
                         "trace_id", "timestamp"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(server) -> dict:
    reply = httpx.get(server.url + "/v1/openapi.json", timeout=30)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    return reply.json()


def _operations(schema: dict) -> dict[tuple[str, str], dict]:
    return {(method, path): operation for path, item in schema["paths"].items()
            for method, operation in item.items() if method in HTTP_METHODS}


def test_schema_validates_as_openapi_3(schema):
    validate(schema)
    assert schema["openapi"].startswith("3.")


def test_schema_lists_every_endpoint_of_the_contract_and_nothing_else(schema):
    assert set(_operations(schema)) == CONTRACT_ENDPOINTS


def test_every_documented_path_is_served(schema, client):
    for method, path in _operations(schema):
        url = path.replace("{thread_id}", "thrd_doesnotexist")
        reply = client.request(method.upper(), url, json={} if method == "post" else None)
        # A route that does not exist answers the generic NOT_FOUND.
        assert reply.status_code != 405, (method, path)
        if reply.status_code == 404:
            assert reply.json()["error"]["code"] != "NOT_FOUND", (method, path)


def test_stream_endpoints_document_sse_frames_done_and_replay(schema):
    operations = _operations(schema)
    for key in [("get", "/v1/model/response/{thread_id}/stream"),
                ("post", "/v1/model/response")]:
        ok = operations[key]["responses"]["200"]
        assert "text/event-stream" in ok["content"], key
        for needle in ["id: ", "data: [DONE]", '"source": "replay"', "retry: 3000",
                       ": keep-alive", "response.cancelled", '"synthesized": true']:
            assert needle in ok["description"], (key, needle)
    parameters = {p["name"] for p in operations[
        ("get", "/v1/model/response/{thread_id}/stream")]["parameters"]}
    assert {"thread_id", "last_event_id", "Last-Event-ID"} <= parameters


def test_every_error_response_is_the_envelope(schema):
    envelope = schema["components"]["schemas"]["ErrorEnvelope"]
    error = schema["components"]["schemas"]["Error"]
    assert set(envelope["properties"]) == {"success", "error"}
    assert set(error["properties"]) == ENVELOPE_ERROR_FIELDS
    for (method, path), operation in _operations(schema).items():
        if path == "/v1/health":
            continue  # its 503 is the health body, as the contract says
        errors = {code: r for code, r in operation["responses"].items()
                  if code.startswith(("4", "5"))}
        assert "401" in errors and "500" in errors, (method, path)
        for response in errors.values():
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorEnvelope"}


def test_keyed_operations_accept_either_api_key_header(schema):
    for (method, path), operation in _operations(schema).items():
        expected = [] if path == "/v1/health" else [{"ApiKeyHeader": []}, {"BearerAuth": []}]
        assert operation.get("security", []) == expected, (method, path)


def test_docs_page_is_served_locally_with_no_cdn(server):
    page = httpx.get(server.url + "/docs/", timeout=30)

    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/v1/openapi.json" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    for asset in assets:
        assert httpx.get(server.url + asset, timeout=30).status_code == 200, asset
