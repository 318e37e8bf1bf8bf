"""The floor of W3: a trivial ASGI app on daphne, for the same storm of connections.

It answers every stream at once with W3's average replay (250 frames, marked as
replayed) from memory, then idles: no database, no channel layer, no live events.
What a storm costs here is daphne's and this machine's share of W3, not Freddy's.
"""

FLOOR_FRAMES = 250
_BODY = b"retry: 3000\n\n" + b"".join(
    b'id: %d\ndata: {"event":"response.content_delta","sequence_number":%d,'
    b'"thread_id":"thrd_0123456789abcdef0123","response_id":"resp_0123456789abcdef0123",'
    b'"delta":" token","created_at":1795542601.554,"source":"replay"}\n\n' % (n, n)
    for n in range(1, FLOOR_FRAMES + 1))


async def application(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    stream = scope["path"] == "/stream"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream" if stream else b"text/plain")]})
    await send({"type": "http.response.body", "body": _BODY if stream else b"ok",
                "more_body": stream})
    while stream and (await receive())["type"] != "http.disconnect":
        pass
