"""Attachments over REST: upload with a message (members only), checks from the content,
the files to members only, and the files gone with the message."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from attachments.models import Attachment
from attachments.representations import attachment_data
from attachments.serializers import AttachmentSerializer
from attachments.storage import attachments_storage
from chats.services import message_delete
from realtime.models import Event

from .images import bomb_png, jpeg_bytes, png_bytes

URL = "/api/attachments/"


def _upload(client, chat_id, content: bytes, name: str = "photo.png", **fields):
    return client.post(
        URL, {"chat_id": chat_id, "file": SimpleUploadedFile(name, content), **fields}, format="multipart"
    )


def _files_on_disk() -> set[str]:
    storage = attachments_storage()
    names = set()
    for top in ("files", "thumbnails"):
        if not storage.exists(top):
            continue
        for chat_dir in storage.listdir(top)[0]:
            names |= {f"{top}/{chat_dir}/{f}" for f in storage.listdir(f"{top}/{chat_dir}")[1]}
    return names


@pytest.mark.django_db
def test_a_member_uploads_an_image_with_a_message(team, client_for):
    files_before = _files_on_disk()
    response = _upload(client_for(team.member), team.chat.pk, png_bytes(64, 48), text="look", client_id="c1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["message"]["text"] == "look"
    attachment = body["attachment"]
    assert attachment | {"id": 0, "created_at": "", "url": "", "message_id": 0} == {
        "id": 0,
        "chat_id": team.chat.pk,
        "message_id": 0,
        "uploaded_by": team.member.pk,
        "name": "photo.png",
        "content_type": "image/png",
        "size": len(png_bytes(64, 48)),
        "width": 64,
        "height": 48,
        "status": "pending",
        "url": "",
        "thumbnail_url": None,
        "created_at": "",
    }
    assert attachment["message_id"] == body["message"]["id"]
    types = list(Event.objects.filter(chat_id=team.chat.pk).order_by("id").values_list("type", flat=True))
    assert types[-2:] == ["message.created", "attachment.created"]
    created = Event.objects.filter(type="attachment.created").latest("id")
    assert created.data == attachment
    # A retry with the same client_id: the first upload, no second message or file.
    again = _upload(client_for(team.member), team.chat.pk, png_bytes(64, 48), text="look", client_id="c1")
    assert again.status_code == 200
    assert again.json()["attachment"]["id"] == attachment["id"]
    assert Attachment.objects.count() == 1
    assert len(_files_on_disk() - files_before) == 1


@pytest.mark.django_db
def test_only_members_upload_read_or_list(team, client_for):
    response = _upload(client_for(team.outsider), team.chat.pk, png_bytes())
    assert response.status_code == 404
    assert not Attachment.objects.exists()

    attachment = _upload(client_for(team.owner), team.chat.pk, b"%PDF-1.4 a report", name="r.pdf").json()["attachment"]
    member, outsider = client_for(team.member), client_for(team.outsider)
    file = member.get(attachment["url"])
    assert file.status_code == 200
    assert b"".join(file.streaming_content) == b"%PDF-1.4 a report"
    assert file["Content-Type"] == "application/pdf"
    assert file["Content-Disposition"].startswith("attachment;")  # not an image: downloads
    assert file["X-Content-Type-Options"] == "nosniff"
    assert outsider.get(attachment["url"]).status_code == 404
    assert outsider.get(f"{URL}{attachment['id']}/").status_code == 404
    listed = member.get(URL, {"chat_id": team.chat.pk, "message_id": [attachment["message_id"], 999]})
    assert [a["id"] for a in listed.json()["results"]] == [attachment["id"]]
    assert outsider.get(URL, {"chat_id": team.chat.pk, "message_id": [attachment["message_id"]]}).status_code == 404
    # Behind nginx the answer is an X-Accel-Redirect to the internal location.
    accel = member.get(attachment["url"], HTTP_X_ATTACHMENTS_ACCEL="/_attachments/")
    assert accel["X-Accel-Redirect"].startswith(f"/_attachments/files/{team.chat.pk}/")
    assert accel.content == b""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("cat.png", b"MZ\x90\x00 an executable", "type"),
        ("cat.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "cannot be read"),  # a PNG signature, no image
        ("cat.jpg", jpeg_bytes(800, 600, noise=True)[:30_000], "cannot be read"),  # truncated JPEG
        ("cat.png", png_bytes(400, 300)[:-200], "cannot be read"),  # truncated PNG
        ("bomb.png", bomb_png(), "too large"),  # 100 million pixels in a few kB
        ("cat.png", jpeg_bytes(64, 64), None),  # a JPEG named .png: its content decides, accepted
        ("empty.txt", b"", "empty"),
    ],
)
def test_content_decides_and_poisoned_images_are_a_400(team, client_for, name, content, why):
    response = _upload(client_for(team.member), team.chat.pk, content, name=name)
    if why is None:
        assert response.status_code == 201
        assert response.json()["attachment"]["content_type"] == "image/jpeg"
        return
    assert response.status_code == 400, response.content
    body = response.json()
    assert "file" in body["extra"]["fields"]
    assert why in " ".join(body["extra"]["fields"]["file"]) or why in body["message"]
    assert not Attachment.objects.exists()


@pytest.mark.django_db
def test_size_limit_is_checked_on_the_server(team, client_for, settings):
    settings.ATTACHMENTS_MAX_BYTES = 1000
    response = _upload(client_for(team.member), team.chat.pk, b"x" * 1001, name="a.txt")
    assert response.status_code == 400
    assert "too large" in response.json()["message"]


@pytest.mark.django_db
def test_deleting_the_message_deletes_its_files(team, client_for, django_capture_on_commit_callbacks):
    body = _upload(client_for(team.member), team.chat.pk, b"plain words\n", name="notes.txt").json()
    attachment = Attachment.objects.get(pk=body["attachment"]["id"])
    name = attachment.file.name
    assert attachments_storage().exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        message_delete(message=attachment.message, actor=team.member)
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
    assert not attachments_storage().exists(name)
    assert client_for(team.member).get(body["attachment"]["url"]).status_code == 404


@pytest.mark.django_db
def test_deleting_the_chat_deletes_its_files(team, client_for, django_capture_on_commit_callbacks):
    body = _upload(client_for(team.member), team.chat.pk, b"plain words\n", name="notes.txt").json()
    name = Attachment.objects.get(pk=body["attachment"]["id"]).file.name
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(team.owner).delete(f"/api/chats/{team.chat.pk}/").status_code == 204
    assert not attachments_storage().exists(name)


@pytest.mark.django_db
def test_the_representation_matches_the_openapi_serializer(team, client_for):
    _upload(client_for(team.member), team.chat.pk, png_bytes())
    data = attachment_data(Attachment.objects.get())
    assert set(data) == set(AttachmentSerializer().fields)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "/api/attachments/" in schema["paths"]
    assert "multipart/form-data" in schema["paths"]["/api/attachments/"]["post"]["requestBody"]["content"]
