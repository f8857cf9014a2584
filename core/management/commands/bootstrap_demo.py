from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from chats.models import Chat
from chats.services import chat_create


class Command(BaseCommand):
    help = "Creates the demo superuser and a demo chat, once."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        env = settings.DEMO_ACCOUNT
        if User.objects.filter(username=env["username"]).exists():
            return
        user = User.objects.create_superuser(env["username"], env["email"], env["password"])
        if not Chat.objects.exists():
            chat_create(created_by=user, title="Welcome")
        self.stdout.write(f"Created the demo superuser {user.username} and a demo chat.")
