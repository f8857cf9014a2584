from django.urls import path

from . import apis

urlpatterns = [
    path("chats/", apis.ChatListApi.as_view(), name="chat-list"),
    path("chats/<int:chat_id>/read/", apis.ChatReadApi.as_view(), name="chat-read"),
    path("chats/<int:chat_id>/reads/", apis.ChatReadMarkerListApi.as_view(), name="chat-read-markers"),
]
