#!/usr/bin/env python3
"""Checks an independent implementation (Python's json + `cryptography`) against the project's
golden vector tests/golden/signed-payload-v1.json: same canonical bytes, same Ed25519
signature, same key id. Exit status 0 when everything matches."""

import base64
import hashlib
import json
import pathlib
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GOLDEN = pathlib.Path(__file__).resolve().parents[2] / "tests" / "golden" / "signed-payload-v1.json"


def canonical(payload):
    """RFC 8785 bytes for payloads of strings, integers and null with ASCII member names."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def main():
    vector = json.loads(GOLDEN.read_text(encoding="utf-8"))
    problems = []
    data = canonical(vector["payload"])
    if data.decode("utf-8") != vector["canonical"]:
        problems.append("canonical bytes differ")
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(vector["seed_b64"]))
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if base64.b64encode(public).decode() != vector["public_key"]:
        problems.append("public key differs")
    signature = base64.b64encode(key.sign(data)).decode()
    if signature != vector["signature"]:
        problems.append("signature differs")
    Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(vector["signature"]), data)
    key_id = "ik_" + hashlib.sha256(public).hexdigest()[:16]
    if key_id != vector["payload"]["key_id"]:
        problems.append(f"key id {key_id} differs from {vector['payload']['key_id']}")
    if problems:
        for problem in problems:
            print("MISMATCH:", problem, file=sys.stderr)
        return 1
    print("golden vector OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
