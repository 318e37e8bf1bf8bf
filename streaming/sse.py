"""Server-Sent Event frames: pure functions over stored payload text."""

RETRY_FRAME = b"retry: 3000\n\n"
DONE_FRAME = b"data: [DONE]\n\n"
KEEP_ALIVE_FRAME = b": keep-alive\n\n"
# Spliced in place of the payload's closing brace: no JSON decode on the replay path.
REPLAY_SUFFIX = b',"source":"replay"}'


def encode_frame(sequence_number: int, payload: str, *, replay: bool = False) -> bytes:
    """One `id:` + `data:` frame; `payload` is the stored JSON object text."""
    data = payload.encode()
    if replay:
        data = data[:-1] + REPLAY_SUFFIX
    return b"id: %d\ndata: %s\n\n" % (sequence_number, data)
