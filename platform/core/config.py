"""Typed reads of environment variables; a bad value stops start-up naming the variable.

Every variable read here is documented once, in deploy/.env.example.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(SystemExit):
    """Raised for a bad setting; a SystemExit so start-up stops with the message alone."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"Configuration error: {name} {problem} (see deploy/.env.example)")


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, f"must be true or false, not {raw!r}")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """`environ`: another process's environment (a child's), instead of this one's."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(name, f"must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(name, f"must be at most {maximum}, not {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(name, f"must be a number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, not {value}")
    return value


def env_rate(name: str, default: tuple[int, int]) -> tuple[int, int]:
    """A rate limit as "capacity/seconds" (both whole numbers of at least 1)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    capacity, _, seconds = raw.strip().partition("/")
    try:
        value = (int(capacity), int(seconds))
    except ValueError:
        raise ConfigError(name, f"must be capacity/seconds, e.g. 60/60, not {raw!r}") from None
    if min(value) < 1:
        raise ConfigError(name, f"must be at least 1/1, not {raw!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_networks(name: str, default: list[str]) -> list[IPNetwork]:
    """Comma-separated addresses or CIDR blocks (10.0.0.0/8, ::1), as networks."""
    networks: list[IPNetwork] = []
    for part in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(name, f"must be addresses or CIDR blocks, not {part!r}") from None
    return networks


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(sorted(choices))}, not {value!r}")
    return value


def env_models(name: str, default: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """`{name: {"engine": …, "model": …}}` as JSON, or the path of a JSON file holding it."""
    import json

    raw = env_str(name)
    if not raw:
        return default
    try:
        if not raw.startswith("{"):
            with open(raw, encoding="utf-8") as file:
                raw = file.read()
        value = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ConfigError(name, f"must be JSON or a JSON file's path ({exc})") from exc
    engines = {"llamacpp", "transformers", "openai"}
    if not isinstance(value, dict) or not value:
        raise ConfigError(name, 'must be a non-empty {"name": {"engine", "model"}} object')
    for key, entry in value.items():
        if not isinstance(entry, dict) or entry.get("engine") not in engines:
            raise ConfigError(name, f"entry {key!r} needs an engine among {sorted(engines)}")
        if not isinstance(entry.get("model", ""), str):
            raise ConfigError(name, f"entry {key!r}: model must be a string")
    return {str(k): {"engine": v["engine"], "model": v.get("model", "")} for k, v in value.items()}


def database_from_url(name: str, url: str) -> dict[str, object]:
    """Django DATABASES entry from postgresql://user:pass@host:port/db?host=/socket/dir."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ConfigError(name, f"must be a postgresql:// URL, not {url.split('://')[0]!r}://…")
    db = unquote(parts.path.lstrip("/"))
    if not db:
        raise ConfigError(
            name, "must name a database, e.g. postgresql://user@host:5432/switchboard"
        )
    options = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    host = unquote(options.pop("host", "")) or (parts.hostname or "")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(name, "has a port that is not a number") from None
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": db,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": 0,
    }


def redis_url(name: str, url: str) -> str:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(name, "must be a redis://, rediss:// or unix:// URL")
    return url
