"""Wake the listeners of runs through the channel layer; the database stays the truth.

Every run publishes to one group, RUN_EVENTS_GROUP, which every process with listeners
joins once (streaming.inbox). A message carries the events of one or many runs: a
worker storing the deltas of 200 runs in one transaction sends them in one message,
rather than one per run, and each process hands them to its own listeners by run.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from streaming.events import StoredEvent

logger = logging.getLogger(__name__)

RUN_EVENTS_GROUP = "freddy.run-events"
# The terminal events alone, for the executors' watchers: a worker producing 200 runs
# need not receive every token of them back.
RUN_ENDS_GROUP = "freddy.run-ends"
RUN_EVENTS_MESSAGE = "run.events"

EventsByRun = dict[str, list[StoredEvent]]


def events_message(events_by_run: EventsByRun) -> dict:
    """The group message that carries stored events, by run."""
    return {"type": RUN_EVENTS_MESSAGE,
            "runs": [[response_id, [(e.sequence_number, e.event_type, e.payload)
                                    for e in events]]
                     for response_id, events in events_by_run.items()]}


def events_by_run_from_message(message: dict) -> EventsByRun:
    return {response_id: [StoredEvent(*event) for event in events]
            for response_id, events in message.get("runs", ())}


async def events_publish(events_by_run: EventsByRun) -> None:
    """Send stored events to every listening process; a layer failure only delays readers."""
    ends = {response_id: terminal for response_id, events in events_by_run.items()
            if (terminal := [e for e in events if e.is_terminal])}
    layer = get_channel_layer()
    try:
        await layer.group_send(RUN_EVENTS_GROUP, events_message(events_by_run))
        if ends:
            await layer.group_send(RUN_ENDS_GROUP, events_message(ends))
    except Exception:
        # Readers notice the silence and read the rows from the database instead.
        logger.warning("Could not publish events of %d runs", len(events_by_run),
                       exc_info=True)


def events_publish_on_commit(events_by_run: EventsByRun) -> None:
    """Publish once the transaction that stored the events has committed."""
    transaction.on_commit(lambda: async_to_sync(events_publish)(events_by_run))
