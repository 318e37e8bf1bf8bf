"""Writes of runs and their events. Every event is stored here, then published."""

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from psycopg import sql

from freddy.errors import RunConflict
from streaming.events import CONTENT_DELTA, CREATED, StoredEvent, event_payload
from streaming.events import terminal_fields, usage_fields
from streaming.models import Response, ResponseEvent
from streaming.publish import EventsByRun, events_publish_on_commit
from threads.models import Message, Thread
from threads.selectors import thread_get


# Runs per UPDATE of a flush: 2 parameters each, far below SQLite's 32,766.
RUNS_PER_STATEMENT = 1000


@dataclass(frozen=True)
class RunPlan:
    """What an executor needs to produce a run."""

    response_id: str
    thread_id: str
    model: str
    options: dict
    history: list[tuple[str, str]]  # (role, content), oldest first, this run's inputs last


def response_create(*, organization_id: str, thread_id: str | None, thread_metadata: dict,
                    model: str, model_options: dict, metadata: dict,
                    inputs: list[dict]) -> Response:
    """Save the inputs as messages and queue a run on the (new) thread."""
    try:
        with transaction.atomic():
            thread = _thread_for_new_run(organization_id, thread_id, thread_metadata, model)
            now = timezone.now()
            # One microsecond apart: the inputs list in the order they were sent.
            messages = Message.objects.bulk_create(
                [Message(thread=thread, role=item["role"], content=item["content"],
                         created_at=now + timedelta(microseconds=index))
                 for index, item in enumerate(inputs)]
            )
            user_messages = [m for m in messages if m.role == Message.Role.USER]
            assistant = Message.objects.create(
                thread=thread, role=Message.Role.ASSISTANT, status=Message.Status.IN_PROGRESS,
                created_at=now + timedelta(microseconds=len(inputs)))
            return Response.objects.create(
                thread=thread, model=model, model_options=model_options, metadata=metadata,
                user_message=user_messages[-1] if user_messages else None,
                assistant_message=assistant, heartbeat_at=timezone.now(),
            )
    except IntegrityError as exc:
        # Two creates raced past the check below: the partial unique index decided.
        raise RunConflict() from exc


def _thread_for_new_run(organization_id: str, thread_id: str | None,
                        thread_metadata: dict, model: str) -> Thread:
    if thread_id is None:
        thread = Thread(organization_id=organization_id, metadata=thread_metadata)
    else:
        thread = thread_get(thread_id=thread_id, organization_id=organization_id,
                            annotated=False)
        if Response.objects.filter(thread=thread, status__in=Response.ACTIVE_STATUSES).exists():
            raise RunConflict()
        if thread_metadata:
            thread.metadata = {**thread.metadata, **thread_metadata}
    thread.last_model_used = model
    thread.last_message_at = timezone.now()
    thread.save()
    return thread


def _run_locked(response_id: str) -> Response | None:
    """The run row, locked until the transaction ends (SQLite: the write lock)."""
    return Response.objects.select_for_update().filter(pk=response_id).first()


def _events_append(run: Response, specs: list[tuple[str, dict]]) -> list[StoredEvent]:
    """Store events with the next sequence numbers; publish them after commit."""
    events = _events_stage(run, specs)
    _events_store({run.id: events})
    return events


def _events_stage(run: Response, specs: list[tuple[str, dict]]) -> list[StoredEvent]:
    """The events with the locked run's next sequence numbers, which it then counts."""
    created_at = time.time()
    events = []
    for offset, (event_type, fields) in enumerate(specs, start=1):
        sequence_number = run.last_sequence_number + offset
        payload = event_payload(event_type=event_type, sequence_number=sequence_number,
                                thread_id=run.thread_id, response_id=run.id,
                                fields=fields, created_at=created_at)
        events.append(StoredEvent(sequence_number, event_type, payload))
    run.last_sequence_number += len(events)
    run.heartbeat_at = timezone.now()
    return events


def _events_store(events_by_run: EventsByRun, *, publish: bool = True) -> None:
    """Insert staged events in one statement; publish them once the transaction commits."""
    rows = [(response_id, e.sequence_number, e.event_type, e.payload)
            for response_id, events in events_by_run.items() for e in events]
    if connection.vendor == "postgresql" and len(rows) > 1:
        _event_rows_copy(rows)
    else:
        ResponseEvent.objects.bulk_create(
            [ResponseEvent(response_id=response_id, sequence_number=sequence_number,
                           event_type=event_type, payload=payload)
             for response_id, sequence_number, event_type, payload in rows])
    if publish:
        events_publish_on_commit(events_by_run)


def _event_rows_copy(rows: list[tuple[str, int, str, str]]) -> None:
    """COPY the rows in: on PostgreSQL 13 µs a row against bulk_create's 73 µs, the
    difference between a worker that keeps up with 10,000 events/s and one that does not.
    """
    fields = ("response", "sequence_number", "event_type", "payload", "created_at")
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(ResponseEvent._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(ResponseEvent._meta.get_field(name).column)
                           for name in fields))
    created_at = timezone.now()
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row((*row, created_at))


