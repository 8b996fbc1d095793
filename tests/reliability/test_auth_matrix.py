"""Issue #10 item 9: who gets what on the dashboard, the admin and the public pages.

The REST API's table (38 endpoints x 5 roles) is tests/api/test_auth.py; this
one covers the rest of the site: every dashboard URL, the admin's index and
each registered model's list, add and change pages, and the pages anyone may
open.  Roles: anonymous, reader (any account), writer (member of
``mlmd-writers``), staff (staff with every store permission, no auth
permissions) and superuser.  The answer intended for each is in ``ACCESS``;
a redirect must lead to the right login page with ``next`` set.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.db import transaction
from django.test import Client

from store.api.permissions import WRITERS_GROUP
from tests.ui.builders import record_pipeline

ROLES = ("anonymous", "reader", "writer", "staff", "superuser")
LOGIN = "login"  # a redirect to /accounts/login/?next=<url>
ADMIN_LOGIN = "admin-login"  # a redirect to /admin/login/?next=<url>

# Intended answer per kind of page and role.
ACCESS: dict[str, dict[str, int | str]] = {
    # Read-only dashboard pages: any account reads; anonymous users are sent to log in.
    "dashboard": {"anonymous": LOGIN, "reader": 200, "writer": 200, "staff": 200, "superuser": 200},
    # The retry button of a drawing: a POST of any account, answered by a 303 back to the page.
    "dashboard-post": {"anonymous": LOGIN, "reader": 303, "writer": 303, "staff": 303, "superuser": 303},
    # A write method on a read-only page is refused before anything else, for everyone.
    "dashboard-wrong-method": {"anonymous": 405, "reader": 405, "writer": 405, "staff": 405, "superuser": 405},
    # Admin pages of the store's models (and the admin index): staff and superusers.
    "admin": {"anonymous": ADMIN_LOGIN, "reader": ADMIN_LOGIN, "writer": ADMIN_LOGIN, "staff": 200, "superuser": 200},
    # Admin pages the admin offers to no one (adding a drawing, say): 403 once inside.
    "admin-never": {"anonymous": ADMIN_LOGIN, "reader": ADMIN_LOGIN, "writer": ADMIN_LOGIN, "staff": 403, "superuser": 403},
    # Accounts, groups and tokens: superusers only (staff have store permissions only).
    "admin-accounts": {"anonymous": ADMIN_LOGIN, "reader": ADMIN_LOGIN, "writer": ADMIN_LOGIN, "staff": 403, "superuser": 200},
    # Login page, API schema and its documentation.
    "public": {"anonymous": 200, "reader": 200, "writer": 200, "staff": 200, "superuser": 200},
    # The API's root: a way to its documentation, for everyone.
    "api-root": {role: "302 to /api/docs/" for role in ("anonymous", "reader", "writer", "staff", "superuser")},
    # The admin's login page: a form, but those already in (staff) go straight to the admin.
    "admin-login-page": {
        "anonymous": 200, "reader": 200, "writer": 200, "staff": "302 to /admin/", "superuser": "302 to /admin/",
    },
}
ACCOUNT_MODELS = ("auth.user", "auth.group", "authtoken.tokenproxy")


@dataclass(frozen=True)
class Page:
    method: str
    url: str
    kind: str

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.url}"


def _dashboard_pages(ids: dict[str, int]) -> list[Page]:
    c, a, e, t = ids["context"], ids["artifact"], ids["execution"], ids["artifact_type"]
    reads = [
        "/", "/search/?q=taxi", "/types/", f"/compare/?a={a}&b={ids['other_artifact']}",
        "/contexts/", "/artifacts/", "/executions/",
        f"/contexts/type/{ids['context_type']}/", f"/artifacts/type/{t}/", f"/executions/type/{ids['execution_type']}/",
        f"/contexts/{c}/", f"/contexts/{c}/graph.dot", f"/contexts/{c}/drawing.json",
        f"/artifacts/{a}/", f"/artifacts/{a}/lineage.dot", f"/executions/{e}/", f"/executions/{e}/lineage.dot",
    ]
    return [
        *[Page("get", url, "dashboard") for url in reads],
        Page("post", f"/contexts/{c}/drawing/retry", "dashboard-post"),
        Page("get", f"/contexts/{c}/drawing/retry", "dashboard-wrong-method"),
        Page("post", "/artifacts/", "dashboard-wrong-method"),
        Page("delete", f"/contexts/{c}/", "dashboard-wrong-method"),
    ]


def _admin_pages(ids: dict[str, int]) -> list[Page]:
    pages = [Page("get", "/admin/", "admin")]
    objects = {
        "auth.user": ids["reader_user"], "auth.group": ids["group"], "authtoken.tokenproxy": ids["reader_user"],
        "store.artifacttype": ids["artifact_type"], "store.executiontype": ids["execution_type"],
        "store.contexttype": ids["context_type"], "store.artifact": ids["artifact"], "store.execution": ids["execution"],
        "store.context": ids["context"], "store.event": ids["event"], "store.attribution": ids["attribution"],
        "store.association": ids["association"], "store.parentcontext": ids["parent_context"],
    }
    for model in admin.site._registry:
        label = model._meta.label_lower
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        kind = "admin-accounts" if label in ACCOUNT_MODELS else "admin"
        pages.append(Page("get", base, kind))
        pages.append(Page("get", f"{base}add/", ADD_PAGES.get(label, kind)))
        if label in objects:
            pages.append(Page("get", f"{base}{objects[label]}/change/", kind))
    return pages


# Add pages the admin does not offer: drawings and their jobs are made by the workers only.
ADD_PAGES = {"store.graphjob": "admin-never", "store.graphdrawing": "admin-never"}


PUBLIC_PAGES = [
    *[Page("get", url, "public") for url in ("/accounts/login/", "/api/schema/", "/api/docs/")],
    Page("get", "/api/", "api-root"),
    Page("get", "/admin/login/", "admin-login-page"),
]


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """Users and a recorded pipeline, made once (in a transaction undone at the module's end)."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _world()
        transaction.set_rollback(True)


def _world() -> dict[str, Any]:
    from store.models import Association, Attribution, Event, ParentContext

    group = Group.objects.get_or_create(name=WRITERS_GROUP)[0]
    writer = User.objects.create_user("writer")
    writer.groups.add(group)
    staff = User.objects.create_user("staff", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="store"))
    users = {
        "reader": User.objects.create_user("reader"),
        "writer": writer,
        "staff": staff,
        "superuser": User.objects.create_superuser("root", "root@example.com", None),
    }
    pipeline = record_pipeline()
    ids = {
        "context": pipeline.experiment,
        "artifact": pipeline.dataset,
        "other_artifact": pipeline.models[0],
        "execution": pipeline.trainers[0],
        "artifact_type": pipeline.types["Examples"],
        "execution_type": pipeline.types["Trainer"],
        "context_type": pipeline.types["Experiment"],
        "event": Event.objects.order_by("id").values_list("id", flat=True)[0],
        "attribution": Attribution.objects.order_by("id").values_list("id", flat=True)[0],
        "association": Association.objects.order_by("id").values_list("id", flat=True)[0],
        "parent_context": ParentContext.objects.order_by("id").values_list("id", flat=True)[0],
        "reader_user": users["reader"].id,
        "group": group.id,
    }
    from rest_framework.authtoken.models import Token

    Token.objects.create(user=users["reader"])
    pages = [*_dashboard_pages(ids), *_admin_pages(ids), *PUBLIC_PAGES]
    return {"users": users, "pages": pages}


