"""API errors and the one function that renders the error envelope."""

import logging
from datetime import UTC, datetime
from typing import Any

from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf

from freddy.ids import new_trace_id

logger = logging.getLogger(__name__)


class ApiError(Exception):
    code = "INTERNAL_ERROR"
    type = "server_error"
    status = 500
    message = "An internal error occurred."

    def __init__(self, message: str | None = None, *, details: dict | None = None,
                 system_message: str = "") -> None:
        self.message = message or self.message
        self.details = details or {}
        self.system_message = system_message or self.message
        super().__init__(self.message)


class Unauthorized(ApiError):
    code, type, status = "UNAUTHORIZED", "authentication_error", 401
    message = "Authentication required. Please provide a valid API key."


class Forbidden(ApiError):
    code, type, status = "FORBIDDEN", "authorization_error", 403
    message = "This API key's organization does not own this resource."


class NotFound(ApiError):
    code, type, status = "NOT_FOUND", "not_found_error", 404
    message = "The requested resource does not exist."


class ThreadNotFound(NotFound):
    code = "THREAD_NOT_FOUND"
    message = "No thread with this id exists."


class ResponseNotFound(NotFound):
    code = "RESPONSE_NOT_FOUND"
    message = "This thread has no response to stream."


class ValidationFailed(ApiError):
    code, type, status = "VALIDATION_ERROR", "invalid_request_error", 422
    message = "The request is invalid."


class InvalidJson(ApiError):
    code, type, status = "INVALID_JSON", "invalid_request_error", 400
    message = "The request body is not valid JSON."


class MethodNotAllowed(ApiError):
    code, type, status = "METHOD_NOT_ALLOWED", "invalid_request_error", 405
    message = "This method is not allowed on this endpoint."


class Conflict(ApiError):
    code, type, status = "CONFLICT", "conflict_error", 409
    message = "The request conflicts with the current state of the resource."


class RunConflict(Conflict):
    message = "A response is already running on this thread; cancel it or wait for it."


class RateLimited(ApiError):
    code, type, status = "RATE_LIMITED", "rate_limit_error", 429
    message = "Too many requests."


class ServiceUnavailable(ApiError):
    code, type, status = "SERVICE_UNAVAILABLE", "server_error", 503
    message = "A dependency of the service is unavailable."


def _trace_id(request) -> str:
    trace_id = getattr(request, "trace_id", None)
    if trace_id is None and request is not None:
        trace_id = request.trace_id = new_trace_id()
    return trace_id or new_trace_id()


def _flatten_details(detail: Any) -> dict:
    """DRF's nested ErrorDetail lists become {"field": "message; message"}."""
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub_key, sub_value in _flatten_details(value).items():
                    # A nested serializer's own error (e.g. "not a list") names its field.
                    name = key if sub_key == "non_field_errors" else f"{key}.{sub_key}"
                    out[name] = sub_value
            else:
                out[key] = _join_messages(value)
        return out
    return {"non_field_errors": _join_messages(detail)}


def _join_messages(value: Any) -> str:
    if isinstance(value, list):
        parts = []
        for index, item in enumerate(value):
            if isinstance(item, dict):
                parts.extend(f"[{index}].{k}: {v}" for k, v in _flatten_details(item).items())
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(value)


def as_api_error(exc: BaseException) -> ApiError:
    """Map any exception to the ApiError the client should see."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf.ValidationError):
        details = _flatten_details(exc.detail)
        summary = "; ".join(f"{k}: {v}" for k, v in details.items())
        return ValidationFailed(f"The request is invalid: {summary}", details=details)
    if isinstance(exc, drf.ParseError):
        return InvalidJson(system_message=str(exc.detail))
    if isinstance(exc, drf.UnsupportedMediaType):
        return InvalidJson("The request body must be JSON (Content-Type: application/json).")
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return Unauthorized(system_message=str(exc.detail))
    if isinstance(exc, drf.PermissionDenied):
        return Forbidden(system_message=str(exc.detail))
    if isinstance(exc, (drf.NotFound, Http404)):
        return NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return MethodNotAllowed(str(exc.detail))
    if isinstance(exc, drf.Throttled):
        return RateLimited(str(exc.detail))
    logger.error("Unhandled error", exc_info=exc)
    return ApiError()


def error_envelope(exc: BaseException, trace_id: str) -> tuple[int, dict]:
    """Any exception as the status and body of the API contract's error envelope."""
    error = as_api_error(exc)
    return error.status, {
        "success": False,
        "error": {
            "code": error.code,
            "message": error.message,
            "system_message": error.system_message,
            "type": error.type,
            "status": error.status,
            "details": error.details,
            "trace_id": trace_id,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }


def error_response(exc: BaseException, request) -> JsonResponse:
    """Render any exception as the error envelope, for Django and DRF views."""
    trace_id = _trace_id(request)
    status, body = error_envelope(exc, trace_id)
    response = JsonResponse(body, status=status)
    response["X-Request-ID"] = trace_id
    return response


def drf_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: the same envelope as every other error."""
    return error_response(exc, context.get("request"))


def handler404(request, exception=None):
    return error_response(NotFound(), request)


def handler500(request):
    return error_response(ApiError(), request)
