"""Wake a run's listeners through the channel layer; the database stays the truth."""

import logging
import re

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from streaming.events import StoredEvent

logger = logging.getLogger(__name__)

RUN_EVENTS_MESSAGE = "run.events"
_GROUP_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def run_group_name(response_id: str) -> str:
    """The channel-layer group of a run's listeners."""
    return "run." + _GROUP_NAME_UNSAFE.sub("_", response_id)[:90]


def events_message(events: list[StoredEvent]) -> dict:
    """The group message that carries one or more stored events."""
    return {"type": RUN_EVENTS_MESSAGE,
            "events": [(e.sequence_number, e.event_type, e.payload) for e in events]}


def stored_events_from_message(message: dict) -> list[StoredEvent]:
    return [StoredEvent(*event) for event in message.get("events", ())]


async def events_publish(*, response_id: str, events: list[StoredEvent]) -> None:
    """Send stored events to the run's group; a layer failure only delays readers."""
    try:
        await get_channel_layer().group_send(run_group_name(response_id),
                                             events_message(events))
    except Exception:
        # Readers notice the silence and read the rows from the database instead.
        logger.warning("Could not publish events of %s", response_id, exc_info=True)


def events_publish_on_commit(*, response_id: str, events: list[StoredEvent]) -> None:
    """Publish once the transaction that stored the events has committed."""
    transaction.on_commit(
        lambda: async_to_sync(events_publish)(response_id=response_id, events=events)
    )
