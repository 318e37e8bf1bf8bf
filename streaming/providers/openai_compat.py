"""Models served by an OpenAI-compatible server, streamed with the official client."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

import openai
from django.conf import settings
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionChunk

from streaming.providers.base import ModelRequest, ProviderError

logger = logging.getLogger(__name__)

UPSTREAM_UNREACHABLE = "upstream_unreachable"
UPSTREAM_AUTH = "upstream_auth"
UPSTREAM_RATE_LIMITED = "upstream_rate_limited"
UPSTREAM_ERROR = "upstream_error"
UPSTREAM_TIMEOUT = "upstream_timeout"
UPSTREAM_INTERRUPTED = "upstream_interrupted"

MESSAGE_UNREACHABLE = "The model server could not be reached."
MESSAGE_AUTH = "The model server rejected the service's API key (HTTP {status})."
MESSAGE_RATE_LIMITED = (
    "The model server is rate limiting requests (HTTP 429); try again later."
)
MESSAGE_ERROR = "The model server failed the request (HTTP {status}){detail}."
MESSAGE_STREAM_ERROR = "The model server reported an error while streaming{detail}."
MESSAGE_FIRST_TOKEN_TIMEOUT = (
    "The model server sent no first token within {seconds:g} s."
)
MESSAGE_IDLE_TIMEOUT = (
    "The model server sent no token for {seconds:g} s and was given up."
)
MESSAGE_INTERRUPTED = (
    "The model server's stream broke off before the answer was complete."
)

# model_options that mean something to a chat-completions server; the rest (echo's
# token_delay_ms, repeat) are ours and would make a strict server answer 400. No
# "n": one answer per run.
PASSTHROUGH_OPTIONS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "stop",
        "seed",
        "user",
        "logit_bias",
        "reasoning_effort",
    }
)
# OpenAI finish reasons in the contract's Anthropic-style stop_reason vocabulary.
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}
# A retry never waits longer than this, whatever the doubling or a Retry-After says:
# the user is watching an empty answer meanwhile.
MAX_BACKOFF_SECONDS = 10.0
# Upstream error text passed on to clients is cut here: enough to explain, never a dump.
MAX_UPSTREAM_DETAIL_CHARS = 300
# Local servers (Ollama, llama.cpp) want no key, but the client refuses an empty one.
NO_API_KEY = "not-set"


class UpstreamFault(ProviderError):
    """A provider error that says whether trying again could help."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(code, message)
        self.retryable = retryable
        self.retry_after_seconds = retry_after_seconds


class OpenAICompatProvider:
    """Streams a chat completion; retries only while no text has been produced."""

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        max_retries = settings.FREDDY_UPSTREAM_MAX_RETRIES
        produced = False
        # Closing the client (also on cancel) closes the upstream connection.
        async with _client() as client:
            for attempt in range(max_retries + 1):
                try:
                    # aclosing: a consumer that stops early closes the attempt at once.
                    async with aclosing(_attempt(client, request)) as texts:
                        async for text in texts:
                            produced = True
                            yield text
                    return
                except UpstreamFault as fault:
                    # After text went out a retry would send it twice.
                    if produced or not fault.retryable or attempt == max_retries:
                        raise
                    delay = _backoff_seconds(attempt=attempt, fault=fault)
                    logger.warning(
                        "Upstream %s for %s (%s); retry %d in %.2f s",
                        fault.code,
                        request.model,
                        fault.message,
                        attempt + 1,
                        delay,
                    )
                    await asyncio.sleep(delay)


def _client() -> AsyncOpenAI:
    # The SDK's own timeout is only a backstop; our deadlines below fire first.
    backstop_seconds = (
        max(
            settings.FREDDY_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS,
            settings.FREDDY_UPSTREAM_IDLE_TIMEOUT_SECONDS,
        )
        + 5
    )
    return AsyncOpenAI(
        base_url=settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or NO_API_KEY,
        max_retries=0,
        timeout=backstop_seconds,
    )


