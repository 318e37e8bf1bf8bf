"""A Python client for Freddy streams whose streams resume by themselves.

    from freddy.client import FreddyClient
    with FreddyClient("http://127.0.0.1:8000", api_key) as freddy:
        for event in freddy.stream(thread_id):
            ...

`AsyncFreddyClient` is the asyncio twin; `python -m freddy.client tail THREAD_ID` tails a
thread from the command line. Only httpx is needed: this package never imports Django.
"""

from freddy.client.aio import AsyncFreddyClient
from freddy.client.events import (Event, ContentDelta, ResponseCancelled, ResponseCompleted,
                                  ResponseCreated, ResponseFailed)
from freddy.client.resume import (ApiError, FreddyError, RetryPolicy, StreamDropped,
                                  StreamGaveUp)
from freddy.client.sync import FreddyClient

__all__ = [
    "ApiError", "AsyncFreddyClient", "ContentDelta", "Event", "FreddyClient", "FreddyError",
    "ResponseCancelled", "ResponseCompleted", "ResponseCreated", "ResponseFailed",
    "RetryPolicy", "StreamDropped", "StreamGaveUp",
]
