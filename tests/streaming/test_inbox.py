"""The run-events feed of a process, its listeners and their recent events.

Over the configured channel layer (the in-process one, or Redis when REDIS_URL is set);
the end-to-end guarantees (no gap, no duplicate) are in tests/e2e.
"""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from streaming import inbox as inbox_module
from streaming import sse
from streaming.events import CONTENT_DELTA, StoredEvent
from streaming.inbox import RecentEvents, RunInbox
from streaming.models import Response, ResponseEvent
from streaming.publish import RUN_ENDS_GROUP, RUN_EVENTS_GROUP, events_publish
from streaming.services import response_create, run_cancel_active, run_start
from streaming.services import runs_append_deltas
from threads.models import Message
from threads.services import api_key_create


def _events(first: int, last: int) -> list[StoredEvent]:
    return [StoredEvent(n, CONTENT_DELTA, f'{{"n":{n}}}') for n in range(first, last + 1)]


def _numbers(events: list[StoredEvent] | None) -> list[int] | None:
    return None if events is None else [e.sequence_number for e in events]


# --- RecentEvents ----------------------------------------------------------------------


def test_recent_events_answer_within_their_stretch_and_not_beyond():
    recent = RecentEvents()
    assert recent.after(0, 10) is None
    recent.add(_events(5, 9))
    assert _numbers(recent.after(4, 10)) == [5, 6, 7, 8, 9]
    assert _numbers(recent.after(6, 2)) == [7, 8]
    assert recent.after(3, 10) is None  # 4 is not held: the database must answer
    assert recent.after(9, 10) is None  # at the end: only the database knows what's next


def test_recent_events_merge_overlapping_and_touching_stretches_in_order():
    recent = RecentEvents()
    recent.add(_events(5, 9))
    recent.add(_events(8, 12))  # overlaps the end
    recent.add(_events(1, 4))  # touches the start
    recent.add(_events(13, 13))  # a delivered batch right after
    assert _numbers(recent.events) == list(range(1, 14))


def test_recent_events_keep_the_newer_stretch_across_a_gap():
    recent = RecentEvents()
    recent.add(_events(5, 9))
    recent.add(_events(1, 3))  # older, not touching: ignored
    assert _numbers(recent.events) == [5, 6, 7, 8, 9]
    recent.add(_events(12, 14))  # newer, not touching: replaces
    assert _numbers(recent.events) == [12, 13, 14]


def test_recent_events_are_not_served_once_the_group_delivered_past_them():
    recent = RecentEvents()
    recent.add(_events(1, 9))
    recent.delivered_now(_events(11, 11))  # 10 was lost on the way
    # Held: 11 only (the gap reset it); a reader at 5 must go to the database.
    assert recent.after(5, 10) is None
    recent.add(_events(6, 11))  # what the database then returns
    assert _numbers(recent.after(5, 10)) == [6, 7, 8, 9, 10, 11]


def test_recent_events_keep_only_the_newest(settings):
    settings.FREDDY_RECENT_EVENTS_PER_RUN = 4
    recent = RecentEvents()
    recent.add(_events(1, 10))
    assert _numbers(recent.events) == [7, 8, 9, 10]


# --- RunInbox over the channel layer --------------------------------------------------


async def test_an_inbox_gets_what_is_published_after_it_joined_contiguous_batches_joined():
    async with RunInbox("resp_inbox_a") as inbox, RunInbox("resp_inbox_b") as other:
        await events_publish({"resp_inbox_a": _events(1, 2)})
        await events_publish({"resp_inbox_a": _events(3, 3), "resp_inbox_b": _events(1, 1)})
        await events_publish({"resp_inbox_a": _events(5, 6)})  # 4 never came
        await asyncio.sleep(0.2)  # all three delivered before the first get
        assert _numbers(await inbox.get(5)) == [1, 2, 3]
        assert _numbers(await inbox.get(5)) == [5, 6]  # the gap is the reader's to fill
        assert _numbers(await other.get(5)) == [1]


