"""The bench's users, chats and tokens, written with the ORM into the bench database.

Small chats go through `chat_create`, as a user's would; the big room's 10,000 members are
bulk-inserted (setup, not a measured path), so its creation does not queue 10,000 events.
"""

import time
from dataclasses import dataclass, field
from typing import Any

SMALL_CHAT_SIZE = 10


@dataclass
class Population:
    user_ids: list[int]
    api_tokens: list[str]  # by index into user_ids
    # (chat id, member indexes): the chats of scenario 2, SMALL_CHAT_SIZE members each.
    small_chats: list[tuple[int, list[int]]]
    pair_chat: tuple[int, list[int]]
    big_chat: tuple[int, list[int]]
    timings: dict[str, float] = field(default_factory=dict)

    def small_chat_of(self, index: int) -> int:
        """The small chat of user `index` (its chat in scenario 2)."""
        return self.small_chats[index // SMALL_CHAT_SIZE][0]


def population_create(*, users: int, small_chat_clients: int, big_room: int) -> Population:
    from accounts.models import User
    from chats.models import Membership
    from chats.services import chat_create

    timings: dict[str, float] = {}
    began = time.monotonic()
    created = User.objects.bulk_create(
        [User(username=f"bench{i}", email=f"bench{i}@example.com", password="!") for i in range(users)],  # noqa: S106 (unusable)
        batch_size=2000,
    )
    ids = [user.pk for user in created]
    keys = api_tokens_create(created)
    timings["users_s"] = time.monotonic() - began

    began = time.monotonic()
    by_id = {user.pk: user for user in created}
    small = []
    for start in range(0, small_chat_clients, SMALL_CHAT_SIZE):
        members = list(range(start, min(start + SMALL_CHAT_SIZE, small_chat_clients)))
        chat = chat_create(
            created_by=by_id[ids[members[0]]], title=f"bench {start}", member_ids=[ids[i] for i in members[1:]]
        )
        small.append((chat.pk, members))
    pair = chat_create(created_by=by_id[ids[0]], title="bench pair", member_ids=[ids[1]])
    timings["small_chats_s"] = time.monotonic() - began

    began = time.monotonic()
    big = chat_create(created_by=by_id[ids[0]], title="bench big room", member_ids=[])
    Membership.objects.bulk_create(
        [Membership(chat_id=big.pk, user_id=ids[i], role=Membership.Role.MEMBER) for i in range(1, big_room)],
        batch_size=2000,
    )
    timings["big_room_s"] = time.monotonic() - began

    began = time.monotonic()
    _vacuum_analyze()
    timings["vacuum_s"] = time.monotonic() - began
    return Population(
        user_ids=ids,
        api_tokens=[keys[pk] for pk in ids],
        small_chats=small,
        pair_chat=(pair.pk, [0, 1]),
        big_chat=(big.pk, list(range(big_room))),
        timings=timings,
    )


def _vacuum_analyze() -> None:
    """What autovacuum would do to the tables just filled, done before anything is measured
    (as pgbench does). Otherwise scenario 1 starts on tables without statistics, and
    autovacuum's first pass, due within its naptime (a minute) of the load, may fall in a
    measured window, where its CPU counts as the POSTs' (docs/performance.md, ninth pass).
    The bench's own tables only: a database-wide VACUUM by their owner, not a superuser,
    wrote a warning per shared catalog (about a hundred) into the server's log each run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("select format('%I.%I', schemaname, tablename) from pg_tables where tableowner = current_user")
        tables = ", ".join(name for (name,) in cursor.fetchall())
        cursor.execute(f"vacuum (analyze) {tables}")


def rooms_kept(*, prefix: str, big_room: int) -> None:
    """Two chats, "small" of 2 members and "big" of `big_room`, and their users `<prefix>-0`,
    `<prefix>-1`, ... (`-0` owns both, `-1` is a plain member of both), in a database kept
    between runs (bench.measure.database_kept): migrated and filled by the first run only."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts.models import User
    from chats.models import Chat, Membership

    call_command("migrate", verbosity=0)
    if User.objects.filter(username=f"{prefix}-0").exists():
        return
    User.objects.bulk_create(
        [User(username=f"{prefix}-{n}", email=f"{prefix}-{n}@example.com", password="!") for n in range(big_room)],  # noqa: S106 (unusable)
        batch_size=5000,
    )
    users = list(User.objects.filter(username__startswith=f"{prefix}-").order_by("id"))
    for title, members in (("small", users[:2]), ("big", users)):
        with transaction.atomic():  # a chat commits with its owner (chats/migrations/0002)
            chat = Chat.objects.create(title=title, created_by=members[0])
            roles = ["owner"] + ["member"] * (len(members) - 1)
            Membership.objects.bulk_create(
                [Membership(chat=chat, user=u, role=r) for u, r in zip(members, roles, strict=True)],
                batch_size=5000,
            )
    with connection.cursor() as cursor:
        cursor.execute("analyze")  # the plans of the first run as of the next ones


def api_tokens_create(users: list) -> dict[int, str]:
    """An API token per user, as the product issues them (knox, hashed), in bulk."""
    from accounts import services

    if hasattr(services, "tokens_create"):
        keys: dict[int, str] = {}
        for start in range(0, len(users), 2000):
            keys |= services.tokens_create(users=users[start : start + 2000])
        return keys
    from rest_framework.authtoken.models import Token

    Token.objects.bulk_create([Token(user=user, key=Token.generate_key()) for user in users], batch_size=2000)
    return dict(Token.objects.filter(user__in=users).values_list("user_id", "key"))


# -- tokens, minted here so that their issue is not on the measured path --------------------
def connection_token(user_id: int) -> str:
    from accounts.models import User
    from realtime.tokens import connection_token_issue

    return connection_token_issue(user=User(pk=user_id))["token"]


def chat_channels_available() -> bool:
    """Whether the product has per-chat channels (issue 9's `chat:<id>`)."""
    from realtime import services, tokens

    return hasattr(services, "chat_channel") and hasattr(tokens, "subscription_token_issue")


def subscription_token(user_id: int, channel: str) -> str:
    """The product's own subscription token for `channel`, as its endpoint would sign it."""
    from accounts.models import User
    from realtime import tokens

    issue = getattr(tokens, "subscription_token_issue", None)
    if issue is None:
        raise RuntimeError("realtime.tokens has no subscription_token_issue yet")
    result: Any = issue(user=User(pk=user_id), channel=channel)
    return result["token"] if isinstance(result, dict) else result


def subscriptions(user_id: int, chat_ids: list[int], channel_mode: str) -> list[dict[str, str]]:
    """What a client of this user subscribes to: its chats' channels, or (before issue 9's
    write path) its personal channel, which carries every chat's events."""
    from realtime import services

    if channel_mode == "personal":
        return [{"channel": services.personal_channel(user_id), "token": ""}]
    channels = [services.chat_channel(chat_id) for chat_id in chat_ids]
    return [{"channel": channel, "token": subscription_token(user_id, channel)} for channel in channels]
