#!/usr/bin/env python3
"""Issue a signed document into a citizen's vault from Python — what `congdanso agency issue`
does, with the standard library and the `cryptography` package (pip install cryptography).

    export CONGDANSO_SERVER=https://congdanso.example CONGDANSO_TOKEN=cds_...
    python3 issue.py --key key.json --citizen 001099000001 --type cccd --fields cccd.json \
        [--file result.pdf] [--valid-until 2041-01-15] [--issuer CA-DANANG] [--dry-run]

The key file is the one `congdanso agency keygen` writes. See docs/api.md for every rule."""

import argparse
import base64
import datetime
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def canonical(payload):
    """RFC 8785 bytes for payloads of strings, integers and null with ASCII member names."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def call(method, url, token, body=None, content_type=None):
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("CONGDANSO_SERVER"))
    parser.add_argument("--key", required=True)
    parser.add_argument("--citizen", required=True)
    parser.add_argument("--type", required=True, dest="doc_type")
    parser.add_argument("--fields", required=True)
    parser.add_argument("--file")
    parser.add_argument("--valid-until")
    parser.add_argument("--title")
    parser.add_argument("--issuer")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    token = os.environ.get("CONGDANSO_TOKEN", "")

    key_file = json.load(open(args.key, encoding="utf-8"))
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(key_file["private_key"]))
    fields = json.load(open(args.fields, encoding="utf-8"))
    file_bytes = open(args.file, "rb").read() if args.file else None  # small files; stream big ones
    issuer = args.issuer
    if issuer is None:
        status, answer = call("GET", f"{args.server}/api/v1/agency", token)
        if status != 200:
            sys.exit(f"GET /api/v1/agency: {status} {answer}")
        issuer = answer["agency"]["code"]
    valid_until = args.valid_until
    if valid_until and len(valid_until) == 10:
        valid_until += "T00:00:00Z"
    payload = {
        "version": 1,
        "kind": "issued",
        "type": args.doc_type,
        "fields": fields,
        "citizen_national_id": args.citizen,
        "file_sha256": hashlib.sha256(file_bytes).hexdigest() if file_bytes is not None else None,
        "issued_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_until": valid_until,
        "issuer_id": issuer,
        "key_id": key_file["key_id"],
    }
    data = canonical(payload)
    document = {"payload": payload, "signature": base64.b64encode(key.sign(data)).decode()}
    if args.title:
        document["title"] = args.title
    if args.dry_run:
        print(json.dumps({**document, "canonical": data.decode("utf-8")}, ensure_ascii=False, indent=2))
        return 0

    url = f"{args.server}/api/v1/documents"
    if file_bytes is None:
        status, answer = call("POST", url, token, json.dumps(document).encode(), "application/json")
    else:
        boundary = uuid.uuid4().hex
        name = os.path.basename(args.file).replace('"', "_")
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="document"\r\n'
            f"Content-Type: application/json\r\n\r\n{json.dumps(document)}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + file_bytes + f"\r\n--{boundary}--\r\n".encode()
        status, answer = call("POST", url, token, body, f"multipart/form-data; boundary={boundary}")
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return 0 if status == 201 else 1


if __name__ == "__main__":
    sys.exit(main())
