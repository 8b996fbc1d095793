"""Assertions shared by the REST API tests."""
from __future__ import annotations

from typing import Any


def assert_error(response: Any, status: int, field: str | None = None, contains: str = "") -> dict[str, Any]:
    """A JSON error with this status, naming this field (and the text, when given)."""
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) >= {"code", "detail", "field", "errors"}, body
    if field is not None:
        assert body["field"] == field, body
    if contains:
        assert contains.lower() in body["detail"].lower(), body
    return body


def post(client: Any, url: str, data: Any, **extra: Any) -> Any:
    return client.post(url, data, format="json", **extra)


def patch(client: Any, url: str, data: Any, **extra: Any) -> Any:
    return client.patch(url, data, format="json", **extra)