def _answer(response: Any, page: Page) -> int | str:
    """The status, or which login page a redirect leads to (checking it comes back to the page)."""
    if response.status_code != 302:
        return response.status_code
    location = response["Location"]
    next_url = quote(page.url, safe="/")
    if location.startswith("/admin/login/") and f"next={next_url}" in location:
        return ADMIN_LOGIN
    if location.startswith("/accounts/login/") and f"next={next_url}" in location:
        return LOGIN
    return f"302 to {location}"


@pytest.fixture
def dashboard_settings(settings: Any) -> Iterator[None]:
    """Login required; static files without a manifest; no warning with a traceback per 403 and 405."""
    settings.MLMD_ANONYMOUS_READ = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    request_logger = logging.getLogger("django.request")
    level = request_logger.level
    request_logger.setLevel(logging.ERROR)
    yield
    request_logger.setLevel(level)


def test_every_page_answers_each_role_as_intended(
    db: None, world: dict[str, Any], dashboard_settings: None, figure: Callable[[str], None]
) -> None:
    wrong: list[str] = []
    answers: Counter[str] = Counter()
    for role in ROLES:
        client = Client()
        if role != "anonymous":
            client.force_login(world["users"][role])
        for page in world["pages"]:
            response = getattr(client, page.method)(page.url)
            got = _answer(response, page)
            answers[str(got)] += 1
            if got != ACCESS[page.kind][role]:
                wrong.append(f"{role:9} {page}: {got}, intended {ACCESS[page.kind][role]}")
    pages = world["pages"]
    figure(
        f"{len(pages)} pages ({sum(p.url.startswith('/admin/') for p in pages)} admin) x {len(ROLES)} roles = "
        f"{len(pages) * len(ROLES)} answers {dict(sorted(answers.items()))}; {len(wrong)} not as intended"
    )
    assert len(admin.site._registry) >= 15
    assert not wrong, "\n".join(wrong)
