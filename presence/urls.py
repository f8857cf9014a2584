from django.urls import path

from . import apis

urlpatterns = [
    path("chats/<int:chat_id>/typing/", apis.TypingApi.as_view(), name="chat-typing"),
    path("chats/<int:chat_id>/typing/token/", apis.TypingSubscriptionTokenApi.as_view(), name="chat-typing-token"),
]
