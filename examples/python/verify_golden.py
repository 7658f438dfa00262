#!/usr/bin/env python3
"""Checks an independent implementation (Python's json + `cryptography`) against the project's
golden vector tests/golden/signed-payload-v1.json: the same canonical bytes, the same public key,
the same (deterministic) Ed25519 signature, a signature that verifies, and the same key id.
Prints "golden vector OK" and exits 0 when everything matches; exits 1 otherwise."""

import base64
import hashlib
import json
import pathlib
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "signed-payload-v1.json"


def canonical(payload):
    """RFC 8785 bytes for payloads of strings, integers and null with ASCII member names."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def main():
    vector = json.loads(GOLDEN.read_text(encoding="utf-8"))
    problems = []

    data = canonical(vector["payload"])
    if data != vector["canonical"].encode("utf-8"):
        problems.append("canonical bytes differ")

    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(vector["seed_b64"]))
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if base64.b64encode(public).decode("ascii") != vector["public_key"]:
        problems.append("public key derived from the seed differs from public_key")

    signature = base64.b64encode(key.sign(data)).decode("ascii")
    if signature != vector["signature"]:
        problems.append("signature differs")

    golden_public = Ed25519PublicKey.from_public_bytes(base64.b64decode(vector["public_key"]))
    try:
        golden_public.verify(base64.b64decode(vector["signature"]), data)
    except InvalidSignature:
        problems.append("the golden signature does not verify under public_key")

    # Key ids: "ik_" + first 8 bytes (16 hex digits) of SHA-256 of the raw 32-byte public key.
    key_id = "ik_" + hashlib.sha256(base64.b64decode(vector["public_key"])).hexdigest()[:16]
    if key_id != vector["payload"]["key_id"]:
        problems.append(f"key id {key_id} differs from payload key_id {vector['payload']['key_id']}")

    if problems:
        for problem in problems:
            print("MISMATCH:", problem, file=sys.stderr)
        return 1
    print(f"canonical: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"key id:    {key_id}")
    print("golden vector OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
