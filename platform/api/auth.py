"""Who is calling the API: an organization's API key (Bearer) or a console session.

Both resolve to a `Caller` bound to exactly one organization; every query is scoped by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth

from accounts import access
from core import throttle

from .keys import authenticate_key


@dataclass(frozen=True)
class Caller:
    organization_id: int
    can_write: bool
    user_id: int | None = None
    api_key_id: int | None = None

    @property
    def is_session(self) -> bool:
        return self.user_id is not None


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer sb_…`; unknown and revoked keys both get 401."""

    def authenticate(self, request: HttpRequest, token: str) -> Caller | None:
        if throttle.api_auth_blocked(request):
            raise HttpError(429, "Too many failed authentications from this address.")
        key = authenticate_key(token)
        if key is None:
            throttle.count_api_auth_failure(request)
            return None
        return Caller(
            organization_id=key.organization_id,
            can_write=key.scope == key.Scope.WRITE,
            api_key_id=key.pk,
        )


class ConsoleSessionAuth(SessionAuth):
    """The console's session cookie (with CSRF on unsafe methods).

    The organization is the `X-Organization` header (an id) or, when absent, the user's only
    organization. Owners and admins may write; agents read and send messages.
    """

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if not request.user.is_authenticated:
            return None
        chosen = request.headers.get("X-Organization", "")
        if chosen:
            org_id = int(chosen) if chosen.isdigit() else -1
        else:
            org_ids = access.org_ids_for_user(request.user)
            if len(org_ids) != 1:
                raise HttpError(400, "Choose an organization with the X-Organization header.")
            org_id = org_ids[0]
        role = access.role_in(request.user, org_id)
        if role is None:
            return None
        return Caller(
            organization_id=org_id,
            can_write=role in access.ADMIN_ROLES,
            user_id=request.user.pk,
        )


def caller_of(request: HttpRequest) -> Caller:
    caller = request.auth  # type: ignore[attr-defined]
    assert isinstance(caller, Caller)
    return caller


def require_write(request: HttpRequest) -> Caller:
    caller = caller_of(request)
    if not caller.can_write:
        raise HttpError(403, "This key or role is read-only.")
    return caller
