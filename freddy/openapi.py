"""The OpenAPI 3 description of the contract: shared pieces and the generator hook.

The create and stream endpoints are plain async Django views (DRF cannot stream), so
spectacular cannot introspect them; every endpoint of the contract is therefore
described by a stub in `freddy.openapi_views`, which the preprocessing hook puts in
place of what the URL conf exposes. The served views are untouched.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

SSE_MEDIA_TYPE = "text/event-stream"

SSE_DESCRIPTION = """\
A Server-Sent Event stream (`Content-Type: text/event-stream`, `Cache-Control: no-cache`,
`X-Accel-Buffering: no`). It starts with `retry: 3000` and a blank line. Each event is a
frame of an `id: <sequence_number>` line and one `data:` line of JSON, then a blank line;
there is no `event:` line:

```
id: 7
data: {"event": "response.content_delta", "sequence_number": 7, "thread_id": "thrd_…", \
"response_id": "resp_…", "delta": " world", "created_at": 1763461800.123}

```

Every JSON payload has `event`, `sequence_number` (equal to the `id:`, 1, 2, 3, … without
holes), `thread_id`, `response_id` and `created_at` (Unix epoch seconds, float). Events in
order: `response.created` (`status: "in_progress"`, `user_message_id`, `model`), then
`response.content_delta` (`delta`) many times, then one terminal event:
`response.completed` (`status: "completed"`, `response: [{"type": "text", "text"}]`,
`stop_reason`, `usage`), `response.error` (`status: "failed"`, `code`, `message`) or
`response.cancelled` (`status: "cancelled"`, `partial_content_length`).

After the terminal event the server sends `data: [DONE]` (no `id:` line) and closes.
Frames stored before this connection started carry `"source": "replay"`; live frames have
no `source` key. Once a finished run's buffer has expired, a reconnect gets one terminal
frame rebuilt from the saved message, with `"source": "replay"` and `"synthesized": true`.
While no event flows, a comment line `: keep-alive` is sent every
`FREDDY_SSE_HEARTBEAT_SECONDS`. A failure after the stream started ends it with a
`response.error` frame, never with a JSON error envelope.
"""

ERROR_CODES = ["UNAUTHORIZED", "FORBIDDEN", "THREAD_NOT_FOUND", "RESPONSE_NOT_FOUND",
               "NOT_FOUND", "VALIDATION_ERROR", "INVALID_JSON", "METHOD_NOT_ALLOWED",
               "CONFLICT", "RATE_LIMITED", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE"]
ERROR_TYPES = ["authentication_error", "authorization_error", "not_found_error",
               "invalid_request_error", "conflict_error", "rate_limit_error", "server_error"]

ErrorEnvelope = inline_serializer("ErrorEnvelope", fields={
    "success": serializers.BooleanField(help_text="Always false."),
    "error": inline_serializer("Error", fields={
        "code": serializers.ChoiceField(choices=ERROR_CODES),
        "message": serializers.CharField(),
        "system_message": serializers.CharField(),
        "type": serializers.ChoiceField(choices=ERROR_TYPES),
        "status": serializers.IntegerField(help_text="The HTTP status code."),
        "details": serializers.DictField(
            help_text="For VALIDATION_ERROR, one entry per bad field."),
        "trace_id": serializers.CharField(help_text="Also sent as X-Request-ID."),
        "timestamp": serializers.DateTimeField(),
    }),
})

_ERROR_MEANINGS = {
    400: "INVALID_JSON: the body is not JSON.",
    401: "UNAUTHORIZED: missing, malformed, unknown or revoked API key.",
    403: "FORBIDDEN: the thread belongs to another organization.",
    404: "THREAD_NOT_FOUND, RESPONSE_NOT_FOUND or NOT_FOUND.",
    409: "CONFLICT: a run is already active on the thread.",
    422: "VALIDATION_ERROR: `details` names each bad field.",
    500: "INTERNAL_ERROR (no stack trace).",
    503: "SERVICE_UNAVAILABLE: a dependency is down.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error envelope under each given status, plus 401 and 500 which any call gets."""
    wanted = sorted({401, 500, *statuses})
    return {status: OpenApiResponse(ErrorEnvelope, description=_ERROR_MEANINGS[status])
            for status in wanted}


# Before OpenAPI 3.2, the schema of an event-stream media type describes one event as
# an SSE parser sees it (the fields of one frame); the JSON in `data` is described above.
SSE_EVENT_SCHEMA = {
    "type": "object",
    "description": "One frame: `id` is the sequence number (absent on `[DONE]`); `data` is "
                   "the event's JSON, or `[DONE]` after the terminal event.",
    "properties": {
        "id": {"type": "string", "pattern": "^[1-9][0-9]*$"},
        "data": {"type": "string"},
        "event": {"type": "string", "description": "Never sent: parsers default it."},
        "retry": {"type": "integer", "description": "3000, on the first frame only."},
    },
}


def sse_response(description: str) -> OpenApiResponse:
    """A 200 whose body is the SSE stream described above."""
    return OpenApiResponse(SSE_EVENT_SCHEMA,
                           description=f"{description}\n\n{SSE_DESCRIPTION}")


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """`X-API-Key: <key>` or `Authorization: Bearer <key>`: either one will do."""

    target_class = "freddy.auth.ApiKeyAuthentication"
    name = ["ApiKeyHeader", "BearerAuth"]

    def get_security_requirement(self, auto_schema):
        return [{"ApiKeyHeader": []}, {"BearerAuth": []}]

    def get_security_definition(self, auto_schema):
        return [{"type": "apiKey", "in": "header", "name": "X-API-Key"},
                {"type": "http", "scheme": "bearer"}]


def endpoints_of_contract(endpoints: list[tuple]) -> list[tuple]:
    """Spectacular PREPROCESSING_HOOK: the documented stubs first, so they win."""
    # Imported here: the stubs build serializers that need the apps loaded, and
    # settings name this module before they are.
    from freddy.openapi_views import contract_endpoints

    documented = contract_endpoints()
    covered = {(path, method) for path, _, method, _ in documented}
    return documented + [e for e in endpoints
                         if (e[0], e[2]) not in covered and e[0].startswith("/v1/")]
