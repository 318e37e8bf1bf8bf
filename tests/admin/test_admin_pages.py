"""Admin pages on the Django test database: bounded queries, pagination, keys, actions."""

import re
import time
from datetime import timedelta

import orjson
import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from streaming.admin import TIMELINE_EVENTS_PER_PAGE
from streaming.models import Response, ResponseEvent
from threads.admin import RAW_KEY_SHOWN_ONCE
from threads.models import ApiKey, Message, Organization, Thread

LONG_RUN_EVENTS = 20_000
# Session, user, the run and its related rows, the event count and one page of events
# (7 today); a timeline that queried per event would need thousands.
RUN_PAGE_MAX_QUERIES = 10
# The last page (the deepest offset) once templates are loaded: about 0.2 s here;
# generous for a loaded 2-core machine.
RUN_PAGE_MAX_SECONDS = 5.0
TIMELINE_ROW = re.compile(r'<tr class="timeline-event"><td>(\d+)</td>')


def _run(*, events: int, status: str = "completed", ended_ago_seconds: float = 0) -> Response:
    organization, _ = Organization.objects.get_or_create(id="org_admin")
    thread = Thread.objects.create(organization=organization, title="admin test")
    assistant = Message.objects.create(thread=thread, role="assistant", content="x")
    ended_at = timezone.now() - timedelta(seconds=ended_ago_seconds)
    run = Response.objects.create(
        thread=thread, model="echo", status=status, assistant_message=assistant,
        started_at=ended_at - timedelta(seconds=3), last_sequence_number=events,
        ended_at=None if status in Response.ACTIVE_STATUSES else ended_at)
    ResponseEvent.objects.bulk_create(
        [ResponseEvent(response=run, sequence_number=n, event_type="response.content_delta",
                       payload=orjson.dumps({"event": "response.content_delta",
                                             "sequence_number": n, "delta": f" t{n}"}).decode())
         for n in range(1, events + 1)], batch_size=2000)
    return run


def _timeline_ids(html: str) -> list[int]:
    return [int(n) for n in TIMELINE_ROW.findall(html)]


@pytest.mark.django_db
def test_run_page_of_20000_events_renders_in_bounded_queries_and_paginates(
        admin_client, django_assert_max_num_queries):
    run = _run(events=LONG_RUN_EVENTS)
    url = reverse("admin:streaming_response_change", args=[quote(run.id)])

    with django_assert_max_num_queries(RUN_PAGE_MAX_QUERIES):
        first = admin_client.get(url)
    started = time.monotonic()
    with django_assert_max_num_queries(RUN_PAGE_MAX_QUERIES):
        last = admin_client.get(url, {"events_page": LONG_RUN_EVENTS // TIMELINE_EVENTS_PER_PAGE})
    elapsed = time.monotonic() - started

    assert first.status_code == 200 and last.status_code == 200
    assert elapsed < RUN_PAGE_MAX_SECONDS
    html = first.content.decode()
    assert f'<span id="timeline-count">{LONG_RUN_EVENTS}</span>' in html
    assert _timeline_ids(html) == list(range(1, TIMELINE_EVENTS_PER_PAGE + 1))
    assert "page 1 of 200" in html and "?events_page=2" in html
    assert " t1</code>" in html  # a delta event shows its delta
    assert _timeline_ids(last.content.decode()) == list(
        range(LONG_RUN_EVENTS - TIMELINE_EVENTS_PER_PAGE + 1, LONG_RUN_EVENTS + 1))


@pytest.mark.django_db
def test_run_and_thread_lists_take_the_same_queries_for_few_or_many_rows(
        admin_client, django_assert_max_num_queries):
    _run(events=3)
    few = {name: _count_queries(admin_client, name) for name in ("response", "thread")}
    for _ in range(15):
        _run(events=3, status="in_progress")
    many = {name: _count_queries(admin_client, name) for name in ("response", "thread")}

    assert many == few


def _count_queries(admin_client, model: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    app = "streaming" if model == "response" else "threads"
    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get(reverse(f"admin:{app}_{model}_changelist"))
    assert page.status_code == 200
    return len(captured)


@pytest.mark.django_db
def test_thread_status_filter_uses_the_derived_status(admin_client):
    finished, running = _run(events=1), _run(events=1, status="in_progress")
    url = reverse("admin:threads_thread_changelist")

    streaming = admin_client.get(url, {"status": "streaming"}).content.decode()
    inactive = admin_client.get(url, {"status": "inactive"}).content.decode()

    assert running.thread_id in streaming and finished.thread_id not in streaming
    assert finished.thread_id in inactive and running.thread_id not in inactive


@pytest.mark.django_db
def test_adding_an_api_key_shows_the_raw_key_once_and_stores_only_its_hash(admin_client):
    form = admin_client.get(reverse("admin:threads_apikey_add")).content.decode()
    assert 'name="organization_id"' in form and "key_hash" not in form
    added = admin_client.post(reverse("admin:threads_apikey_add"),
                              {"organization_id": "org_new", "name": "ops"}, follow=True)

    prefix = RAW_KEY_SHOWN_ONCE.split("{key}")[0].format(org="org_new")
    shown = [str(m) for m in added.context["messages"] if str(m).startswith(prefix)]
    assert len(shown) == 1
    raw_key = shown[0].removeprefix(prefix)
    key = ApiKey.objects.get(organization_id="org_new")
    assert raw_key.startswith(key.prefix) and raw_key not in key.key_hash
    listing = admin_client.get(reverse("admin:threads_apikey_changelist")).content.decode()
    assert key.prefix in listing and raw_key not in listing and key.key_hash not in listing
    page = admin_client.get(reverse("admin:threads_apikey_change", args=[quote(key.pk)]))
    assert key.prefix in page.content.decode() and key.key_hash not in page.content.decode()


@pytest.mark.django_db
def test_revoke_action_revokes_the_selected_keys(admin_client):
    add_url = reverse("admin:threads_apikey_add")
    admin_client.post(add_url, {"organization_id": "org_a", "name": "one"})
    key = ApiKey.objects.get(organization_id="org_a")

    admin_client.post(reverse("admin:threads_apikey_changelist"),
                      {"action": "revoke_keys", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.revoked_at is not None


@pytest.mark.django_db
def test_purge_action_empties_only_expired_finished_runs(admin_client, settings):
    settings.FREDDY_STREAM_BUFFER_TTL_SECONDS = 60
    expired, fresh = _run(events=5, ended_ago_seconds=120), _run(events=5)
    running = _run(events=5, status="in_progress")

    admin_client.post(reverse("admin:streaming_response_changelist"), {
        "action": "purge_expired_buffers",
        "_selected_action": [expired.pk, fresh.pk, running.pk]})

    remaining = {r.pk: r.events.count() for r in (expired, fresh, running)}
    assert remaining == {expired.pk: 0, fresh.pk: 5, running.pk: 5}
