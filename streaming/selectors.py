"""Reads of runs and their stored events."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from freddy.errors import ResponseNotFound
from streaming.events import StoredEvent, terminal_fields, usage_fields
from streaming.models import Response, ResponseEvent
from threads.selectors import thread_get

_RUN_STATE_FIELDS = ("id", "thread_id", "status", "last_sequence_number", "ended_at",
                     "heartbeat_at")


@dataclass(frozen=True)
class RunState:
    """A run as a stream reader sees it at one moment."""

    id: str
    thread_id: str
    status: str
    last_sequence_number: int
    ended_at: datetime | None
    heartbeat_at: datetime | None

    @property
    def is_finished(self) -> bool:
        return self.status not in Response.ACTIVE_STATUSES

    @property
    def buffer_expired(self) -> bool:
        """True once the run's events may be gone (purged or not)."""
        ttl = timedelta(seconds=settings.FREDDY_STREAM_BUFFER_TTL_SECONDS)
        return self.is_finished and self.ended_at is not None and (
            self.ended_at + ttl <= timezone.now())

    @property
    def heartbeat_stale(self) -> bool:
        limit = timezone.now() - timedelta(seconds=settings.FREDDY_RUN_STALE_SECONDS)
        return not self.is_finished and (self.heartbeat_at is None or self.heartbeat_at < limit)


def run_state(*, response_id: str) -> RunState | None:
    """The run's current state, or None if it was deleted."""
    row = Response.objects.filter(pk=response_id).values_list(*_RUN_STATE_FIELDS).first()
    return RunState(*row) if row else None


def run_for_stream(*, thread_id: str, organization_id: str) -> RunState:
    """The thread's active run, else its most recent one, else RESPONSE_NOT_FOUND."""
    thread = thread_get(thread_id=thread_id, organization_id=organization_id, annotated=False)
    runs = Response.objects.filter(thread=thread)
    row = (runs.filter(status__in=Response.ACTIVE_STATUSES)
           .values_list(*_RUN_STATE_FIELDS).first()
           or runs.order_by("-created_at").values_list(*_RUN_STATE_FIELDS).first())
    if row is None:
        raise ResponseNotFound(f"Thread '{thread_id}' has no response to stream.")
    return RunState(*row)


def run_active_for_thread(*, thread_id: str) -> Response | None:
    """The thread's queued or in-progress run."""
    return Response.objects.filter(thread_id=thread_id,
                                   status__in=Response.ACTIVE_STATUSES).first()


def events_after(*, response_id: str, after: int, limit: int) -> list[StoredEvent]:
    """Up to `limit` stored events with a sequence number above `after`, in order."""
    rows = (ResponseEvent.objects.filter(response_id=response_id, sequence_number__gt=after)
            .order_by("sequence_number")
            .values_list("sequence_number", "event_type", "payload")[:limit])
    return [StoredEvent(*row) for row in rows]


def synthesized_terminal(*, response_id: str) -> tuple[int, dict]:
    """The terminal event of an ended run, rebuilt from its saved assistant message."""
    run = Response.objects.select_related("assistant_message").get(pk=response_id)
    message = run.assistant_message
    event_type, fields = terminal_fields(
        status=run.status, text=message.content if message else "",
        stop_reason=run.stop_reason,
        usage=usage_fields(input_tokens=run.input_tokens, output_tokens=run.output_tokens),
        error=(message.metadata.get("error") if message else None),
    )
    body = {"event": event_type, "sequence_number": run.last_sequence_number,
            "thread_id": run.thread_id, "response_id": run.id, **fields,
            "created_at": run.ended_at.timestamp(), "source": "replay", "synthesized": True}
    return run.last_sequence_number, body


def runs_with_event_counts() -> QuerySet[Response]:
    """Runs with `event_count`: how many of their events are still stored."""
    counts = (ResponseEvent.objects.filter(response=OuterRef("pk"))
              .order_by().values("response").annotate(n=Count("pk")).values("n"))
    return Response.objects.select_related("thread").annotate(
        event_count=Coalesce(Subquery(counts, output_field=IntegerField()), 0))


def events_page(*, response_id: str, page_number: object, per_page: int) -> Page:
    """One page of a run's stored events in sequence order: a count and one slice."""
    events = (ResponseEvent.objects.filter(response_id=response_id)
              .order_by("sequence_number")
              .values_list("sequence_number", "event_type", "created_at", "payload"))
    return Paginator(events, per_page).get_page(page_number)
