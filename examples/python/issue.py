#!/usr/bin/env python3
"""Issue a signed document into a citizen's vault from Python: what `congdanso agency issue`
does, with the standard library and the `cryptography` package (pip install cryptography).

    export CONGDANSO_SERVER=https://congdanso.example CONGDANSO_TOKEN=cds_...
    python3 issue.py --key key.json --citizen 001099000001 --type cccd --fields cccd.json \
        [--file result.pdf] [--valid-until 2041-01-15] [--title "..."] [--issuer CA-DANANG] [--dry-run]

The key file is the one `congdanso agency keygen` writes. Exit status: 0 accepted (201),
1 refused (the error code goes to stderr), 2 could not run. Every rule is in docs/api.md."""

import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.request
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def fail(message):
    print(f"issue.py: {message}", file=sys.stderr)
    sys.exit(2)


def canonical(payload):
    """RFC 8785 bytes for payloads of strings, integers and null with ASCII member names."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def load_key(path):
    """The signing key and its id from a congdanso-agency-key/v1 file, checked to agree."""
    with open(path, encoding="utf-8") as f:
        key_file = json.load(f)
    if key_file.get("format") != "congdanso-agency-key/v1":
        fail(f"{path}: not a congdanso-agency-key/v1 file")
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(key_file["private_key"]))
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if "ik_" + hashlib.sha256(public).hexdigest()[:16] != key_file["key_id"]:
        fail(f"{path}: the key id does not match the private key")
    return key, key_file["key_id"]


def call(method, url, token, body=None, content_type=None):
    """(HTTP status, JSON answer); exits with status 2 if the server cannot be reached."""
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except urllib.error.URLError as error:
        fail(f"{url}: {error.reason}")
    try:
        return status, json.loads(raw)
    except ValueError:
        fail(f"{url}: HTTP {status}, answer is not JSON")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("CONGDANSO_SERVER"))
    parser.add_argument("--key", required=True)
    parser.add_argument("--citizen", required=True)
    parser.add_argument("--type", required=True, dest="doc_type")
    parser.add_argument("--fields", required=True, help="JSON object of strings")
    parser.add_argument("--file")
    parser.add_argument("--valid-until", help="YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
    parser.add_argument("--title")
    parser.add_argument("--issuer", help="agency code (default: asked from the server)")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    token = os.environ.get("CONGDANSO_TOKEN", "")
    server = (args.server or "").rstrip("/")
    if args.dry_run and not args.issuer:
        fail("--dry-run needs --issuer (the agency code)")
    if not args.dry_run and not (server and token):
        fail("set --server (or CONGDANSO_SERVER) and CONGDANSO_TOKEN")

    key, key_id = load_key(args.key)
    with open(args.fields, encoding="utf-8") as f:
        fields = json.load(f)
    valid_until = args.valid_until
    if valid_until and re.fullmatch(r"\d{4}-\d{2}-\d{2}", valid_until):
        valid_until += "T00:00:00Z"
    if valid_until and not TIME.fullmatch(valid_until):
        fail(f"--valid-until {args.valid_until}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
    file_bytes = None
    if args.file:
        with open(args.file, "rb") as f:
            file_bytes = f.read()  # held in memory: fine for an example; stream big files
    issuer = args.issuer
    if issuer is None:
        status, answer = call("GET", f"{server}/api/v1/agency", token)
        if status != 200:
            fail(f"GET /api/v1/agency: HTTP {status}: {answer}")
        issuer = answer["agency"]["code"]

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
        "key_id": key_id,
    }
    data = canonical(payload)
    signature = base64.b64encode(key.sign(data)).decode("ascii")
    if args.dry_run:
        out = {"payload": payload, "canonical": data.decode("utf-8"), "signature": signature}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    document = {"payload": payload, "signature": signature}
    if args.title:
        document["title"] = args.title
    document_json = json.dumps(document, ensure_ascii=False).encode("utf-8")

    url = f"{server}/api/v1/documents"
    if file_bytes is None:
        status, answer = call("POST", url, token, document_json, "application/json")
    else:
        # multipart/form-data: part "document" first, then part "file".
        boundary = uuid.uuid4().hex
        name = re.sub(r'["\r\n]', "_", os.path.basename(args.file))
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="document"\r\n'
            "Content-Type: application/json\r\n\r\n".encode()
            + document_json
            + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + file_bytes
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, answer = call("POST", url, token, body, f"multipart/form-data; boundary={boundary}")
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    if status == 201:
        return 0
    print(f"issue.py: refused (HTTP {status}): {answer.get('error', {}).get('code', 'unknown')}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