def chat_messages(history: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The chat messages for a run: the newest part of the thread, oldest first."""
    limit = max(1, settings.FREDDY_UPSTREAM_HISTORY_MESSAGES)
    # Failed or cancelled runs can leave empty assistant messages; they say nothing.
    messages = [
        {"role": role, "content": content} for role, content in history if content
    ]
    return messages[-limit:]


def chat_options(options: dict) -> dict:
    """The model_options a chat-completions server understands."""
    return {
        name: value for name, value in options.items() if name in PASSTHROUGH_OPTIONS
    }


def _backoff_seconds(*, attempt: int, fault: UpstreamFault) -> float:
    delay = settings.FREDDY_UPSTREAM_RETRY_BACKOFF_SECONDS * 2**attempt
    return min(MAX_BACKOFF_SECONDS, max(delay, fault.retry_after_seconds or 0.0))


async def _attempt(client: AsyncOpenAI, request: ModelRequest) -> AsyncIterator[str]:
    """One upstream request, as text deltas; usage and stop reason go on `request`."""
    loop = asyncio.get_running_loop()
    first_token_seconds = settings.FREDDY_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS
    deadline = loop.time() + first_token_seconds
    timeout_message = MESSAGE_FIRST_TOKEN_TIMEOUT.format(seconds=first_token_seconds)
    stream = await _opened(client, request, deadline, timeout_message)
    finished, deltas, usage_seen = False, 0, False
    async with stream:
        while (
            chunk := await _next_chunk(stream, deadline, timeout_message)
        ) is not None:
            if chunk.usage is not None:
                usage_seen = True
                request.input_tokens = chunk.usage.prompt_tokens or 0
                request.output_tokens = chunk.usage.completion_tokens or 0
            choice = chunk.choices[0] if chunk.choices else None
            if choice is not None and choice.finish_reason:
                finished = True
                request.stop_reason = STOP_REASONS.get(
                    choice.finish_reason, choice.finish_reason
                )
            if choice is not None and choice.delta and choice.delta.content:
                deltas += 1
                yield choice.delta.content
                # Silence is measured from the last token, not from the request.
                idle_seconds = settings.FREDDY_UPSTREAM_IDLE_TIMEOUT_SECONDS
                deadline = loop.time() + idle_seconds
                timeout_message = MESSAGE_IDLE_TIMEOUT.format(seconds=idle_seconds)
    if not finished:
        # A clean close without a finish_reason is a cut too (e.g. a proxy gave up).
        raise UpstreamFault(UPSTREAM_INTERRUPTED, MESSAGE_INTERRUPTED, retryable=True)
    if not usage_seen:  # servers that ignore include_usage: one chunk is about a token
        request.output_tokens = deltas


async def _opened(
    client: AsyncOpenAI, request: ModelRequest, deadline: float, timeout_message: str
) -> openai.AsyncStream[ChatCompletionChunk]:
    """The streaming response, once the upstream has answered with its headers."""
    try:
        async with asyncio.timeout_at(deadline):
            return await client.chat.completions.create(
                model=request.model,
                messages=chat_messages(request.history),
                stream=True,
                stream_options={"include_usage": True},
                **chat_options(request.options),
            )
    except (TimeoutError, openai.APITimeoutError) as exc:
        raise UpstreamFault(UPSTREAM_TIMEOUT, timeout_message, retryable=True) from exc
    except openai.APIConnectionError as exc:
        raise UpstreamFault(
            UPSTREAM_UNREACHABLE, MESSAGE_UNREACHABLE, retryable=True
        ) from exc
    except openai.APIStatusError as exc:
        raise _status_fault(exc) from exc
    except openai.APIError as exc:
        raise UpstreamFault(
            UPSTREAM_ERROR,
            MESSAGE_STREAM_ERROR.format(detail=_detail(exc)),
            retryable=False,
        ) from exc


async def _next_chunk(
    stream: openai.AsyncStream[ChatCompletionChunk],
    deadline: float,
    timeout_message: str,
) -> ChatCompletionChunk | None:
    """The next chunk, None at the end of the stream; faults become UpstreamFault."""
    try:
        async with asyncio.timeout_at(deadline):
            return await anext(stream, None)
    except (TimeoutError, openai.APITimeoutError) as exc:
        raise UpstreamFault(UPSTREAM_TIMEOUT, timeout_message, retryable=True) from exc
    except openai.APIConnectionError as exc:
        raise UpstreamFault(
            UPSTREAM_INTERRUPTED, MESSAGE_INTERRUPTED, retryable=True
        ) from exc
    except openai.APIError as exc:  # an error event inside the stream
        raise UpstreamFault(
            UPSTREAM_ERROR,
            MESSAGE_STREAM_ERROR.format(detail=_detail(exc)),
            retryable=False,
        ) from exc


def _status_fault(error: openai.APIStatusError) -> UpstreamFault:
    status = error.status_code
    if status in (401, 403):
        return UpstreamFault(
            UPSTREAM_AUTH, MESSAGE_AUTH.format(status=status), retryable=False
        )
    if status == 429:
        return UpstreamFault(
            UPSTREAM_RATE_LIMITED,
            MESSAGE_RATE_LIMITED,
            retryable=True,
            retry_after_seconds=_retry_after_seconds(error),
        )
    # A 5xx may pass; a 4xx is our request's fault and would fail again.
    detail = "" if status >= 500 else _detail(error)
    return UpstreamFault(
        UPSTREAM_ERROR,
        MESSAGE_ERROR.format(status=status, detail=detail),
        retryable=status >= 500,
    )


def _retry_after_seconds(error: openai.APIStatusError) -> float | None:
    try:
        return float(error.response.headers.get("retry-after", ""))
    except ValueError:  # absent, or an HTTP date: the backoff decides
        return None


def _detail(error: openai.APIError) -> str:
    # The body's own message reads better than the SDK's "Error code: 400 - {...}".
    body = error.body if isinstance(error.body, dict) else {}
    text = str(body.get("message") or error.message or "")
    text = " ".join(text.split())[:MAX_UPSTREAM_DETAIL_CHARS]
    return f": {text}" if text else ""
