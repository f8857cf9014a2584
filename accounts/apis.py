from django.contrib.auth import logout, update_session_auth_hash
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import AuthToken
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.fields import validated
from core.throttling import LoginThrottle, RegisterThrottle

from .serializers import (
    PasswordChangeInputSerializer,
    RegisterInputSerializer,
    RegisterOutputSerializer,
    TokenInputSerializer,
    TokenOutputSerializer,
    UserSerializer,
)
from .services import (
    REGISTERED,
    token_issue,
    token_revoke,
    user_logout_everywhere,
    user_password_change,
    user_register,
)

THROTTLED = OpenApiResponse(description="Too many requests; see the Retry-After header.")


class RegisterApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [RegisterThrottle]

    @extend_schema(request=RegisterInputSerializer, responses={202: RegisterOutputSerializer, 429: THROTTLED})
    def post(self, request: Request) -> Response:
        """Signs up. The answer is the same whether the account was made or the username or
        email is taken (no one learns who has an account here); an email tells the outcome."""
        user_register(**validated(RegisterInputSerializer, request.data))
        return Response({"message": REGISTERED}, status=status.HTTP_202_ACCEPTED)


class TokenObtainApi(APIView):
    """Signs in: a new token for this device or client, valid until `expires_at`."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(request=TokenInputSerializer, responses={200: TokenOutputSerializer, 429: THROTTLED})
    def post(self, request: Request) -> Response:
        # The Django request: django-axes reads it, and flags it when the pair is locked out.
        token, key = token_issue(request=request._request, **validated(TokenInputSerializer, request.data))
        return Response({"token": key, "expires_at": token.expiry})


class LogoutApi(APIView):
    """Ends this token (or this browser session)."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, AuthToken):
            token_revoke(token=request.auth)
        else:
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(APIView):
    """Ends every token and every browser session of the user, on every device, and the
    streams they hold."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        with transaction.atomic():  # one revocation of the user's streams, this session's included
            user_logout_everywhere(user=request.user)
            if not isinstance(request.auth, AuthToken):
                logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    """Sets a new password. Every token of the user ends, this one too: sign in again. A
    browser session stays signed in; the user's other sessions end."""

    throttle_classes = [LoginThrottle]

    @extend_schema(request=PasswordChangeInputSerializer, responses={204: None, 429: THROTTLED})
    def post(self, request: Request) -> Response:
        user = user_password_change(user=request.user, **validated(PasswordChangeInputSerializer, request.data))
        if not isinstance(request.auth, AuthToken):
            update_session_auth_hash(request._request, user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)
