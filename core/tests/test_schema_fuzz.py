"""Schemathesis sends generated requests, valid and not, to every documented operation:
none may answer 500, and every answer must match the OpenAPI schema."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from chats.services import chat_create, message_create

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def api_schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")


@pytest.fixture
def auth_header(make_user) -> dict[str, str]:
    """A user who owns chat 1-ish data, so ids the fuzzer guesses sometimes exist."""
    user = make_user()
    other = make_user()
    chat = chat_create(created_by=user, title="fuzz", member_ids=[other.pk])
    message_create(chat=chat, author=user, text="hello")
    return {"Authorization": f"Token {Token.objects.create(user=user).key}"}


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_500(case, auth_header):
    response = case.call(headers=auth_header)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    case.validate_response(response, checks=[schemathesis.checks.not_a_server_error])
