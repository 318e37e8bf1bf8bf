"""Runs in the admin: read-only, with a paginated event timeline and two actions."""

from datetime import timedelta

import orjson
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.utils import timezone

from streaming.models import Response
from streaming.selectors import events_page, runs_with_event_counts
from streaming.services import buffer_purge_runs, run_cancel

# One screenful of events; a 20,000-event run is 200 pages, each two cheap queries.
TIMELINE_EVENTS_PER_PAGE = 100
TIMELINE_PAGE_PARAM = "events_page"
# Keys every payload has; the timeline shows only what is particular to an event.
_COMMON_PAYLOAD_KEYS = {"event", "sequence_number", "thread_id", "response_id", "created_at"}


def timeline_detail(event_type: str, payload: str) -> str:
    """The delta of a content event, else the event's own fields as compact JSON."""
    body = orjson.loads(payload)
    if event_type == "response.content_delta":
        return body.get("delta", "")
    own = {k: v for k, v in body.items() if k not in _COMMON_PAYLOAD_KEYS}
    return orjson.dumps(own).decode()


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "thread", "status", "model", "started_at", "ended_at", "duration",
                    "event_count", "last_event_id", "buffer_expires_at"]
    list_filter = ["status", "model"]
    search_fields = ["id", "thread__id"]
    list_select_related = ["thread"]
    actions = ["cancel_runs", "purge_expired_buffers"]
    readonly_fields = ["id", "thread", "status", "model", "model_options", "metadata",
                       "user_message", "assistant_message", "stop_reason", "input_tokens",
                       "output_tokens", "last_sequence_number", "created_at", "started_at",
                       "ended_at", "heartbeat_at", "duration", "buffer_expires_at"]
    fields = readonly_fields

    def get_queryset(self, request):
        return runs_with_event_counts()

    def has_add_permission(self, request):
        return False  # runs are created through the API only

    def has_change_permission(self, request, obj=None):
        return False  # read-only: a run changes only through its services

    def has_delete_permission(self, request, obj=None):
        return False  # a run is deleted with its thread

    @admin.display(description="duration")
    def duration(self, run: Response) -> str:
        if run.started_at is None:
            return "-"
        # A run still going shows its duration so far.
        return f"{((run.ended_at or timezone.now()) - run.started_at).total_seconds():.1f} s"

    @admin.display(description="events stored", ordering="event_count")
    def event_count(self, run: Response) -> int:
        return run.event_count

    @admin.display(description="last event id", ordering="last_sequence_number")
    def last_event_id(self, run: Response) -> int:
        return run.last_sequence_number

    @admin.display(description="buffer expires at")
    def buffer_expires_at(self, run: Response) -> str:
        if run.ended_at is None:
            return "-"  # a run still going keeps its events
        expiry = run.ended_at + timedelta(seconds=settings.FREDDY_STREAM_BUFFER_TTL_SECONDS)
        return f"{expiry:%Y-%m-%d %H:%M:%S} UTC"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The URL carries the admin-quoted pk ("_" is escaped as "_5F").
        page = events_page(response_id=unquote(object_id), per_page=TIMELINE_EVENTS_PER_PAGE,
                           page_number=request.GET.get(TIMELINE_PAGE_PARAM, 1))
        timeline = [(seq, event_type, created_at, timeline_detail(event_type, payload))
                    for seq, event_type, created_at, payload in page.object_list]
        context = {"timeline_page": page, "timeline": timeline,
                   "timeline_page_param": TIMELINE_PAGE_PARAM, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=context)

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        cancelled = sum(run_cancel(response_id=pk) is not None for pk in ids)
        self.message_user(request, f"Cancelled {cancelled} of {len(ids)} selected runs "
                                   "(the others had already ended).", messages.SUCCESS)

    @admin.action(description="Purge expired event buffers of selected runs")
    def purge_expired_buffers(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        runs, events = buffer_purge_runs(response_ids=ids)
        self.message_user(request, f"Purged {events} events of {runs} runs; runs still "
                                   "going or within their buffer time were left alone.",
                          messages.SUCCESS)
