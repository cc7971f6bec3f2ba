"""The operator's model registry: the only engines and models a bot may run.

Entries come from settings.MODELS (SWITCHBOARD_MODELS, JSON `{name: {engine, model}}`; the
bundled SmolLM2 by default). An organization's `allowed_models` narrows them (empty: all).
A tenant picks among these; a path or model name of its own is refused in the admin, the API
and again when the worker loads the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from . import Engine, EngineError, get_engine, registered_kinds

if TYPE_CHECKING:
    from accounts.models import Organization
    from bots.models import Bot


class ModelNotAllowed(ValueError):
    pass


def entries() -> dict[str, tuple[str, str]]:
    return {name: (e["engine"], e.get("model", "")) for name, e in settings.MODELS.items()}


def allowed_for(organization: Organization) -> dict[str, tuple[str, str]]:
    allowed = entries()
    if organization.allowed_models:
        allowed = {n: e for n, e in allowed.items() if n in organization.allowed_models}
    return allowed


def check_choice(organization: Organization, engine: str, model: str) -> None:
    """Raise ModelNotAllowed unless (engine, model) is a registry entry this org may use."""
    if engine in registered_kinds():  # added in-process by operator code (the benchmarks)
        return
    if engine == "fault" and settings.FAULT_INJECTION:  # test-only, never in production
        return
    if (engine, model) not in allowed_for(organization).values():
        names = ", ".join(sorted(allowed_for(organization))) or "none"
        raise ModelNotAllowed(
            f"{engine} / {model or 'default'} is not a model this organization may use "
            f"(the operator allows: {names})."
        )


def engine_for_bot(bot: Bot) -> Engine:
    """The bot's engine, checked against the registry again at load time."""
    try:
        check_choice(bot.organization, bot.engine, bot.model)
    except ModelNotAllowed as exc:
        raise EngineError(str(exc), permanent=True) from exc
    return get_engine(bot.engine, bot.model)
