"""Who may read and who may write.

- Read (GET, HEAD, OPTIONS, and POST actions that only query, such as the
  cache lookup): any authenticated, active user (a token or a logged-in
  session); anonymous requests too when ``settings.MLMD_ANONYMOUS_READ`` is on.
- Write: an active user who is a superuser, staff, or a member of the Django
  group ``mlmd-writers`` (``manage.py create_api_token USER --writer`` adds a
  user to it; so can the admin).
- Staff-only actions (hard delete of a context's run): staff or superusers.

Groups rather than per-model permissions: one switch per user that covers
every resource of the store, which is what operators asked for.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

WRITERS_GROUP = "mlmd-writers"


def is_read(request: Request, view: Any) -> bool:
    if request.method in SAFE_METHODS:
        return True
    return getattr(view, "action", None) in getattr(view, "read_actions", ())


def can_write(user: Any) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser or user.is_staff:
        return True
    cached = getattr(user, "_mlmd_can_write", None)
    if cached is None:
        cached = user.groups.filter(name=WRITERS_GROUP).exists()
        user._mlmd_can_write = cached
    return bool(cached)


def is_staff(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser))


class StorePermission(BasePermission):
    """Readers read; writers (group mlmd-writers, staff, superusers) write; staff-only actions need staff."""

    message = "You may read the store but not write to it (writers are in the group mlmd-writers)."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if getattr(view, "action", None) in getattr(view, "staff_actions", ()):
            self.message = "Only staff may do this."
            return is_staff(user)
        if is_read(request, view):
            if user and user.is_authenticated:
                return bool(user.is_active)
            return bool(getattr(settings, "MLMD_ANONYMOUS_READ", False))
        return can_write(user)
