"""Fixtures shared by every app's tests: users, API clients, chats with roles, the site as
`make run` serves it, and the event contract checked after every test."""

import itertools
from collections.abc import Callable, Iterator

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import token_create
from chats.models import Chat, Membership
from chats.services import chat_create, chat_member_add
from testing.site import SiteServer

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def site_server(django_db_setup, tmp_path_factory) -> Iterator[SiteServer]:
    """nginx + granian + uvicorn on the test database, as `make run` serves the site,
    started once per session (about 4 s). The feed's SSE heartbeat is 1 s, for the tests."""
    server = SiteServer(workdir=tmp_path_factory.mktemp("site")).start(REALTIME_SSE_HEARTBEAT_SECONDS="1")
    yield server
    server.stop()


@pytest.fixture
def site(site_server, transactional_db) -> SiteServer:
    """The session's site for a test that talks HTTP to it: the test's data is committed
    (transactional_db), so the site's processes see it."""
    return site_server


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(username: str | None = None, **fields) -> User:
        username = username or f"user{next(_numbers)}"
        fields.setdefault("email", f"{username}@example.com")
        # Verified, as after the link in the verification email (pass None for a new sign-up).
        fields.setdefault("email_verified_at", timezone.now())
        return User.objects.create_user(username=username, password="pass-word-42", **fields)

    return make


@pytest.fixture
def api_client() -> APIClient:
    """An anonymous client."""
    return APIClient()


@pytest.fixture
def client_for(db) -> Callable[[User], APIClient]:
    """A client that authenticates as `user` with an API token."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=user)}")
        return client

    return make


class ChatWithRoles:
    """A group chat with one user in each role, and one user outside it."""

    def __init__(self, make_user: Callable[..., User]) -> None:
        self.owner = make_user()
        self.admin = make_user()
        self.member = make_user()
        self.outsider = make_user()
        self.chat: Chat = chat_create(created_by=self.owner, title="Team")
        chat_member_add(chat=self.chat, user=self.admin, role=Membership.Role.ADMIN, added_by=self.owner)
        chat_member_add(chat=self.chat, user=self.member, role=Membership.Role.MEMBER, added_by=self.owner)

    def user(self, role: str) -> User | None:
        return None if role == "anonymous" else getattr(self, role)


@pytest.fixture
def team(make_user) -> ChatWithRoles:
    return ChatWithRoles(make_user)


def last_event_id() -> int:
    """The newest event's id (0 when there is none): a mark to read the events after."""
    from realtime.models import Event

    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def events_since(mark: int) -> list:
    """The events after `mark`, oldest first."""
    from realtime.models import Event

    return list(Event.objects.filter(id__gt=mark).order_by("id"))


@pytest.fixture
def mark(db) -> int:
    """The newest event's id before the test's own writes (`events_since(mark)`)."""
    return last_event_id()


@pytest.fixture(autouse=True)
def events_match_the_contract(request) -> Iterator[None]:
    """Every event a test makes (every row it adds to the event log, whoever wrote it: the
    test, a view, a Celery worker) is checked against the event contract of the OpenAPI
    schema (`realtime.contract`), after Zulip's verify_action. Tests without a database make
    no events."""
    database = next((name for name in ("transactional_db", "db") if name in request.fixturenames), None)
    if database is None and request.node.get_closest_marker("django_db") is None:
        yield
        return
    # Set up here, so that the database is torn down (flushed or rolled back) after the check.
    request.getfixturevalue(database or "_django_db_helper")
    from realtime.contract import event_validate

    mark = last_event_id()
    yield
    for event in events_since(mark):
        event_validate(event.envelope())
