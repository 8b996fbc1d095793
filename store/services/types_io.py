"""Types kept in files: load them into the store and export the store's types.

The file format is MLMD's own ``PutTypesRequest``: a list of
``artifact_types { ... }``, ``execution_types { ... }`` and
``context_types { ... }`` blocks in protobuf text format (the usual way types
are kept next to pipeline code), or the same message in JSON
(``{"artifact_types": [...], ...}``; camelCase names are accepted too).  A
request message rather than a home-made container: any MLMD tool can produce
or send it as it is, and ``PutTypes`` already defines the semantics.

Loading follows ``put_*_type``'s evolution rules through the core
(``api.call("PutTypes", ...)``), in one transaction: when any type of the file
is refused, nothing is written.  Every type is first tried alone in a
transaction that is rolled back, to report each one as created, updated,
unchanged or refused (with the core's own message); only a file with no
refusal is then written, by a single ``PutTypes`` call.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from google.protobuf import json_format, text_format

from store.choices import TypeKind
from store.db import atomic, current_alias
from store.proto import metadata_store_service_pb2 as svc
from store.services import api, types
from store.services.errors import InvalidArgument, MetadataStoreError

TEXTPROTO = "textproto"
JSON = "json"
FORMATS = (TEXTPROTO, JSON)

_KINDS = (
    ("artifact_types", TypeKind.ARTIFACT, "ArtifactType"),
    ("execution_types", TypeKind.EXECUTION, "ExecutionType"),
    ("context_types", TypeKind.CONTEXT, "ContextType"),
)
_HEADER = (
    "# proto-file: ml_metadata/proto/metadata_store_service.proto\n"
    "# proto-message: ml_metadata.PutTypesRequest\n"
)


@dataclass
class TypeOutcome:
    """What loading did (or would do) to one type of the file."""

    kind: str  # "ArtifactType", "ExecutionType" or "ContextType"
    name: str
    version: str
    status: str  # "created", "updated", "unchanged" or "refused"
    detail: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}" + (f" (version {self.version})" if self.version else "")


@dataclass
class LoadReport:
    outcomes: list[TypeOutcome] = field(default_factory=list)
    written: bool = False
    dry_run: bool = False

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def refused(self) -> list[TypeOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "refused"]


def guess_format(text: str, filename: str = "") -> str:
    """JSON when the name ends in .json or the text starts with '{', else text format."""
    if filename.lower().endswith(".json"):
        return JSON
    if filename.lower().endswith((".textproto", ".pbtxt", ".txtpb", ".prototxt")):
        return TEXTPROTO
    return JSON if text.lstrip().startswith("{") else TEXTPROTO


def parse_types(data: str | bytes, fmt: str | None = None, *, filename: str = "") -> svc.PutTypesRequest:
    """A types file as a PutTypesRequest; a clear InvalidArgument when it is not one."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"{filename or 'the file'} is not UTF-8 text ({exc})") from exc
    fmt = fmt or guess_format(data, filename)
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    request = svc.PutTypesRequest()
    where = filename or "the file"
    try:
        if fmt == JSON:
            json_format.Parse(data, request)
        else:
            text_format.Parse(data, request)
    except (text_format.ParseError, json_format.ParseError) as exc:
        raise InvalidArgument(
            f"{where} is not a PutTypesRequest in {fmt} "
            f"(artifact_types / execution_types / context_types entries): {exc}"
        ) from exc
    if not any(getattr(request, plural) for plural, _kind, _label in _KINDS):
        raise InvalidArgument(f"{where} declares no types (expected artifact_types, execution_types or context_types)")
    return request


def _entries(request: svc.PutTypesRequest) -> list[tuple[str, TypeKind, str, Any]]:
    """The file's types in the order PutTypes handles them."""
    return [(plural, kind, label, message) for plural, kind, label in _KINDS for message in getattr(request, plural)]


def _snapshot(kind: TypeKind, name: str, version: str) -> Any | None:
    row = types.find_type(kind, name, version)
    return types.type_protos([row])[0] if row is not None else None


def _change(before: Any, after: Any) -> str:
    added = sorted(set(after.properties) - set(before.properties))
    parts = [f"added properties {', '.join(added)}"] if added else []
    if after.external_id != before.external_id:
        parts.append(f"set external_id {after.external_id!r}")
    return "; ".join(parts)


def load_types(
    request: svc.PutTypesRequest,
    *,
    can_add_fields: bool = False,
    can_omit_fields: bool = False,
    dry_run: bool = False,
) -> LoadReport:
    """Put every type of ``request``, all or nothing, and say what happened to each.

    Flags set in the file itself count too (a saved PutTypesRequest keeps
    working as it was sent).
    """
    add = can_add_fields or request.can_add_fields
    omit = can_omit_fields or request.can_omit_fields
    delete = request.can_delete_fields
    report = LoadReport(dry_run=dry_run)
    # Each type alone, in the order PutTypes takes them; every trial is rolled back.
    with atomic():
        for plural, kind, label, message in _entries(request):
            outcome = TypeOutcome(kind=label, name=message.name, version=message.version, status="refused")
            before = _snapshot(kind, message.name, message.version)
            trial = svc.PutTypesRequest(can_add_fields=add, can_omit_fields=omit, can_delete_fields=delete)
            getattr(trial, plural).append(message)
            try:
                api.call("PutTypes", trial)
            except MetadataStoreError as exc:
                outcome.detail = exc.message
            else:
                after = _snapshot(kind, message.name, message.version)
                if before is None:
                    outcome.status = "created"
                else:
                    change = _change(before, after)
                    outcome.status = "updated" if change else "unchanged"
                    outcome.detail = change
            report.outcomes.append(outcome)
        transaction.set_rollback(True, using=current_alias())
    if report.refused or dry_run or all(o.status == "unchanged" for o in report.outcomes):
        return report
    everything = svc.PutTypesRequest(can_add_fields=add, can_omit_fields=omit, can_delete_fields=delete)
    for plural, _kind, _label in _KINDS:
        getattr(everything, plural).extend(getattr(request, plural))
    api.call("PutTypes", everything)
    report.written = True
    return report


def export_types(fmt: str = TEXTPROTO) -> str:
    """Every type of the store as a PutTypesRequest, without ids (they belong to this store)."""
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    request = svc.PutTypesRequest()
    for plural, kind, _label in _KINDS:
        for message in types.get_types(kind):
            message.ClearField("id")
            getattr(request, plural).append(message)
    if fmt == JSON:
        document = json_format.MessageToDict(request, preserving_proto_field_name=True)
        for plural, _kind, _label in _KINDS:
            for entry in document.get(plural, []):
                if "properties" in entry:
                    entry["properties"] = dict(sorted(entry["properties"].items()))
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return _HEADER + text_format.MessageToString(request)


def format_report(report: LoadReport) -> list[str]:
    """One line per type and a summary, for the command and the admin."""
    lines = []
    for o in report.outcomes:
        if o.detail.startswith(f"{o.kind} {o.name}"):  # the core's messages name the type already
            lines.append(f"{o.status:<9} {o.detail}")
        else:
            lines.append(f"{o.status:<9} {o.label}" + (f": {o.detail}" if o.detail else ""))
    summary = (
        f"{report.count('created')} created, {report.count('updated')} updated, "
        f"{report.count('unchanged')} unchanged, {report.count('refused')} refused"
    )
    if report.refused:
        summary += " — nothing was written (the file is loaded all or nothing)"
    elif report.dry_run:
        summary += " — dry run, nothing was written"
    lines.append(summary)
    return lines
