"""Request ids on every response, and the envelope for errors outside DRF."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from freddy.errors import ApiError, error_response
from freddy.ids import new_trace_id


class RequestIdMiddleware:
    """Give each request a trace id, echo it as X-Request-ID, render ApiErrors."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        request.trace_id = new_trace_id()
        return self._tag(request, self.get_response(request))

    async def __acall__(self, request):
        request.trace_id = new_trace_id()
        return self._tag(request, await self.get_response(request))

    @staticmethod
    def _tag(request, response):
        response.setdefault("X-Request-ID", request.trace_id)
        return response

    def process_exception(self, request, exception):
        # DRF views render their own errors; this catches the plain Django views
        # (the SSE streams and the create view) before Django's HTML 500 page.
        if request.path.startswith("/v1/") or isinstance(exception, ApiError):
            return error_response(exception, request)
        return None
