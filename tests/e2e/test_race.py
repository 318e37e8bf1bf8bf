"""The race: many reconnects at random cursors while a fast run is producing (tests 3, 4)."""

import asyncio
import random

import httpx
import pytest

from tests.sse import Frame, events_of, iter_frames

RECONNECTS = 50
# "alpha beta": 2 deltas per repeat, so a run of about 3000 events, produced
# in a second or two while the readers connect.
REPEAT = 1500
TEXT = "alpha beta"
# Readers start spread over this window so that some replay a lot and some mostly live.
START_SPREAD_SECONDS = 0.4


async def _frames(response: httpx.Response) -> list[Frame]:
    assert response.status_code == 200, await response.aread()
    return list(iter_frames([line async for line in response.aiter_lines()]))


async def _reconnect(http: httpx.AsyncClient, thread_id: str, via: str, seed: int) -> dict:
    """Read the run's active last id, pick a cursor at or below it, stream from there."""
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0, START_SPREAD_SECONDS))
    listed = (await http.get(f"/v1/threads/{thread_id}/messages")).json()
    active = listed["active_run"]
    last_known = active["last_event_id"] if active else None
    after = rng.randint(0, last_known if active else 10)
    url = f"/v1/model/response/{thread_id}/stream"
    kwargs = ({"params": {"last_event_id": after}} if via == "query"
              else {"headers": {"Last-Event-ID": str(after)}})
    async with http.stream("GET", url, **kwargs) as response:
        frames = await _frames(response)
    return {"after": after, "last_known": last_known, "frames": frames}


def _check_reconnect(result: dict, reference: dict[int, dict]) -> int:
    """One reader's stream against the creator's; how many of its frames were live."""
    after, frames = result["after"], result["frames"]
    events = events_of(frames)
    ids = [e["sequence_number"] for e in events]
    assert ids == list(range(after + 1, len(reference) + 1)), (after, ids[:5], ids[-5:])
    assert [f.id for f in frames if f.json] == ids
    assert frames[-1].is_done and frames[-1].id is None
    replayed = ["source" in e for e in events]
    assert all(e["source"] == "replay" for e in events if "source" in e)
    replay_count = replayed.count(True)
    assert replayed == [True] * replay_count + [False] * (len(events) - replay_count), after
    if result["last_known"] is not None:
        # Stored before the reader connected, so replayed.
        assert replay_count >= result["last_known"] - after, result["last_known"]
    else:
        assert replay_count == len(events)  # the run had ended before it connected
    for event in events:
        event.pop("source", None)
        assert event == reference[event["sequence_number"]]
    return len(events) - replay_count


# The header path differs only in parsing the cursor: half the readers suffice.
@pytest.mark.parametrize("via,readers", [("query", RECONNECTS), ("header", RECONNECTS // 2)])
async def test_reconnects_racing_a_fast_run_get_exactly_the_ids_after_their_cursor(
        server, api_key, via, readers):
    limits = httpx.Limits(max_connections=readers + 5)
    async with server.async_client(api_key, limits=limits) as http:
        body = {"model": "echo", "stream": True,
                "model_options": {"token_delay_ms": 0, "repeat": REPEAT},
                "inputs": [{"role": "user", "content": TEXT}]}
        async with http.stream("POST", "/v1/model/response", json=body) as created:
            lines = created.aiter_lines()
            first = [line async for line in _until_first_event(lines)]
            thread_id = list(iter_frames(first))[-1].json["thread_id"]
            tasks = [asyncio.create_task(_reconnect(http, thread_id, via, seed))
                     for seed in range(readers)]
            creator = list(iter_frames(first + [line async for line in lines]))
        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=90)

    reference = {e["sequence_number"]: e for e in events_of(creator)}
    assert list(reference) == list(range(1, 2 * REPEAT + 3))
    assert reference[len(reference)]["response"] == [
        {"type": "text", "text": " ".join([TEXT] * REPEAT)}]
    live = [_check_reconnect(result, reference) for result in results]
    raced = [r for r in results if r["last_known"] is not None]
    # The test only means something if readers really joined a run in progress.
    assert len(results) == readers and len(raced) >= readers // 2, len(raced)
    assert sum(1 for count in live if count) >= 3, live


async def _until_first_event(lines):
    async for line in lines:
        yield line
        if line.startswith("data: {"):
            return
