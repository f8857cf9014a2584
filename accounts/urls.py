from django.urls import path

from .apis import LogoutAllApi, LogoutApi, MeApi, PasswordChangeApi, RegisterApi, TokenObtainApi

urlpatterns = [
    path("auth/register/", RegisterApi.as_view(), name="register"),
    path("auth/token/", TokenObtainApi.as_view(), name="token"),
    path("auth/logout/", LogoutApi.as_view(), name="logout"),
    path("auth/logout-all/", LogoutAllApi.as_view(), name="logout-all"),
    path("auth/password/", PasswordChangeApi.as_view(), name="password-change"),
    path("me/", MeApi.as_view(), name="me"),
]
