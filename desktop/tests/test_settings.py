"""The per-user desktop-notification setting, beside the digest's."""

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/notifications/desktop/"


def test_on_by_default_and_saved_per_user(make_user, client_for, api_client):
    me, other = make_user(), make_user()
    client = client_for(me)
    assert client.get(URL).json() == {"enabled": True}
    assert client.patch(URL, {"enabled": False}, format="json").json() == {"enabled": False}
    assert client.get(URL).json() == {"enabled": False}
    assert client_for(other).get(URL).json() == {"enabled": True}
    assert client.patch(URL, {"enabled": True}, format="json").json() == {"enabled": True}
    # The digest's setting is its own.
    assert client.get("/api/notifications/settings/").json()["enabled"] is False  # off until turned on


@pytest.mark.parametrize("body", [{}, {"enabled": "maybe"}, {"enabled": None}])
def test_bad_input_is_400(make_user, client_for, body):
    response = client_for(make_user()).patch(URL, body, format="json")
    assert response.status_code == 400
    assert "enabled" in response.json()["extra"]["fields"]


def test_signed_out_is_refused(api_client):
    assert api_client.get(URL).status_code in (401, 403)
