"""Celery tasks of accounts: the emails that tell a registration's outcome when the API
answer does not (so it cannot be used to find out who has an account), and the periodic
publishing of API token revocations that Redis missed."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from . import token_cache

SUBJECTS = {
    "email_taken": "Someone tried to sign up with your address",
    "username_taken": "That username is taken",
}
BODIES = {
    "email_taken": (
        "Someone (perhaps you) tried to create an account on {site} with this email address, which "
        "already has an account (username: {username}). If it was you, sign in, or reset your "
        "password. If it was not, you need do nothing."
    ),
    "username_taken": (
        "The username {username} is taken on {site}, so no account was created. Sign up again with another username."
    ),
}


@shared_task(name="accounts.registration_outcome_email_send", acks_late=True, max_retries=3)
def registration_outcome_email_send(*, kind: str, to: str, username: str) -> None:
    send_mail(
        SUBJECTS[kind],
        BODIES[kind].format(site=settings.SITE_URL, username=username),
        settings.DEFAULT_FROM_EMAIL,
        [to],
    )


@shared_task(name="accounts.token_revocations_publish", acks_late=True)
def token_revocations_publish() -> int:
    """Every 10 s on celery beat (accounts/migrations): the revocations Redis missed, told
    again; how many."""
    return token_cache.publish_missed()
