"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis v4): no request gets a 500."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.serve.test_api import client, runs  # noqa: F401  (module-scoped fixtures)


def fuzz(operation, statuses: list[int]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call()
        statuses.append(response.status_code)
        assert response.status_code < 500, (operation.path, case.body, response.text)

    run()


def test_no_generated_request_is_a_server_error(client):  # noqa: F811
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/completions", "/v1/classify", "/v1/forecast", "/healthz"}
    statuses = []
    for operation in operations:
        fuzz(operation, statuses)
    assert len(statuses) >= len(operations)
    assert client.get("/healthz").json()["active_streams"] == 0
