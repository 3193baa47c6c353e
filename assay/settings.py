"""Assay settings, read from the environment (see docs/configuration.md).

``ASSAY_ENV`` picks the mode: ``development`` (the default: embedded SQLite and a serverless broker, keys generated
and kept under the data folder) or ``production`` (every secret required, secure cookies and HSTS).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from assay.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_optional,
    env_path,
    env_path_or_uri,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

ASSAY_ENV = env_choice("ASSAY_ENV", "development", ("development", "production"))
PRODUCTION = ASSAY_ENV == "production"

DATA_DIR = env_path("ASSAY_DATA_DIR", BASE_DIR / "var")


def _local_secret(file_name: str, make: object) -> str:
    """A secret kept under DATA_DIR for local use, created on first start. Never used in production."""
    path = DATA_DIR / file_name
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        value = make() if callable(make) else str(make)
        path.touch(mode=0o600)
        path.write_text(value, encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


def _new_ed25519_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY")
    AUDIT_SIGNING_KEY = env_str("AUDIT_SIGNING_KEY")
else:
    SECRET_KEY = env_optional("SECRET_KEY") or _local_secret("secret_key", lambda: secrets.token_urlsafe(50))
    AUDIT_SIGNING_KEY = env_optional("AUDIT_SIGNING_KEY") or _local_secret("audit_signing_key.pem", _new_ed25519_pem)
# Public keys (PEM, several may follow one another) of retired audit signing keys, so that checkpoints signed before
# a key rotation still verify. Usually given as AUDIT_TRUSTED_PUBLIC_KEYS_FILE.
AUDIT_TRUSTED_PUBLIC_KEYS = env_str("AUDIT_TRUSTED_PUBLIC_KEYS", "")

DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when ASSAY_ENV=production.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "core",
    "registry",
    "lineage",
    "audits",
    "compliance",
    "governance",
    "serving",
    "workers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.RequestIdMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "core.middleware.ServiceUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "core.pathguard.PathInputMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    # Silent re-authentication at the provider of browser sessions that signed in through it (core.sso).
    "core.sso.SsoSessionRefresh",
]

ROOT_URLCONF = "assay.urls"
WSGI_APPLICATION = "assay.wsgi.application"

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
                "core.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'assay.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0))
except (ValueError, KeyError) as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker share one file: WAL lets readers run beside a writer, IMMEDIATE transactions
    # take the write lock up front (so two writers queue instead of failing on lock upgrade), and busy_timeout makes
    # them wait rather than fail at once.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    if _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # A file, not memory, so that a worker process started by the tests shares the test database.
    _db["TEST"] = {"NAME": str(DATA_DIR / "test_assay.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast (503) when the server is down instead of hanging a request.
    _db.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 3, minimum=1)
else:
    raise ImproperlyConfigured("DATABASE_URL must name PostgreSQL (postgres://) or SQLite (sqlite:///).")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -----------------------------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Lockout after repeated failed logins, counted per username. The client address is REMOTE_ADDR only: a client
# cannot pick its own identity through X-Forwarded-For.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# axes.W006 asks to lock by IP address too. Behind a reverse proxy every client shares REMOTE_ADDR, so locking an
# address would lock everyone out; the account is what we protect, and X-Forwarded-For is not ours to trust.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# --- Single sign-on (core/sso.py, docs/sso.md) -----------------------------------------------------------------
# The organisation's OpenID Connect provider. OIDC_ISSUER turns single sign-on on; endpoints left empty are read from
# the issuer's discovery document (ISSUER/.well-known/openid-configuration) when first needed. The core.E01x checks
# refuse an incomplete or unsafe configuration.
OIDC_ISSUER = env_str("OIDC_ISSUER", "").rstrip("/")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "your organisation")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET", "")
# Asymmetric signatures only, checked against the provider's published keys (JWKS): a shared-secret HS256 ID token
# could be minted by anyone holding the client secret.
OIDC_RP_SIGN_ALGO = env_choice("OIDC_RP_SIGN_ALGO", "rs256", ("rs256", "rs384", "rs512", "es256", "es384")).upper()
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT_SECONDS", 5, minimum=1)
OIDC_STORE_ID_TOKEN = False
OIDC_STORE_ACCESS_TOKEN = False
OIDC_CALLBACK_CLASS = "core.sso_views.CallbackView"
OIDC_AUTHENTICATE_CLASS = "core.sso_views.AuthenticateView"
LOGIN_REDIRECT_URL_FAILURE = "login"
# The claim that lists the user's groups (Keycloak and Okta: "groups"; Entra ID: "groups" or "roles").
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
# Groups that no mapping may name: an organisation's administrator groups never map to anything in Assay.
SSO_SUPERUSER_GROUPS = env_list("SSO_SUPERUSER_GROUPS", [])
# How often beat re-checks every single-sign-on user at the provider (refresh grant); a user the provider refuses is
# deactivated and their API tokens stop working. SessionRefresh re-checks browser sessions after
# OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS.
SSO_RECHECK_EVERY_MINUTES = env_int("SSO_RECHECK_EVERY_MINUTES", 60, minimum=1)
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env_int("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", 15 * 60, minimum=60)
# Password sign-in beside single sign-on. Off: the password form is not shown and a password POST is refused.
LOCAL_SIGN_IN = env_bool("LOCAL_SIGN_IN", True)
# Always listed: it answers only the provider's callback, and only while OIDC_ISSUER is set.
AUTHENTICATION_BACKENDS.append("core.sso.SsoBackend")

# --- Internationalisation -----------------------------------------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

ARTIFACT_ROOT = env_path("ARTIFACT_ROOT", DATA_DIR / "artifacts")
# The web server's limits, read by gunicorn.conf.py from here so that they are set together with the validator's
# (docs/artifacts.md, docs/decisions/0006-validation-limits.md): a gunicorn worker's timeout, and the threads of each
# worker (gthread), which must outnumber the validations that may run at once so that other requests always find one.
WEB_TIMEOUT_SECONDS = env_int("WEB_TIMEOUT_SECONDS", 60, minimum=2)
WEB_THREADS = env_int("WEB_THREADS", 4, minimum=1)
# Limits of the child process that validates an uploaded ONNX model (registry.onnx_validation): memory for the whole
# process (Python, onnx and onnxruntime take about 170 MB of it) and wall-clock seconds, start-up and one run on a
# synthetic input included. The time limit defaults to half the web timeout, and may not be more (check assay.E010):
# an upload is answered within the web server's timeout, refusal included.
ARTIFACT_VALIDATION_MEMORY_BYTES = env_int("ARTIFACT_VALIDATION_MEMORY_BYTES", 2 * 1024**3, minimum=256 * 1024**2)
ARTIFACT_VALIDATION_SECONDS = env_int("ARTIFACT_VALIDATION_SECONDS", max(1, WEB_TIMEOUT_SECONDS // 2), minimum=1)
# How many validations may run at once on this host (lock files under DATA_DIR/validation-slots, shared by the web and
# worker processes); an upload beyond them is answered 503 with Retry-After. Below WEB_THREADS (check assay.E011).
ARTIFACT_VALIDATION_CONCURRENCY = env_int("ARTIFACT_VALIDATION_CONCURRENCY", 2, minimum=1)
# Each validating process keeps a fork server with onnx and ONNX Runtime imported and forks a fresh child per upload;
# off, every upload gets a fresh interpreter (about 140 ms more CPU each). docs/artifacts.md.
ARTIFACT_VALIDATION_FORK_SERVER = env_bool("ARTIFACT_VALIDATION_FORK_SERVER", True)
# Local explanations on the decision path (audits/explainers.py, docs/audits.md "Local explanations and the statement
# of reasons"): the most rows one explain request may carry (more: 413); how many explainers a web process keeps (an
# LRU, one per model version and explanation report); how long a request waits for an explainer being built before
# it is answered 503 with Retry-After (the build goes on): at most half the web timeout (check assay.E012), so that
# the explanation itself still fits in it.
EXPLAIN_MAX_ROWS = env_int("EXPLAIN_MAX_ROWS", 100, minimum=1)
EXPLAIN_CACHE_SIZE = env_int("EXPLAIN_CACHE_SIZE", 16, minimum=1)
EXPLAIN_BUILD_WAIT_SECONDS = env_int("EXPLAIN_BUILD_WAIT_SECONDS", max(1, WEB_TIMEOUT_SECONDS // 3), minimum=1)
# Whether each web worker compiles shap's permutation explainer (numba, 7 to 15 s of CPU) in the background as it
# starts; off on nodes that serve no explanations, the first permutation explain request of a worker pays instead.
EXPLAIN_WARM_AT_START = env_bool("EXPLAIN_WARM_AT_START", True)
SPARK_MASTER = env_str("SPARK_MASTER", "local[*]")
SPARK_EXECUTOR_MEMORY = env_str("SPARK_EXECUTOR_MEMORY", "2g")
SPARK_DRIVER_MEMORY = env_str("SPARK_DRIVER_MEMORY", "2g")
SPARK_SHUFFLE_PARTITIONS = env_int("SPARK_SHUFFLE_PARTITIONS", 8, minimum=1)
# Where ``lake://path`` dataset locations resolve: a local folder, or a URI Spark reads (s3a://bucket/prefix) when
# the jobs run on a cluster. A location never escapes it (registry.pipelines.io). docs/spark-jobs.md.
DATA_LAKE_ROOT = env_path_or_uri("DATA_LAKE_ROOT", DATA_DIR / "lake")
# How often a running Spark job looks for a cancellation request and reports Spark's progress, in seconds.
SPARK_JOB_POLL_SECONDS = env_int("SPARK_JOB_POLL_SECONDS", 2, minimum=1)
# The Celery queue of the Spark jobs (features, training): one worker process per machine takes it (Procfile).
SPARK_QUEUE = env_str("SPARK_QUEUE", "spark")

# The inference service (serving/inference/, docs/serving.md "The inference service"): its own process (Procfile
# ``inference``) on INFERENCE_PORT, INFERENCE_WORKERS processes. It reads the routes every INFERENCE_REFRESH_SECONDS
# (a new deployment, rollback or retirement serves within that); a body over INFERENCE_MAX_BODY_BYTES is answered 413
# before it is read (by its Content-Length, or as soon as the bytes streamed pass it), more than INFERENCE_MAX_ROWS
# rows 413 too. A verified token is trusted for INFERENCE_TOKEN_CACHE_SECONDS without asking the database again (a
# revocation takes that long to bite; while the database is down a known token keeps its last verdict).
INFERENCE_PORT = env_int("INFERENCE_PORT", 8001, minimum=1)
INFERENCE_WORKERS = env_int("INFERENCE_WORKERS", 1, minimum=1)
INFERENCE_REFRESH_SECONDS = env_float("INFERENCE_REFRESH_SECONDS", 2.0, minimum=0.05)
INFERENCE_MAX_BODY_BYTES = env_int("INFERENCE_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
INFERENCE_MAX_ROWS = env_int("INFERENCE_MAX_ROWS", 1000, minimum=1)
INFERENCE_TOKEN_CACHE_SECONDS = env_float("INFERENCE_TOKEN_CACHE_SECONDS", 5.0, minimum=0.0)
# ONNX Runtime threads per model session: one, so that a worker process is one core's worth and throughput grows
# with INFERENCE_WORKERS instead of sessions fighting over the cores.
INFERENCE_INTRA_OP_THREADS = env_int("INFERENCE_INTRA_OP_THREADS", 1, minimum=1)
# The prediction logbook (serving/inference/logbook.py): at most PREDICTION_LOG_BUFFER rows wait in memory (beyond:
# dropped, counted and audited as serving.logs_dropped at most once a minute); a writer thread inserts them in batches
# of PREDICTION_LOG_BATCH at least every PREDICTION_LOG_FLUSH_SECONDS. While the database is down, batches are
# spooled to ASSAY_DATA_DIR/prediction-spool/ (fsync) and written when it returns.
PREDICTION_LOG_BUFFER = env_int("PREDICTION_LOG_BUFFER", 10000, minimum=1)
PREDICTION_LOG_BATCH = env_int("PREDICTION_LOG_BATCH", 500, minimum=1)
PREDICTION_LOG_FLUSH_SECONDS = env_float("PREDICTION_LOG_FLUSH_SECONDS", 0.5, minimum=0.01)
PREDICTION_SPOOL_DIR = env_path("PREDICTION_SPOOL_DIR", DATA_DIR / "prediction-spool")

# Argon2id parameters that seal new web-signing keys under the reviewer's passphrase (governance.keywrap): memory in
# KiB, passes, lanes. Each sealed key records its own, so raising them later leaves older keys usable.
SIGNING_KEY_KDF_MEMORY_KIB = env_int("SIGNING_KEY_KDF_MEMORY_KIB", 64 * 1024, minimum=8)
SIGNING_KEY_KDF_ITERATIONS = env_int("SIGNING_KEY_KDF_ITERATIONS", 3, minimum=1)
SIGNING_KEY_KDF_LANES = env_int("SIGNING_KEY_KDF_LANES", 4, minimum=1)

# --- Request limits -----------------------------------------------------------------------------------------------

# Bodies over this size answer 413 before they are read (see core.middleware.BodySizeLimitMiddleware).
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# The largest ONNX artifact accepted, and the POST paths that may carry one (regular expressions over the path).
MAX_ARTIFACT_BYTES = env_int("MAX_ARTIFACT_BYTES", 512 * 1024 * 1024, minimum=1024 * 1024)
UPLOAD_PATHS = [r"/api/v1/models/\d+/versions/"]
# OpenLineage events (lineage.api): a batch for a backfill may exceed MAX_REQUEST_BODY_BYTES, compressed or not.
LINEAGE_MAX_BODY_BYTES = env_int("LINEAGE_MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=1024 * 1024)
BODY_LIMIT_PATHS = {r"/api/v1/lineage/?": LINEAGE_MAX_BODY_BYTES}
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# --- REST API -----------------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.filters.FilterBackend",
        "core.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        # Ours identify clients by REMOTE_ADDR only: DRF's trust X-Forwarded-For, which every client can write.
        "core.api.throttling.AnonRateThrottle",
        "core.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("API_THROTTLE_ANON", "60/min"),
        "user": env_rate("API_THROTTLE_USER", "2000/min"),
        # OpenLineage producers send one request per event (lineage.api).
        "lineage": env_rate("API_THROTTLE_LINEAGE", "60000/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Assay API",
    "DESCRIPTION": "Governance-first model registry and compliance service.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents the API's one error shape for each error status (core.api.schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_responses",
    ],
    # Two serializers have a "role" field with different choices; name both enums rather than get a hashed name.
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "core.choices.Role",
        "AuditKindEnum": "audits.choices.AuditKind",
        "ServiceAccountRoleEnum": [("engineer", "engineer"), ("auditor", "auditor")],
        # Choice sets that share a name elsewhere (two "kind", several "status"): each named after what it is.
        "LineageEventKindEnum": "lineage.choices.EventKind",
        "TokenKindEnum": "core.choices.TokenKind",
        "JobStatusEnum": "core.choices.JobStatus",
        "LineageRunStateEnum": "lineage.choices.RunState",
        "LineageDeliveryStateEnum": "lineage.choices.DeliveryState",
        "LegalHoldStatusEnum": "compliance.choices.HoldStatus",
        "SubjectRequestKindEnum": "compliance.models.subjects.SubjectRequestKind",
        "SubjectRequestStatusEnum": "compliance.models.subjects.SubjectRequestStatus",
        "ReasonDirectionEnum": "audits.models.reasons.ReasonDirection",
        "DeploymentRoleEnum": "serving.choices.DeploymentRole",
        "TrialRoleEnum": "serving.api.serializers.TRIAL_ROLES",
        "NotificationDeliveryEnum": "core.choices.NotificationDelivery",
        "NotificationStatusEnum": "core.choices.NotificationStatus",
        "WebhookStatusEnum": "core.choices.WebhookStatus",
    },
}

# API tokens
API_TOKEN_DEFAULT_TTL_DAYS = env_int("API_TOKEN_DEFAULT_TTL_DAYS", 90, minimum=1)
API_TOKEN_MAX_TTL_DAYS = env_int("API_TOKEN_MAX_TTL_DAYS", 365, minimum=1)
if API_TOKEN_DEFAULT_TTL_DAYS > API_TOKEN_MAX_TTL_DAYS:
    raise ImproperlyConfigured(
        f"API_TOKEN_DEFAULT_TTL_DAYS ({API_TOKEN_DEFAULT_TTL_DAYS}) is above API_TOKEN_MAX_TTL_DAYS "
        f"({API_TOKEN_MAX_TTL_DAYS}): every token created with the default would be refused."
    )

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -------------------------------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
BROKER_DATA_DIR = DATA_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    # Above the longest job, so that a long job is not delivered a second time while it still runs.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600, minimum=60),
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in ("queue", "processed", "control"):
        (BROKER_DATA_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        data_folder_in=str(BROKER_DATA_DIR / "queue"),
        data_folder_out=str(BROKER_DATA_DIR / "queue"),
        processed_folder=str(BROKER_DATA_DIR / "processed"),
        # Without it kombu keeps its exchange tables in ./control, under whatever folder the process started in.
        control_folder=str(BROKER_DATA_DIR / "control"),
        store_processed=False,
    )
JOB_DISPATCH_CHECK_TIMEOUT = env_int("JOB_DISPATCH_CHECK_TIMEOUT", 2, minimum=1)
AUDIT_CHECKPOINT_EVERY_MINUTES = env_int("AUDIT_CHECKPOINT_EVERY_MINUTES", 60, minimum=1)
# How often beat applies the retention policies (compliance.retention job; docs/retention.md). Daily by default.
RETENTION_EVERY_MINUTES = env_int("RETENTION_EVERY_MINUTES", 24 * 60, minimum=1)
# The longest a data access grant may run before it must be requested again (docs/grants.md).
DATA_GRANT_MAX_DAYS = env_int("DATA_GRANT_MAX_DAYS", 365, minimum=1)

# --- OpenLineage forwarding (docs/lineage.md, "Emitting") ---------------------------------------------------------
# The client's standard variables: an openlineage.yml (OPENLINEAGE_CONFIG) wins over OPENLINEAGE_URL, as in the
# client. Neither set: events stay in Assay's own store. The lineage.E00x checks refuse a malformed value.
OPENLINEAGE_CONFIG = env_str("OPENLINEAGE_CONFIG", "")
OPENLINEAGE_URL = env_str("OPENLINEAGE_URL", "")
OPENLINEAGE_ENDPOINT = env_str("OPENLINEAGE_ENDPOINT", "api/v1/lineage")
OPENLINEAGE_API_KEY = env_str("OPENLINEAGE_API_KEY", "")
# A failed delivery is retried after BACKOFF seconds, doubling per attempt up to MAX_BACKOFF; beat looks for due
# deliveries every SWEEP seconds.
LINEAGE_DELIVERY_BACKOFF_SECONDS = env_int("LINEAGE_DELIVERY_BACKOFF_SECONDS", 30, minimum=1)
LINEAGE_DELIVERY_MAX_BACKOFF_SECONDS = env_int("LINEAGE_DELIVERY_MAX_BACKOFF_SECONDS", 3600, minimum=1)
LINEAGE_DELIVERY_SWEEP_SECONDS = env_int("LINEAGE_DELIVERY_SWEEP_SECONDS", 60, minimum=1)

# --- Notifications (docs/notifications.md) -------------------------------------------------------------------------
# Email through Django's email framework. With EMAIL_HOST set, SMTP; without it (a first run on a bare machine), each
# message is written as a file under the data folder's mail/ (EMAIL_FILE_PATH), so that nothing needs a mail server.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_FILE_PATH = str(env_path("EMAIL_FILE_PATH", DATA_DIR / "mail"))
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Assay <assay@localhost>")
# The address the web UI is reached at, for the absolute links in emails and webhook payloads.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# A failed email or webhook is tried again after BACKOFF seconds, doubling per attempt up to MAX_BACKOFF, and marked
# failed after MAX_ATTEMPTS; beat looks for due deliveries every SWEEP seconds and sends the digest daily at
# DIGEST_HOUR (UTC).
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 5, minimum=1)
NOTIFICATION_BACKOFF_SECONDS = env_int("NOTIFICATION_BACKOFF_SECONDS", 60, minimum=0)
NOTIFICATION_MAX_BACKOFF_SECONDS = env_int("NOTIFICATION_MAX_BACKOFF_SECONDS", 3600, minimum=0)
NOTIFICATION_SWEEP_SECONDS = env_int("NOTIFICATION_SWEEP_SECONDS", 60, minimum=1)
NOTIFICATION_DIGEST_HOUR = env_int("NOTIFICATION_DIGEST_HOUR", 7, minimum=0)
if NOTIFICATION_DIGEST_HOUR > 23:
    raise ImproperlyConfigured(f"NOTIFICATION_DIGEST_HOUR must be 0 to 23, not {NOTIFICATION_DIGEST_HOUR}.")
# Webhooks go only to hosts on this list ("hooks.example.com", ".example.com" for its subdomains, "*" for any public
# host); empty (the default) sends none. Every URL must also pass core.urlpolicy, at save and by resolved address at
# send time. A receiver gets TIMEOUT seconds to connect and again to answer; redirects are never followed.
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", [])
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0, minimum=0.1)
# Tests only (never read from the environment): let webhooks reach loopback addresses, where the tests' receiver
# listens. Production refuses them (core.urlpolicy).
WEBHOOK_ALLOW_LOOPBACK = False

# --- Security headers ---------------------------------------------------------------------------------------------

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
CSRF_COOKIE_HTTPONLY = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", True) else None

# --- Logging ------------------------------------------------------------------------------------------------------

LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.context.RequestIdLogFilter"},
        # The filesystem transport has no host: kombu's warning about it, on every connection, is DEBUG news.
        "no_hostname": {"()": "assay.log.Demote", "starts": ["No hostname was supplied"]},
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}},
    # The handler's level, not only the root's: a record a filter moved down to DEBUG is dropped here.
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
            "level": LOG_LEVEL,
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # py4j narrates every gateway connection at INFO (and at interpreter exit, after the streams closed);
    # onnxmltools logs each tree node it converts at INFO (hundreds of lines per boosted-tree export).
    "loggers": {
        "axes": {"level": "WARNING"},
        "py4j": {"level": "WARNING"},
        "onnxmltools": {"level": "WARNING"},
        "kombu.connection": {"filters": ["no_hostname"]},
    },
}

CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "audit-checkpoint": {"task": "assay.schedule.audit_checkpoint", "schedule": AUDIT_CHECKPOINT_EVERY_MINUTES * 60},
    "lineage-deliveries": {"task": "assay.schedule.lineage_deliveries", "schedule": LINEAGE_DELIVERY_SWEEP_SECONDS},
    "retention": {"task": "assay.schedule.retention", "schedule": RETENTION_EVERY_MINUTES * 60},
    "sso-recheck": {"task": "assay.schedule.sso_recheck", "schedule": SSO_RECHECK_EVERY_MINUTES * 60},
    "notification-deliveries": {
        "task": "assay.schedule.notification_deliveries",
        "schedule": NOTIFICATION_SWEEP_SECONDS,
    },
    "notification-digest": {
        "task": "assay.schedule.notification_digest",
        "schedule": crontab(hour=NOTIFICATION_DIGEST_HOUR, minute=0),
    },
}
