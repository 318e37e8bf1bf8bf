"""The peer: a minimal Django project serving django-eventstream with database storage."""
