"""Vaultline settings. Everything that differs between machines comes from the environment."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

from portal.env import create_once, env_bool, env_int, env_list, env_str, key_encryption_keys

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAULTLINE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
if VAR_DIR.stat().st_uid == os.getuid():
    VAR_DIR.chmod(0o700)  # it holds the database, the secret key and the key-encryption key


def _secret_key():
    """SECRET_KEY from the environment, else one generated once and kept in var/."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        create_once(path, secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()


# The key-encryption keys that wrap vault keys, the current one first (see vaults/keys.py): read
# from the environment or this file each time they are used.
KEY_ENCRYPTION_KEY_FILE = VAR_DIR / "key_encryption_key"
key_encryption_keys(KEY_ENCRYPTION_KEY_FILE)  # made once if missing; a bad value fails at start
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here: no request leaves the machine
    "portal",
    "audit",
    "vaults",
    "jobs",
    "api",
]

MIDDLEWARE = [
    # First: it times everything below it (Server-Timing, portal/timing.py).
    "portal.timing.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Times in the zone the user chose, else their browser's (portal/zones.py).
    "portal.zones.TimeZoneMiddleware",
    # Sees every response on its way out: a CSRF or role refusal included.
    "audit.middleware.AuditMiddleware",
    # Every page needs a login unless its view says otherwise (only the login page does).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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

# Set by `make test` (portal/testrun.py) for each run: two runs at once (two clones, or CI beside a
# developer) get their own test database and their own broker keys, and never see each other's jobs.
TEST_RUN = env_str("VAULTLINE_TEST_RUN")

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'vaultline.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: wait for locks instead of failing,
    # and take the write lock at BEGIN so two writers never deadlock on an upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests run the worker and the live server in threads: a shared in-memory database would lock
    # whole tables and ignore the timeout, so the test database is a file too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test{TEST_RUN and '-' + TEST_RUN}.sqlite3")}
elif TEST_RUN:
    DATABASES["default"]["TEST"] = {"NAME": f"test_vaultline_{TEST_RUN}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The jobs' newest-first index carries their status on PostgreSQL (an index-only count for the
# Dashboard); SQLite builds it without, as the warning says, and is none the worse.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "vaults:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # the language switch is remembered (Django's default: until the browser closes)
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Serve files straight from the finders, so `make run` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
# Served over HTTPS (directly or behind a proxy that sets X-Forwarded-Proto): `check --deploy` is clean.
HTTPS = env_bool("VAULTLINE_HTTPS", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("VAULTLINE_BEHIND_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

# --- Celery: Redis is the broker; job state lives in the database, so no result backend.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if TEST_RUN:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"vaultline-test-{TEST_RUN}:"}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "schedule-backups": {
        "task": "vaults.tasks.schedule_backups",
        "schedule": timedelta(seconds=env_int("BACKUP_SCHEDULER_INTERVAL_SECONDS", 60)),
    },
    "reap-stale-jobs": {
        "task": "jobs.tasks.reap_stale_jobs",
        "schedule": timedelta(seconds=env_int("JOB_REAPER_INTERVAL_SECONDS", 30)),
    },
    # Space comes back once a night (retention after each backup only forgets points).
    "prune-vaults": {
        "task": "vaults.tasks.prune_vaults",
        "schedule": crontab(hour=env_int("PRUNE_HOUR_UTC", 2), minute=0),
    },
    # Deleted backup data whose soft-delete days have passed is purged once a day.
    "purge-deleted-data": {
        "task": "vaults.tasks.purge_deleted_data",
        "schedule": crontab(hour=env_int("PURGE_HOUR_UTC", 1), minute=0),
    },
    # Jobs that ended JOB_ARCHIVE_DAYS ago move to the archive once a night (jobs/archive.py).
    "archive-old-jobs": {
        "task": "jobs.tasks.archive_old_jobs",
        "schedule": crontab(hour=env_int("JOB_ARCHIVE_HOUR_UTC", 4), minute=0),
    },
    # Each vault's data is read and checked once a week, on the day the vault chose.
    "verify-vaults": {
        "task": "vaults.tasks.verify_vaults",
        "schedule": crontab(hour=env_int("VERIFY_HOUR_UTC", 3), minute=0),
    },
}

# --- The REST API (api/): a personal token or the browser's session (with CSRF), JSON in and out,
# errors as problem details, the OpenAPI document from drf-spectacular.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",  # first: a missing login is a 401 with WWW-Authenticate
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.SafeJSONParser"],
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.ProblemAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vaultline API",
    "DESCRIPTION": "Everything the portal does, for scripts: the records, and commands that answer 202 Accepted "
                   "with the jobs they started (poll each job's url). Authenticate with "
                   "`Authorization: Bearer <token>` (the portal's API tokens page).",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # An id in a path is a whole number that fits a database key (portal/converters.py).
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}},
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.choices.JobStatus",
        "RuleBasisEnum": "vaults.choices.RuleBasis",
        "WeekOfMonthEnum": "vaults.choices.WeekOfMonth",
    },
}

