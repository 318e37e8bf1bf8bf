"""Documentation stubs, one per endpoint of the contract; never routed or served.

Their routes mirror `freddy/urls.py`; `tests/e2e/test_openapi.py` checks that every
contract endpoint is in the schema and that each documented path is really served.
"""

from django.urls import path
from drf_spectacular.generators import EndpointEnumerator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from freddy.openapi import SSE_DESCRIPTION, SSE_MEDIA_TYPE, error_responses, sse_response
from freddy.pagination import ListParamsSerializer
from streaming.serializers import ModelOptionsSerializer, ResponseCreateSerializer
from threads.models import Message
from threads.serializers import MessageOutputSerializer, ThreadCreateSerializer
from threads.serializers import ThreadFilterSerializer, ThreadOutputSerializer

LIST_FIELDS = {"object": serializers.CharField(), "first_id": serializers.CharField(
    allow_null=True), "last_id": serializers.CharField(allow_null=True),
    "has_more": serializers.BooleanField(), "limit": serializers.IntegerField()}

ThreadList = inline_serializer("ThreadList", fields={
    **LIST_FIELDS, "data": ThreadOutputSerializer(many=True)})
ActiveRun = inline_serializer("ActiveRun", allow_null=True, fields={
    "response_id": serializers.CharField(), "status": serializers.CharField(),
    "last_event_id": serializers.IntegerField(), "started_at": serializers.DateTimeField(
        allow_null=True)})
MessageList = inline_serializer("MessageList", fields={
    **LIST_FIELDS, "data": MessageOutputSerializer(many=True), "active_run": ActiveRun})
ThreadDeleted = inline_serializer("ThreadDeleted", fields={
    "success": serializers.BooleanField(), "id": serializers.CharField(),
    "object": serializers.CharField(), "deleted": serializers.BooleanField()})
CancelResult = inline_serializer("CancelResult", fields={
    "success": serializers.BooleanField(), "thread_id": serializers.CharField(),
    "response_id": serializers.CharField(allow_null=True),
    "status": serializers.ChoiceField(choices=["cancelled", "inactive"]),
    "partial_content_saved": serializers.BooleanField(required=False),
    "elapsed_seconds": serializers.FloatField(required=False)})
TextParts = inline_serializer("TextPart", many=True, fields={
    "type": serializers.CharField(), "text": serializers.CharField()})
Usage = inline_serializer("Usage", fields={
    "input_tokens": serializers.IntegerField(), "output_tokens": serializers.IntegerField()})
ResponseResult = inline_serializer("ResponseResult", fields={
    "success": serializers.BooleanField(), "thread_id": serializers.CharField(),
    "response_id": serializers.CharField(), "status": serializers.CharField(),
    "response": TextParts, "stop_reason": serializers.CharField(),
    "is_summarized": serializers.BooleanField(), "usage": Usage})
Health = inline_serializer("Health", fields={
    "status": serializers.ChoiceField(choices=["ok", "degraded"]),
    "database": serializers.CharField(help_text='"ok" or "unavailable".'),
    "channel_layer": serializers.CharField(help_text='"ok" or "unavailable".')})


# Text with at least one non-blank character: blank inputs are a 422.
NON_BLANK_TEXT = {"type": "string", "pattern": "\\S"}


@extend_schema_field({"oneOf": [NON_BLANK_TEXT, {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["type", "text"], "properties": {
        "type": {"type": "string", "enum": ["text"]}, "text": NON_BLANK_TEXT}}}]})
class InputContentField(serializers.JSONField):
    """`content`: a string or a list of text parts."""


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "object", "properties": {
    "id": {"type": "string", "nullable": True}, "metadata": {"type": "object"}}}],
    "nullable": True})
class ThreadRefField(serializers.JSONField):
    """The older `thread`: an id, or {"id", "metadata"}."""


class InputBody(serializers.Serializer):
    role = serializers.ChoiceField(choices=Message.Role.choices, default="user")
    content = InputContentField(help_text="The text, or a list of text parts.")
    texts = serializers.ListField(child=inline_serializer("TextOnly", fields={
        "text": serializers.CharField()}), required=False,
        help_text="Older form of the text, used when `content` is absent.")


class ResponseCreateBody(ResponseCreateSerializer):
    """Body of `POST /v1/model/response`; `thread` and `texts` are the older forms."""

    inputs = InputBody(many=True, allow_empty=False)
    thread = ThreadRefField(required=False, allow_null=True)
    model = serializers.CharField(default="echo", help_text=(
        '"echo" (built in) or a model of the configured upstream provider.'))
    model_options = ModelOptionsSerializer(required=False, help_text=(
        "Options of the model; unknown keys pass through to upstream providers."))


