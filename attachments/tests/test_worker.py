"""Thumbnails on a real worker (the `media` queue), and the whole path through nginx."""

import httpx
import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from PIL import Image

from attachments.models import Attachment
from attachments.storage import attachments_storage
from attachments.tasks import attachment_thumbnail_make
from chats.services import message_create
from messenger.celery import app
from realtime.models import Event
from testing.processes import wait_until

from .images import jpeg_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_thumbnail_tasks_go_to_the_media_queue():
    assert app.amqp.router.route({}, attachment_thumbnail_make.name)["queue"].name == "media"


def _status(attachment_id: int) -> str:
    return Attachment.objects.get(pk=attachment_id).status


def test_a_real_worker_makes_the_thumbnail_and_tells_the_members(worker, team, client_for):
    body = client_for(team.member).post(
        "/api/attachments/",
        {"chat_id": team.chat.pk, "file": ContentFile(jpeg_bytes(1600, 1200), name="big.jpg")},
        format="multipart",
    )
    assert body.status_code == 201, body.content
    attachment_id = body.json()["attachment"]["id"]
    wait_until(lambda: _status(attachment_id) != "pending", timeout=30, what="the thumbnail")
    attachment = Attachment.objects.get(pk=attachment_id)
    assert attachment.status == "ready"
    with attachments_storage().open(attachment.thumbnail.name) as file, Image.open(file) as thumbnail:
        assert thumbnail.format == "WEBP"
        assert max(thumbnail.size) == 320
    event = Event.objects.filter(type="attachment.updated").latest("id")
    assert event.data["id"] == attachment_id
    assert event.data["status"] == "ready"
    assert event.data["thumbnail_url"] == reverse("attachment-thumbnail", args=[attachment_id])
    thumb = client_for(team.owner).get(event.data["thumbnail_url"])
    assert thumb.status_code == 200
    assert thumb["Content-Type"] == "image/webp"
    assert client_for(team.outsider).get(event.data["thumbnail_url"]).status_code == 404


def test_a_file_the_worker_cannot_decode_fails_without_retrying(worker, team):
    """A file that passed the upload's checks but breaks in the worker (storage corrupted it,
    or a decoder bug): the attachment is marked failed and told, the worker goes on."""
    storage = attachments_storage()
    name = storage.save(f"files/{team.chat.pk}/broken.png", ContentFile(b"\x89PNG\r\n\x1a\nbroken"))
    with transaction.atomic():
        message, _ = message_create(chat_id=team.chat.pk, author=team.member, text="")
        attachment = Attachment.objects.create(
            chat=team.chat, message=message, file=name, name="x.png", content_type="image/png", size=16,
            width=10, height=10, status="pending",
        )  # fmt: skip
        attachment_thumbnail_make.delay_on_commit(attachment.pk)
    wait_until(lambda: _status(attachment.pk) != "pending", timeout=30, what="the task")
    assert _status(attachment.pk) == "failed"
    assert Event.objects.filter(type="attachment.updated", data__id=attachment.pk, data__status="failed").exists()


def test_through_nginx_a_large_upload_streams_and_files_come_from_the_internal_location(site, team, make_user):
    """nginx takes the upload path's bigger bodies (MAX_REQUEST_BODY_BYTES elsewhere), and
    answers the file itself after Django's X-Accel-Redirect."""
    from accounts.services import token_create

    headers = {"Authorization": f"Token {token_create(user=team.member)}"}
    content = jpeg_bytes(2400, 1800, noise=True)
    assert len(content) > 1024 * 1024
    with httpx.Client(base_url=site.url, headers=headers, timeout=30) as client:
        response = client.post(
            "/api/attachments/", data={"chat_id": str(team.chat.pk)}, files={"file": ("big.jpg", content)}
        )
        assert response.status_code == 201, response.text
        url = response.json()["attachment"]["url"]
        file = client.get(url)
        assert file.status_code == 200
        assert file.content == content
        assert file.headers["content-type"] == "image/jpeg"
        assert file.headers["x-content-type-options"] == "nosniff"
        assert "x-accel-redirect" not in file.headers
        # The internal location itself is not reachable from outside.
        name = Attachment.objects.get(pk=response.json()["attachment"]["id"]).file.name
        assert client.get(f"/_attachments/{name}").status_code == 404
        # Anywhere else, the general body limit still holds.
        big = client.post(f"/api/chats/{team.chat.pk}/messages/", content=b"x" * (2 * 1024 * 1024))
        assert big.status_code == 413
    outsider = {"Authorization": f"Token {token_create(user=team.outsider)}"}
    assert httpx.get(site.url + url, headers=outsider).status_code == 404
