"""Who may read the dashboard: logged-in users, or anyone when anonymous read is configured."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse


def anonymous_read() -> bool:
    return bool(getattr(settings, "MLMD_ANONYMOUS_READ", False))


def reader_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like ``login_required``, but lets everyone in when ``settings.MLMD_ANONYMOUS_READ`` is on.

    The setting is read per request, so changing it needs no restart of the URL conf.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated or anonymous_read():
            return view(request, *args, **kwargs)
        return redirect_to_login(request.get_full_path())

    return wrapper
