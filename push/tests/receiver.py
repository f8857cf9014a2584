"""A push service on loopback for the tests: it speaks the Web Push protocol (RFC 8030) as
a browser vendor's service would, checks the VAPID signature (RFC 8292), and decrypts each
push with the subscription's private keys (RFC 8291, http_ece), as the browser would."""

import base64
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserKeys:
    """What a browser keeps for one subscription: its ECDH key pair and the auth secret."""

    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )


@dataclass
class Delivery:
    token: str
    payload: dict[str, Any]
    headers: dict[str, str]


class PushReceiver:
    """`subscribe()` gives a subscription (endpoint + keys) as `PushSubscription.toJSON()`
    would; `deliveries` holds each decrypted push; `answer[token]` sets the status answered
    for one endpoint (410: the subscription expired)."""

    def __init__(self) -> None:
        self.keys: dict[str, BrowserKeys] = {}
        self.answer: dict[str, int] = {}
        self.deliveries: list[Delivery] = []
        self.refused: list[str] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                token = self.path.rsplit("/", 1)[-1]
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.answer.get(token, 201)
                try:
                    payload = receiver._open(token, body, self.headers)
                except Exception as exc:  # noqa: BLE001 - reported to the test
                    with receiver.changed:
                        receiver.refused.append(f"{token}: {exc!r}")
                        receiver.changed.notify_all()
                    status = 400
                else:
                    if status < 300:
                        with receiver.changed:
                            receiver.deliveries.append(Delivery(token, payload, dict(self.headers)))
                            receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "PushReceiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def subscribe(self) -> dict[str, Any]:
        token = b64url(os.urandom(12))
        keys = self.keys[token] = BrowserKeys()
        return {"endpoint": f"{self.url}/push/{token}", "keys": {"p256dh": keys.p256dh, "auth": b64url(keys.auth)}}

    def _open(self, token: str, body: bytes, headers) -> dict[str, Any]:
        if headers.get("Content-Encoding") != "aes128gcm":
            raise ValueError(f"Content-Encoding {headers.get('Content-Encoding')!r}")
        if not headers.get("TTL"):
            raise ValueError("no TTL header")
        # VAPID: `vapid t=<JWT>, k=<public key>`; the JWT is ES256, signed for our origin.
        scheme, _, params = (headers.get("Authorization") or "").partition(" ")
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        if scheme.lower() != "vapid":
            raise ValueError(f"Authorization scheme {scheme!r}")
        point = b64url_decode(fields["k"])
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        claims = jwt.decode(fields["t"], public, algorithms=["ES256"], audience=self.url)
        if not claims.get("sub"):
            raise ValueError("no sub claim")
        keys = self.keys[token]
        plain = http_ece.decrypt(body, private_key=keys.private_key, auth_secret=keys.auth, version="aes128gcm")
        return json.loads(plain)

    def wait_for(self, count: int, timeout: float = 30) -> list[Delivery]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.deliveries) >= count or self.refused, timeout=timeout)
            assert not self.refused, self.refused
            return list(self.deliveries)
