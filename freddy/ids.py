"""Public object ids: opaque, prefixed, unguessable."""

import secrets

# 128 random bits: well past the contract's 96, short enough to read in a log.
ID_RANDOM_BYTES = 16


def new_id(prefix: str) -> str:
    """Return a fresh id such as ``thrd_9f0c…``."""
    return f"{prefix}_{secrets.token_hex(ID_RANDOM_BYTES)}"


def new_trace_id() -> str:
    """Return a fresh request trace id."""
    return new_id("req")
