"""Settings: one file, production and local differ only by environment values (django-environ)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import environ

from core.hosts import is_loopback_url
from ops.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# T8: without DEBUG there is no default key: a public default would let anyone forge sessions.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random value (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), or set DEBUG=1 "
            "for a local development run."
        )
    SECRET_KEY = "django-insecure-local-only-do-not-use-in-production"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "ninja",
    "demo",
    "workspace",
    "contacts",
    "inbox",
    "integrations",
    "integrations.salesforce",
    "api",
    "live",
    "ops",
]

MIDDLEWARE = [
    # First: every later line logged carries the request id; probes and scrapes skip the rest.
    "ops.requestid.RequestIdMiddleware",
    "ops.endpoints.OpsEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "workspace.middleware.PermissionsPolicyMiddleware",
    "workspace.middleware.BidiControlMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "workspace.middleware.DatabaseUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",
    "workspace.middleware.SessionTimeoutMiddleware",
    "workspace.middleware.MethodNotAllowedPageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "workspace.context_processors.workspace_nav",
                "integrations.salesforce.notify.banner",
            ],
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several threads and the cache share one file: wait for locks instead of failing at once.
    # BEGIN IMMEDIATE: a transaction takes the write lock when it starts, so writers queue on the
    # timeout. In the default (deferred) mode a transaction that read first and then writes can
    # deadlock with another writer and is refused at once, which Django's database cache swallows:
    # a set lost quietly (a lookup not cached, a Salesforce change mark dropped).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
    # Tests use a file, not SQLite's shared in-memory database: its table locks fail at once
    # instead of waiting, which concurrency tests (single-flight, shared refresh) would trip on.
    DATABASES["default"].setdefault(
        "TEST",
        {"NAME": os.path.join(tempfile.gettempdir(), f"teaminbox-test-{os.getpid()}.sqlite3")},
    )

# Default: Django's database cache, shared by every process on the machine (make run: no Redis).
# Production: CACHE_URL=redis://... (Django's built-in Redis backend).
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://django_cache")}
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    CACHES["default"]["BACKEND"] = "django.core.cache.backends.redis.RedisCache"
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_connect_timeout": 1, "socket_timeout": 1}
    )

# --- Live Inbox (issue 22, N1, N6) -------------------------------------------------------------
# Events cross processes through Redis pub/sub: LIVE_REDIS_URL, by default the cache's Redis.
# Without Redis (make run) they stay inside the one process (runserver serves every page).
LIVE_REDIS_URL = env.str(
    "LIVE_REDIS_URL",
    default=CACHES["default"]["LOCATION"]
    if CACHES["default"]["BACKEND"].endswith("RedisCache")
    else "",
)
# Channel and key names start with this, so two deployments (or test runs) on one Redis never mix.
# Pub/sub channels are global across Redis's numbered databases: the default names the database.
LIVE_PREFIX = env.str(
    "LIVE_PREFIX",
    default=f"{CACHES['default'].get('KEY_PREFIX') or 'teaminbox'}:live:"
    + (urlsplit(LIVE_REDIS_URL).path.strip("/") or "0"),
)
# Without Redis, LIVE_RELAY=1 (make run) carries events between processes through the shared
# cache, read once a second by each serving process: the webhook worker's delivery states.
LIVE_RELAY = env.bool("LIVE_RELAY", default=False)
# Under ASGI (production) at most this many requests per worker run Django's views at once, each
# with its database connection (gthread's --threads 8 bounded the same before).
ASGI_CONCURRENT_VIEWS = env.int("ASGI_CONCURRENT_VIEWS", default=8)
LIVE_HEARTBEAT_SECONDS = env.float("LIVE_HEARTBEAT_SECONDS", default=15)
LIVE_RETRY_MILLISECONDS = env.int("LIVE_RETRY_MILLISECONDS", default=1000)
# A page that reconnects gets what it missed from the last LIVE_REPLAY_EVENTS events of its
# workspace within LIVE_REPLAY_SECONDS; beyond that it reloads what it shows.
LIVE_REPLAY_EVENTS = env.int("LIVE_REPLAY_EVENTS", default=500)
LIVE_REPLAY_SECONDS = env.int("LIVE_REPLAY_SECONDS", default=600)
LIVE_REPLYING_SECONDS = env.float("LIVE_REPLYING_SECONDS", default=6)

AUTH_USER_MODEL = "workspace.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "workspace:login"
LOGIN_REDIRECT_URL = "workspace:home"
LOGOUT_REDIRECT_URL = "workspace:login"

# Sign-in throttling (django-axes): lock an email+IP pair after repeated failed passwords.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Behind a TLS proxy every request comes from the proxy. TRUSTED_PROXY_COUNT (the proxies that
# append to X-Forwarded-For) makes config/wsgi.py take the client's address from that header
# (werkzeug's ProxyFix), so sign-in throttling locks the real client, never the proxy.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)
# Source maps (Swagger UI's are megabytes) are not worth compressing at every collectstatic.
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = ["jpg", "jpeg", "png", "gif", "webp", "zip", "gz", "tgz",
    "bz2", "tbz", "xz", "br", "woff", "woff2", "mp4", "webm", "map"]  # fmt: skip

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Security: secure by default behind https; the local run (`make run`) sets SECURE_COOKIES=0.
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
# T8: a signed-in session ends SESSION_ABSOLUTE_TIMEOUT seconds after sign-in and after
# SESSION_IDLE_TIMEOUT seconds without a request (workspace.middleware.SessionTimeoutMiddleware).
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT", default=12 * 3600)
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=2 * 3600)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# H7: X-Forwarded-Proto is believed only behind a declared proxy: without one, any client could
# send it and make a plain-http request count as https.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT > 0 else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# H7: features the product never uses, off for its pages (workspace.middleware).
PERMISSIONS_POLICY = env.str(
    "PERMISSIONS_POLICY",
    default="accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), midi=(), payment=(), usb=(), xr-spatial-tracking=()",
)
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# --- Email (invitations, password reset): EMAIL_URL through django-environ ----------------------
# `make run` and DEBUG print emails to the terminal (consolemail://); production sets EMAIL_URL,
# e.g. smtp+tls://user:password@smtp.example.com:587.
vars().update(
    env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
)
# filemail:// writes each email to a file in this folder (django-environ drops a URL's leading /).
if env.str("EMAIL_FILE_PATH", default=""):
    EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Team Inbox <no-reply@localhost>")
# H3: every emailed or callback link (invitations, password resets, `createworkspace`'s link,
# the OAuth callback) starts with this, never with the request's Host header. Required without
# DEBUG; with DEBUG and no value, links follow the request (workspace.site.site_url).
SITE_URL = env.str("SITE_URL", default="").rstrip("/")
if not DEBUG and not (
    urlsplit(SITE_URL).scheme in ("http", "https") and urlsplit(SITE_URL).hostname
):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SITE_URL is not set (or is not an http(s) URL). Set it to the product's public address, "
        "for example https://inbox.example.com: emailed links and the Salesforce callback are "
        "built from it. Or set DEBUG=1 for a local development run."
    )
# Set-password links from `createworkspace` and password reset: valid 3 days (Django's default).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)
INVITATION_MAX_AGE = env.int("INVITATION_MAX_AGE", default=7 * 24 * 3600)
# Password-reset requests per client address per hour (each address also gets at most 3 a hour).
PASSWORD_RESET_RATE_PER_HOUR = env.int("PASSWORD_RESET_RATE_PER_HOUR", default=10)

# --- Inbound API and outgoing webhooks (issue 14) ---------------------------------------------
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=600)
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)
# H7: wrong API keys per client address per minute before that address gets 429 (0: no limit).
API_FAILED_KEYS_PER_MINUTE = env.int("API_FAILED_KEYS_PER_MINUTE", default=20)
# Webhook URLs must be https and resolve to public addresses; `make run` and the tests lift both.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
WEBHOOK_RETRY_HORIZON_SECONDS = env.int("WEBHOOK_RETRY_HORIZON_SECONDS", default=24 * 3600)

# --- Salesforce -------------------------------------------------------------------------------
SALESFORCE_CLIENT_ID = env.str("SALESFORCE_CLIENT_ID", default="")
SALESFORCE_CLIENT_SECRET = env.str("SALESFORCE_CLIENT_SECRET", default="")
SALESFORCE_LOGIN_URL = env.str("SALESFORCE_LOGIN_URL", default="https://login.salesforce.com")
SALESFORCE_LOGIN_URLS = env.list("SALESFORCE_LOGIN_URLS", default=[])
SALESFORCE_CALLBACK_URL = env.str("SALESFORCE_CALLBACK_URL", default="")
SALESFORCE_API_VERSION = env.str("SALESFORCE_API_VERSION", default="62.0")
SALESFORCE_TIMEOUT = env.float("SALESFORCE_TIMEOUT", default=5.0)
SALESFORCE_CONNECT_TIMEOUT = env.float("SALESFORCE_CONNECT_TIMEOUT", default=3.05)
SALESFORCE_CACHE_SECONDS = env.int("SALESFORCE_CACHE_SECONDS", default=60)
SALESFORCE_STALE_SECONDS = env.int("SALESFORCE_STALE_SECONDS", default=86400)
# U2: a Salesforce failure is remembered briefly, doubling while it goes on (5, 10, 20, 30 s).
SALESFORCE_FAILURE_SECONDS = env.int("SALESFORCE_FAILURE_SECONDS", default=5)
SALESFORCE_FAILURE_MAX_SECONDS = env.int("SALESFORCE_FAILURE_MAX_SECONDS", default=30)
SALESFORCE_API_BACKOFF = env.float("SALESFORCE_API_BACKOFF", default=0.9)
# T3: the keep-alive refreshes connections whose tokens are older than this many days, so an
# org's "expire refresh token if not used for N days" policy never ends a quiet workspace's.
SALESFORCE_KEEPALIVE_DAYS = env.int("SALESFORCE_KEEPALIVE_DAYS", default=7)
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])
# Live updates (issue 15): Change Data Capture over Salesforce's Pub/Sub API (gRPC).
# https://... with TLS for Salesforce (api.pubsub.salesforce.com:7443, the global endpoint);
# http://... (plaintext) only on loopback, for the emulator.
SALESFORCE_PUBSUB_URL = env.str(
    "SALESFORCE_PUBSUB_URL", default="https://api.pubsub.salesforce.com:7443"
)
# While a connection's listener is healthy, lookups stay cached this long (events invalidate).
SALESFORCE_LIVE_CACHE_SECONDS = env.int("SALESFORCE_LIVE_CACHE_SECONDS", default=900)
# The listener beats this often; a heartbeat older than two beats is stale (the 60 s rule again).
SALESFORCE_LISTENER_HEARTBEAT_SECONDS = env.float(
    "SALESFORCE_LISTENER_HEARTBEAT_SECONDS", default=5.0
)
# One active listener per connection: a lease renewed every beat, taken over when it lapses.
SALESFORCE_LISTENER_LEASE_SECONDS = env.int("SALESFORCE_LISTENER_LEASE_SECONDS", default=20)
# Issue 24 (E6). Salesforce sends a keepalive within 270 s on a quiet stream: a stream with no
# response (event or keepalive) for longer (15 s of margin) is treated as failed and
# resubscribed: a stall is found and mended within 5 minutes.
SALESFORCE_PUBSUB_STALL_SECONDS = env.float("SALESFORCE_PUBSUB_STALL_SECONDS", default=285.0)
# The client's HTTP/2 keepalive ping interval: above the 5 minutes a default gRPC server
# accepts (pings closer than that earn GOAWAY "too_many_pings").
SALESFORCE_PUBSUB_KEEPALIVE_SECONDS = env.float(
    "SALESFORCE_PUBSUB_KEEPALIVE_SECONDS", default=330.0
)


# oauthlib refuses plain-http token URLs; allow that only for a loopback login URL (the emulator).
if all(is_loopback_url(u) for u in [SALESFORCE_LOGIN_URL, *SALESFORCE_LOGIN_URLS]) and (
    urlsplit(SALESFORCE_LOGIN_URL).scheme == "http"
):
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
# Salesforce may grant a scope list that differs in order or content from the one asked for.
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

# --- Content-Security-Policy (django-csp 4) -----------------------------------------------------
_login_origins = sorted(
    {
        f"{urlsplit(u).scheme}://{urlsplit(u).netloc}"
        for u in [SALESFORCE_LOGIN_URL, *SALESFORCE_LOGIN_URLS]
        if urlsplit(u).netloc
    }
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
        # Connect posts to our own view, which redirects to the Salesforce login host.
        "form-action": [
            "'self'",
            "https://login.salesforce.com",
            "https://test.salesforce.com",
            "https://*.my.salesforce.com",
            *_login_origins,
        ],
    }
}

# --- Operations (issue 25): logs, health, metrics ----------------------------------------------
# Plain lines by default; LOG_FORMAT=json for one JSON object per line. Both carry the request id.
# oauthlib and requests_oauthlib stay at INFO whatever LOG_LEVEL says (DEBUG prints token bodies).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
# The worker and the listener beat this often; /readyz and `manage.py probe` call a beat older
# than OPS_HEARTBEAT_STALE_SECONDS stale. The probe's file lives in OPS_HEARTBEAT_DIR.
OPS_HEARTBEAT_SECONDS = env.float("OPS_HEARTBEAT_SECONDS", default=5.0)
OPS_HEARTBEAT_STALE_SECONDS = env.float("OPS_HEARTBEAT_STALE_SECONDS", default=60.0)
OPS_HEARTBEAT_DIR = env.str("OPS_HEARTBEAT_DIR", default="")
# /metrics: with METRICS_TOKEN set, only `Authorization: Bearer <token>` may read it; without,
# only clients in METRICS_ALLOWED_NETWORKS (CIDRs; loopback by default).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
# The webhook worker and the listener answer /metrics on this port when set (a pod of their own).
OPS_METRICS_PORT = env.int("OPS_METRICS_PORT", default=0)
OPS_METRICS_ADDRESS = env.str("OPS_METRICS_ADDRESS", default="0.0.0.0")  # noqa: S104
