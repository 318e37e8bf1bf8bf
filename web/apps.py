from django.apps import AppConfig


class WebConfig(AppConfig):
    """The browser page at `/`: a chat client that resumes its streams by itself."""

    name = "web"
