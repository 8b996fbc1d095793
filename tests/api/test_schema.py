"""The OpenAPI schema, Swagger UI, the browsable API, and a schemathesis run against the schema.

Schemathesis generates requests from /api/schema/ (valid and invalid ones) and
sends them to the WSGI application in-process (no network).  Bounded: a few
examples per operation and mode, a deterministic seed, a time budget.  Every
response must be a non-5xx that the schema documents (status, content type,
body).
"""
from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from store.models import Artifact, Context

EXAMPLES_PER_OPERATION = 12
TIME_BUDGET_SECONDS = 240.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def test_schema_is_openapi_3_with_every_resource(api_users: Any, client: Any) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for resource in (
        "artifact-types", "execution-types", "context-types", "artifacts", "executions", "contexts",
        "events", "attributions", "associations", "parent-contexts",
    ):
        assert f"/api/v1/{resource}" in paths
        assert f"/api/v1/{resource}/{{id}}" in paths
    for extra in (
        "/api/v1/executions/record", "/api/v1/executions/lookup", "/api/v1/artifacts/{id}/lineage",
        "/api/v1/contexts/{id}/graph", "/api/v1/contexts/{id}/run",
    ):
        assert extra in paths
    record = schema["paths"]["/api/v1/executions/record"]["post"]
    examples = record["requestBody"]["content"]["application/json"]["examples"]
    assert any("Trainer" in str(example["value"]) for example in examples.values())
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_the_api_root_leads_to_its_docs(client: Any) -> None:
    response = client.get("/api/")
    assert response.status_code == 302
    assert response["Location"] == "/api/docs/"
    assert client.get(response["Location"]).status_code == 200


def test_swagger_ui_uses_local_assets(api_users: Any, client: Any) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower() and "https://" not in page


def test_browsable_api_for_a_logged_in_user(api_users: Any, client: Any, demo: Any) -> None:
    client.force_login(api_users["reader"])
    # Looked up, not assumed: MySQL/MariaDB do not give AUTO_INCREMENT values back on rollback.
    artifact = Artifact.objects.get(uri="gs://demo-bucket/taxi/examples/span-1").id
    experiment = Context.objects.get(name="taxi-baseline").id
    for url in ("/api/v1/", "/api/v1/artifacts", f"/api/v1/artifacts/{artifact}", f"/api/v1/contexts/{experiment}/graph",
                "/api/v1/events"):
        response = client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/html")
        assert b"Django REST framework" in response.content


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    tokens: dict[str, str], demo: Any, wsgi_in_test_transaction: None
) -> None:
    from mlmdsite.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    headers = {"Authorization": f"Token {tokens['admin']}"}
    failures: list[str] = []
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() > deadline:
                break
            operations += 1
            failure = _fuzz(operation, mode, headers)
            if failure:
                failures.append(f"{operation.label} [{mode.value}]: {failure}")
    assert operations >= 40, "the time budget ran out before most operations were tried"
    assert not failures, "\n\n".join(failures)


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> str | None:
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode, headers=headers))
    def run(case: Any) -> None:
        response = case.call()
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:
        return f"{type(exc).__name__}: {exc}"[:3000]
    return None
