from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from chats.services import chat_create


class Command(BaseCommand):
    help = "Creates, once, the demo superuser, a second demo user and a chat of the two."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        account = settings.DEMO_ACCOUNT
        if User.objects.filter(username=account["username"]).exists():
            return
        # A superuser with an empty or guessable password would be an open admin: refused.
        # setup.sh generates DEMO_PASSWORD into .env.
        password = account["password"]
        if not password:
            raise CommandError("DEMO_PASSWORD is empty: set it in .env (setup.sh generates one).")
        try:
            validate_password(password, User(username=account["username"], email=account["email"]))
        except ValidationError as exc:
            raise CommandError(f"DEMO_PASSWORD is too weak: {' '.join(exc.messages)}") from exc
        demo = User.objects.create_superuser(account["username"], account["email"], password)
        # A second person, so two browser windows can chat with each other right away.
        friend_name = f"{account['username']}-friend"
        friend = User.objects.create_user(friend_name, f"{friend_name}@example.com", password)
        chat_create(created_by=demo, title="Welcome", member_ids=[friend.pk])
        self.stdout.write(f"Created {demo.username} (superuser), {friend.username} and a chat of the two.")
