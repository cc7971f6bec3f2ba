"""The NinjaAPI instance: authentication, the one error format, the OpenAPI schema and docs.

The schema is served at /api/schema and Swagger UI at /api/docs from ninja's bundled static
files (ninja is in INSTALLED_APPS, so its non-CDN templates are used).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from accounts.access import NotFound

from .auth import ApiKeyAuth, ConsoleSessionAuth
from .endpoints import analytics, config, contacts, conversations, knowledge, webhooks

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "throttled",
}

api = NinjaAPI(
    title="Switchboard API",
    version="1",
    description=(
        "Per-organization REST API. Authenticate with `Authorization: Bearer sb_…` (an API "
        "key) or the console session. Errors are always `{error: {code, message, details}}`."
    ),
    auth=[ApiKeyAuth(), ConsoleSessionAuth()],
    urls_namespace="api",
    openapi_url="/schema",
    docs_url="/docs",
)


def error_response(
    request: HttpRequest, status: int, message: str, details: list[dict[str, Any]] | None = None
) -> HttpResponse:
    body = {
        "error": {
            "code": _CODES.get(status, "error"),
            "message": message,
            "details": details or [],
        }
    }
    return api.create_response(request, body, status=status)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", ""))}
        for error in exc.errors
    ]
    return error_response(request, 422, "The request is not valid.", details)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, 401, "Missing, unknown or revoked credentials.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error_response(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
@api.exception_handler(ObjectDoesNotExist)
@api.exception_handler(NotFound)
def _not_found(request: HttpRequest, exc: Any) -> HttpResponse:
    # A foreign object answers exactly like a missing one.
    return error_response(request, 404, "Not found.")


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("API error on %s %s", request.method, request.path)
    return error_response(request, 500, "Internal error.")


for module in (config, conversations, knowledge, contacts, webhooks, analytics):
    api.add_router("/", module.router)
