"""The upstream provider over real HTTP: daphne in front, a fake OpenAI behind."""

import time
import uuid

import httpx
import pytest

from streaming.providers.openai_compat import (
    MESSAGE_AUTH,
    MESSAGE_ERROR,
    MESSAGE_FIRST_TOKEN_TIMEOUT,
    MESSAGE_IDLE_TIMEOUT,
    MESSAGE_INTERRUPTED,
    MESSAGE_RATE_LIMITED,
    MESSAGE_STREAM_ERROR,
    MESSAGE_UNREACHABLE,
    chat_messages,
    chat_options,
)
from tests.sse import Frame, events_of, read_stream
from tests.upstream.conftest import (
    FIRST_TOKEN_TIMEOUT_SECONDS,
    IDLE_TIMEOUT_SECONDS,
    MAX_RETRIES,
    UPSTREAM_MODEL,
)
from tests.upstream.fake_openai import (
    ERROR_MESSAGE,
    STREAM_ERROR_MESSAGE,
    Reply,
    answer,
    failure,
)

ATTEMPTS = MAX_RETRIES + 1
# The contract: the fake upstream sees its connection closed this soon after a cancel.
CANCEL_CLOSE_SECONDS = 1.0


def _prompt(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _create(
    client: httpx.Client,
    prompt: str,
    *,
    thread_id: str | None = None,
    options: dict | None = None,
    stop_after: int | None = None,
) -> list[Frame]:
    return read_stream(
        client,
        "POST",
        "/v1/model/response",
        stop_after=stop_after,
        json={
            "model": UPSTREAM_MODEL,
            "thread_id": thread_id,
            "stream": True,
            "model_options": options or {},
            "inputs": [{"role": "user", "content": prompt}],
        },
    )


def _text(events: list[dict]) -> str:
    return "".join(e["delta"] for e in events if e["event"] == "response.content_delta")


def _assert_failed(
    client: httpx.Client, frames: list[Frame], *, code: str, message: str, partial: str
) -> None:
    """The run ended failed with `code`, its partial text kept, its thread inactive."""
    assert frames[-1].is_done
    events = events_of(frames)
    terminal = events[-1]
    assert terminal["event"] == "response.error" and terminal["status"] == "failed"
    assert (terminal["code"], terminal["message"]) == (code, message)
    assert _text(events) == partial
    thread_id = terminal["thread_id"]
    assert client.get(f"/v1/threads/{thread_id}").json()["status"] == "inactive"
    assistant = client.get(f"/v1/threads/{thread_id}/messages").json()["data"][-1]
    assert assistant["role"] == "assistant" and assistant["status"] == "failed"
    assert assistant["content"] == partial
    assert assistant["metadata"]["error"] == {"code": code, "message": message}


def test_answer_streams_from_upstream_with_the_thread_history_oldest_first(
    upstream_client, fake_openai
):
    first, second = _prompt("history-first"), _prompt("history-second")
    fake_openai.script(first, answer(["First", " answer"]))
    fake_openai.script(second, answer(["Second", " answer", "."], usage=(23, 3)))
    thread_id = events_of(_create(upstream_client, first))[0]["thread_id"]

    frames = _create(
        upstream_client,
        second,
        thread_id=thread_id,
        options={"temperature": 0.25, "max_tokens": 64, "token_delay_ms": 5},
    )

    [call] = fake_openai.calls(second)
    assert call.messages == [
        {"role": "user", "content": first},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": second},
    ]
    assert call.body["model"] == UPSTREAM_MODEL and call.body["stream"] is True
    assert call.body["stream_options"] == {"include_usage": True}
    assert (call.body["temperature"], call.body["max_tokens"]) == (0.25, 64)
    assert "token_delay_ms" not in call.body
    events = events_of(frames)
    assert frames[-1].is_done
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["model"] == UPSTREAM_MODEL
    assert _text(events) == "Second answer."
    assert events[-1]["event"] == "response.completed"
    assert events[-1]["response"] == [{"type": "text", "text": "Second answer."}]
    assert events[-1]["usage"] == {"input_tokens": 23, "output_tokens": 3}
    assert events[-1]["stop_reason"] == "end_turn"
    thread = upstream_client.get(f"/v1/threads/{thread_id}").json()
    assert (
        thread["status"] == "inactive" and thread["last_model_used"] == UPSTREAM_MODEL
    )


def test_history_sent_upstream_is_bounded_to_the_newest_messages(
    upstream_client, fake_openai
):
    prompts = [_prompt(f"bounded-{n}") for n in range(3)]
    thread_id = None
    for index, prompt in enumerate(prompts):
        fake_openai.script(prompt, answer([f"Answer {index}"], usage=(5 + index, 2)))
        reply = upstream_client.post(
            "/v1/model/response",
            json={
                "model": UPSTREAM_MODEL,
                "thread_id": thread_id,
                "inputs": [{"role": "user", "content": prompt}],
            },
        ).json()
        assert reply["response"] == [{"type": "text", "text": f"Answer {index}"}]
        assert reply["usage"] == {"input_tokens": 5 + index, "output_tokens": 2}
        thread_id = reply["thread_id"]

    # Five messages precede the answer; the limit (4) keeps the newest four.
    [call] = fake_openai.calls(prompts[2])
    assert call.messages == [
        {"role": "assistant", "content": "Answer 0"},
        {"role": "user", "content": prompts[1]},
        {"role": "assistant", "content": "Answer 1"},
        {"role": "user", "content": prompts[2]},
    ]


@pytest.mark.parametrize(
    ("status", "code", "message", "attempts"),
    [
        (401, "upstream_auth", MESSAGE_AUTH.format(status=401), 1),
        (403, "upstream_auth", MESSAGE_AUTH.format(status=403), 1),
        (429, "upstream_rate_limited", MESSAGE_RATE_LIMITED, ATTEMPTS),
        (500, "upstream_error", MESSAGE_ERROR.format(status=500, detail=""), ATTEMPTS),
        # A 4xx would fail again: no retry, and the upstream's own words are kept.
        (
            404,
            "upstream_error",
            MESSAGE_ERROR.format(
                status=404, detail=": " + ERROR_MESSAGE.format(status=404)
            ),
            1,
        ),
    ],
    ids=["401", "403", "429", "500", "404"],
)
def test_upstream_http_error_fails_the_run_with_its_code_after_bounded_retries(
    upstream_client, fake_openai, status, code, message, attempts
):
    prompt = _prompt(f"status-{status}")
    fake_openai.script(prompt, *[failure(status) for _ in range(ATTEMPTS)])

    frames = _create(upstream_client, prompt)

    _assert_failed(upstream_client, frames, code=code, message=message, partial="")
    assert len(fake_openai.calls(prompt)) == attempts


def test_unreachable_upstream_fails_the_run_as_upstream_unreachable(
    refused_server, upstream_key
):
    with refused_server.client(upstream_key) as client:
        frames = _create(client, _prompt("refused"))

        _assert_failed(
            client,
            frames,
            code="upstream_unreachable",
            message=MESSAGE_UNREACHABLE,
            partial="",
        )


def test_stream_cut_mid_answer_fails_as_interrupted_keeps_the_text_and_never_retries(
    upstream_client, fake_openai
):
    prompt = _prompt("cut")
    # A second scripted answer would be used by a (wrong) retry after the first token.
    fake_openai.script(
        prompt,
        answer(["Partial", " text", " lost"], cut_after_tokens=2),
        answer(["Duplicate"]),
    )

    frames = _create(upstream_client, prompt)

    _assert_failed(
        upstream_client,
        frames,
        code="upstream_interrupted",
        message=MESSAGE_INTERRUPTED,
        partial="Partial text",
    )
    assert len(fake_openai.calls(prompt)) == 1


def test_no_first_token_in_time_fails_as_upstream_timeout_after_retries(
    upstream_client, fake_openai
):
    prompt = _prompt("first-token")
    late = FIRST_TOKEN_TIMEOUT_SECONDS + 3
    fake_openai.script(
        prompt,
        *[
            Reply(tokens=["Late"], first_token_delay_seconds=late)
            for _ in range(ATTEMPTS)
        ],
    )

    frames = _create(upstream_client, prompt)

    _assert_failed(
        upstream_client,
        frames,
        code="upstream_timeout",
        partial="",
        message=MESSAGE_FIRST_TOKEN_TIMEOUT.format(seconds=FIRST_TOKEN_TIMEOUT_SECONDS),
    )
    calls = fake_openai.calls(prompt)
    assert len(calls) == ATTEMPTS
    # Each abandoned attempt's connection was closed, not left hanging.
    assert all(call.client_closed.wait(timeout=5) for call in calls)


def test_upstream_silent_mid_answer_fails_as_upstream_timeout_keeping_the_text(
    upstream_client, fake_openai
):
    prompt = _prompt("stall")
    fake_openai.script(
        prompt,
        answer(["Said", " this", " never"], stall_after_tokens=2),
        answer(["Duplicate"]),
    )

    frames = _create(upstream_client, prompt)

    _assert_failed(
        upstream_client,
        frames,
        code="upstream_timeout",
        partial="Said this",
        message=MESSAGE_IDLE_TIMEOUT.format(seconds=IDLE_TIMEOUT_SECONDS),
    )
    [call] = fake_openai.calls(prompt)
    assert call.client_closed.wait(timeout=5)


@pytest.mark.parametrize(
    "first_reply",
    [
        failure(500),
        failure(429, retry_after_seconds=0.2),
        Reply(
            tokens=["Late"], first_token_delay_seconds=FIRST_TOKEN_TIMEOUT_SECONDS + 3
        ),
    ],
    ids=["server-error", "rate-limited", "first-token-timeout"],
)
def test_a_retry_before_the_first_token_completes_the_answer_exactly_once(
    upstream_client, fake_openai, first_reply
):
    prompt = _prompt("retry")
    fake_openai.script(prompt, first_reply, answer(["Worked", " second", " time"]))

    frames = _create(upstream_client, prompt)

    events = events_of(frames)
    assert events[-1]["event"] == "response.completed"
    assert _text(events) == "Worked second time"
    assert events[-1]["response"] == [{"type": "text", "text": "Worked second time"}]
    assert len(fake_openai.calls(prompt)) == 2


def test_cancel_closes_the_upstream_connection_within_one_second(
    upstream_client, fake_openai
):
    prompt = _prompt("cancel")
    tokens = [f" word{n}" for n in range(300)]
    fake_openai.script(prompt, answer(tokens, token_interval_seconds=0.1))
    frames = _create(upstream_client, prompt, stop_after=4)  # created + 3 deltas
    thread_id = events_of(frames)[0]["thread_id"]
    [call] = fake_openai.calls(prompt)
    assert not call.client_closed.is_set()

    cancel_sent_at = time.monotonic()
    reply = upstream_client.post(f"/v1/model/response/{thread_id}/cancel").json()

    assert reply["status"] == "cancelled"
    assert call.client_closed.wait(timeout=10)
    assert call.client_closed_at - cancel_sent_at <= CANCEL_CLOSE_SECONDS
    assert call.tokens_sent < len(tokens)
    assistant = upstream_client.get(f"/v1/threads/{thread_id}/messages").json()["data"][
        -1
    ]
    assert assistant["status"] == "cancelled"
    assert "".join(tokens).startswith(assistant["content"]) and assistant["content"]


def test_reconnect_during_an_upstream_stream_gets_the_exact_remainder(
    upstream_client, fake_openai
):
    prompt = _prompt("reconnect")
    tokens = [f" piece{n}" for n in range(60)]
    fake_openai.script(prompt, answer(tokens, token_interval_seconds=0.05))
    first = events_of(_create(upstream_client, prompt, stop_after=6))
    thread_id, last_seen = first[0]["thread_id"], first[-1]["sequence_number"]

    rest_frames = read_stream(
        upstream_client,
        "GET",
        f"/v1/model/response/{thread_id}/stream",
        params={"last_event_id": last_seen},
    )

    rest = events_of(rest_frames)
    assert rest_frames[-1].is_done
    assert [e["sequence_number"] for e in rest] == list(
        range(last_seen + 1, last_seen + 1 + len(rest))
    )
    assert _text(first) + _text(rest) == "".join(tokens)
    assert rest[-1]["event"] == "response.completed"
    # The run was still streaming from upstream when the reconnect arrived.
    assert "source" not in rest[-1]


def test_error_event_inside_the_stream_fails_as_upstream_error_keeping_the_text(
    upstream_client, fake_openai
):
    prompt = _prompt("stream-error")
    fake_openai.script(
        prompt, answer(["Half", " said", " more"], error_after_tokens=2), answer(["No"])
    )

    frames = _create(upstream_client, prompt)

    message = MESSAGE_STREAM_ERROR.format(detail=": " + STREAM_ERROR_MESSAGE)
    _assert_failed(
        upstream_client,
        frames,
        code="upstream_error",
        message=message,
        partial="Half said",
    )
    assert len(fake_openai.calls(prompt)) == 1


def test_an_answer_stopped_by_the_token_limit_completes_with_stop_reason_max_tokens(
    upstream_client, fake_openai
):
    prompt = _prompt("length")
    fake_openai.script(prompt, answer(["Cut", " short"], finish_reason="length"))

    events = events_of(_create(upstream_client, prompt, options={"max_tokens": 2}))

    assert events[-1]["event"] == "response.completed"
    assert events[-1]["stop_reason"] == "max_tokens"
    assert events[-1]["response"] == [{"type": "text", "text": "Cut short"}]


def test_chat_request_leaves_out_empty_messages_and_options_meant_for_echo(settings):
    settings.FREDDY_UPSTREAM_HISTORY_MESSAGES = 2
    history = [("user", "one"), ("assistant", ""), ("user", "two"), ("user", "three")]

    assert chat_messages(history) == [
        {"role": "user", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    assert chat_options(
        {"top_p": 0.5, "repeat": 3, "token_delay_ms": 1, "seed": 7}
    ) == {"top_p": 0.5, "seed": 7}
