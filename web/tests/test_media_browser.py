"""Attachments and Web Push in real browsers (Chromium): a file dropped on the chat shows
its thumbnail in the other member's window once the media worker made it; the service
worker registers for the whole site and the push checkbox walks the permission prompt."""

import io

import pytest
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.slow


def _png(width: int = 900, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def test_a_dropped_image_shows_its_thumbnail_to_both_members(open_page, team, worker):
    sender = open_page(team.member, f"/chats/{team.chat.pk}/")
    reader = open_page(team.owner, f"/chats/{team.chat.pk}/")
    sender.fill("#send-box input[name=text]", "the view from here")
    transfer = sender.evaluate_handle(
        """(bytes) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], "view.png", { type: "image/png" }));
            return transfer;
        }""",
        list(_png()),
    )
    sender.dispatch_event("#chat-pane", "dragover", {"dataTransfer": transfer})
    sender.dispatch_event("#chat-pane", "drop", {"dataTransfer": transfer})
    expect(sender.locator("#send-box")).to_have_attribute("data-upload", "done")
    expect(sender.locator("#upload-progress")).to_have_js_property("value", 100)
    for page in (sender, reader):
        message = page.locator("#messages .message", has_text="the view from here")
        thumbnail = message.locator(".attachments img.thumbnail")
        expect(thumbnail).to_have_count(1, timeout=30_000)
        expect(thumbnail).to_have_attribute("alt", "view.png")
        page.wait_for_function(
            "() => { const img = document.querySelector('#messages .attachments img.thumbnail');"
            " return img && img.complete && img.naturalWidth === 320; }"
        )
    # A reload reads it through REST.
    reader.reload()
    reader.wait_for_selector("body[data-ready=true]")
    expect(reader.locator("#messages .attachments img.thumbnail")).to_have_count(1)


def test_a_file_picked_with_the_button_is_a_download_link_and_a_bad_one_an_error(open_page, team):
    sender = open_page(team.member, f"/chats/{team.chat.pk}/")
    reader = open_page(team.owner, f"/chats/{team.chat.pk}/")
    sender.set_input_files("#send-box input[type=file]", files=[
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"meeting at noon\n"},
    ])  # fmt: skip
    link = reader.locator("#messages .attachments a.attachment")
    expect(link).to_have_text("📎 notes.txt (16 B)")
    sender.set_input_files("#send-box input[type=file]", files=[
        {"name": "cat.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n not really"},
    ])  # fmt: skip
    expect(sender.locator("#send-box")).to_have_attribute("data-upload", "failed")
    expect(sender.locator("#error")).to_contain_text("cannot be read")


def test_the_service_worker_registers_and_push_asks_for_permission(browser, site, team):
    for grant, states in ((["notifications"], ("subscribed", "error")), ([], ("denied",))):
        context = browser.new_context()
        if grant:
            context.grant_permissions(grant, origin=site.url)
        page = context.new_page()
        page.goto(f"{site.url}/login/?next=/")
        page.fill("input[name=username]", team.member.username)
        page.fill("input[name=password]", "pass-word-42")
        page.click("main button[type=submit]")
        page.wait_for_selector("body[data-service-worker=registered]")
        scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == f"{site.url}/"
        form = page.locator("#push-settings")
        expect(form).to_have_attribute("data-state", "ready")
        page.locator("details.settings summary").click()
        form.locator("input[name=push]").click()  # may uncheck itself at once: no push service
        expect(form).to_have_attribute("data-state", states[0] if len(states) == 1 else _any(states))
        permission = page.evaluate("Notification.permission")
        assert permission == ("granted" if grant else "denied")
        if form.get_attribute("data-state") == "error":  # no push service reachable from here
            expect(form.locator(".status")).to_contain_text("Push is not available here")
            expect(form.locator("input[name=push]")).not_to_be_checked()
        context.close()


def _any(states):
    import re

    return re.compile("^(" + "|".join(states) + ")$")
