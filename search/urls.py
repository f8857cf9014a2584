from django.urls import path

from . import apis

urlpatterns = [path("search/", apis.MessageSearchApi.as_view(), name="message-search")]
