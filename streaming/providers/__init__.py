"""Which provider serves which model name."""

from django.conf import settings

from streaming.providers.base import ModelRequest, Provider, ProviderError
from streaming.providers.echo import EchoProvider
from streaming.providers.openai_compat import OpenAICompatProvider

ECHO_MODEL = "echo"

__all__ = ["ModelRequest", "Provider", "ProviderError", "model_is_known", "provider_for"]


def model_is_known(model: str) -> bool:
    """Whether some provider serves this model name."""
    return model == ECHO_MODEL or model in settings.FREDDY_MODELS


def provider_for(model: str) -> Provider:
    """The provider that serves `model`."""
    if model == ECHO_MODEL:
        return EchoProvider()
    if model in settings.FREDDY_MODELS:
        return OpenAICompatProvider()
    raise ProviderError("model_not_found", f"No provider serves the model '{model}'.")
