"""Schemathesis against our own OpenAPI schema: no server errors, no off-schema responses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .factories import Tenant, make_tenant

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant()


@pytest.fixture
def api_schema(db: None) -> Iterator[Any]:
    # In-process WSGI calls would close the test's DB connection after each request (and
    # with it the test transaction); Django's own test client unhooks this the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


EXAMPLES_PER_OPERATION = 25


def test_every_operation_answers_within_its_schema_and_never_with_a_server_error(
    api_schema: Any, tenant: Tenant
) -> None:
    # Driven by hand rather than `schemathesis.pytest` (its fixture loader does not run on
    # pytest 9); one bounded Hypothesis run per operation, every failure collected.
    headers = {"Authorization": f"Bearer {tenant.write_key}"}
    failures: list[str] = []
    calls = 0
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            exercise()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.label}: {str(exc)[:800]}")
    assert len(operations) >= 20
    assert calls >= len(operations)
    assert failures == []


def test_the_schema_is_openapi_3_and_the_docs_page_uses_no_cdn(db: None) -> None:
    client = Client()
    schema_json = client.get("/api/schema").json()
    assert schema_json["openapi"].startswith("3.")
    assert "/api/conversations" in schema_json["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200
