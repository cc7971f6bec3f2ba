"""Liveness (`/healthz`) and readiness (`/readyz`) for probes, load balancers and the supervisor.

Both are answered by `HealthCheckMiddleware` ahead of the host check, the https redirect and
the CSP: a kubelet or a container health check asks by the pod's address over plain http.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponseBase, JsonResponse

log = logging.getLogger("switchboard.health")
PATHS = {"/healthz", "/readyz"}
# Once every migration of this code is applied it stays so for the life of the process (a
# new release runs in new processes): later probes skip reading the migration files.
_migrated = False


def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: no database, no Redis (a restart would not bring those back)."""
    return JsonResponse({"ok": True})


def _pending_migrations() -> list[str]:
    global _migrated
    if _migrated:
        return []
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
    _migrated = not pending
    return pending


def _redis_reachable() -> bool:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, retry_on_timeout=False
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        log.warning("not ready: redis unreachable: %s", error)
        return False
    finally:
        client.close()
    return True


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers, every migration is applied, Redis answers.
    503 with the reasons otherwise (a rolling update waits; the proxy sends traffic elsewhere).

    The reasons name what is wrong, never a host, address or driver message (the path is
    public): those go to the log.
    """
    problems: list[str] = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        pending = _pending_migrations()
    except DatabaseError as error:
        log.warning("not ready: database unreachable: %s", error)
        problems.append("database unreachable")
    else:
        if pending:
            log.warning("not ready: migrations not applied: %s", ", ".join(pending))
            problems.append(f"migrations not applied ({len(pending)} pending)")
    if not _redis_reachable():
        problems.append("redis unreachable")
    if problems:
        return JsonResponse({"ready": False, "problems": problems}, status=503)
    return JsonResponse({"ready": True})


VIEWS: dict[str, Callable[[HttpRequest], JsonResponse]] = {"/healthz": healthz, "/readyz": readyz}


class HealthCheckMiddleware:
    """Right after TrustedProxyMiddleware: answers the two probe paths before anything reads
    the Host header (ALLOWED_HOSTS would refuse a probe by pod address) or redirects to https."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        view = VIEWS.get(request.path_info)
        if view is not None and request.method in {"GET", "HEAD"}:
            return view(request)
        return self.get_response(request)
