"""Database calls from long-lived coroutines: runs and streams."""

from collections.abc import Callable
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.db import connection

T = TypeVar("T")


def _call_and_release(fn: Callable[..., T], kwargs: dict) -> T:
    try:
        return fn(**kwargs)
    finally:
        # A run lasts seconds to minutes but touches the database for milliseconds.
        # Holding its pooled connection meanwhile caps a worker at the pool size (20):
        # the 21st concurrent run waited 30 s for a connection, then crashed queued.
        if getattr(connection, "pool", None) is not None and not connection.in_atomic_block:
            connection.close()  # back to the pool; SQLite keeps its connection


async def db_call(fn: Callable[..., T], /, **kwargs) -> T:
    """A sync service on the caller's database thread, handing a pooled connection back."""
    return await sync_to_async(_call_and_release)(fn, kwargs)


async def db_read(fn: Callable[..., T], /, **kwargs) -> T:
    """A read for a stream, on the event loop's small pool of threads.

    Streams are many and long: a database thread (and SQLite connection) of their own
    would cost ~170 KB each, and one shared thread would serialize a reconnect storm.
    """
    return await sync_to_async(_call_and_release, thread_sensitive=False)(fn, kwargs)
