"""The threads and messages endpoints."""

from rest_framework.response import Response
from rest_framework.views import APIView

from freddy.errors import Forbidden
from freddy.pagination import IdCursorPagination
from streaming.selectors import run_active_for_thread
from threads import selectors, services
from threads.serializers import MessageOutputSerializer, ThreadCreateSerializer
from threads.serializers import ThreadFilterSerializer, ThreadOutputSerializer


class ThreadListView(APIView):
    def get(self, request):
        filters = ThreadFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        threads = selectors.thread_list(organization_id=request.auth.organization_id,
                                        status=filters.validated_data.get("status"))
        paginator = IdCursorPagination(sort_field="updated_at", default_order="desc")
        page = paginator.paginate_queryset(threads, request)
        return paginator.get_paginated_response(ThreadOutputSerializer(page, many=True).data)

    def post(self, request):
        body = ThreadCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        organization_id = request.auth.organization_id
        if body.validated_data.pop("organization_id", organization_id) != organization_id:
            raise Forbidden("organization_id must be the organization of the API key.")
        thread = services.thread_create(organization_id=organization_id, **body.validated_data)
        thread = selectors.thread_get(thread_id=thread.id, organization_id=organization_id)
        return Response(ThreadOutputSerializer(thread).data, status=201)


class ThreadDetailView(APIView):
    def get(self, request, thread_id):
        thread = selectors.thread_get(thread_id=thread_id,
                                      organization_id=request.auth.organization_id)
        return Response(ThreadOutputSerializer(thread).data)

    def delete(self, request, thread_id):
        thread = selectors.thread_get(thread_id=thread_id, annotated=False,
                                      organization_id=request.auth.organization_id)
        services.thread_delete(thread=thread)
        return Response({"success": True, "id": thread_id, "object": "thread.deleted",
                         "deleted": True})


class MessageListView(APIView):
    def get(self, request, thread_id):
        thread = selectors.thread_get(thread_id=thread_id, annotated=False,
                                      organization_id=request.auth.organization_id)
        # Read before the messages: the resume point is never ahead of what is listed.
        active_run = run_active_for_thread(thread_id=thread.id)
        paginator = IdCursorPagination(sort_field="created_at", default_order="asc")
        page = paginator.paginate_queryset(selectors.message_list(thread=thread), request)
        return paginator.get_paginated_response(
            MessageOutputSerializer(page, many=True).data,
            active_run=active_run and {
                "response_id": active_run.id, "status": active_run.status,
                "last_event_id": active_run.last_sequence_number,
                "started_at": active_run.started_at,
            },
        )
