#!/usr/bin/env python3
"""Upload and download a large file through the real HTTP app, and compare with the disk.

Starts the release binary on loopback with a fresh data folder (SQLite + local disk), registers
a citizen through the real forms (computing the TOTP code from the secret the enrolment page
shows), uploads a file of SIZE_MIB (default 1024) through the multipart form, downloads it, checks
the SHA-256, and reports MB/s for both next to `dd` writing and `cp` copying the same file on the
same disk, plus the server's peak resident memory (VmHWM) before and after.

Usage: python3 bench/upload_download.py [SIZE_MIB]   (build first: cargo build --release)
Only the Python standard library is used. Traffic goes to 127.0.0.1 only.
"""

import base64
import hashlib
import hmac
import http.cookiejar
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BINARY = os.path.join(TARGET, "release", "congdanso")
PIECE = 4 * 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def totp(secret_b32, at=None):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = int((at or time.time()) // 30)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main():
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    size = size_mib * 1024 * 1024
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} not found; run `cargo build --release` first")
    work = tempfile.mkdtemp(prefix="cds-bench-", dir=os.environ.get("BENCH_DIR", ROOT))
    try:
        run(work, size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work, size):
    source = os.path.join(work, "input.pdf")
    # The baseline: dd writing the file (fsync'd), then cp of the same file.
    t = time.perf_counter()
    subprocess.run(["dd", "if=/dev/urandom", f"of={source}.raw", "bs=4M",
                    f"count={size // PIECE}", "status=none"], check=True)
    with open(source, "wb") as out, open(source + ".raw", "rb") as raw:
        out.write(b"%PDF-1.7\n")
        shutil.copyfileobj(raw, out, PIECE)
    os.remove(source + ".raw")
    size = os.path.getsize(source)
    t = time.perf_counter()
    subprocess.run(["dd", f"if={source}", f"of={source}.dd", "bs=4M", "conv=fsync", "status=none"], check=True)
    dd_s = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run(["cp", source, source + ".cp"], check=True)
    subprocess.run(["sync"], check=True)
    cp_s = time.perf_counter() - t
    os.remove(source + ".dd")
    os.remove(source + ".cp")
    expected = hashlib.sha256()
    with open(source, "rb") as f:
        for piece in iter(lambda: f.read(PIECE), b""):
            expected.update(piece)

    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "BIND_ADDR": f"127.0.0.1:{port}", "LOG_FORMAT": "json",
           "RUST_LOG": "warn", "MAX_UPLOAD_BYTES": str(size + 1), "STORAGE_QUOTA_BYTES": str(size * 2)}
    server = subprocess.Popen([BINARY, "serve"], cwd=work, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

        def csrf():
            return next(c.value for c in jar if c.name == "cds_csrf")

        def post(path, fields):
            data = urllib.parse.urlencode({"csrf_token": csrf(), **fields}).encode()
            try:
                return opener.open(base + path, data=data)
            except urllib.error.HTTPError as e:
                return e

        opener.open(base + "/register").read()
        password = "Bench-mark-pass-2026"
        post("/register", {"national_id": "001099123456", "full_name": "Người Đo Tốc Độ",
                           "birth_date": "1990-01-01", "phone": "0905000999", "email": "",
                           "password": password, "password_confirm": password})
        page = opener.open(base + "/enroll").read().decode()
        secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
        post("/enroll", {"code": totp(secret)})
        rss_idle = vm_hwm_kib(server.pid)

        boundary = "----cdsbench7MA4YWxkTrZu0gW"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf()}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"doc_type\"\r\n\r\nother\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nBench\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n"
                f"Content-Type: application/pdf\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body():
            yield head
            with open(source, "rb") as f:
                for piece in iter(lambda: f.read(PIECE), b""):
                    yield piece
            yield tail

        request = urllib.request.Request(base + "/documents", data=body(), method="POST", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail))})
        t = time.perf_counter()
        try:
            response = opener.open(request)
        except urllib.error.HTTPError as e:
            response = e
        upload_s = time.perf_counter() - t
        assert response.status == 303, f"upload answered {response.status}"
        listing = opener.open(base + "/documents").read().decode()
        doc = re.search(r'href="/documents/([0-9a-f-]{36})"', listing).group(1)

        t = time.perf_counter()
        got = hashlib.sha256()
        received = 0
        with opener.open(f"{base}/documents/{doc}/download") as r:
            for piece in iter(lambda: r.read(PIECE), b""):
                got.update(piece)
                received += len(piece)
        download_s = time.perf_counter() - t
        assert received == size and got.hexdigest() == expected.hexdigest(), "download differs"
        rss_peak = vm_hwm_kib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    mb = size / 1e6
    print(f"file: {size} bytes ({size / 2**20:.0f} MiB), machine: {os.cpu_count()} CPUs")
    print(f"dd write (fsync):      {mb / dd_s:8.1f} MB/s  ({dd_s:.2f} s)")
    print(f"cp + sync:             {mb / cp_s:8.1f} MB/s  ({cp_s:.2f} s)")
    print(f"HTTP upload (encrypt): {mb / upload_s:8.1f} MB/s  ({upload_s:.2f} s)")
    print(f"HTTP download (decrypt, SHA-256 checked): {mb / download_s:8.1f} MB/s  ({download_s:.2f} s)")
    print(f"server peak RSS: {rss_idle / 1024:.1f} MiB after login, {rss_peak / 1024:.1f} MiB after "
          f"upload+download (grew {(rss_peak - rss_idle) / 1024:.1f} MiB)")


if __name__ == "__main__":
    main()
