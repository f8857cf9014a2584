"""Hostile input the schema fuzzer does not try, sent through nginx to the site as `make run`
serves it: JSON too deep or too wide, numbers out of every range, unicode that PostgreSQL
refuses, odd and oversized headers, wrong content types. No answer is a server error, and
every error, whoever answers it (nginx, granian, uvicorn), is the API's JSON error body
`{"message", "extra"}`, never an HTML page."""

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from django.conf import settings

from accounts.services import token_create
from chats.services import chat_create, message_create

ERROR_KEYS = {"message", "extra"}
HUGE = "99999999999999999999"  # past bigint


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] | None = None
    authenticated: bool = True


def _json(text: str) -> bytes:
    return text.encode()


def cases(chat_id: int, message_id: int) -> Iterator[Case]:
    messages = f"/api/chats/{chat_id}/messages/"
    members = f"/api/chats/{chat_id}/members/"
    limit = settings.MAX_REQUEST_BODY_BYTES
    # Structure: nesting as deep as the size limit allows, and very wide objects.
    depth = (limit - 100) // 2
    yield Case("deep array", "POST", messages, b"[" * depth + b"]" * depth)
    depth = (limit - 100) // 6
    yield Case("deep object", "POST", messages, b'{"a":' * depth + b"1" + b"}" * depth)
    yield Case("deep value", "POST", messages, b'{"text": ' + b"[" * 30000 + b"]" * 30000 + b"}")
    wide = ",".join(f'"k{i}":{i}' for i in range(limit // 12))
    yield Case("wide object", "POST", messages, ("{" + wide + "}").encode()[: limit - 10] + b"}")
    yield Case("text too long", "POST", messages, _json('{"text": "' + "x" * (limit - 100) + '"}'))
    yield Case("not json", "POST", messages, b'{"text": ')
    yield Case("json scalar", "POST", messages, b'"hello"')
    yield Case("json null", "POST", messages, b"null")
    yield Case("invalid utf-8", "POST", messages, b'{"text": "\xff\xfe\xfd"}')
    # Numbers out of range, in bodies, paths and queries.
    for value in ("1e400", "-1e400", "NaN", "Infinity", "-Infinity", HUGE, f"-{HUGE}", "1.5", "0", "true", '"7"'):
        yield Case(f"user_id {value}", "POST", members, _json(f'{{"user_id": {value}}}'))
    for path in (f"/api/chats/{HUGE}/", f"/api/chats/{HUGE}/messages/", f"/api/chats/{chat_id}/messages/{HUGE}/"):
        yield Case(f"GET {path}", "GET", path)
    yield Case("POST huge chat", "POST", f"/api/chats/{HUGE}/messages/", _json('{"text": "x"}'))
    yield Case("PATCH huge message", "PATCH", f"/api/chats/{chat_id}/messages/{HUGE}/", _json('{"text": "x"}'))
    yield Case("DELETE huge member", "DELETE", f"/api/chats/{chat_id}/members/{HUGE}/")
    for params in (
        {"after": HUGE},
        {"before": HUGE},
        {"after": "-1"},
        {"limit": "1e9"},
        {"limit": "NaN"},
        {"after": "abc"},
        {"after": "1", "before": "0"},
    ):
        yield Case(f"messages {params}", "GET", messages, params=params)
    for params in (
        {"after": HUGE},
        {"after": "1", "wait": "NaN"},
        {"after": "1", "wait": "1e309"},
        {"after": "1", "wait": "-Infinity"},
        {"limit": HUGE},
        {"after": "١٢"},  # Arabic-Indic digits: int() takes them, a cursor must not
    ):
        yield Case(f"updates {params}", "GET", "/api/updates/", params=params)
    for channel in (f"chat:{HUGE}", "chat:", "chat:abc", "personal:#1", "chat:1\x00", "☃"):
        yield Case(
            f"subscription token {channel!r}", "GET", "/api/realtime/subscription-token/", params={"channel": channel}
        )
    # Unicode PostgreSQL refuses (NUL) or cannot encode (lone surrogates), and odd but valid text.
    for text in (
        "\\ud800",
        "\\udfff",
        "a\\u0000b",
        "\\u0000",
        "\\ud83d\\ude00",
        "\\u202e\\u0645",
        "\\ufeff",
        "\\uffff",
    ):
        yield Case(f"text {text}", "POST", messages, _json(f'{{"text": "{text}", "client_id": "{text}"}}'))
        yield Case(f"title {text}", "PATCH", f"/api/chats/{chat_id}/", _json(f'{{"title": "{text}"}}'))
        yield Case(
            f"register {text}",
            "POST",
            "/api/auth/register/",
            _json(f'{{"username": "u{text}", "email": "a{text}@example.com", "password": "p{text}assphrase-long"}}'),
            authenticated=False,
        )
        yield Case(
            f"token {text}",
            "POST",
            "/api/auth/token/",
            _json(f'{{"username": "{text}", "password": "{text}"}}'),
            authenticated=False,
        )
    yield Case("edit text NUL", "PATCH", f"{messages}{message_id}/", _json('{"text": "a\\u0000"}'))
    # Content types and headers.
    body = _json('{"text": "hi"}')
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/json; charset=utf-16",
        "application/json; charset=nonsense",
        "application/xml",
        "",
    ):
        yield Case(f"content-type {content_type!r}", "POST", messages, body, headers={"Content-Type": content_type})
    for authorization in ("Token", "Token a b", "Bearer x", "Token " + "x" * 5000, "Basic Og=="):
        yield Case(f"authorization {authorization[:20]!r}", "GET", "/api/me/", headers={"Authorization": authorization})
    yield Case("host header", "GET", "/api/me/", headers={"Host": "evil.example"})
    yield Case("huge header", "GET", "/api/me/", headers={"X-Junk": "x" * 20_000})
    yield Case("huge cookie", "GET", "/api/me/", headers={"Cookie": "sessionid=" + "x" * 20_000})
    yield Case("bad cookie", "GET", "/api/me/", headers={"Cookie": "sessionid=\x01\x02; csrftoken=;;;"})
    yield Case("accept html", "GET", f"/api/chats/{HUGE}/", headers={"Accept": "text/html"})
    yield Case("last-event-id", "GET", "/api/updates/stream/", headers={"Last-Event-ID": "abc"})
    yield Case("last-event-id huge", "GET", "/api/updates/stream/", headers={"Last-Event-ID": HUGE})
    yield Case("unknown api path", "GET", "/api/nothing-here/")
    yield Case("uri too long", "GET", "/api/" + "a" * 10_000)
    # Between gunicorn's old request-line limit (4094) and nginx's buffer: once an HTML 414.
    for length in (4_000, 4_100, 6_000, 8_200):
        yield Case(f"query of {length}", "GET", "/api/search/", params={"q": "x", "cursor": "c" * length})
    yield Case("method not allowed", "PUT", "/api/me/", body)
    yield Case("trace", "TRACE", "/api/me/")
    yield Case("trace on a .png URI", "TRACE", "/api/reports/activity/0/chart.png")
    yield Case("feed OPTIONS", "OPTIONS", "/api/updates/")
    yield Case("stream POST", "POST", "/api/updates/stream/", body)
    yield Case("unknown method", "FOO", "/api/me/")


@pytest.fixture
def target(site, make_user) -> tuple[dict[str, str], int, int]:
    user = make_user()
    chat = chat_create(created_by=user, title="hostile", member_ids=[make_user().pk])
    message, _ = message_create(chat_id=chat.pk, author=user, text="hello")
    return {"Authorization": f"Token {token_create(user=user)}"}, chat.pk, message.pk


def test_hostile_input_is_refused_with_the_json_error_body(site, target):
    auth, chat_id, message_id = target
    problems = []
    with httpx.Client(base_url=site.url, timeout=30) as http:
        for case in cases(chat_id, message_id):
            headers = {"Content-Type": "application/json"} | (auth if case.authenticated else {}) | case.headers
            if headers.get("Content-Type") == "":
                del headers["Content-Type"]
            try:
                response = http.request(case.method, case.path, content=case.body, headers=headers, params=case.params)
            except httpx.HTTPError as exc:
                problems.append((case.name, type(exc).__name__))
                continue
            if response.status_code >= 500:
                problems.append((case.name, response.status_code, response.text[:200]))
            elif response.status_code >= 400:
                kind = response.headers.get("content-type", "")
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if not kind.startswith("application/json") or not isinstance(body, dict) or set(body) != ERROR_KEYS:
                    problems.append((case.name, response.status_code, kind, response.text[:200]))
    assert not problems, "\n".join(map(repr, problems))


# -- URL-level cases, sent raw over a socket (an HTTP client would refuse to send them) -----
RAW_PATHS = [
    "/api/chats/%00/",
    "/api/chats/1%00/messages/",
    "/api/updates/%00",
    "/api/%zz/",
    "/api/chats/%/",
    "/api/chats/%c0%ae%c0%ae/",
    "/api/chats/%ff%fe/",
    "/api/../../etc/passwd",
    "/api/chats/1/../../../../x",
    "/api/chats/\x01/",
    "/api/chats/ /",
    "/api/\x7f/",
    "/api/chats/1?x=%00",
    "/api/chats/1?%zz",
    "/api/" + "a" * 10_000,
    "/api/chats/?" + "q=x&" * 3_000,
]
RAW_REQUESTS = [
    *(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("latin-1") for path in RAW_PATHS),
    b"get /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # methods are upper case
    b"G\x00T /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"CONNECT /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"FOO /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /api/me/ HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /api/me/ HTTP/1.1\r\n\r\n",  # no Host
    b"GET /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.2\r\n\r\n",
    b"GET /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n",
    b"GET /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: \x00\r\n\r\n",
    b"GET /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
    b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"
    b"2\r\n{}\r\n0\r\n\r\n",
    b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n{}",
    b"GET /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Junk: " + b"x" * 20_000 + b"\r\n\r\n",
]


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends `request` as it is and reads the one answer: status, headers, body."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, body


@pytest.mark.parametrize("request_bytes", RAW_REQUESTS, ids=lambda r: repr(r[:60]))
def test_url_level_garbage_is_answered_in_json_and_never_5xx(site, request_bytes):
    import json

    status, headers, body = _raw(site.port, request_bytes)
    assert status < 500, (status, body[:300])
    if status >= 400:
        assert headers.get("content-type", "").startswith("application/json"), (status, headers, body[:300])
        assert set(json.loads(body)) == ERROR_KEYS, body[:300]
