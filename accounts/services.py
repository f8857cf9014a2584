from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.exceptions import ApplicationError, ConflictError

from .authentication import token_expires_at
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
    except IntegrityError as exc:  # a concurrent registration won the race
        raise ConflictError("This username or email is taken.") from exc
    return user


@transaction.atomic
def token_issue(*, username: str, password: str) -> Token:
    """Returns the user's API token, replacing it first if it has expired."""
    user = authenticate(username=username, password=password)
    if user is None:
        raise ApplicationError("Unable to sign in with these credentials.")
    token, created = Token.objects.select_for_update().get_or_create(user=user)
    if not created and token_expires_at(token) <= timezone.now():
        token.delete()
        token = Token.objects.create(user=user)
    return token
