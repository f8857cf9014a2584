from django.urls import path

from . import apis

urlpatterns = [
    path("push/config/", apis.PushConfigApi.as_view(), name="push-config"),
    path("push/subscriptions/", apis.PushSubscriptionListApi.as_view(), name="push-subscription-list"),
]
