from django.urls import path

from bench.peers.socketio import views

urlpatterns = [
    path("healthz", views.health),
    path("api/chats/<int:chat_id>/messages/", views.message_create_api),
]
