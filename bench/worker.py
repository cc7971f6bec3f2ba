"""Celery entry for the bench's model workers: the platform's app plus the bench engine."""

from bench.engine import InstantBenchEngine
from bots.engines import register_engine
from switchboard.celery_app import app

register_engine("bench", InstantBenchEngine)

__all__ = ["app"]
