"""Settings for the ML metadata store, read from the environment (12-factor).

DATABASE_URL    sqlite:////abs/path.db (default: var/mlmd.sqlite3) or mysql://user:pass@host:port/db
                (MySQL 8 / MariaDB 10.5 or newer; ?ssl-ca=/path, ?ssl-cert=, ?ssl-key=, ?socket=/path)
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
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # MySQL/MariaDB extras: system checks (utf8mb4, InnoDB strict mode) on MySQL
    # connections, approximate counts and chunked iteration (store.services.counts).
    # Inert on SQLite: its checks skip other databases and it has no tables.
    "django_mysql",
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
# The property value indexes are partial on SQLite (store migration 0008); MySQL/MariaDB
# have no partial indexes and hold every row in them, which is what we want there.
SILENCED_SYSTEM_CHECKS = ["models.W037"]

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

# REST API (store/api).  Reads need a token or a session (or MLMD_ANONYMOUS_READ);
# writes need a token or a session of a member of the "mlmd-writers" group, staff
# or a superuser.  Writes per user are throttled at MLMD_API_WRITE_RATE.
def _throttle_rate(name: str, default: str) -> str:
    import re

    rate = envstr(name) or default
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", rate):
        raise ImproperlyConfigured(f"{name}={rate!r} is not a rate such as 600/minute.")
    return rate


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["store.api.permissions.StorePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["store.api.throttling.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"mlmd_write": _throttle_rate("MLMD_API_WRITE_RATE", "1200/minute")},
    "DEFAULT_PARSER_CLASSES": ["store.api.parsers.StoreJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "store.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "store.api.schema.StoreAutoSchema",
}
# A retried write with the same Idempotency-Key is answered from its first
# response for this long; after it the key may be used again.
MLMD_IDEMPOTENCY_KEY_TTL_HOURS = envint("MLMD_IDEMPOTENCY_KEY_TTL_HOURS", 24)

SPECTACULAR_SETTINGS = {
    "TITLE": "ML Metadata store REST API",
    "DESCRIPTION": (
        "Types, artifacts, executions, contexts and the events between them, with MLMD's semantics. "
        "Authenticate with `Authorization: Token <key>` (see `manage.py create_api_token`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ArtifactStateEnum": "store.api.serializers.ARTIFACT_STATES",
        "ExecutionStateEnum": "store.api.serializers.EXECUTION_STATES",
        "ArtifactBaseTypeEnum": "store.api.serializers.ARTIFACT_BASE_TYPES",
        "ExecutionBaseTypeEnum": "store.api.serializers.EXECUTION_BASE_TYPES",
        "ContextBaseTypeEnum": "store.api.serializers.CONTEXT_BASE_TYPES",
        "EventTypeEnum": "store.api.serializers.ALL_EVENT_TYPES",
        "RecordedEventTypeEnum": "store.api.serializers.EVENT_TYPES",
        "InputEventTypeEnum": "store.api.serializers.INPUT_EVENT_TYPES",
        "OutputEventTypeEnum": "store.api.serializers.OUTPUT_EVENT_TYPES",
        "DataTypeEnum": "store.api.serializers.DATA_TYPES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "store.api.schema.strip_trailing_slashes",
    ],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
}

# --- Celery workers and large drawings (lineage_ui.tasks, store.services.graph_jobs) ----------
# Graphs up to MLMD_INPROCESS_GRAPH_LIMIT nodes are drawn inside the page request.
# Larger ones are drawn by Celery workers when there is a broker (REDIS_URL), and
# shown as a summary by type until then; without one, always as the summary.
REDIS_URL = envstr("REDIS_URL") or ""
MLMD_INPROCESS_GRAPH_LIMIT = envint("MLMD_INPROCESS_GRAPH_LIMIT", 300)
MLMD_GRAPH_WORKERS = envbool("MLMD_GRAPH_WORKERS", bool(REDIS_URL))
MLMD_GRAPH_MAX_NODES = envint("MLMD_GRAPH_MAX_NODES", 1000)  # per drawing; groups count once
MLMD_GRAPH_LAYOUT_TIMEOUT = envint("MLMD_GRAPH_LAYOUT_TIMEOUT", 240)  # seconds of Graphviz per drawing
MLMD_GRAPH_DEBOUNCE_SECONDS = envint("MLMD_GRAPH_DEBOUNCE_SECONDS", 2)  # writes within it share one redraw
MLMD_GRAPH_HEARTBEAT_SECONDS = envint("MLMD_GRAPH_HEARTBEAT_SECONDS", 2)
MLMD_GRAPH_STALE_SECONDS = envint("MLMD_GRAPH_STALE_SECONDS", 30)  # no heartbeat for this long: worker died
MLMD_GRAPH_REQUEUE_SECONDS = envint("MLMD_GRAPH_REQUEUE_SECONDS", 120)  # queued this long: message lost
MLMD_GRAPH_MAX_ATTEMPTS = envint("MLMD_GRAPH_MAX_ATTEMPTS", 3)
MLMD_GRAPH_RETRY_BASE_SECONDS = envint("MLMD_GRAPH_RETRY_BASE_SECONDS", 5)  # back-off: 5, 10, 20 ... s
MLMD_GRAPH_KEEP_VARIANT_DAYS = envint("MLMD_GRAPH_KEEP_VARIANT_DAYS", 2)  # expanded groups nobody opened
if MLMD_GRAPH_HEARTBEAT_SECONDS * 2 >= MLMD_GRAPH_STALE_SECONDS:
    raise ImproperlyConfigured("MLMD_GRAPH_STALE_SECONDS must be more than twice MLMD_GRAPH_HEARTBEAT_SECONDS.")

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_RESULT_EXPIRES = 24 * 3600
# Acknowledge after the task ran, and re-queue it when the worker process running
# it dies: a drawing is never lost to a crash (tasks are idempotent, see graph_jobs.claim).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands an unacknowledged message to another worker after the visibility
# timeout: it must be longer than the longest task (layout limit plus loading).
_visibility_timeout = envint("MLMD_GRAPH_VISIBILITY_TIMEOUT", 3600)
if _visibility_timeout <= MLMD_GRAPH_LAYOUT_TIMEOUT + 300:
    raise ImproperlyConfigured(
        "MLMD_GRAPH_VISIBILITY_TIMEOUT must exceed MLMD_GRAPH_LAYOUT_TIMEOUT by more than 300 seconds."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _visibility_timeout}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True  # for `celery events` and Flower
# The sweep recovers jobs of dead workers and re-sends lost messages: run by
# `celery beat` (or a worker started with -B; one per installation).
CELERY_BEAT_SCHEDULE = {
    "graph-sweep": {"task": "lineage_ui.tasks.sweep", "schedule": float(envint("MLMD_GRAPH_SWEEP_SECONDS", 60))},
}

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
