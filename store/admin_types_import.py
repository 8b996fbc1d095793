"""The admin's "Import types" and "Export types" pages, for staff.

The same load as ``manage.py load_types`` (``store.services.types_io``): a
``PutTypesRequest`` file in text format or JSON, the ``put_*_type`` evolution
flags, a dry run, and a per-type report; the file is loaded all or nothing.
Hooked into every type admin by ``TypesImportAdminMixin`` (see ``store.admin``).

A user may import a file when they may add and change types of every kind the
file declares (the permissions of the ArtifactType / ExecutionType /
ContextType admin pages).
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from store.services import types_io
from store.services.errors import MetadataStoreError

# The proxy model (permission codename suffix) of each kind in a PutTypesRequest.
_KIND_MODELS = {"ArtifactType": "artifacttype", "ExecutionType": "executiontype", "ContextType": "contexttype"}
_PLURALS = {"ArtifactType": "artifact_types", "ExecutionType": "execution_types", "ContextType": "context_types"}
MAX_FILE_BYTES = 5 * 1024 * 1024


class TypesImportForm(forms.Form):
    file = forms.FileField(
        help_text=(
            "An ml-metadata PutTypesRequest: artifact_types { … }, execution_types { … } and context_types { … } "
            "blocks in protobuf text format, or the same in JSON."
        )
    )
    format = forms.ChoiceField(
        choices=[("", "from the file name or content"), (types_io.TEXTPROTO, "text format"), (types_io.JSON, "JSON")],
        required=False,
    )
    can_add_fields = forms.BooleanField(required=False, help_text="Stored types may gain the file's new properties.")
    can_omit_fields = forms.BooleanField(required=False, help_text="The file may leave out properties of stored types.")
    dry_run = forms.BooleanField(required=False, initial=True, help_text="Only report what would happen.")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
        return upload


def _check_permissions(request: HttpRequest, kinds: set[str]) -> None:
    missing = [
        kind
        for kind in sorted(kinds)
        if not (
            request.user.has_perm(f"store.add_{_KIND_MODELS[kind]}")
            and request.user.has_perm(f"store.change_{_KIND_MODELS[kind]}")
        )
    ]
    if missing:
        raise PermissionDenied(f"You may not add or change {', '.join(missing)}s.")


def types_import_view(request: HttpRequest, model_admin: Any) -> HttpResponse:
    """Upload a types file; show what each type became (or would become)."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    report = None
    lines: list[str] = []
    if request.method == "POST":
        form = TypesImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                parsed = types_io.parse_types(upload.read(), form.cleaned_data["format"] or None, filename=upload.name)
                _check_permissions(request, {kind for kind, plural in _PLURALS.items() if getattr(parsed, plural)})
                report = types_io.load_types(
                    parsed,
                    can_add_fields=form.cleaned_data["can_add_fields"],
                    can_omit_fields=form.cleaned_data["can_omit_fields"],
                    dry_run=form.cleaned_data["dry_run"],
                )
            except MetadataStoreError as exc:
                form.add_error("file", exc.message)
            else:
                lines = types_io.format_report(report)
                level = messages.ERROR if report.refused else messages.SUCCESS if report.written else messages.INFO
                model_admin.message_user(request, lines[-1], level)
    else:
        form = TypesImportForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Import types",
        "form": form,
        "report": report,
        "summary": lines[-1] if lines else "",
        "export_url": reverse(f"admin:store_{model_admin.model._meta.model_name}_export_types"),
    }
    return TemplateResponse(request, "admin/store/types_import.html", context)


def types_export_view(request: HttpRequest, model_admin: Any) -> HttpResponse:
    """Download every type of the store as a PutTypesRequest (``?format=json`` for JSON)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    fmt = request.GET.get("format", types_io.TEXTPROTO)
    if fmt not in types_io.FORMATS:
        fmt = types_io.TEXTPROTO
    extension, content_type = ("json", "application/json") if fmt == types_io.JSON else ("textproto", "text/plain")
    response = HttpResponse(types_io.export_types(fmt), content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="mlmd-types.{extension}"'
    return response


class TypesImportAdminMixin:
    """Adds ``import-types/`` and ``export-types/`` pages to a type admin, linked from its change list."""

    change_list_template = "admin/store/type_change_list.html"

    def get_urls(self) -> list[URLPattern]:
        meta = self.model._meta  # type: ignore[attr-defined]
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        own = [
            path(
                "import-types/",
                wrap(lambda request: types_import_view(request, self)),
                name=f"{meta.app_label}_{meta.model_name}_import_types",
            ),
            path(
                "export-types/",
                wrap(lambda request: types_export_view(request, self)),
                name=f"{meta.app_label}_{meta.model_name}_export_types",
            ),
        ]
        return own + super().get_urls()  # type: ignore[misc]
