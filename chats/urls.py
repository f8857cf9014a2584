from django.urls import path

from . import apis

urlpatterns = [
    path("chats/<int:chat_id>/", apis.ChatDetailApi.as_view(), name="chat-detail"),
    path("chats/<int:chat_id>/members/", apis.MemberListApi.as_view(), name="member-list"),
    path("chats/<int:chat_id>/members/<int:user_id>/", apis.MemberDetailApi.as_view(), name="member-detail"),
    path("chats/<int:chat_id>/messages/", apis.MessageListApi.as_view(), name="message-list"),
    path("chats/<int:chat_id>/messages/<int:message_id>/", apis.MessageDetailApi.as_view(), name="message-detail"),
    path(
        "chats/<int:chat_id>/messages/<int:message_id>/edits/",
        apis.MessageEditListApi.as_view(),
        name="message-edit-list",
    ),
]