@transaction.atomic
def run_start(*, response_id: str) -> RunPlan | None:
    """Mark a queued run in progress and emit `response.created`; None if not queued."""
    run = _run_locked(response_id)
    if run is None or run.status != Response.Status.QUEUED:
        return None
    run.status = Response.Status.IN_PROGRESS
    run.started_at = timezone.now()
    _events_append(run, [(CREATED, {"status": "in_progress", "model": run.model,
                                    "user_message_id": run.user_message_id})])
    run.save(update_fields=["status", "started_at", "last_sequence_number", "heartbeat_at"])
    history = list(
        Message.objects.filter(thread_id=run.thread_id).exclude(pk=run.assistant_message_id)
        .order_by("created_at", "pk").values_list("role", "content")
    )
    return RunPlan(response_id=run.id, thread_id=run.thread_id, model=run.model,
                   options=run.model_options, history=history)


def run_append_deltas(*, response_id: str, deltas: list[str]) -> bool:
    """Store text deltas and grow the assistant message; False once the run has ended."""
    return response_id not in runs_append_deltas(deltas_by_run={response_id: deltas}).ended


@dataclass(frozen=True)
class DeltasStored:
    events_by_run: EventsByRun
    ended: set[str]  # the runs that had ended already: nothing of theirs was stored


@transaction.atomic
def runs_append_deltas(*, deltas_by_run: dict[str, list[str]],
                       publish: bool = True) -> DeltasStored:
    """Store the deltas of many runs in one transaction.

    A worker executing hundreds of runs writes them all at once: five statements per
    flush rather than five per run and token. With `publish=False` the caller
    publishes the stored events itself, once this has returned (committed).
    """
    # Locked in id order: two flushes (or a flush and a cancel) never wait on each other
    # in a cycle.
    runs = list(Response.objects.select_for_update()
                .filter(pk__in=deltas_by_run, status__in=Response.ACTIVE_STATUSES)
                # Only what a flush touches: decoding every run's JSON fields took a
                # third of the flush.
                .only("thread_id", "last_sequence_number", "assistant_message_id")
                .order_by("pk"))
    events_by_run = {run.id: _events_stage(run, [(CONTENT_DELTA, {"delta": delta})
                                                 for delta in deltas_by_run[run.id]])
                     for run in runs}
    if runs:
        _events_store(events_by_run, publish=publish)
        _runs_advance(runs, {run.assistant_message_id: "".join(deltas_by_run[run.id])
                             for run in runs})
    return DeltasStored(events_by_run, set(deltas_by_run) - set(events_by_run))


def _runs_advance(runs: list[Response], text_by_message: dict[str, str]) -> None:
    """Save the runs' counters and grow their messages: two statements for all runs.

    Hand-written because bulk_update's CASE WHEN is quadratic: for 200 runs it spent
    more time building and evaluating the CASE than the flush spent on everything else.
    """
    _update_from_values(Response._meta.db_table, "seq",
                        "last_sequence_number = v.seq, heartbeat_at = %s",
                        [(run.id, run.last_sequence_number) for run in runs], timezone.now())
    _update_from_values(Message._meta.db_table, "text", "content = content || v.text",
                        list(text_by_message.items()))


def _update_from_values(table: str, column: str, assignments: str,
                        rows: list[tuple[str, object]], *set_params: object) -> None:
    """`UPDATE table SET assignments` from (id, column) rows: both SQLite and PostgreSQL."""
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, RUNS_PER_STATEMENT):
            cursor.execute(
                f"WITH v(id, {column}) AS (VALUES {', '.join(['(%s, %s)'] * len(chunk))}) "
                f'UPDATE "{table}" SET {assignments} FROM v WHERE "{table}".id = v.id',
                [*(value for row in chunk for value in row), *set_params])


def _chunks(items: list, size: int) -> list[list]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def run_heartbeat(*, response_id: str) -> bool:
    """Record that the executor is alive; False once the run has ended."""
    return bool(Response.objects.filter(pk=response_id, status__in=Response.ACTIVE_STATUSES)
                .update(heartbeat_at=timezone.now()))


def _run_end(run: Response, status: str, *, error: dict | None = None,
             stop_reason: str | None = None) -> None:
    # Read only now that the run is locked: a message row joined to the locking query
    # comes, on PostgreSQL, from before the lock wait, without the last deltas' text.
    message = Message.objects.get(pk=run.assistant_message_id)
    message.status = status
    if status == Response.Status.CANCELLED:
        message.metadata = {**message.metadata, "cancelled": True}
    if error:
        message.metadata = {**message.metadata, "error": error}
    message.save(update_fields=["status", "metadata"])
    run.status = status
    run.ended_at = timezone.now()
    run.stop_reason = stop_reason
    usage = usage_fields(input_tokens=run.input_tokens, output_tokens=run.output_tokens)
    _events_append(run, [terminal_fields(status=status, text=message.content,
                                         stop_reason=stop_reason, usage=usage, error=error)])
    run.save(update_fields=["status", "ended_at", "stop_reason", "input_tokens",
                            "output_tokens", "last_sequence_number", "heartbeat_at"])
    Thread.objects.filter(pk=run.thread_id).update(updated_at=run.ended_at)


