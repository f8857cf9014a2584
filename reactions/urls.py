from django.urls import path

from . import apis

urlpatterns = [
    path(
        "chats/<int:chat_id>/messages/<int:message_id>/reactions/",
        apis.ReactionListApi.as_view(),
        name="reaction-list",
    ),
    path("chats/<int:chat_id>/reactions/mine/", apis.MyReactionListApi.as_view(), name="my-reaction-list"),
]
