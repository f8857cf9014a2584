"""Outgoing email: Django's SMTP backend, configured from the environment.

A real server: EMAIL_PORT=465 with EMAIL_USE_SSL=true, or 587 with EMAIL_USE_TLS=true.
`make run` starts a local sink (ops/smtp_sink.py) on EMAIL_PORT that stores every
mail under .state/mail/.
"""

from django.core.exceptions import ImproperlyConfigured

from .env import env

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=8825)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS (STARTTLS, port 587) or EMAIL_USE_SSL (port 465), not both.")
# A hung SMTP server must not hold a worker until the task's hard limit.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="messenger@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Consent and limits for email (issue 18; notifications.services, chats.consent).
# A role above member goes only to someone in the chat at least this long (0: at once).
CHAT_ADMIN_MIN_TENURE_SECONDS = env.int("CHAT_ADMIN_MIN_TENURE_SECONDS", default=24 * 3600)
# No one gets more member-added emails than this in an hour; the rest are listed in one
# summary sent when their hour has room again.
NOTIFICATIONS_MEMBER_ADDED_PER_HOUR = env.int("NOTIFICATIONS_MEMBER_ADDED_PER_HOUR", default=10)
# A claimed send older than this belongs to a dead worker and may be taken over (longer than
# the email task's hard time limit).
NOTIFICATIONS_CLAIM_SECONDS = env.int("NOTIFICATIONS_CLAIM_SECONDS", default=120)
# How long the link of a verification email works.
EMAIL_VERIFICATION_MAX_AGE_SECONDS = env.int("EMAIL_VERIFICATION_MAX_AGE_SECONDS", default=3 * 24 * 3600)
# Asking for the verification email again (per account).
EMAIL_VERIFICATION_RATE = env.str("EMAIL_VERIFICATION_RATE", default="3/hour")
