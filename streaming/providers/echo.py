"""The built-in `echo` model: streams the last user input back, token by token."""

import asyncio
import re
from collections.abc import AsyncIterator

from streaming.providers.base import ModelRequest

DEFAULT_TOKEN_DELAY_MS = 20
DEFAULT_REPEAT = 1
# A token is a run of non-space characters with the whitespace before it.
_TOKEN = re.compile(r"\s*\S+")


def echo_text(request: ModelRequest) -> str:
    """The text echo answers with: the last user input, repeated, joined by a space."""
    user_inputs = [content for role, content in request.history if role == "user"]
    text = user_inputs[-1] if user_inputs else ""
    return " ".join([text] * int(request.options.get("repeat", DEFAULT_REPEAT)))


def echo_tokens(text: str) -> list[str]:
    """Whitespace-delimited tokens whose concatenation is exactly `text`."""
    tokens = _TOKEN.findall(text)
    consumed = sum(map(len, tokens))
    if consumed < len(text):  # trailing whitespace rides on the last token
        tokens[-1:] = [(tokens[-1] if tokens else "") + text[consumed:]]
    return tokens


class EchoProvider:
    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        delay_seconds = int(request.options.get("token_delay_ms", DEFAULT_TOKEN_DELAY_MS)) / 1000
        tokens = echo_tokens(echo_text(request))
        request.input_tokens = sum(len(echo_tokens(c)) for _, c in request.history)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for index, token in enumerate(tokens):
            if index:
                # Each token is due at a fixed time, as from a real model that does not
                # wait for us: a busy event loop delays tokens but does not slow the pace.
                # sleep(0) still yields, so a fast run never starves its readers.
                await asyncio.sleep(max(0.0, started + index * delay_seconds - loop.time()))
            request.output_tokens += 1
            yield token
