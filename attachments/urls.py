from django.urls import path

from . import apis

urlpatterns = [
    path("attachments/", apis.AttachmentListApi.as_view(), name="attachment-list"),
    path("attachments/<int:attachment_id>/", apis.AttachmentDetailApi.as_view(), name="attachment-detail"),
    path("attachments/<int:attachment_id>/file", apis.AttachmentFileApi.as_view(), name="attachment-file"),
    path(
        "attachments/<int:attachment_id>/thumbnail", apis.AttachmentThumbnailApi.as_view(), name="attachment-thumbnail"
    ),
]
