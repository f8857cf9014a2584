"""Writes to users and their API tokens."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from knox.models import AuthToken, get_digest_token
from knox.settings import CONSTANTS, knox_settings

from core.exceptions import ApplicationError, ConflictError, TooManyRequestsError

from .models import User, UserSession
from .signals import access_revoked, user_created


def user_create(*, username: str, email: str, password: str, is_staff: bool = False) -> User:
    """Creates a user after Django's password validators have accepted the password."""
    if User.objects.filter(username__iexact=username).exists():
        raise ConflictError("This username is taken.", extra={"fields": {"username": ["This username is taken."]}})
    if User.objects.filter(email__iexact=email).exists():
        raise ConflictError("This email is taken.", extra={"fields": {"email": ["This email is taken."]}})
    return _user_insert(username=username, email=email, password=password, is_staff=is_staff)


# What every sign-up with valid input hears, whatever happened.
REGISTERED = (
    "Thank you. If this username and email can be used, your account is ready: sign in. "
    "Either way, an email to that address tells you more."
)


def user_register(*, username: str, email: str, password: str) -> User | None:
    """Sign-up by anyone: the new user, or None when the username or the email is taken.

    The caller answers both alike, so sign-up cannot be used to find out whether an address
    (or a name) has an account; the outcome goes by email: to the address's owner when the
    address is taken ("someone tried to sign up with your address"), else to the given
    address when only the username is ("that username is taken"). A weak password is still
    refused at once: that says nothing about anyone else."""
    candidate = User(username=username, email=email.lower())
    try:
        validate_password(password, candidate)
    except DjangoValidationError as exc:
        raise DjangoValidationError({"password": exc.messages}) from exc
    owner = User.objects.filter(email__iexact=email).first()
    if owner is None and not User.objects.filter(username__iexact=username).exists():
        try:
            return _user_insert(username=username, email=email, password=password)
        except ConflictError:  # a concurrent sign-up won the race
            owner = User.objects.filter(email__iexact=email).first()
    # The hashing a new account costs, so the answer takes as long either way.
    make_password(password)
    if owner is not None:
        _registration_outcome_send_later(kind="email_taken", to=owner.email, username=owner.username)
    else:
        _registration_outcome_send_later(kind="username_taken", to=email.lower(), username=username)
    return None


def _registration_outcome_send_later(*, kind: str, to: str, username: str) -> None:
    from .tasks import registration_outcome_email_send  # tasks import this module's app

    transaction.on_commit(lambda: registration_outcome_email_send.delay(kind=kind, to=to, username=username))


def _user_insert(*, username: str, email: str, password: str, is_staff: bool = False) -> User:
    user = User(username=username, email=email.lower(), is_staff=is_staff)
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise DjangoValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            user_created.send(sender=User, user=user)  # notifications: the verification email
    except IntegrityError as exc:  # a concurrent registration won the race (case-insensitive constraints)
        raise ConflictError("This username or email is taken.") from exc
    return user


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


@transaction.atomic
def user_logout_everywhere(*, user: User) -> None:
    """Ends every way the user is signed in: every API token and every browser session
    (deleted from the session store, so a stolen cookie is worthless), and, through
    `access_revoked`, their WebSockets and feed streams: one revocation, however many
    tokens and sessions there were."""
    sessions = UserSession.objects.filter(user=user)
    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore
    for key in sessions.values_list("session_key", flat=True):
        SessionStore(session_key=key).delete()
    sessions.delete()
    user_access_revoke(user=user)
    access_revoked.send(sender=User, user=user, reason="logged out everywhere")


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
    """Deletes a user. Before the row goes, the chats app hands over or deletes each chat they
    own and takes them out of every chat, with events (`chats.receivers`, on pre_delete, so
    the Django admin and the shell get the same)."""
    user.delete()
