from django.urls import path

from . import apis, feed_apis

urlpatterns = [
    path("realtime/token/", apis.ConnectionTokenApi.as_view(), name="realtime-token"),
    path("realtime/subscription-token/", apis.SubscriptionTokenApi.as_view(), name="realtime-subscription-token"),
    path("updates/", feed_apis.updates_api, name="updates"),
    path("updates/stream/", feed_apis.updates_stream_api, name="updates-stream"),
]
