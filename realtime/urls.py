from django.urls import path

from . import apis

urlpatterns = [
    path("realtime/token/", apis.ConnectionTokenApi.as_view(), name="realtime-token"),
]
