"""OpenAPI details shared by the views: error responses everywhere, bulk bodies, parameters."""
from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from store.api.serializers import ErrorOut

_READ_ERRORS = ("400", "401", "403", "404", "406", "503")
_WRITE_ERRORS = ("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429", "503")
_ERROR_TEXT = {
    "400": "Bad input; `field` names the field (filter-query errors add `position`).",
    "401": "No valid credentials.",
    "403": "Not allowed (a reader writing, a non-staff user on a staff action, or a missing CSRF token).",
    "404": "No such resource.",
    "405": "Not allowed on this resource (MLMD keeps it).",
    "406": "Only JSON (and the browsable API) can be answered.",
    "409": "Conflicts with what is stored (a duplicate name, a changed node, a type mismatch).",
    "413": "The request body is over the size limit.",
    "415": "The body must be JSON.",
    "422": "The Idempotency-Key was already used with another request.",
    "429": "Too many writes; see Retry-After.",
    "503": "The database is busy; retry after Retry-After.",
}


class StoreAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the error responses and bulk bodies of this API."""

    def _is_read(self) -> bool:
        action = getattr(self.view, "action", None)
        return self.method in ("GET", "HEAD", "OPTIONS") or action in getattr(self.view, "read_actions", ())

    def _is_bulk(self) -> bool:
        return getattr(self.view, "action", None) in getattr(self.view, "bulk_actions", ())

    def _get_request_body(self, direction: Any = "request") -> Any:
        body = super()._get_request_body(direction)
        if body and self._is_bulk():
            for media in body["content"].values():
                media["schema"] = _one_or_many(media["schema"])
        return body

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        responses = super()._get_response_bodies(direction)
        if self._is_bulk():
            for code, response in responses.items():
                if code.startswith("2"):
                    for media in response.get("content", {}).values():
                        media["schema"] = _one_or_many(media["schema"])
        for code in _READ_ERRORS if self._is_read() else _WRITE_ERRORS:
            if code not in responses:
                error = self._get_response_for_code(ErrorOut, code, direction=direction)
                error["description"] = _ERROR_TEXT[code]
                responses[code] = error
        return responses


def strip_trailing_slashes(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Document /api/v1/artifacts/{id} rather than .../{id}/ (both are served)."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result.get("paths", {}).items()}
    return result


def _one_or_many(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "array", "items": schema}]}


ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The resource's id.")
PAGING_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The next_cursor of the previous page."),
    OpenApiParameter("page_size", int, description="Items per page (1-500, default 50)."),
]
NODE_ORDERING = OpenApiParameter(
    "ordering",
    str,
    enum=["id", "-id", "create_time", "-create_time", "last_update_time", "-last_update_time"],
    description="Sort key; '-' for descending.",
)
ID_ORDERING = OpenApiParameter("ordering", str, enum=["id", "-id"])
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description=(
        "Retrying a write with the same key (per user) answers the first response and writes nothing twice;"
        " the same key with another body is refused (422)."
    ),
)


def node_filter_parameters(kind_name: str) -> list[OpenApiParameter]:
    params = [
        OpenApiParameter("type", str, description="Type name."),
        OpenApiParameter("type_version", str, description="Type version (with type)."),
        OpenApiParameter("type_id", int),
        OpenApiParameter("name", str),
        OpenApiParameter("external_id", str),
        OpenApiParameter("created_after", str, description="ISO 8601 or ms since the epoch (inclusive)."),
        OpenApiParameter("created_before", str, description="ISO 8601 or ms since the epoch (exclusive)."),
        OpenApiParameter("updated_after", str),
        OpenApiParameter("updated_before", str),
        OpenApiParameter("filter", str, description="An MLMD filter query, e.g. `uri LIKE 's3://%'`."),
    ]
    if kind_name == "artifact":
        params.append(OpenApiParameter("uri", str))
    if kind_name in ("artifact", "execution"):
        params.append(OpenApiParameter("state", str, description="State name(s), comma-separated."))
        params.append(OpenApiParameter("context", int, description="Id of a context the node belongs to."))
    if kind_name == "context":
        params.append(OpenApiParameter("parent", int, description="Id of a parent context."))
        params.append(OpenApiParameter("child", int, description="Id of a child context."))
    return params + PAGING_PARAMETERS + [NODE_ORDERING]
