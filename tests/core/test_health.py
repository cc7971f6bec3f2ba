"""/healthz and /readyz on the real Postgres and Redis: ready only when the database answers,
every migration is applied and Redis answers; 503 naming what is wrong otherwise; probes by
pod address over plain http are answered even with https and a strict host list on."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from switchboard import supervisor
from tests.conftest import _test_database_url

ROOT = Path(__file__).resolve().parents[2]
DEAD_POSTGRES = "postgresql://nobody@127.0.0.1:1/none"
DEAD_REDIS = "redis://127.0.0.1:1/0"

PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client()
seen = {}
for path in ("/healthz", "/readyz"):
    response = client.get(path, headers={"host": "10.244.3.17:8000"})
    seen[path] = [response.status_code, json.loads(response.content)]
print(json.dumps(seen))
"""


def _probe(**env: str) -> dict[str, list[object]]:
    """The probes as a kubelet sends them (plain http, the pod's address as Host) to a fresh
    process configured like production: https on, only the public host allowed."""
    base = supervisor.child_env(
        DJANGO_SETTINGS_MODULE="switchboard.settings",
        SWITCHBOARD_HTTPS="true",
        SWITCHBOARD_ALLOWED_HOSTS="support.example",
        SWITCHBOARD_SECRET_KEY="k" * 50,
    )
    base.update(env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=base, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.django_db
def test_ready_on_the_migrated_database_with_redis_up() -> None:
    client = Client()
    assert client.get("/healthz").json() == {"ok": True}
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"ready": True}


@pytest.mark.django_db
def test_not_ready_while_redis_is_unreachable(settings: SettingsWrapper) -> None:
    settings.REDIS_URL = DEAD_REDIS
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"ready": False, "problems": ["redis unreachable"]}


@pytest.mark.django_db(transaction=True)
def test_a_probe_by_pod_address_over_http_is_answered_and_liveness_needs_no_database() -> None:
    seen = _probe(DATABASE_URL=_test_database_url(), REDIS_URL=settings.REDIS_URL)
    assert seen["/healthz"] == [200, {"ok": True}], "neither redirected to https nor refused"
    assert seen["/readyz"] == [200, {"ready": True}]

    down = _probe(DATABASE_URL=DEAD_POSTGRES, REDIS_URL=settings.REDIS_URL)
    assert down["/healthz"] == [200, {"ok": True}], "liveness does no I/O: no restart loop"
    assert down["/readyz"] == [503, {"ready": False, "problems": ["database unreachable"]}]


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database on the same Postgres server with no table at all (a new release's database
    before its migrate Job ran)."""
    db = settings.DATABASES["default"]
    name = f"readyz_{uuid.uuid4().hex[:8]}"
    params = {
        "user": db["USER"],
        "password": db["PASSWORD"],
        "host": db["HOST"],
        "dbname": "postgres",
    }
    if db["PORT"]:
        params["port"] = db["PORT"]
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    host = db["HOST"]
    where = (
        f"@/{name}?host={quote(host, safe='')}"
        if host.startswith("/")
        else f"@{host}:{db['PORT']}/{name}"
    )
    try:
        yield f"postgresql://{db['USER']}:{db['PASSWORD']}{where}"
    finally:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_not_ready_until_the_migrations_are_applied(empty_database: str) -> None:
    seen = _probe(DATABASE_URL=empty_database, REDIS_URL=settings.REDIS_URL)
    assert seen["/healthz"] == [200, {"ok": True}]
    status, body = seen["/readyz"]
    assert status == 503
    assert isinstance(body, dict) and body["ready"] is False
    (problem,) = body["problems"]
    assert problem.startswith("migrations not applied (") and problem.endswith(" pending)")
