"""The HTTP edge of attachments: upload with a message, list, and the files to members."""

from urllib.parse import quote

from django.core.files.storage import FileSystemStorage
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats.representations import message_data
from core.exceptions import NotFoundError
from core.throttling import MessagePostThrottle

from . import selectors, services
from .models import Attachment
from .representations import attachment_data
from .serializers import (
    AttachmentListInputSerializer,
    AttachmentListSerializer,
    AttachmentSerializer,
    AttachmentUploadInputSerializer,
    AttachmentUploadOutputSerializer,
)
from .storage import attachments_storage

# Set by nginx on /api/attachments/ (never by a client: nginx overwrites it): the internal
# location that serves the local storage. Without it (no nginx in front) Django streams.
ACCEL_HEADER = "X-Attachments-Accel"


class AttachmentListApi(APIView):
    throttle_classes = [MessagePostThrottle]  # POST only
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="attachments_list",
        parameters=[
            OpenApiParameter("chat_id", int, required=True),
            OpenApiParameter("message_id", int, many=True, required=True, description="Up to 200 message ids."),
        ],
        responses={200: AttachmentListSerializer},
    )
    def get(self, request: Request) -> Response:
        data = AttachmentListInputSerializer(
            data={
                "chat_id": request.query_params.get("chat_id"),
                "message_id": request.query_params.getlist("message_id"),
            }
        )
        data.is_valid(raise_exception=True)
        attachments = selectors.attachment_list(
            chat_id=data.validated_data["chat_id"], user=request.user, message_ids=data.validated_data["message_id"]
        )
        return Response({"results": [attachment_data(a) for a in attachments]})

    @extend_schema(
        operation_id="attachments_upload",
        request={"multipart/form-data": AttachmentUploadInputSerializer},
        responses={
            201: AttachmentUploadOutputSerializer,
            200: OpenApiResponse(AttachmentUploadOutputSerializer, "Seen client_id: the first upload."),
            400: OpenApiResponse(description="Empty, too large, a type not accepted, or an image that cannot be read."),
            404: OpenApiResponse(description="Not a member of the chat."),
            429: OpenApiResponse(description="Too many requests; see the Retry-After header."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = AttachmentUploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        attachment, created = services.attachment_upload(
            chat_id=data["chat_id"],
            author=request.user,
            upload=data["file"],
            text=data["text"],
            client_id=data["client_id"],
        )
        body = {"message": message_data(attachment.message), "attachment": attachment_data(attachment)}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AttachmentDetailApi(APIView):
    @extend_schema(responses={200: AttachmentSerializer})
    def get(self, request: Request, attachment_id: int) -> Response:
        attachment = selectors.attachment_get_for_member(attachment_id=attachment_id, user=request.user)
        return Response(attachment_data(attachment))


def _file_response(request: Request, attachment: Attachment, name: str, content_type: str) -> HttpResponse:
    """The stored file `name` to a member: nginx sends it (X-Accel-Redirect) when in front,
    an S3-compatible store by a signed URL that expires soon, else Django streams it."""
    storage = attachments_storage()
    if not isinstance(storage, FileSystemStorage):
        return HttpResponseRedirect(storage.url(name))
    accel = request.headers.get(ACCEL_HEADER)
    if accel:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = accel.rstrip("/") + "/" + quote(name)
    else:
        response = FileResponse(storage.open(name, "rb"), content_type=content_type)
    # Images show in the page; anything else downloads, so no uploaded file runs as a page.
    inline = content_type.startswith("image/")
    response["Content-Disposition"] = content_disposition_header(as_attachment=not inline, filename=attachment.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class AttachmentFileApi(APIView):
    @extend_schema(responses={(200, "*/*"): OpenApiTypes.BINARY, 302: None, 404: None})
    def get(self, request: Request, attachment_id: int) -> HttpResponse:
        attachment = selectors.attachment_get_for_member(attachment_id=attachment_id, user=request.user)
        return _file_response(request, attachment, attachment.file.name, attachment.content_type)


class AttachmentThumbnailApi(APIView):
    @extend_schema(responses={(200, "image/webp"): OpenApiTypes.BINARY, 302: None, 404: None})
    def get(self, request: Request, attachment_id: int) -> HttpResponse:
        attachment = selectors.attachment_get_for_member(attachment_id=attachment_id, user=request.user)
        if not attachment.thumbnail:
            raise NotFoundError("This attachment has no thumbnail (yet).")
        return _file_response(request, attachment, attachment.thumbnail.name, "image/webp")
