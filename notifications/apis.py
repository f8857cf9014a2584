"""The caller's email address state, the verification link, and who may add them to chats."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from core.throttling import ScopeThrottle

from .verification import email_verify, verification_email_send_later


class VerificationEmailThrottle(ScopeThrottle):
    """Asking for the verification email again: a few an hour per account."""

    scope = "verification_email"

    def get_rate(self) -> str | None:
        return settings.THROTTLE_RATES.get(self.scope, settings.EMAIL_VERIFICATION_RATE)


class EmailStateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    verified = serializers.BooleanField(help_text="Only a verified address gets emails other than the verification.")


class EmailStateApi(APIView):
    @extend_schema(responses={200: EmailStateSerializer})
    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"email": user.email, "verified": user.email_verified_at is not None})


class VerificationEmailApi(APIView):
    throttle_classes = [VerificationEmailThrottle]

    @extend_schema(
        request=None,
        responses={
            202: OpenApiResponse(description="A verification email is on its way (none if already verified)."),
            429: OpenApiResponse(description="Too many requests; see the Retry-After header."),
        },
    )
    def post(self, request: Request) -> Response:
        if request.user.email_verified_at is None:
            verification_email_send_later(user=request.user)
        return Response(status=status.HTTP_202_ACCEPTED)


class ChatAddPolicySerializer(serializers.Serializer):
    chat_add_policy = serializers.ChoiceField(
        choices=User.ChatAddPolicy.choices,
        help_text="Who may put me in a chat: everyone, people I already share a chat with, or nobody.",
    )


class ChatAddPolicyApi(APIView):
    @extend_schema(responses={200: ChatAddPolicySerializer})
    def get(self, request: Request) -> Response:
        return Response({"chat_add_policy": request.user.chat_add_policy})

    @extend_schema(request=ChatAddPolicySerializer, responses={200: ChatAddPolicySerializer})
    def patch(self, request: Request) -> Response:
        params = ChatAddPolicySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        user = request.user
        user.chat_add_policy = params.validated_data["chat_add_policy"]
        # A save, not a queryset update: its post_save drops the copies of the user cached
        # behind the user's tokens (accounts.token_cache), so the next request reads it.
        user.save(update_fields=["chat_add_policy"])
        return Response(params.validated_data)


# A GET confirms: the link is opened from a mail client, and what a prefetching scanner could
# do with it (confirm an address that received the mail) is what the link is for.
@require_GET
def email_verify_page(request: HttpRequest, token: str) -> HttpResponse:
    user = email_verify(token=token)
    return render(request, "notifications/verified.html", {"user": user}, status=200 if user else 400)
