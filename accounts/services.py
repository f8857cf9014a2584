"""Writes to users and their API tokens."""

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, F, When
from django.http import HttpRequest
from django.utils import timezone
from knox.models import AuthToken, get_digest_token
from knox.settings import CONSTANTS, knox_settings

from core.exceptions import ApplicationError, ConflictError, TooManyRequestsError

from .models import User


def user_create(*, username: str, email: str, password: str, is_staff: bool = False) -> User:
    """Creates a user after Django's password validators have accepted the password."""
    if User.objects.filter(username__iexact=username).exists():
        raise ConflictError("This username is taken.", extra={"fields": {"username": ["This username is taken."]}})
    if User.objects.filter(email__iexact=email).exists():
        raise ConflictError("This email is taken.", extra={"fields": {"email": ["This email is taken."]}})
    user = User(username=username, email=email.lower(), is_staff=is_staff)
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise DjangoValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            _verification_email_send_later(user)
    except IntegrityError as exc:  # a concurrent registration won the race (case-insensitive constraints)
        raise ConflictError("This username or email is taken.") from exc
    return user


def _verification_email_send_later(user: User) -> None:
    """The address gets the verification email, and nothing else until it is confirmed."""
    from notifications.verification import verification_email_send_later  # notifications imports accounts

    verification_email_send_later(user=user)


def token_issue(*, request: HttpRequest, username: str, password: str) -> tuple[AuthToken, str]:
    """Signs in and returns a new API token (its row and its key) for this device or client.

    The key is shown once; only its digest is stored. `request` is the Django request:
    django-axes counts failures per username and address, and refuses a locked-out pair.
    """
    user = authenticate(request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise TooManyRequestsError(
                "Too many failed sign-ins; try again later.",
                retry_after=int(settings.AXES_COOLOFF_TIME.total_seconds()),
            )
        raise ApplicationError("Unable to sign in with these credentials.")
    with transaction.atomic():
        now = timezone.now()
        AuthToken.objects.filter(user=user, expiry__lte=now).delete()
        # At most API_TOKENS_PER_USER_MAX devices: a new one pushes the oldest out.
        limit = settings.REST_KNOX["TOKEN_LIMIT_PER_USER"]
        if limit:
            oldest = AuthToken.objects.filter(user=user).order_by("-created").values_list("digest", flat=True)
            AuthToken.objects.filter(digest__in=list(oldest[limit - 1 :])).delete()
        token, key = AuthToken.objects.create(user=user)
    # last_login, and django-axes forgets the failures of this username and address.
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    return token, key


def token_create(*, user: User) -> str:
    """A new API token for `user` without a password (tests, benchmarks, the shell); the key."""
    return AuthToken.objects.create(user=user)[1]


def tokens_create(*, users: list[User]) -> dict[int, str]:
    """A token for each user in one INSERT (benchmarks with many clients); user id → key."""
    rows, keys = [], {}
    for user in users:
        digest, key = get_digest_token()
        expiry = timezone.now() + knox_settings.TOKEN_TTL
        rows.append(AuthToken(digest=digest, token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH], user=user, expiry=expiry))
        keys[user.pk] = key
    AuthToken.objects.bulk_create(rows)
    return keys


def token_revoke(*, token: AuthToken) -> None:
    """Logout: this token stops working at once."""
    token.delete()


def user_access_revoke(*, user: User) -> int:
    """Ends every API token of the user (logout everywhere, new password, deactivation);
    returns how many. Their browser sessions end by Django's own rules: a session of an
    inactive user or one signed with an old password is refused."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted


def user_password_change(*, user: User, old_password: str, new_password: str) -> User:
    """Sets a new password after checking the old one; every API token of the user ends."""
    if not user.check_password(old_password):
        raise ApplicationError(
            "The current password is wrong.", extra={"fields": {"old_password": ["The current password is wrong."]}}
        )
    try:
        validate_password(new_password, user)
    except DjangoValidationError as exc:
        raise DjangoValidationError({"new_password": exc.messages}) from exc
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])  # User.save revokes the tokens
    return user


def user_deactivate(*, user: User) -> User:
    """The user can no longer sign in; every API token ends (User.save)."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Deletes a user through the chat services, so every change sends its events: each chat
    they own goes to another member (an admin first, then the longest-standing member) or,
    with no one else in it, is deleted; then they leave every chat, and the row goes."""
    from chats import services as chat_services  # chats' services import this app's models
    from chats.models import Membership

    memberships = Membership.objects.filter(user=user).select_related("chat").order_by("chat_id")
    for membership in memberships:
        chat = membership.chat
        if membership.role == Membership.Role.OWNER:
            heir = (
                chat.memberships.exclude(user=user)
                .order_by(F("user__is_active").desc(), Case(When(role="admin", then=0), default=1), "joined_at", "id")
                .first()
            )
            if heir is None:
                chat_services.chat_delete(chat=chat, actor=None)
                continue
            chat_services.chat_owner_transfer(chat=chat, user_id=heir.user_id, actor=None)
        chat_services.chat_member_remove(chat=chat, user_id=user.pk, actor=None)
    user.delete()