THREAD_ID = OpenApiParameter("thread_id", OpenApiTypes.STR, OpenApiParameter.PATH)
LAST_EVENT_ID = OpenApiParameter(
    "last_event_id", {"type": "integer", "minimum": 0}, description="Replay the stored events after this sequence id "
    "(else the Last-Event-ID header; omitted: from the first event). Integer >= 0.")
LAST_EVENT_ID_HEADER = OpenApiParameter("Last-Event-ID", {"type": "integer", "minimum": 0},
                                        OpenApiParameter.HEADER,
                                        description="Used when last_event_id is absent.")


class ThreadListDoc(APIView):
    @extend_schema(operation_id="threads_list", parameters=[
        ThreadFilterSerializer, ListParamsSerializer], responses={
        200: ThreadList, **error_responses(422)}, summary="The organization's threads, "
        "newest activity first.")
    def get(self, request): ...

    @extend_schema(operation_id="threads_create", request=ThreadCreateSerializer, responses={
        201: ThreadOutputSerializer, **error_responses(400, 403, 422)},
        summary="Create a thread.")
    def post(self, request): ...


class ThreadDetailDoc(APIView):
    @extend_schema(operation_id="threads_get", parameters=[THREAD_ID], responses={
        200: ThreadOutputSerializer, **error_responses(403, 404)}, summary="A thread.")
    def get(self, request, thread_id): ...

    @extend_schema(operation_id="threads_delete", parameters=[THREAD_ID], responses={
        200: ThreadDeleted, **error_responses(403, 404)}, summary="Cancel the thread's "
        "active run, then delete the thread, its messages, runs and events.")
    def delete(self, request, thread_id): ...


class MessageListDoc(APIView):
    @extend_schema(operation_id="messages_list", parameters=[THREAD_ID, ListParamsSerializer],
                   responses={200: MessageList, **error_responses(403, 404, 422)},
                   summary="A thread's messages, oldest first, and its active run.")
    def get(self, request, thread_id): ...


class ResponseCreateDoc(APIView):
    @extend_schema(
        operation_id="responses_create", tags=["responses"], request=ResponseCreateBody,
        responses={(200, "application/json"): OpenApiResponse(ResponseResult, description=(
            "`stream: false`: JSON, once the run ended. `stream: true`: the new run's live "
            f"stream (no frame marked replay).\n\n{SSE_DESCRIPTION}")),
            (200, SSE_MEDIA_TYPE): sse_response("The live stream."),
            **error_responses(400, 403, 404, 409, 422)},
        summary="Save the inputs and start a run (streamed or not).")
    def post(self, request): ...


class ResponseStreamDoc(APIView):
    @extend_schema(operation_id="responses_stream", tags=["responses"],
                   parameters=[THREAD_ID, LAST_EVENT_ID, LAST_EVENT_ID_HEADER],
                   responses={(200, SSE_MEDIA_TYPE): sse_response(
                       "The thread's active run, else its most recent one: stored events "
                       "after the cursor (replay), then live ones, then `[DONE]`."),
                       **error_responses(403, 404, 422)},
                   summary="Reconnect to the thread's response stream.")
    def get(self, request, thread_id): ...


class ResponseCancelDoc(APIView):
    @extend_schema(operation_id="responses_cancel", tags=["responses"],
                   parameters=[THREAD_ID], request=None,
                   responses={200: CancelResult, **error_responses(403, 404)},
                   summary="Cancel the thread's active run, keeping its partial text.")
    def post(self, request, thread_id): ...


class HealthDoc(APIView):
    @extend_schema(operation_id="health", auth=[], responses={
        200: Health, 503: OpenApiResponse(Health, description="A dependency is down.")},
        summary="Liveness of the service and its dependencies; no key needed.")
    def get(self, request): ...


CONTRACT_PATTERNS = [
    path("v1/health", HealthDoc.as_view()),
    path("v1/threads", ThreadListDoc.as_view()),
    path("v1/threads/<str:thread_id>", ThreadDetailDoc.as_view()),
    path("v1/threads/<str:thread_id>/messages", MessageListDoc.as_view()),
    path("v1/model/response", ResponseCreateDoc.as_view()),
    path("v1/model/response/<str:thread_id>/stream", ResponseStreamDoc.as_view()),
    path("v1/model/response/<str:thread_id>/cancel", ResponseCancelDoc.as_view()),
]


def contract_endpoints() -> list[tuple]:
    """(path, path_regex, method, callback) of every stub, as spectacular enumerates."""
    return EndpointEnumerator(CONTRACT_PATTERNS)._get_api_endpoints(CONTRACT_PATTERNS, "")
