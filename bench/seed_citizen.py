"""Registers a citizen through the real forms of a running server (TOTP computed from the
enrolment page), uploads one file as a document, and prints the session cookie (line 1) and the
document's download path (line 2). Used by bench/access_log.sh against any build of the server.

    python3 bench/seed_citizen.py http://127.0.0.1:PORT file.pdf
"""
import base64, hashlib, hmac, http.cookiejar, random, re, struct, sys, time
import urllib.error, urllib.parse, urllib.request

base, path = sys.argv[1], sys.argv[2]


def totp(secret):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(time.time() // 30)), hashlib.sha1).digest()
    o = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def page_token(html):
    """The form's CSRF token as the page wrote it."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def send(request):
    try:
        return opener.open(request, timeout=30)
    except urllib.error.HTTPError as e:
        return e


def post(p, token, fields):
    body = urllib.parse.urlencode({"csrf_token": token, **fields}).encode()
    return send(urllib.request.Request(base + p, data=body))


def get(p):
    return opener.open(base + p, timeout=30).read().decode()


password = "Bench-mark-pass-2026"
national_id = "001099" + f"{random.randrange(10**6):06d}"
r = post("/register", page_token(get("/register")),
         {"national_id": national_id, "full_name": "Người Đo Tốc Độ", "birth_date": "1999-01-01",
          "phone": "0905000999", "email": "", "password": password, "password_confirm": password})
assert r.status == 303, f"register answered {r.status}"
page = get("/enroll")
secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
r = post("/enroll", page_token(page), {"code": totp(secret)})
assert r.status == 200, f"enroll answered {r.status}"

boundary = "----cdsbench7MA4YWxkTrZu0gW"
data = open(path, "rb").read()
token = page_token(get("/documents"))
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"doc_type\"\r\n\r\nother\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nBench\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.pdf\"\r\n"
        f"Content-Type: application/pdf\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
r = send(urllib.request.Request(base + "/documents", data=body, method="POST",
                                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}))
assert r.status == 303, f"upload answered {r.status}"
doc = re.search(r'href="/documents/([0-9a-f-]{36})"', get("/documents")).group(1)
print("; ".join(f"{c.name}={c.value}" for c in jar))
print(f"/documents/{doc}/download")
