from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """Django's user with a unique email, which the notifications are sent to."""

    email = models.EmailField("email address", unique=True)
