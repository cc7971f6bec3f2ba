"""The Celery application; workers start with `celery -A switchboard worker`."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django import db

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "switchboard.settings")

app = Celery("switchboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect  # type: ignore[untyped-decorator]
@task_postrun.connect  # type: ignore[untyped-decorator]
def _check_database_connections(**_kwargs: Any) -> None:
    """Between tasks, drop a connection only when broken or past CONN_MAX_AGE, as Django does
    between requests. (Celery's own fix-up would close it every time: CELERY_DB_REUSE_MAX.)"""
    db.close_old_connections()
