"""Organization, bots (configuration, engine), widget keys and API keys."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status
from ninja.errors import HttpError

from accounts.models import Organization
from bots.engines.registry import ModelNotAllowed, check_choice
from bots.models import DEFAULT_PERSONA, Bot, WidgetKey

from ..auth import caller_of, require_write
from ..keys import create_api_key, revoke_api_key
from ..models import ApiKey
from ..schemas import (
    ERRORS,
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    BotIn,
    BotOut,
    BotPatch,
    OrganizationOut,
    Page,
    WidgetKeyIn,
    WidgetKeyOut,
)
from .paging import PageParams, page

router = Router(tags=["configuration"])


@router.get("/organization", response={200: OrganizationOut, **ERRORS})
def get_organization(request: HttpRequest) -> Organization:
    return get_object_or_404(Organization, pk=caller_of(request).organization_id)


@router.get("/bots", response={200: Page[BotOut], **ERRORS})
def list_bots(request: HttpRequest, params: Query[PageParams]) -> dict[str, object]:
    bots = Bot.objects.filter(organization_id=caller_of(request).organization_id).order_by("id")
    return page(bots, params)


@router.post("/bots", response={201: BotOut, **ERRORS})
def create_bot(request: HttpRequest, body: BotIn) -> Status[Bot]:
    caller = require_write(request)
    fields = body.model_dump()
    _check_model(caller.organization_id, fields["engine"], fields["model"])
    fields["persona"] = fields["persona"] or DEFAULT_PERSONA
    if fields["greeting"] is None:
        fields.pop("greeting")
    return Status(201, Bot.objects.create(organization_id=caller.organization_id, **fields))


def _check_model(organization_id: int, engine: str, model: str) -> None:
    """Only the operator's registry entries allowed for the organization (422 otherwise)."""
    try:
        check_choice(Organization.objects.get(pk=organization_id), engine, model)
    except ModelNotAllowed as exc:
        raise HttpError(422, str(exc)) from exc


def _bot(request: HttpRequest, bot_id: int) -> Bot:
    return get_object_or_404(Bot, pk=bot_id, organization_id=caller_of(request).organization_id)


@router.get("/bots/{bot_id}", response={200: BotOut, **ERRORS})
def get_bot(request: HttpRequest, bot_id: int) -> Bot:
    return _bot(request, bot_id)


@router.patch("/bots/{bot_id}", response={200: BotOut, **ERRORS})
def update_bot(request: HttpRequest, bot_id: int, body: BotPatch) -> Bot:
    require_write(request)
    bot = _bot(request, bot_id)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "engine" in changes or "model" in changes:
        _check_model(
            bot.organization_id, changes.get("engine", bot.engine), changes.get("model", bot.model)
        )
    for field, value in changes.items():
        setattr(bot, field, value)
    if changes:
        bot.save(update_fields=list(changes))
    return bot


@router.delete("/bots/{bot_id}", response={204: None, **ERRORS})
def delete_bot(request: HttpRequest, bot_id: int) -> Status[None]:
    require_write(request)
    _bot(request, bot_id).delete()
    return Status(204, None)


@router.get("/bots/{bot_id}/widget-keys", response={200: Page[WidgetKeyOut], **ERRORS})
def list_widget_keys(
    request: HttpRequest, bot_id: int, params: Query[PageParams]
) -> dict[str, object]:
    bot = _bot(request, bot_id)
    return page(WidgetKey.objects.filter(bot=bot).order_by("id"), params)


@router.post("/bots/{bot_id}/widget-keys", response={201: WidgetKeyOut, **ERRORS})
def create_widget_key(request: HttpRequest, bot_id: int, body: WidgetKeyIn) -> Status[WidgetKey]:
    require_write(request)
    bot = _bot(request, bot_id)
    return Status(201, WidgetKey.objects.create(bot=bot, allowed_origins=body.allowed_origins))


@router.post("/widget-keys/{key_id}/revoke", response={200: WidgetKeyOut, **ERRORS})
def revoke_widget_key(request: HttpRequest, key_id: int) -> WidgetKey:
    caller = require_write(request)
    key = get_object_or_404(WidgetKey, pk=key_id, bot__organization_id=caller.organization_id)
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
    return key


@router.get("/api-keys", response={200: Page[ApiKeyOut], **ERRORS})
def list_api_keys(request: HttpRequest, params: Query[PageParams]) -> dict[str, object]:
    keys = ApiKey.objects.filter(organization_id=caller_of(request).organization_id)
    return page(keys.order_by("id"), params)


def _require_console_admin(request: HttpRequest) -> None:
    caller = require_write(request)
    # Keys are managed from the console: a leaked key must not be able to mint others.
    if not caller.is_session:
        raise HttpError(403, "API keys are managed by owners and admins in the console.")


@router.post("/api-keys", response={201: ApiKeyCreated, **ERRORS})
def create_key(request: HttpRequest, body: ApiKeyIn) -> Status[dict[str, object]]:
    _require_console_admin(request)
    caller = caller_of(request)
    key, plain = create_api_key(caller.organization_id, body.name, body.scope, caller.user_id)
    out = ApiKeyOut.from_orm(key).model_dump()
    return Status(201, {**out, "key": plain})


@router.post("/api-keys/{key_id}/revoke", response={200: ApiKeyOut, **ERRORS})
def revoke_key(request: HttpRequest, key_id: int) -> ApiKey:
    _require_console_admin(request)
    key = get_object_or_404(ApiKey, pk=key_id, organization_id=caller_of(request).organization_id)
    return revoke_api_key(key)