@transaction.atomic
def run_complete(*, response_id: str, input_tokens: int, output_tokens: int,
                 stop_reason: str = "end_turn") -> bool:
    """End a run as completed with `response.completed`; False if it had ended."""
    run = _run_locked(response_id)
    if run is None or not run.is_active:
        return False
    run.input_tokens, run.output_tokens = input_tokens, output_tokens
    _run_end(run, Response.Status.COMPLETED, stop_reason=stop_reason)
    return True


@transaction.atomic
def run_fail(*, response_id: str, code: str, message: str,
             only_if_stale: bool = False) -> bool:
    """End a run as failed with `response.error`, keeping its partial text."""
    run = _run_locked(response_id)
    if run is None or not run.is_active or (only_if_stale and not _is_stale(run)):
        return False
    _run_end(run, Response.Status.FAILED, error={"code": code, "message": message},
             stop_reason="error")
    return True


@transaction.atomic
def run_cancel_active(*, thread_id: str) -> Response | None:
    """Cancel the thread's active run, if any, keeping its partial text."""
    active = Response.objects.filter(thread_id=thread_id, status__in=Response.ACTIVE_STATUSES)
    response_id = active.values_list("pk", flat=True).first()
    run = _run_locked(response_id) if response_id else None
    if run is None or not run.is_active:
        return None
    _run_end(run, Response.Status.CANCELLED, stop_reason="cancelled")
    return run


@transaction.atomic
def run_cancel(*, response_id: str) -> Response | None:
    """Cancel one run if it is still going, keeping its partial text."""
    run = _run_locked(response_id)
    if run is None or not run.is_active:
        return None
    _run_end(run, Response.Status.CANCELLED, stop_reason="cancelled")
    return run


RUN_STALE_MESSAGE = "The response stopped: its executor stopped sending heartbeats."


def _is_stale(run: Response) -> bool:
    limit = timezone.now() - timedelta(seconds=settings.FREDDY_RUN_STALE_SECONDS)
    return run.heartbeat_at is None or run.heartbeat_at < limit


def run_fail_if_stale(*, response_id: str) -> bool:
    """End the run as `run_stale` if its executor stopped beating."""
    return run_fail(response_id=response_id, code="run_stale", message=RUN_STALE_MESSAGE,
                    only_if_stale=True)


def runs_fail_stale() -> int:
    """End every run whose executor died; returns how many."""
    limit = timezone.now() - timedelta(seconds=settings.FREDDY_RUN_STALE_SECONDS)
    candidates = Response.objects.filter(status__in=Response.ACTIVE_STATUSES,
                                         heartbeat_at__lt=limit).values_list("pk", flat=True)
    return sum(run_fail_if_stale(response_id=pk) for pk in list(candidates))


def _runs_buffer_expired(*, older_than_seconds: float) -> QuerySet[Response]:
    """Finished runs that ended at least `older_than_seconds` ago."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return Response.objects.filter(ended_at__lte=cutoff).exclude(
        status__in=Response.ACTIVE_STATUSES)


def buffer_purge_expired(*, older_than_seconds: float, batch_size: int,
                         dry_run: bool = False) -> tuple[int, int]:
    """Delete the events of runs that ended long enough ago; (runs, events) removed."""
    return _buffers_purge(_runs_buffer_expired(older_than_seconds=older_than_seconds),
                          batch_size=batch_size, dry_run=dry_run)


def buffer_purge_runs(*, response_ids: list[str]) -> tuple[int, int]:
    """Delete the events of those given runs whose buffer expired; (runs, events)."""
    runs = _runs_buffer_expired(
        older_than_seconds=settings.FREDDY_STREAM_BUFFER_TTL_SECONDS
    ).filter(pk__in=response_ids)
    return _buffers_purge(runs, batch_size=settings.FREDDY_PURGE_BATCH_EVENTS)


def _buffers_purge(runs: QuerySet[Response], *, batch_size: int,
                   dry_run: bool = False) -> tuple[int, int]:
    events = ResponseEvent.objects.filter(response__in=runs)
    run_count = events.values("response_id").distinct().count()
    if dry_run:
        return run_count, events.count()
    deleted, after_pk = 0, 0
    while True:
        # Walk the primary key upwards: a batch never rescans rows already deleted and
        # is bounded by a key range, not a list of ids (SQLite caps query parameters).
        window = events.filter(pk__gt=after_pk)
        boundary = list(window.order_by("pk").values_list("pk", flat=True)
                        [batch_size - 1:batch_size])
        # Each batch is its own short transaction: live writers never wait long.
        with transaction.atomic():
            deleted += (window.filter(pk__lte=boundary[0]) if boundary else window
                        ).delete()[0]
        if not boundary:
            return run_count, deleted
        after_pk = boundary[0]
