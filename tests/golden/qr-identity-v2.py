"""Computes tests/golden/qr-identity-v2.json independently of the Rust code: Python's
`cryptography` package for Ed25519 and SHA-256, and a Base45 (RFC 9285) encoder written here.
Run: /root/.cache/congdanso-tools/moto/bin/python tests/golden/qr-identity-v2.py > tests/golden/qr-identity-v2.json
"""
import hashlib
import json
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def base45(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = n % 45, n // 45
        d, e = n % 45, n // 45
        out += [ALPHABET[c], ALPHABET[d], ALPHABET[e]]
    if len(data) % 2:
        n = data[-1]
        out += [ALPHABET[n % 45], ALPHABET[n // 45]]
    return "".join(out)


seed = b"CDS-qr-golden-vector-seed-000002"
assert len(seed) == 32
key = Ed25519PrivateKey.from_private_bytes(seed)
public = key.public_key().public_bytes(
    serialization.Encoding.Raw, serialization.PublicFormat.Raw
)
key_id = hashlib.sha256(b"congdanso/v1/signing-key-id" + public).digest()[:8]
handle = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
card_id = bytes.fromhex("a1b2c3d4e5f60718293a4b5c")
status_index = 70000
issued_at = 1796292000
expires_at = issued_at + 365 * 86400
body = (
    bytes([0x02])
    + key_id
    + handle
    + struct.pack(">q", issued_at)
    + struct.pack(">q", expires_at)
    + card_id
    + struct.pack(">I", status_index)
)
assert len(body) == 57
message = b"congdanso/v1/qr-identity\0" + body
signature = key.sign(message)
token = body + signature
assert len(token) == 121
print(
    json.dumps(
        {
            "description": "Golden vector for the congdanso printed QR card token v2 (docs/CRYPTO.md, 'QR identity'): the v1 layout with version 0x02 and the 16-byte nonce field made of the card id (12 bytes) and the status index (u32 big-endian); Ed25519 over the domain 'congdanso/v1/qr-identity\\0' followed by the body, then 'CDS1:' + Base45 (RFC 9285). The seed is a test key, never a real one. Expected values computed independently by tests/golden/qr-identity-v2.py (Python 'cryptography' and a hand-written Base45 encoder).",
            "seed_hex": seed.hex(),
            "claims": {
                "version": 2,
                "key_id": "sk_" + key_id.hex(),
                "handle_hex": handle.hex(),
                "issued_at": issued_at,
                "expires_at": expires_at,
                "card_id_hex": card_id.hex(),
                "status_index": status_index,
            },
            "public_key_hex": public.hex(),
            "signed_message_hex": message.hex(),
            "token_hex": token.hex(),
            "token_text": "CDS1:" + base45(token),
        },
        indent=2,
        ensure_ascii=False,
    )
)
