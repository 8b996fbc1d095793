"""Settings for the ML metadata store, read from the environment (12-factor).

DATABASE_URL    sqlite:////abs/path.db (default: var/mlmd.sqlite3) or mysql://user:pass@host:port/db
SECRET_KEY      required when DEBUG is off (or SECRET_KEY_FILE)
DEBUG           off unless asked
ALLOWED_HOSTS   comma-separated
REDIS_URL       optional; enables Celery workers for large graphs
MLMD_PRODUCTION on: HTTPS-only cookies, HSTS and the rest of `check --deploy`
"""
from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from mlmdsite.env import database_from_url, envbool, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = envbool("DEBUG", False)
PRODUCTION = envbool("MLMD_PRODUCTION", False)

_secret = envstr("SECRET_KEY")
if not _secret:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required with MLMD_PRODUCTION=1.")
    # A development key: fine on a laptop, refused by the production mode above.
    _secret = "django-insecure-dev-only-mlmd-store-not-for-production"
SECRET_KEY = _secret

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "store",
    "lineage_ui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mlmdsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "mlmdsite.wsgi.application"
ASGI_APPLICATION = "mlmdsite.asgi.application"

_database_url = envstr("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'mlmd.sqlite3'}"
DATABASES = {"default": database_from_url(_database_url)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3") and str(VAR_DIR) in DATABASES["default"]["NAME"]:
    VAR_DIR.mkdir(exist_ok=True)
DATABASE_ROUTERS = ["store.db.StoreRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "lineage_ui:home"
LOGOUT_REDIRECT_URL = "login"

# Largest request body the web site accepts (bytes); the REST API answers 413 above it.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("MLMD_MAX_REQUEST_BYTES", 32 * 1024 * 1024)

# gRPC: message size limit (both directions). gRPC's own default of 4 MiB is what
# Kubeflow users kept hitting; ours is well above it and configurable.
MLMD_GRPC_MAX_MESSAGE_BYTES = envint("MLMD_GRPC_MAX_MESSAGE_BYTES", 64 * 1024 * 1024)

# Dashboards may be opened without logging in when this is on (read-only).
MLMD_ANONYMOUS_READ = envbool("MLMD_ANONYMOUS_READ", False)

REDIS_URL = envstr("REDIS_URL") or ""
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("MLMD_GRAPH_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_ALWAYS_EAGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "store": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "lineage_ui": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off with MLMD_PRODUCTION=1.")
