"""Django for a plain Python script that uses the store in-process.

``from store import metadata_store`` must work in a script that knows nothing
about Django (the ml-metadata way).  ``ensure_django()`` leaves a configured
Django alone (the site, a management command, pytest-django, another project
that installed ``store``) and otherwise configures a minimal one: only the apps
the store needs, no default database (every store opens its own alias).
"""
from __future__ import annotations

import os
import secrets
import threading

_lock = threading.RLock()

STANDALONE_SETTINGS: dict = {
    "INSTALLED_APPS": [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "store",
    ],
    # Nothing runs on "default": every MetadataStore registers its own alias.
    "DATABASES": {"default": {"ENGINE": "django.db.backends.dummy"}},
    "DATABASE_ROUTERS": ["store.db.StoreRouter"],
    "USE_TZ": True,
    "TIME_ZONE": "UTC",
    "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
    "LOGGING_CONFIG": None,
}


def ensure_django() -> None:
    """Make sure Django settings are configured and the app registry is ready."""
    from django.apps import apps
    from django.conf import settings

    if apps.ready:
        return
    with _lock:
        if apps.ready:
            return
        if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
            settings.configure(SECRET_KEY=secrets.token_urlsafe(32), **STANDALONE_SETTINGS)
        import django

        django.setup()


def import_site_env():
    """``mlmdsite.env`` without its side effect on the environment.

    Importing the ``mlmdsite`` package loads its Celery app, which sets
    ``DJANGO_SETTINGS_MODULE`` in ``os.environ`` when it is unset; a standalone
    script (and every child process it starts) must not inherit that.
    """
    had = "DJANGO_SETTINGS_MODULE" in os.environ
    try:
        from mlmdsite import env
    finally:
        if not had:
            os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    return env
