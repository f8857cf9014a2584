"""The caller's address state as the API reports it, around the verification link."""

from urllib.parse import urlsplit

import pytest

from notifications.verification import verification_url

pytestmark = pytest.mark.django_db


def test_the_same_token_reads_its_address_verified_once_the_link_is_opened(make_user, client_for, client):
    user = make_user(email_verified_at=None)
    own = client_for(user)
    # This GET caches the user behind the token (accounts.token_cache).
    assert own.get("/api/me/email/").json() == {"email": user.email, "verified": False}
    assert client.get(urlsplit(verification_url(user=user)).path).status_code == 200
    assert own.get("/api/me/email/").json() == {"email": user.email, "verified": True}
