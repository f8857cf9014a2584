"""Schemathesis sends generated requests, valid and not, authenticated as a member of a chat,
to every documented operation of the site as `make run` serves it (nginx, granian,
uvicorn): none may answer with a server error, and every error is the API's JSON error body.
25 examples per operation keep it near a minute on a 2-core machine; what it does not
generate (depth, size, unicode, headers) is in test_hostile_input.py."""

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings

from accounts.services import token_create
from chats.services import chat_create, message_create

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))


@pytest.fixture
def auth_header(make_user) -> dict[str, str]:
    """A member of a chat with a message, so some of the ids the fuzzer tries exist."""
    user = make_user()
    chat = chat_create(created_by=user, title="fuzz", member_ids=[make_user().pk])
    message_create(chat_id=chat.pk, author=user, text="hello")
    return {"Authorization": f"Token {token_create(user=user)}"}


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_500(case, site, auth_header):
    response = case.call(base_url=site.url, headers=auth_header)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    if response.status_code >= 400:
        kind = response.headers.get("content-type") or [""]  # schemathesis: a list per header
        detail = (case.method, case.formatted_path, case.headers, case.query, response.status_code, response.text[:300])
        assert (kind[0] if isinstance(kind, list) else kind).startswith("application/json"), detail
        assert set(response.json()) == {"message", "extra"}, response.text[:300]
