"""`purge_stream_buffers`, Django's way: data built by services, then call_command."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from streaming.models import Response, ResponseEvent
from streaming.services import response_create, run_append_deltas, run_complete, run_start
from threads.models import Message, Thread
from threads.services import api_key_create

TTL_SECONDS = 600
DELTAS = ["one", " two", " three"]  # with created and completed: 5 events per run


def _run(*, finished: bool = True) -> Response:
    """A run produced through the services, finished or still going."""
    api_key_create(organization_id="org_purge")
    run = response_create(organization_id="org_purge", thread_id=None, thread_metadata={},
                          model="echo", model_options={}, metadata={},
                          inputs=[{"role": "user", "content": "one two three"}])
    run_start(response_id=run.id)
    run_append_deltas(response_id=run.id, deltas=DELTAS)
    if finished:
        run_complete(response_id=run.id, input_tokens=3, output_tokens=3)
    return Response.objects.get(pk=run.id)


def _ended_ago(run: Response, seconds: float) -> None:
    # Time is the only thing the services cannot produce: move the end into the past.
    Response.objects.filter(pk=run.pk).update(ended_at=timezone.now() - timedelta(
        seconds=seconds))


def _purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_stream_buffers", *args, stdout=out)
    return out.getvalue()


def _events(run: Response) -> int:
    return ResponseEvent.objects.filter(response=run).count()


@pytest.fixture
def buffers(settings):
    """One expired buffer, one fresh buffer and one run still going."""
    settings.FREDDY_STREAM_BUFFER_TTL_SECONDS = TTL_SECONDS
    expired, fresh, live = _run(), _run(), _run(finished=False)
    _ended_ago(expired, TTL_SECONDS + 60)
    assert (_events(expired), _events(fresh), _events(live)) == (5, 5, 4)
    return expired, fresh, live


@pytest.mark.django_db
def test_dry_run_counts_the_expired_buffer_and_deletes_nothing(buffers):
    expired, fresh, live = buffers
    assert _purge("--dry-run").strip() == "Would remove 5 events of 1 runs."
    assert (_events(expired), _events(fresh), _events(live)) == (5, 5, 4)


@pytest.mark.django_db
def test_purge_deletes_only_the_expired_buffer_and_keeps_threads_messages_runs(buffers):
    expired, fresh, live = buffers
    counts = (Thread.objects.count(), Message.objects.count(), Response.objects.count())
    assert _purge().strip() == "Removed 5 events of 1 runs."
    assert (_events(expired), _events(fresh), _events(live)) == (0, 5, 4)
    assert (Thread.objects.count(), Message.objects.count(),
            Response.objects.count()) == counts
    expired.refresh_from_db()
    assert expired.status == "completed" and expired.last_sequence_number == 5
    assert expired.assistant_message.content == "one two three"
    assert _purge().strip() == "Removed 0 events of 0 runs."


@pytest.mark.django_db
def test_older_than_zero_purges_every_finished_run_but_never_a_live_one(buffers):
    expired, fresh, live = buffers
    assert _purge("--older-than", "0", "--batch-size", "2").strip() == (
        "Removed 10 events of 2 runs.")
    assert (_events(expired), _events(fresh), _events(live)) == (0, 0, 4)


@pytest.mark.django_db
@pytest.mark.parametrize("args", [["--older-than", "-1"], ["--batch-size", "0"]])
def test_bad_arguments_are_command_errors_and_delete_nothing(buffers, args):
    with pytest.raises(CommandError):
        _purge(*args)
    assert [_events(run) for run in buffers] == [5, 5, 4]