async def test_an_inbox_wakes_for_a_batch_and_times_out_after_silence():
    async with RunInbox("resp_inbox_c") as inbox:
        waiting = asyncio.create_task(inbox.get(10))
        await asyncio.sleep(0.05)
        await events_publish({"resp_inbox_c": _events(1, 1)})
        assert _numbers(await asyncio.wait_for(waiting, 5)) == [1]
        started = time.monotonic()
        assert await inbox.get(0.3) is None
        assert 0.25 <= time.monotonic() - started < 3


async def test_the_process_leaves_a_feed_with_its_last_listener():
    feeds = inbox_module._feeds
    async with RunInbox("resp_inbox_d"):
        async with RunInbox("resp_inbox_d") as second:
            assert second.recent is feeds[RUN_EVENTS_GROUP].recent["resp_inbox_d"]
        assert "resp_inbox_d" in feeds[RUN_EVENTS_GROUP].listeners
    assert RUN_EVENTS_GROUP not in feeds


async def test_a_watcher_of_run_ends_gets_the_terminal_events_only():
    end = StoredEvent(3, "response.completed", '{"n":3}')
    async with RunInbox("resp_inbox_e", group=RUN_ENDS_GROUP) as watcher:
        await events_publish({"resp_inbox_e": _events(1, 2)})
        assert await watcher.get(0.3) is None
        await events_publish({"resp_inbox_e": [*_events(1, 2), end]})
        assert await watcher.get(5) == [end]


# --- Many runs' deltas in one transaction --------------------------------------------


def _started_run(organization_id: str) -> Response:
    run = response_create(organization_id=organization_id, thread_id=None, thread_metadata={},
                          model="echo", model_options={}, metadata={},
                          inputs=[{"role": "user", "content": "hi"}])
    run_start(response_id=run.id)
    return run


@pytest.mark.django_db(transaction=True)
async def test_deltas_of_many_runs_are_stored_and_published_in_one_flush():
    await sync_to_async(api_key_create)(organization_id="org_flush")
    runs = [await sync_to_async(_started_run)("org_flush") for _ in range(3)]
    ended = runs[2]
    await sync_to_async(run_cancel_active)(thread_id=ended.thread_id)
    async with RunInbox(runs[0].id) as first, RunInbox(runs[1].id) as second:
        stored = await sync_to_async(runs_append_deltas)(deltas_by_run={
            runs[0].id: ["a", "b"], runs[1].id: ["c"], ended.id: ["never"]})
        assert stored.ended == {ended.id}
        assert set(stored.events_by_run) == {runs[0].id, runs[1].id}
        # One message for both runs: each listener gets its own run's events only.
        got_first, got_second = await first.get(5), await second.get(5)
    assert [(e.sequence_number, e.event_type) for e in got_first] == [
        (2, CONTENT_DELTA), (3, CONTENT_DELTA)]
    assert [e.sequence_number for e in got_second] == [2]

    def stored() -> tuple:
        return (
            [list(ResponseEvent.objects.filter(response_id=run.id).order_by("sequence_number")
                  .values_list("sequence_number", flat=True)) for run in runs],
            [Response.objects.get(pk=run.id).last_sequence_number for run in runs],
            [Message.objects.get(pk=run.assistant_message_id).content for run in runs],
        )

    events, last_numbers, texts = await sync_to_async(stored)()
    # The thread sync_to_async used keeps its connection: close it, or the test
    # database cannot be dropped.
    await sync_to_async(connections.close_all)()
    assert events == [[1, 2, 3], [1, 2], [1, 2]]  # the ended run: created, cancelled
    assert last_numbers == [3, 2, 2]
    assert texts == ["ab", "c", ""]


def test_recent_events_encode_a_replay_frame_once_while_they_hold_the_event():
    recent = RecentEvents()
    recent.add(_events(1, 3))
    held, outside = recent.events[1], _events(7, 7)[0]
    assert recent.replay_frame(held) is recent.replay_frame(held)
    assert recent.replay_frame(held) == sse.encode_frame(2, held.payload, replay=True)
    assert recent.replay_frame(outside) is not recent.replay_frame(outside)
