"""The admin's Import types / Export types pages (TypesImportAdminMixin)."""
from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from store.proto import metadata_store_pb2 as pb
from tests.importer.test_types_io import TYPES
from tests.store.mlmd import call, row_counts

pytestmark = pytest.mark.urls("tests.importer.admin_urls")
IMPORT_URL = "/admin/store/artifacttype/import-types/"
EXPORT_URL = "/admin/store/artifacttype/export-types/"


def _upload(client: Client, text: str, **flags: Any) -> Any:
    data = {"file": SimpleUploadedFile("types.textproto", text.encode()), **{k: "on" for k, v in flags.items() if v}}
    return client.post(IMPORT_URL, data)


def test_staff_dry_run_then_import(staff_client: Client) -> None:
    page = staff_client.get("/admin/store/artifacttype/")
    assert IMPORT_URL.encode() in page.content and EXPORT_URL.encode() in page.content
    assert staff_client.get(IMPORT_URL).status_code == 200
    before = row_counts()
    response = _upload(staff_client, TYPES, dry_run=True)
    assert response.status_code == 200
    assert b"What the file would do" in response.content and b"4 created" in response.content
    assert row_counts() == before
    response = _upload(staff_client, TYPES)
    assert b"What the file did" in response.content
    assert call("GetExecutionType", type_name="Trainer").execution_type.base_type == pb.ExecutionType.TRAIN
    exported = staff_client.get(EXPORT_URL + "?format=json")
    assert exported["Content-Disposition"] == 'attachment; filename="mlmd-types.json"'
    assert exported.json()["context_types"] == [{"name": "Experiment", "description": "A study"}]


def test_a_refused_type_is_shown_and_nothing_written(staff_client: Client) -> None:
    call("PutArtifactType", artifact_type=pb.ArtifactType(name="DataSet", properties={"day": pb.STRING}))
    before = row_counts()
    response = _upload(staff_client, TYPES)
    assert b'class="status-refused"' in response.content and b"nothing was written" in response.content
    assert row_counts() == before


def test_unparsable_file_is_a_form_error(staff_client: Client) -> None:
    response = _upload(staff_client, "artifact_types { nam: 1 }")
    assert response.status_code == 200 and b"is not a PutTypesRequest" in response.content


def test_permissions(reader_client: Client, staff_user: User, staff_client: Client) -> None:
    assert reader_client.get(IMPORT_URL).status_code == 302  # to the login page
    # Staff who may add artifact types but not context types cannot load a file declaring context types.
    staff_user.user_permissions.remove(*Permission.objects.filter(codename__in=["add_contexttype", "change_contexttype"]))
    before = row_counts()
    assert _upload(staff_client, TYPES).status_code == 403
    assert row_counts() == before
