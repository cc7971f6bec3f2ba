"""Unsafe defaults, read from live behaviour: the secret key, https-only cookies and HSTS,
and one Content-Security-Policy on every page."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from switchboard import supervisor
from tests.conftest import _test_database_url

ROOT = Path(__file__).resolve().parents[2]
NO_SERVICES = {
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    "REDIS_URL": "redis://127.0.0.1:1/0",
}


def _python(code: str, *, manage: bool = False, **env: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh Python, or with `manage` through manage.py (an entry point, which
    makes the installation's key: core.embedded.ensure_services)."""
    base = supervisor.child_env(DJANGO_SETTINGS_MODULE="switchboard.settings")
    for name in ("SWITCHBOARD_SECRET_KEY", "SWITCHBOARD_REQUIRE_SECRET", "SWITCHBOARD_HTTPS"):
        base.pop(name, None)
    base.update(env)
    command = (
        [sys.executable, "manage.py", "shell", "-c", code]
        if manage
        else [
            sys.executable,
            "-c",
            code,
        ]
    )
    return subprocess.run(
        command, cwd=ROOT, env=base, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


PRINT_KEY = (
    "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
)


def test_without_a_configured_key_each_installation_generates_its_own_and_keeps_it(
    tmp_path: Path,
) -> None:
    first = _python(PRINT_KEY, manage=True, SWITCHBOARD_DATA_DIR=str(tmp_path / "a"), **NO_SERVICES)
    assert first.returncode == 0, first.stderr[-2000:]
    again = _python(PRINT_KEY, manage=True, SWITCHBOARD_DATA_DIR=str(tmp_path / "a"), **NO_SERVICES)
    other = _python(PRINT_KEY, manage=True, SWITCHBOARD_DATA_DIR=str(tmp_path / "b"), **NO_SERVICES)
    key = first.stdout.split()[-1]
    assert len(key) >= 50 and "insecure" not in key
    assert again.stdout.split()[-1] == key, "the key survives a restart"
    assert other.stdout.split()[-1] != key, "no two installations share a key"
    stored = tmp_path / "a" / "secret_key"
    assert stored.read_text().strip() == key
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    ignored = subprocess.run(["git", "check-ignore", ".switchboard/secret_key"], cwd=ROOT)
    assert ignored.returncode == 0, ".switchboard/ is git-ignored"


def test_importing_the_settings_starts_no_server_and_writes_no_file(tmp_path: Path) -> None:
    """Only the entry points start the embedded Postgres and Redis and make the key; a tool
    that loads the settings (mypy's Django plugin, an import) needs no URLs and leaves no trace."""
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['HOST'], settings.REDIS_URL); "
        "from django.core.exceptions import ImproperlyConfigured\n"
        "try:\n    settings.SECRET_KEY\nexcept ImproperlyConfigured as error:\n    print(error)"
    )
    data = tmp_path / "data"
    base = supervisor.child_env(DJANGO_SETTINGS_MODULE="switchboard.settings")
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "SWITCHBOARD_SECRET_KEY",
        "SWITCHBOARD_REQUIRE_SECRET",
    ):
        base.pop(name, None)
    base["SWITCHBOARD_DATA_DIR"] = str(data)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    # The settings point where the embedded servers would be, and nothing was started there.
    assert str(data / "pgdata") in out.stdout and f"unix://{data}/redis.sock" in out.stdout
    assert not data.exists(), sorted(p.name for p in data.iterdir())
    # No key yet: Django refuses to sign anything rather than use an empty or made-up one.
    assert "SECRET_KEY setting must not be empty" in out.stdout


def test_a_required_secret_that_is_missing_stops_start_up(tmp_path: Path) -> None:
    out = _python(
        PRINT_KEY, SWITCHBOARD_DATA_DIR=str(tmp_path), SWITCHBOARD_REQUIRE_SECRET="true",
        **NO_SERVICES,
    )  # fmt: skip
    assert out.returncode != 0
    assert "SWITCHBOARD_SECRET_KEY" in out.stderr
    assert not (tmp_path / "secret_key").exists()


HTTPS_PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client()
plain = client.get("/console/login/")
page = client.get("/console/login/", headers={"x-forwarded-proto": "https"})
login = client.post(
    "/console/login/", {"username": "https-agent", "password": "right-pass-1"},
    headers={"x-forwarded-proto": "https"},
)
cookies = {
    name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"])}
    for name, m in client.cookies.items()
}
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location", "")],
    "hsts": page.get("Strict-Transport-Security", ""),
    "login": login.status_code,
    "cookies": cookies,
}))
"""


@pytest.mark.django_db(transaction=True)
def test_over_https_cookies_are_secure_hsts_is_sent_and_plain_http_is_redirected() -> None:
    User.objects.create_user("https-agent", password="right-pass-1")
    from django.conf import settings

    out = _python(
        HTTPS_PROBE, SWITCHBOARD_HTTPS="true", DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL, SWITCHBOARD_SECRET_KEY="x" * 50,
        SWITCHBOARD_ALLOWED_HOSTS="testserver",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["plain"] == [301, "https://testserver/console/login/"]
    assert seen["hsts"].startswith("max-age=31536000")
    assert seen["login"] == 302
    assert seen["cookies"]["sessionid"] == {"secure": True, "httponly": True}
    assert seen["cookies"]["csrftoken"]["secure"] is True


# (/healthz and /readyz answer JSON to probes ahead of the CSP and host check: core.health)
PAGES = ["/", "/console/login/", "/admin/login/", "/api/docs", "/dashboard/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_the_strict_content_security_policy(path: str) -> None:
    response = Client().get(path)
    assert response.status_code in {200, 302}, path
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response["Content-Security-Policy"].split(";")
        if directive.strip()
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert "ws://testserver" in policy["connect-src"], "the widget's and console's socket"
    assert not any("unsafe" in source for sources in policy.values() for source in sources)
    if path == "/":
        assert policy["form-action"] == ["'none'"], "the demo page posts no form"
    assert response["X-Frame-Options"] == "DENY"


def test_the_example_environment_documents_the_https_switch() -> None:
    example = (ROOT / "deploy" / ".env.example").read_text()
    for name in ("SWITCHBOARD_HTTPS", "SWITCHBOARD_HSTS_SECONDS", "SWITCHBOARD_DEMO"):
        assert f"# {name}=" in example, name
