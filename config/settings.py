"""Settings: one file, production and local differ only by environment values (django-environ)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import environ

from config.hosts import is_loopback_url

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
    "workspace",
    "contacts",
    "inbox",
    "integrations",
    "integrations.salesforce",
    "api",
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
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20})
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
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
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
# Links in emails and in `createworkspace`'s output start with this (no request to build them from).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Set-password links from `createworkspace` and password reset: valid 3 days (Django's default).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)
INVITATION_MAX_AGE = env.int("INVITATION_MAX_AGE", default=7 * 24 * 3600)
# Password-reset requests per client address per hour (each address also gets at most 3 a hour).
PASSWORD_RESET_RATE_PER_HOUR = env.int("PASSWORD_RESET_RATE_PER_HOUR", default=10)

# --- Inbound API and outgoing webhooks (issue 14) ---------------------------------------------
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=600)
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)
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

# --- Logging: never DEBUG for oauthlib (it prints token bodies) -------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "oauthlib": {"level": "INFO"},
        "requests_oauthlib": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
