from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.db.models.functions import Lower
from knox.settings import CONSTANTS


class User(AbstractUser):
    """Django's user with a unique email, which the notifications are sent to.

    Usernames and emails are unique regardless of case (the database says so): "Ann" and
    "ann" are one person to every reader of a chat.
    """

    class ChatAddPolicy(models.TextChoices):
        EVERYONE = "everyone", "Everyone"
        SHARED = "shared", "People I share a chat with"
        NOBODY = "nobody", "Nobody"

    email = models.EmailField("email address", unique=True)
    # Set when the user opened the signed link of the verification email; until then that
    # email is the only one the address receives (notifications.services).
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Who may put this user in a chat (chat creation with member ids, member add).
    # db_default too: rows written in bulk by SQL (the big-room tests, data loads) get it.
    chat_add_policy = models.CharField(
        max_length=10, choices=ChatAddPolicy.choices, default=ChatAddPolicy.EVERYONE, db_default=ChatAddPolicy.EVERYONE
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("username"), name="user_username_ci_unique", violation_error_message="This username is taken."
            ),
            models.UniqueConstraint(
                Lower("email"), name="user_email_ci_unique", violation_error_message="This email is taken."
            ),
        ]

    def save(self, *args, **kwargs) -> None:
        """A new password or a deactivation ends every API token of the user, whatever path
        made the change (API, Django admin, `manage.py changepassword`, the shell)."""
        adding = self._state.adding
        password_changed = self._password is not None  # set by set_password() until saved
        if adding or not (password_changed or not self.is_active):
            super().save(*args, **kwargs)
            return
        from knox.models import AuthToken  # knox's models need this app's User first

        # One transaction: the change and the end of every token are one revocation of the
        # user's streams (realtime folds those of one transaction into one), not 1 + N.
        with transaction.atomic():
            super().save(*args, **kwargs)
            AuthToken.objects.filter(user=self).delete()


class UserSession(models.Model):
    """A browser session of a user, recorded at sign-in: "log out everywhere" deletes every
    session of the user by these keys (Django's session table cannot be searched by user)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"session of user #{self.user_id}"


class TokenRevocation(models.Model):
    """A revoked API token's key, written in the revoking transaction and deleted once Redis
    holds the revocation (accounts.token_cache). A revocation Redis missed (unreachable from
    the revoking process) stays here until the periodic `accounts.token_revocations_publish`
    publishes it: no process serves that token from memory for longer than that task's
    period after Redis answers again."""

    token_key = models.CharField(max_length=CONSTANTS.TOKEN_KEY_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"revocation of token {self.token_key}"
