"""Reads of organizations, keys, threads and messages."""

from django.db.models import Case, Count, Exists, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models import Value, When
from django.db.models.functions import Coalesce

from freddy.errors import Forbidden, ThreadNotFound
from streaming.models import Response
from threads.models import ApiKey, Message, Thread


def api_key_active_get(*, key_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash, if any."""
    return ApiKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True).first()


def _active_runs_of_thread():
    return Response.objects.filter(thread=OuterRef("pk"), status__in=Response.ACTIVE_STATUSES)


def threads_annotated() -> QuerySet[Thread]:
    """Threads with the derived `status` and `message_count` of the contract."""
    message_counts = (
        Message.objects.filter(thread=OuterRef("pk"))
        .order_by().values("thread").annotate(n=Count("pk")).values("n")
    )
    return Thread.objects.annotate(
        status=Case(When(Exists(_active_runs_of_thread()), then=Value("streaming")),
                    default=Value("inactive")),
        message_count=Coalesce(Subquery(message_counts, output_field=IntegerField()), 0),
    )


def thread_get(*, thread_id: str, organization_id: str, annotated: bool = True) -> Thread:
    """The thread, or ThreadNotFound / Forbidden."""
    queryset = threads_annotated() if annotated else Thread.objects.all()
    # No id holds a NUL, and PostgreSQL refuses one even in a query parameter.
    thread = None if "\x00" in thread_id else queryset.filter(pk=thread_id).first()
    if thread is None:
        raise ThreadNotFound(f"No thread with id '{thread_id}' exists.")
    if thread.organization_id != organization_id:
        raise Forbidden("This thread belongs to another organization.")
    return thread


def thread_list(*, organization_id: str, status: str | None = None) -> QuerySet[Thread]:
    """An organization's threads, optionally only those in one status."""
    threads = threads_annotated().filter(organization_id=organization_id)
    if status:
        threads = threads.filter(status=status)
    return threads


def message_list(*, thread: Thread) -> QuerySet[Message]:
    """A thread's messages with their response ids."""
    return Message.objects.filter(thread=thread).select_related("response")
