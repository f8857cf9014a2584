from django.conf import settings
from django.core.management.base import BaseCommand
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
        demo = User.objects.create_superuser(account["username"], account["email"], account["password"])
        # A second person, so two browser windows can chat with each other right away.
        friend_name = f"{account['username']}-friend"
        friend = User.objects.create_user(friend_name, f"{friend_name}@example.com", account["password"])
        chat_create(created_by=demo, title="Welcome", member_ids=[friend.pk])
        self.stdout.write(f"Created {demo.username} (superuser), {friend.username} and a chat of the two.")
