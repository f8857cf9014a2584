"""Email address verification: a signed link (user id and address, timestamped) sent to the
address; opening it marks the address verified. Until then the address gets nothing else
(member-added emails, summaries, digests, reports all check `email_verified_at`)."""

import logging

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User

logger = logging.getLogger(__name__)

VERIFY_SALT = "notifications.verification"


def verification_token(*, user: User) -> str:
    """Names the user and the address: a link for an old address stops working when it changes."""
    return signing.TimestampSigner(salt=VERIFY_SALT).sign_object({"u": user.pk, "e": user.email})


def verification_url(*, user: User) -> str:
    return settings.SITE_URL + reverse("notifications:email-verify", args=[verification_token(user=user)])


def verification_email_send_later(*, user: User) -> None:
    """Sends the verification email from a task once the caller's transaction commits."""

    def send() -> None:
        from .tasks import verification_email_send  # the tasks module imports this one

        verification_email_send.delay(user_id=user.pk)

    transaction.on_commit(send, robust=True)


def verification_email_send(*, user_id: int) -> bool:
    """Emails the link unless the address is verified already; returns whether it sent."""
    user = User.objects.filter(pk=user_id, is_active=True, email_verified_at__isnull=True).exclude(email="").first()
    if user is None:
        return False
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    context = {"user": user, "url": verification_url(user=user)}
    email = EmailMultiAlternatives(
        subject="Confirm your email address",
        body=render_to_string("notifications/verify_email.txt", context),
        to=[user.email],
        headers={"Message-ID": f"<verify.{user.pk}.{int(timezone.now().timestamp())}@{domain}>"},
    )
    email.attach_alternative(render_to_string("notifications/verify_email.html", context), "text/html")
    email.send()
    return True


def email_verify(*, token: str) -> User | None:
    """Marks the address the token names verified; None for a bad, expired or stale token."""
    try:
        data = signing.TimestampSigner(salt=VERIFY_SALT).unsign_object(
            token, max_age=settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS
        )
        user_id, address = data["u"], data["e"]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    user = User.objects.filter(pk=user_id, email=address, is_active=True).first()
    if user is None:
        return None
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        # A save, not a queryset update: its post_save drops the copies of the user cached
        # behind the user's tokens (accounts.token_cache), so the API reports it verified.
        user.save(update_fields=["email_verified_at"])
    return user
