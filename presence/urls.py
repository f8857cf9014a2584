from django.urls import path

from . import apis

urlpatterns = [
    path("chats/<int:chat_id>/typing/", apis.TypingApi.as_view(), name="chat-typing"),
]
