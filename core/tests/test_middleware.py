"""core.middleware.LazyMessageMiddleware: django.contrib.messages, its storage made on use."""

from django.contrib import messages
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.functional import empty

from core.middleware import LazyMessageMiddleware


def _served(view, rf, cookies: dict[str, str] | None = None) -> tuple[HttpRequest, HttpResponse]:
    request = rf.get("/")
    request.COOKIES.update(cookies or {})
    response = SessionMiddleware(LazyMessageMiddleware(view))(request)
    return request, response


def test_a_message_a_view_adds_is_read_on_the_next_request(rf, db):
    def add(request):
        messages.success(request, "Saved.")
        return HttpResponse()

    read: list[str] = []

    def show(request):
        read.extend(str(message) for message in messages.get_messages(request))
        return HttpResponse()

    _, added = _served(add, rf)
    cookies = {name: morsel.value for name, morsel in added.cookies.items()}
    assert "messages" in cookies
    _served(show, rf, cookies)
    assert read == ["Saved."]


def test_a_request_that_uses_no_messages_makes_no_storage(rf, db):
    request, response = _served(lambda request: HttpResponse(), rf)
    assert request._messages._wrapped is empty
    assert not response.cookies
