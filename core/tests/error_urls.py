"""The project's URLs plus two views that fail, for core/tests/test_errors.py."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from messenger.urls import *  # noqa: F403 - the error handlers come along
from messenger.urls import urlpatterns as project_urlpatterns


class BrokenApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> HttpResponse:
        raise RuntimeError("a bug in an API view")


def broken_page(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a page")


urlpatterns = [
    path("api/broken/", BrokenApi.as_view()),
    path("broken/", broken_page),
    *project_urlpatterns,
]
