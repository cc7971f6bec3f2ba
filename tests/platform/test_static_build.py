"""The image's static files (deploy/Dockerfile): `collectstatic` with the compressed manifest
storage succeeds on our files, and a server on the result serves the widget at its stable URL
and every page's assets under hashed, compressed, long-cached names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from switchboard import supervisor
from tests.conftest import _test_database_url

ROOT = Path(__file__).resolve().parents[2]

SERVE = """
import json, re, django
django.setup()
from django.test import Client
client = Client()
widget = client.get("/static/widget/widget.js", headers={"accept-encoding": "gzip"})
login = client.get("/console/login/").content.decode()
assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', login)
hashed = client.get(assets[0], headers={"accept-encoding": "gzip"}) if assets else None
print(json.dumps({
    "widget": [widget.status_code, widget.get("Cache-Control", "")],
    "assets": assets,
    "hashed": [hashed.status_code, hashed.get("Content-Encoding", ""),
               hashed.get("Cache-Control", "")] if hashed else None,
}))
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_collectstatic_with_the_manifest_serves_hashed_compressed_assets(tmp_path: Path) -> None:
    env = supervisor.child_env(
        DJANGO_SETTINGS_MODULE="switchboard.settings",
        DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        SWITCHBOARD_SECRET_KEY="s" * 50,
        SWITCHBOARD_STATIC_MANIFEST="true",
        SWITCHBOARD_STATIC_ROOT=str(tmp_path / "static"),
        SWITCHBOARD_ALLOWED_HOSTS="testserver",
    )
    build = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    assert (tmp_path / "static" / "staticfiles.json").exists()

    out = subprocess.run(
        [sys.executable, "-c", SERVE], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["widget"][0] == 200, "hosts' script tags keep working"
    assert seen["assets"], "the console login page links its static files"
    assert all(
        any(len(part) == 12 for part in asset.rsplit("/", 1)[-1].split("."))
        for asset in seen["assets"]
    ), f"every asset under a hashed name: {seen['assets']}"
    status, encoding, cache = seen["hashed"]
    assert status == 200 and encoding == "gzip"
    assert "immutable" in cache or "max-age=315360000" in cache
