"""The tree's one trap (`platform/` is not a package) and configuration from the environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from django.conf import settings

from switchboard import supervisor

ROOT = Path(__file__).resolve().parents[2]
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
CODE_DIRS = ["platform", "bots", "memory", "frontend", "deploy", "tests", "bench"]
READS = re.compile(
    r"""(?:env_[a-z]+\(\s*|os\.environ(?:\.get|\.setdefault|\.pop)?[\[(]\s*|getenv\(\s*)"""
    r"""["']([A-Z][A-Z0-9_]+)["']"""
)


def _services_env(**extra: str) -> dict[str, str]:
    """The environment of a platform process on this test run's Postgres and Redis."""
    from tests.conftest import _test_database_url

    env = supervisor.child_env(
        DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        DJANGO_SETTINGS_MODULE="switchboard.settings",
    )
    env.update(extra)
    return env


def _is_stdlib(path: str) -> bool:
    return Path(path).resolve().is_relative_to(STDLIB)


def test_platform_is_a_plain_folder_and_import_platform_is_the_standard_library() -> None:
    import platform

    assert not (ROOT / "platform" / "__init__.py").exists()
    assert _is_stdlib(platform.__file__), platform.__file__  # under pytest
    assert platform.system()
    # From the repository root, as a newcomer would type it.
    out = subprocess.run(
        [sys.executable, "-c", "import platform; platform.system(); print(platform.__file__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert _is_stdlib(out.stdout.strip()), out.stdout


@pytest.mark.django_db
def test_manage_py_sees_the_standard_library_platform_too() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "import platform; platform.system(); print(platform.__file__)",
        ],
        cwd=ROOT,
        env=_services_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert _is_stdlib(out.stdout.strip().splitlines()[-1]), out.stdout


def test_the_readmes_celery_command_works_from_any_folder_without_pythonpath(
    tmp_path: Path,
) -> None:
    """The install step puts platform/ on the environment's path once (a .pth file)."""
    env = {k: v for k, v in _services_env().items() if k != "PYTHONPATH"}
    celery = Path(sys.executable).with_name("celery")
    out = subprocess.run(
        [str(celery), "-A", "switchboard", "report"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "software -> celery" in out.stdout
    stdlib = subprocess.run(
        [sys.executable, "-c", "import platform, bots, switchboard; print(platform.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert _is_stdlib(stdlib.stdout.strip()), stdlib.stdout


def _variables_read_by_the_code() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            for name in READS.findall(path.read_text(encoding="utf-8")):
                if folder == "tests" and not name.startswith("SWITCHBOARD_"):
                    continue  # tests also read the system's own variables (PATH …)
                found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def _documented() -> list[str]:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    return [m.group(1) for line in lines if (m := re.match(r"^#? ?([A-Z][A-Z0-9_]+)=", line))]


def test_every_environment_variable_the_code_reads_is_documented_once() -> None:
    read = _variables_read_by_the_code()
    documented = _documented()
    assert "SWITCHBOARD_PORT" in read and "DATABASE_URL" in read  # the scan finds things
    missing = {name: files for name, files in read.items() if name not in documented}
    assert not missing, f"add these to deploy/.env.example: {missing}"
    twice = sorted({name for name in documented if documented.count(name) > 1})
    assert not twice, f"documented more than once: {twice}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SWITCHBOARD_PORT", "abc"),
        ("SWITCHBOARD_PORT", "70000"),
        ("SWITCHBOARD_DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "http://localhost:6379"),
        ("SWITCHBOARD_RATE_MESSAGES", "0"),
        ("SWITCHBOARD_RATE_CONNECTS_PER_IP", "lots"),
        ("SWITCHBOARD_RATE_FRAMES_PER_ORG", "0/60"),
        ("SWITCHBOARD_HTTPS", "sometimes"),
        ("SWITCHBOARD_LLM_SOFT_TIME_LIMIT", "soon"),
        ("SWITCHBOARD_LLM_DEVICE", "tpu"),
        ("SWITCHBOARD_LOG_LEVEL", "LOUD"),
        ("SWITCHBOARD_OPENAI_READ_TIMEOUT", "-1"),
    ],
)
def test_a_bad_setting_stops_start_up_with_a_message_naming_the_variable(
    variable: str, value: str
) -> None:
    out = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_services_env(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert f"Configuration error: {variable}" in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr, "a plain message, not a stack trace"


@pytest.mark.django_db
def test_good_settings_pass_the_same_start_up_check() -> None:
    env = _services_env(SWITCHBOARD_PORT="8123", SWITCHBOARD_DEBUG="off")
    assert "SWITCHBOARD_RATE_MESSAGES" not in os.environ
    out = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
