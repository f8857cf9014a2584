"""The chat pages. They render a shell and the page's settings; the ES module
(`web/static/web/app.js`) loads every chat, member and message through the REST API with
the session cookie, and keeps them live through a transport (Centrifugo by default)."""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.selectors import user_active_find
from accounts.services import REGISTERED, user_register
from chats import selectors as chat_selectors
from core.exceptions import NotFoundError, error_response
from core.throttling import RegisterThrottle, UserLookupThrottle, throttle
from realtime.services import personal_channel
from realtime.tokens import centrifugo_ws_url


def _page_config(request: HttpRequest, chat_id: int | None) -> dict:
    """What app.js needs to start; rendered with json_script, so it is never parsed as HTML."""
    return {
        "user": {"id": request.user.pk, "username": request.user.get_username()},
        "chat_id": chat_id,
        "channel": personal_channel(request.user.pk),
        "chat_ids": chat_selectors.chat_ids_of(user_id=request.user.pk),
        "chat_channel_prefix": f"{settings.CENTRIFUGO_CHAT_NAMESPACE}:",
        "ws_url": centrifugo_ws_url(request),
        "urls": {
            "api": "/api/",
            "token": "/api/realtime/token/",
            "subscription_token": "/api/realtime/subscription-token/",
            "lookup": "/users/lookup/",
        },
    }


@login_required
def chat_list_page(request: HttpRequest) -> HttpResponse:
    return render(request, "web/chat.html", {"config": _page_config(request, None), "chat": None})


@login_required
def chat_page(request: HttpRequest, chat_id: int) -> HttpResponse:
    try:
        chat = chat_selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
    except NotFoundError:
        raise Http404("Chat not found.") from None
    return render(request, "web/chat.html", {"config": _page_config(request, chat.pk), "chat": chat})


class SignupForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]+\Z", max_length=150)
    email = forms.EmailField(max_length=254)
    password = forms.CharField(widget=forms.PasswordInput, max_length=128, strip=False)


@throttle(RegisterThrottle)
def signup_page(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user_register(**form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # The same whether the account was made or the name or address is taken (an
            # email tells which): sign-up must not tell who has an account.
            return render(request, "web/signup.html", {"form": SignupForm(), "done": REGISTERED})
    return render(request, "web/signup.html", {"form": form})


@require_GET
@login_required
@throttle(UserLookupThrottle)
def user_lookup(request: HttpRequest) -> JsonResponse:
    """Finds an active user by exact username, so the page can add a member by name."""
    username = request.GET.get("username", "").strip()
    user = user_active_find(username=username)
    if user is None:
        return error_response("No such user.", status=404)
    return JsonResponse({"id": user.pk, "username": user.username})
