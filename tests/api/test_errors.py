"""Store errors map to HTTP statuses with one JSON shape; nothing escapes as an HTML 500."""
from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from store.services import errors
from tests.api.helpers import assert_error, post


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidArgument("bad"), 400),
        (errors.NotFound("gone"), 404),
        (errors.AlreadyExists("twice"), 409),
        (errors.FailedPrecondition("changed"), 409),
        (errors.Aborted("busy"), 503),
        (errors.ResourceExhausted("too big"), 413),
        (errors.Unimplemented("no"), 501),
    ],
)
def test_store_errors_keep_their_status(writer: Any, dataset_types: Any, error: Exception, status: int) -> None:
    with mock.patch("store.api.views.base.api.call", side_effect=error):
        response = post(writer, "/api/v1/artifacts", {"type": "DataSet"})
    body = assert_error(response, status)
    assert body["code"] == error.grpc_code.name.lower()  # type: ignore[attr-defined]
    if status == 503:
        assert int(response["Retry-After"]) > 0


def test_a_bug_is_a_json_500_and_logged(writer: Any, dataset_types: Any, caplog: pytest.LogCaptureFixture) -> None:
    writer.raise_request_exception = False
    with mock.patch("store.api.views.base.api.call", side_effect=ZeroDivisionError("oops")):
        response = post(writer, "/api/v1/artifacts", {"type": "DataSet"})
    body = assert_error(response, 500)
    assert "oops" not in body["detail"]  # no internals in the answer
    assert "ZeroDivisionError" in caplog.text


def test_unknown_api_url_is_a_json_404(writer: Any) -> None:
    response = writer.get("/api/v1/no-such-resource")
    assert response.status_code == 404


def test_method_not_allowed_is_json(writer: Any) -> None:
    assert_error(writer.put("/api/v1/artifacts/1", {}, format="json"), 405)
