"""Issue #10 item 8: stateful schemathesis over the REST API.

The OpenAPI schema (/api/schema/) declares no links; schemathesis infers them
by dependency analysis (an id a response returns feeds the ``{id}`` of the
operations that take one: create artifact -> get / patch / delete it and its
lineage, record execution -> get the execution, its artifacts and contexts,
and so on).  Its state machine then chains calls along those links, in-process
against the WSGI application, as a writer with a token.  Bounded: a fixed
number of scenarios of a few steps each, derandomized.  Every answer must be
below 500 and conform to the schema (status code, content type, body).
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Group, User
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from store.api.permissions import WRITERS_GROUP

SCENARIOS = 30
STEPS_PER_SCENARIO = 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def writer_token(db: None) -> str:
    writer = User.objects.create_user("writer")
    writer.groups.add(Group.objects.get_or_create(name=WRITERS_GROUP)[0])
    return Token.objects.create(user=writer).key


@pytest.mark.slow
def test_stateful_schemathesis_along_inferred_links_finds_no_server_error_and_no_schema_violation(
    writer_token: str, wsgi_in_test_transaction: None, figure: Callable[[str], None]
) -> None:
    from mlmdsite.wsgi import application
    from store.demo import load_demo

    started = time.monotonic()
    load_demo()
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    # Valid requests go deeper along links (tests/api/test_schema.py sends invalid ones to every operation).
    schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    assert schema.config.phases.stateful.enabled
    base = schema.as_state_machine()
    prepare_seconds = time.monotonic() - started
    statuses: Counter[int] = Counter()
    operations: Counter[str] = Counter()
    chained: Counter[str] = Counter()
    headers = {"Authorization": f"Token {writer_token}"}

    class Workflow(base):  # type: ignore[valid-type, misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def after_call(self, response: Any, case: Any) -> None:
            statuses[response.status_code] += 1
            operations[case.operation.label] += 1

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

        def step(self, input: Any) -> Any:
            if input.transition is not None and input.is_applied:
                chained[input.case.operation.label] += 1
            return super().step(input)

    prepared = time.monotonic()
    Workflow.run(
        settings=hypothesis_settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS_PER_SCENARIO,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
    )
    seconds = time.monotonic() - prepared
    calls = sum(statuses.values())
    figure(
        f"{SCENARIOS} scenarios x <= {STEPS_PER_SCENARIO} steps: {calls} calls over {len(operations)} operations "
        f"({sum(chained.values())} along links, into {len(chained)} operations) in {seconds:.1f} s "
        f"(+{prepare_seconds:.1f} s demo data, schema, links); "
        f"statuses {dict(sorted(statuses.items()))}; 0 server errors, 0 schema violations"
    )
    assert all(status < 500 for status in statuses)
    assert sum(chained.values()) > 0, "no call followed a link: the state machine did not chain anything"
    assert len(operations) >= 20