# --- Vaultline
# A running job whose heartbeat is older than this is taken to have lost its worker (long jobs beat
# every fifth of it from a thread; with the reaper every 30 s, a dead worker's job fails within 90 s).
JOB_HEARTBEAT_TIMEOUT = timedelta(seconds=env_int("JOB_HEARTBEAT_TIMEOUT_SECONDS", 60))
# How fast a backup may read a VM's disks, in MB/s (0: as fast as it goes), to spare the VM's storage.
BACKUP_READ_LIMIT_MB_S = env_int("VAULTLINE_BACKUP_READ_LIMIT_MB_S", 0)
# A queued job whose message was sent this long ago and is in no queue is sent again (by the reaper).
JOB_LOST_MESSAGE_AFTER = timedelta(seconds=env_int("JOB_LOST_MESSAGE_AFTER_SECONDS", 60))
# A backup, restore or verify still running after this long is stopped (see vaults/tasks.py).
LONG_JOB_TIME_LIMIT = timedelta(seconds=env_int("LONG_JOB_TIME_LIMIT_SECONDS", 24 * 3600))
# A queued job no worker picked up in this long lost its message (or every worker is down).
JOB_QUEUE_TIMEOUT = timedelta(seconds=env_int("JOB_QUEUE_TIMEOUT_SECONDS", 3600))
# Jobs that ended and were created this many days ago move to the archive (jobs/archive.py).
JOB_ARCHIVE_DAYS = env_int("JOB_ARCHIVE_DAYS", 180)
# Regions a vault can be created in; VM sources report their VMs' regions in the same words.
VAULTLINE_REGIONS = env_list("VAULTLINE_REGIONS", ["East US", "West Europe", "Korea Central"])
LAB_ROOT = Path(env_str("VAULTLINE_LAB_ROOT", str(VAR_DIR / "lab")))
VAULT_STORAGE_ROOT = Path(env_str("VAULTLINE_STORAGE_ROOT", str(VAR_DIR / "vaults")))
# For vaults stored in S3-compatible object storage (s3://bucket/prefix): where and how to reach it.
# Credentials come from the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables.
VAULTLINE_S3_OPTIONS = {
    key: value
    for key, value in {
        "endpoint_url": env_str("VAULTLINE_S3_ENDPOINT_URL"),
        "region_name": env_str("VAULTLINE_S3_REGION"),
    }.items()
    if value
}
# Each vault repository's chunk index, kept between jobs (a cache: rebuilt from the repository if lost).
VAULTLINE_CACHE_DIR = Path(env_str("VAULTLINE_CACHE_DIR", str(VAR_DIR / "cache")))
# Where backups and restores keep snapshot copies and restored images while they work.
WORK_ROOT = Path(env_str("VAULTLINE_WORK_ROOT", str(VAR_DIR / "work")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
