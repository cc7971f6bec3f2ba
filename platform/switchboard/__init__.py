"""The Switchboard Django project: settings, URLs, ASGI and Celery entry points."""

from .celery_app import app as celery_app

__all__ = ["celery_app"]
