"""The provider interface: a model turns a thread's history into text deltas."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class ModelRequest:
    model: str
    options: dict
    history: list[tuple[str, str]]  # (role, content), oldest first
    # Providers fill these in as they learn them; the executor reports them.
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str = "end_turn"
    extra: dict = field(default_factory=dict)


class ProviderError(Exception):
    """A model failure the client should see, with a stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Provider(Protocol):
    def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        """Yield text deltas; record usage on `request`; raise ProviderError."""
        ...
