"""Settings: the only module that reads the environment."""

import os
import warnings
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-dev-key-change-me-in-production")
DEBUG = _env_bool("DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "*").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "threads",
    # Before "channels": its `runworker` (a resilient worker class) takes precedence.
    "streaming",
    "channels",
    "web",
]

MIDDLEWARE = [
    "freddy.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and the /docs/ page's static files from the installed apps.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "freddy.urls"
ASGI_APPLICATION = "freddy.asgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets stream readers read while a run writes; IMMEDIATE takes the write
        # lock when a transaction starts, so two writers queue on the busy timeout
        # instead of failing with "database is locked" when a reader upgrades.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("FREDDY_TEST_SQLITE_NAME")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool, which Django 5.1+ manages per process.
    DATABASES["default"]["OPTIONS"] = {"pool": {"min_size": 1, "max_size": 20}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer -------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Each reader drains its channel into its own queue at once, so a large capacity only
# matters during bursts; when it overflows the reader backfills from the database.
FREDDY_CHANNEL_CAPACITY = _env_int("FREDDY_CHANNEL_CAPACITY", 1000)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{
                    "address": REDIS_URL,
                    # A Redis that stops answering must fail a call in seconds so
                    # readers fall back to polling; the read timeout stays above
                    # channels_redis's 5 s blocking pop.
                    "socket_connect_timeout": 2,
                    "socket_timeout": 10,
                    # redis-py 8 caps a pool at 100 connections and then fails at
                    # once: 200 simultaneous creates got 40 503s in the benchmark.
                    "max_connections": 4096,
                }],
                "capacity": FREDDY_CHANNEL_CAPACITY,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            # Channels' own in-memory layer, minus its O(listeners) sweep per call.
            "BACKEND": "streaming.layers.InProcessChannelLayer",
            "CONFIG": {"capacity": FREDDY_CHANNEL_CAPACITY},
        }
    }

# --- Static files and the rest of Django ------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Straight from the apps' static folders: no collectstatic step before `make run`.
WHITENOISE_USE_FINDERS = True
# Until `collectstatic` fills STATIC_ROOT, WhiteNoise would warn about it at every start.
warnings.filterwarnings("ignore", message=r"No directory at: .*staticfiles")
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["freddy.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["freddy.auth.HasApiKey"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "freddy.errors.drf_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# OpenAPI 3 at /v1/openapi.json and its docs page at /docs/ (assets served locally).
SPECTACULAR_SETTINGS = {
    "TITLE": "Freddy streams API",
    "DESCRIPTION": "Reconnectable Server-Sent Event streams for AI chat responses.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["freddy.openapi.endpoints_of_contract"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- Freddy ---------------------------------------------------------------------
# "inprocess" runs responses as tasks of the serving process; "worker" sends them to
# the freddy-runs channel for `manage.py runworker freddy-runs`.
FREDDY_RUN_EXECUTOR = os.environ.get("FREDDY_RUN_EXECUTOR", "inprocess")
# One hour lets a phone that slept through an answer still replay it exactly.
FREDDY_STREAM_BUFFER_TTL_SECONDS = _env_float("FREDDY_STREAM_BUFFER_TTL_SECONDS", 3600)
# Most proxies close idle connections after 30-60 s; 15 s keeps them open.
FREDDY_SSE_HEARTBEAT_SECONDS = _env_float("FREDDY_SSE_HEARTBEAT_SECONDS", 15)
# A run with no heartbeat this long has lost its executor.
FREDDY_RUN_STALE_SECONDS = _env_float("FREDDY_RUN_STALE_SECONDS", 60)
# Executors refresh the heartbeat this often; a few beats fit in the stale window.
FREDDY_RUN_HEARTBEAT_SECONDS = _env_float(
    "FREDDY_RUN_HEARTBEAT_SECONDS", max(0.2, min(5.0, FREDDY_RUN_STALE_SECONDS / 4))
)
# How often a reader polls the database while the channel layer is unreachable.
FREDDY_STREAM_POLL_SECONDS = _env_float("FREDDY_STREAM_POLL_SECONDS", 0.5)
# Rows per replay query: large enough to amortise the query, small enough for memory.
FREDDY_REPLAY_CHUNK_EVENTS = _env_int("FREDDY_REPLAY_CHUNK_EVENTS", 2000)
# Events of each live run a process keeps in memory for its readers' replays (the newest).
FREDDY_RECENT_EVENTS_PER_RUN = _env_int("FREDDY_RECENT_EVENTS_PER_RUN", 10000)
# Rows per DELETE in purge_stream_buffers: each batch is its own short transaction.
FREDDY_PURGE_BATCH_EVENTS = _env_int("FREDDY_PURGE_BATCH_EVENTS", 5000)
# Model names served by the OpenAI-compatible upstream; "echo" is always built in.
FREDDY_MODELS = [m.strip() for m in os.environ.get("FREDDY_MODELS", "").split(",") if m.strip()]
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
# Upstream context: a long thread's newest messages only, so it fits a model's context
# window and the request stays small; 50 covers a long conversation.
FREDDY_UPSTREAM_HISTORY_MESSAGES = _env_int("FREDDY_UPSTREAM_HISTORY_MESSAGES", 50)
# A busy server queues and prefills long prompts; a minute covers that without leaving
# a user watching an empty answer forever. Each attempt gets this long.
FREDDY_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS = _env_float(
    "FREDDY_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS", 60)
# Once tokens flow they come several a second; 30 s of silence means a stuck server.
FREDDY_UPSTREAM_IDLE_TIMEOUT_SECONDS = _env_float("FREDDY_UPSTREAM_IDLE_TIMEOUT_SECONDS", 30)
# Retries happen only before the first token; two ride out a restart or a 429 burst,
# more would only delay the error the user must see anyway.
FREDDY_UPSTREAM_MAX_RETRIES = _env_int("FREDDY_UPSTREAM_MAX_RETRIES", 2)
# The first retry waits this long, later ones double it: short enough to go unnoticed,
# long enough for a rate-limit window or a server restart.
FREDDY_UPSTREAM_RETRY_BACKOFF_SECONDS = _env_float("FREDDY_UPSTREAM_RETRY_BACKOFF_SECONDS",
                                                   0.5)
