"""The page at `/`; everything it does happens in the browser against /v1."""

from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def index(request):
    """The chat page (static HTML; the API key never reaches Django's session)."""
    return render(request, "web/index.html")
