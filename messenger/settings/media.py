"""Attachments (files with messages, thumbnails on the `media` queue) and Web Push."""

from .env import STATE_DIR, env
from .serving import MAX_REQUEST_BODY_BYTES

# ---------------------------------------------------------------- attachments

# Largest file one message may carry. nginx and the body-size middleware let requests to
# /api/attachments/ be this big (plus the multipart framing); everywhere else keeps
# MAX_REQUEST_BODY_BYTES.
ATTACHMENTS_MAX_BYTES = env.int("ATTACHMENTS_MAX_BYTES", default=25 * 1024 * 1024)
ATTACHMENTS_UPLOAD_PATH = "/api/attachments/"
REQUEST_BODY_LIMITS = {ATTACHMENTS_UPLOAD_PATH: ATTACHMENTS_MAX_BYTES + max(MAX_REQUEST_BODY_BYTES, 64 * 1024)}
# Past this, Django writes an uploaded file to a temporary file as it reads it: the web
# process holds a chunk (64 KiB) at a time, never the whole file.
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
# What may be uploaded, by the type read from the content (magic bytes), never the name.
ATTACHMENTS_ALLOWED_TYPES = env.list(
    "ATTACHMENTS_ALLOWED_TYPES",
    default=["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "application/zip", "text/plain"],
)
# Images above this many pixels are refused (400): a decompression bomb is a small file
# that decodes into gigabytes. Pillow's own MAX_IMAGE_PIXELS is set to the same value in
# every process (attachments.apps), so the thumbnail task refuses it too.
ATTACHMENTS_IMAGE_MAX_PIXELS = env.int("ATTACHMENTS_IMAGE_MAX_PIXELS", default=40_000_000)
# The thumbnail's longest side, in pixels.
ATTACHMENTS_THUMBNAIL_SIZE = env.int("ATTACHMENTS_THUMBNAIL_SIZE", default=320)
# A thumbnail task that takes longer is stopped (soft: marked failed; hard: the child is
# killed and the worker goes on). A bounded image takes well under a second.
ATTACHMENTS_THUMBNAIL_SOFT_TIME_LIMIT = env.int("ATTACHMENTS_THUMBNAIL_SOFT_TIME_LIMIT", default=20)
ATTACHMENTS_THUMBNAIL_TIME_LIMIT = env.int("ATTACHMENTS_THUMBNAIL_TIME_LIMIT", default=30)

# Where the files are: Django's storage API, storage alias "attachments". On local disk
# under the state directory by default (never under a folder nginx serves publicly: nginx
# reads them only through the internal /_attachments/ location, after Django checked
# membership, X-Accel-Redirect). ATTACHMENTS_STORAGE=s3 keeps them in any S3-compatible
# store (django-storages); members then get a signed URL that lives
# ATTACHMENTS_SIGNED_URL_SECONDS. See docs/features.md.
ATTACHMENTS_ROOT = env.str("ATTACHMENTS_ROOT", default="") or str(STATE_DIR / "attachments")
ATTACHMENTS_STORAGE = env.str("ATTACHMENTS_STORAGE", default="local")
ATTACHMENTS_SIGNED_URL_SECONDS = env.int("ATTACHMENTS_SIGNED_URL_SECONDS", default=300)
if ATTACHMENTS_STORAGE == "s3":
    _attachments_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("ATTACHMENTS_S3_BUCKET"),
            "endpoint_url": env.str("ATTACHMENTS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("ATTACHMENTS_S3_REGION", default="") or None,
            "access_key": env.str("ATTACHMENTS_S3_ACCESS_KEY", default="") or None,
            "secret_key": env.str("ATTACHMENTS_S3_SECRET_KEY", default="") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": ATTACHMENTS_SIGNED_URL_SECONDS,
            "file_overwrite": False,
        },
    }
elif ATTACHMENTS_STORAGE == "local":
    _attachments_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # No base_url: these files have no public URL.
        "OPTIONS": {"location": ATTACHMENTS_ROOT, "base_url": None, "file_permissions_mode": 0o640},
    }
else:
    raise ValueError(f"ATTACHMENTS_STORAGE is local or s3, not {ATTACHMENTS_STORAGE!r}")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "attachments": _attachments_storage,
}
# The internal nginx location that serves the local storage's files (X-Accel-Redirect).
ATTACHMENTS_ACCEL_PREFIX = "/_attachments/"

# ---------------------------------------------------------------- Web Push

# VAPID (RFC 8292): scripts/setup.sh writes a key pair into .env on first run. The private
# key is a PEM (newlines as \n) or base64url DER; the public key is what browsers get
# (applicationServerKey). Empty: Web Push is off (the page says so).
PUSH_VAPID_PRIVATE_KEY = env.str("PUSH_VAPID_PRIVATE_KEY", default="").replace("\\n", "\n")
PUSH_VAPID_PUBLIC_KEY = env.str("PUSH_VAPID_PUBLIC_KEY", default="")
PUSH_VAPID_SUBJECT = env.str("PUSH_VAPID_SUBJECT", default="mailto:admin@example.com")
# Whether a new message sends the push task at all (the tests turn it on where they test it,
# so that no other test's messages give the shared worker tasks).
PUSH_SEND = env.bool("PUSH_SEND", default=True)
# Push endpoints are URLs a browser gave us, and the worker POSTs to them: https only, and
# never a loopback or private address, unless this is on (the tests' local push receiver).
PUSH_ALLOW_INSECURE_ENDPOINTS = env.bool("PUSH_ALLOW_INSECURE_ENDPOINTS", default=False)
# How long the push service keeps an undelivered push (seconds; the TTL header).
PUSH_TTL_SECONDS = env.int("PUSH_TTL_SECONDS", default=3600)
PUSH_TIMEOUT_SECONDS = env.float("PUSH_TIMEOUT_SECONDS", default=5.0)
PUSH_SUBSCRIPTIONS_PER_USER_MAX = env.int("PUSH_SUBSCRIPTIONS_PER_USER_MAX", default=20)
