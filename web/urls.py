from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "web"

urlpatterns = [
    path("", views.chat_list_page, name="chat-list"),
    path("chats/<int:chat_id>/", views.chat_page, name="chat"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="web/login.html", next_page="web:chat-list", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="web:login"), name="logout"),
    path("signup/", views.signup_page, name="signup"),
    path("users/lookup/", views.user_lookup, name="user-lookup"),
]
