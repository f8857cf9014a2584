"""VAPID keys (RFC 8292): `python -m push.vapid` prints a fresh pair as .env lines.

The private key is the P-256 secret as base64url (32 bytes), which pywebpush reads as it
is; the public key is the uncompressed point as base64url, the browser's
`applicationServerKey`.
"""

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_keys_generate() -> tuple[str, str]:
    """(private, public), both base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(private), b64url(public)


if __name__ == "__main__":
    private, public = vapid_keys_generate()
    print(f"PUSH_VAPID_PRIVATE_KEY={private}")
    print(f"PUSH_VAPID_PUBLIC_KEY={public}")
