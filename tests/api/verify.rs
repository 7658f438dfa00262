//! Checking packages from outside: `POST /api/v1/verify` and `congdanso verify` (the real
//! binary). The platform key is pinned, output is terminal-safe, a member twice in a signed
//! payload is refused everywhere, payload refusals name the member, and what follows a package
//! is bounded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::crypto::sign;
use congdanso::issuers::service as issuers;
use congdanso::startup::app;
use congdanso::verify::package::{self, Manifest, PACKAGE_FORMAT, PackageWriter};
use congdanso::verify::{Receipt, SignedReceipt, offline, payload};
use futures_util::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};
use crate::issuing::{
    CITIZEN, Issuer, cccd_fields, make_issuer, package_bytes, post_json, register_citizen_directly,
};

/// The real binary with a clean environment (PATH only), for every test that runs the CLI.
pub fn cli() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_congdanso"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// Runs the binary off the test's runtime, which keeps serving the database pool's tasks
/// meanwhile (a blocked runtime would hold connections the server is waiting for).
pub async fn run(command: &mut std::process::Command) -> (i32, String, String) {
    let mut command = std::mem::replace(command, std::process::Command::new("true"));
    let output = actix_web::rt::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Characters that act on a terminal or reorder text: none may reach the output raw.
fn has_unsafe(text: &str) -> bool {
    text.chars().any(|c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    })
}

/// Posts a raw JSON text to the issuing API.
async fn post_text(t: &TestApp, token: &str, body: String) -> (StatusCode, Value) {
    let service = test::init_service(app(t.state.clone())).await;
    let request = test::TestRequest::post()
        .uri("/api/v1/documents")
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("content-type", "application/json"))
        .set_payload(body)
        .to_request();
    let response = test::call_service(&service, request).await;
    let status = response.status();
    let bytes = test::read_body(response).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Posts package bytes to `POST /api/v1/verify`.
async fn post_package(t: &TestApp, bytes: Vec<u8>) -> (StatusCode, Value) {
    let service = test::init_service(app(t.state.clone())).await;
    let request = test::TestRequest::post()
        .uri("/api/v1/verify")
        .insert_header(("content-type", "application/x-tar"))
        .set_payload(bytes)
        .to_request();
    let response = test::call_service(&service, request).await;
    let status = response.status();
    let bytes = test::read_body(response).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Issues a CCCD (no file) through the API; its document id.
async fn issue_cccd(t: &TestApp, issuer: &Issuer) -> Uuid {
    let good = issuer.payload(t, "cccd", cccd_fields(CITIZEN), None);
    let (status, answer) =
        post_json(t, &issuer.token, "/api/v1/documents", &issuer.signed(&good)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["document"]["id"].as_str().unwrap().parse().unwrap()
}

/// A package without a file around a manifest text written by hand (so it may hold what
/// `PackageWriter`'s JSON could not, such as a member twice).
fn package_around(manifest: &str) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.set_path(package::MANIFEST_NAME).unwrap();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(manifest.as_bytes());
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// The manifest of package bytes, as pretty JSON text.
async fn manifest_text(bytes: &[u8]) -> String {
    let stream =
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes.to_vec()))]);
    let read = package::read(stream, u64::MAX).await.unwrap();
    serde_json::to_string_pretty(&read.manifest).unwrap()
}

/// A package signed by `issuer` with any fields (the catalogue is the issuing side's rule, not
/// the verifier's), with a genuine platform receipt: it verifies.
async fn package_with_fields(t: &TestApp, issuer: &Issuer, fields: Value) -> Vec<u8> {
    let signed = issuer.payload(t, "other", fields, None);
    let parsed = payload::parse(&signed).unwrap();
    let receipt = Receipt {
        version: 1,
        kind: "receipt".into(),
        document_id: Uuid::new_v4().to_string(),
        payload_sha256: parsed.digest_hex(),
        accepted_at: payload::format_time(congdanso::clock::Clock::now(&t.clock)),
    };
    let receipt_value = serde_json::to_value(&receipt).unwrap();
    let manifest = Manifest {
        format: PACKAGE_FORMAT.into(),
        signature: sign::sign_json(&issuer.key, &signed).unwrap(),
        payload: signed,
        receipt: Some(SignedReceipt {
            receipt,
            signature: sign::sign_json(t.state.keys.signing.signing_key(), &receipt_value).unwrap(),
            platform_key_id: t.state.keys.signing.id().to_owned(),
        }),
        file: None,
    };
    let writer = PackageWriter::new(&manifest, 0).unwrap();
    let parts: Vec<bytes::Bytes> = writer
        .into_stream::<futures_util::stream::Empty<Result<bytes::Bytes, std::io::Error>>, _>(None)
        .map(|r| r.unwrap())
        .collect()
        .await;
    parts.concat()
}

/// The published lists written to files, for `verify --trust-list … --platform-keys …`.
pub async fn write_lists(t: &TestApp, dir: &std::path::Path) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let list = dir.join("tl.json");
    let keys = dir.join("pk.json");
    std::fs::write(
        &list,
        issuers::trust_list(&t.state).await.unwrap().to_string(),
    )
    .unwrap();
    std::fs::write(
        &keys,
        issuers::platform_keys(&t.state).await.unwrap().to_string(),
    )
    .unwrap();
    (
        list.to_string_lossy().into_owned(),
        keys.to_string_lossy().into_owned(),
    )
}

#[actix_web::test]
async fn payload_refusals_name_the_member_and_the_expected_form() {
    let t = spawn_app().await;
    register_citizen_directly(&t, CITIZEN).await;
    let issuer = make_issuer(&t, "CA-DANANG", 41).await;
    let good = issuer.payload(&t, "cccd", cccd_fields(CITIZEN), None);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("valid_until");
    let mut offset = good.clone();
    offset["issued_at"] = json!("2026-11-23T08:00:00+00:00");
    let mut string = good.clone();
    string["version"] = json!("1");
    for (payload, field, says) in [
        (
            &missing,
            "payload.valid_until",
            "payload.valid_until is missing",
        ),
        (&offset, "payload.issued_at", "YYYY-MM-DDTHH:MM:SSZ"),
        (&string, "payload.version", "the integer 1"),
    ] {
        let (status, answer) = post_json(
            &t,
            &issuer.token,
            "/api/v1/documents",
            &issuer.signed(payload),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["code"], "payload_malformed", "{answer}");
        assert_eq!(answer["error"]["fields"][0]["field"], field, "{answer}");
        assert_eq!(
            answer["error"]["fields"][0]["code"], "payload_malformed",
            "{answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
        assert!(message.contains(says), "{message}");
    }

    // The verify API's report says the same.
    let id = issue_cccd(&t, &issuer).await;
    let text = manifest_text(&package_bytes(&t, id).await).await;
    let time = payload::format_time(congdanso::clock::Clock::now(&t.clock));
    let edited = text.replacen(
        &format!("\"issued_at\": \"{time}\""),
        &format!("\"issued_at\": \"{}+00:00\"", time.trim_end_matches('Z')),
        1,
    );
    assert_ne!(edited, text);
    let (status, report) = post_package(&t, package_around(&edited)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["valid"], false);
    assert_eq!(report["code"], "payload_malformed");
    let message = report["message"].as_str().unwrap();
    assert!(
        message.starts_with("payload.issued_at: expected"),
        "{message}"
    );
}

#[actix_web::test]
async fn a_member_twice_in_a_signed_payload_is_refused_by_the_api_the_verify_api_and_the_cli() {
    let t = spawn_app().await;
    register_citizen_directly(&t, CITIZEN).await;
    let issuer = make_issuer(&t, "CA-DANANG", 42).await;
    let good = issuer.payload(&t, "cccd", cccd_fields(CITIZEN), None);
    let signature = sign::sign_json(&issuer.key, &good).unwrap();
    // The signature covers the last value; a reader keeping the first would see another name.
    let body = json!({ "payload": good, "signature": signature }).to_string();
    let real = "\"full_name\":\"Nguyễn Văn Thử\"";
    assert!(body.contains(real), "{body}");
    let twice = body.replacen(real, &format!("\"full_name\":\"Người Khác\",{real}"), 1);
    let (status, answer) = post_text(&t, &issuer.token, twice).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "payload_duplicate_key", "{answer}");
    assert_eq!(answer["error"]["fields"][0]["field"], "payload.fields");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("payload.fields.full_name: "),
        "{message}"
    );
    // At the top of the payload too.
    let twice = body.replacen("\"version\":1", "\"version\":1,\"version\":1", 1);
    let (_, answer) = post_text(&t, &issuer.token, twice).await;
    assert_eq!(answer["error"]["code"], "payload_duplicate_key", "{answer}");
    assert_eq!(answer["error"]["fields"][0]["field"], "payload.version");
    // Outside the payload it is a malformed request, named.
    let twice = body.replacen("\"signature\":", "\"signature\":\"AAAA\",\"signature\":", 1);
    let (_, answer) = post_text(&t, &issuer.token, twice).await;
    assert_eq!(answer["error"]["code"], "request_malformed", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("signature appears twice"),
        "{answer}"
    );

    // A genuine package whose manifest gains a first, other value of a signed member.
    let id = issue_cccd(&t, &issuer).await;
    let text = manifest_text(&package_bytes(&t, id).await).await;
    let real = "\"full_name\": \"Nguyễn Văn Thử\"";
    assert!(text.contains(real), "{text}");
    let twice = text.replacen(real, &format!("\"full_name\": \"Người Khác\", {real}"), 1);
    let forged = package_around(&twice);
    let (status, answer) = post_package(&t, forged.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "payload_duplicate_key", "{answer}");
    assert_eq!(answer["error"]["fields"][0]["field"], "payload.fields");
    // The same package with its member once verifies: the refusal is about the duplicate.
    let (status, report) = post_package(&t, package_around(&text)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["valid"], true, "{report}");

    // The command line says the same, exit status 1.
    let dir = tempfile::tempdir().unwrap();
    let (list, keys) = write_lists(&t, dir.path()).await;
    let file = dir.path().join("forged.tar");
    std::fs::write(&file, &forged).unwrap();
    let (code, stdout, stderr) =
        run(cli()
            .arg("verify")
            .arg(&file)
            .args(["--trust-list", &list, "--platform-keys", &keys]))
        .await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("NOT VALID (payload_duplicate_key): payload.fields.full_name"),
        "{stdout}"
    );
}

/// A lazily made stream: `head`, then `zeros` zero bytes in 64 KiB chunks; `pulled` counts
/// what the server took.
fn followed_by_zeros(head: Vec<u8>, zeros: u64, pulled: Arc<AtomicU64>) -> actix_http::Payload {
    let piece = 64 * 1024u64;
    let head = futures_util::stream::iter([Ok(bytes::Bytes::from(head))]);
    let tail = futures_util::stream::iter((0..zeros.div_ceil(piece)).map(move |i| {
        Ok(bytes::Bytes::from(vec![
            0u8;
            piece.min(zeros - i * piece)
                as usize
        ]))
    }));
    let stream = head.chain(tail).inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            pulled.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    });
    let boxed: actix_http::BoxedPayloadStream = Box::pin(stream);
    actix_http::Payload::Stream { payload: boxed }
}

#[actix_web::test]
async fn a_package_followed_by_many_megabytes_of_zeros_is_refused_after_reading_little() {
    let t = spawn_app().await;
    register_citizen_directly(&t, CITIZEN).await;
    let issuer = make_issuer(&t, "CA-DANANG", 43).await;
    let id = issue_cccd(&t, &issuer).await;
    let bytes = package_bytes(&t, id).await;
    let len = bytes.len() as u64;
    let padded = len.div_ceil(package::RECORD) * package::RECORD;
    let service = test::init_service(app(t.state.clone())).await;
    let send = |zeros: u64, pulled: Arc<AtomicU64>| {
        let (request, _) = test::TestRequest::post()
            .uri("/api/v1/verify")
            .insert_header(("content-type", "application/x-tar"))
            .to_request()
            .replace_payload(followed_by_zeros(bytes.clone(), zeros, pulled));
        test::call_service(&service, request)
    };

    // Padded to the tar record, as `tar -cf` writes it: still a valid package.
    let response = send(padded - len, Arc::new(AtomicU64::new(0))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = test::read_body_json(response).await;
    assert_eq!(report["valid"], true, "{report}");

    // 64 MiB of zeros after it, eight requests at once: each is refused having read at most
    // one chunk past the bound.
    let zeros = 64 * 1024 * 1024;
    let counters: Vec<Arc<AtomicU64>> = (0..8).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let responses =
        futures_util::future::join_all(counters.iter().map(|c| send(zeros, c.clone()))).await;
    for (response, pulled) in responses.into_iter().zip(&counters) {
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["error"]["code"], "package_trailing_data", "{body}");
        let read = pulled.load(Ordering::Relaxed);
        assert!(
            read <= padded + 64 * 1024,
            "read {read} of {} bytes",
            len + zeros
        );
    }
}

#[actix_web::test]
async fn the_verifier_pins_the_platform_key_and_refuses_another() {
    let (server, t) = crate::browser::AppServer::start(&[]);
    let (other_server, other) = crate::browser::AppServer::start(&[]);
    register_citizen_directly(&t, CITIZEN).await;
    let issuer = make_issuer(&t, "CA-DANANG", 44).await;
    let id = issue_cccd(&t, &issuer).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    std::fs::write(path("doc.tar"), package_bytes(&t, id).await).unwrap();
    let real = offline::fingerprint(&t.state.keys.signing.verifying_key());
    let fake = offline::fingerprint(&other.state.keys.signing.verifying_key());
    assert_ne!(real, fake);
    let (url, fake_url) = (server.base_url(), other_server.base_url());
    let cache = path("cache");
    let verify = |extra: &[&str]| {
        let mut command = cli();
        command
            .args(["verify", &path("doc.tar"), "--cache-dir", &cache])
            .args(extra);
        command
    };
    let snapshot = || -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(&cache)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap())
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            std::fs::read(e.path()).unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };

    // First use, nobody at a terminal, nothing pinned: refused, saying how to pin.
    let (code, _, stderr) = run(&mut verify(&["--server", &url])).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no platform key is pinned"), "{stderr}");
    assert!(stderr.contains(&format!("--pin {real}")), "{stderr}");
    assert!(stderr.contains("--trust-on-first-use"), "{stderr}");
    assert!(snapshot().is_empty(), "nothing cached");
    // A pin that is not the server's key: refused.
    let (code, _, stderr) = run(&mut verify(&["--server", &url, "--pin", &fake])).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("pinned fingerprint mismatch"), "{stderr}");
    assert!(stderr.contains(&real), "{stderr}");
    assert!(snapshot().is_empty(), "nothing cached");
    // The published fingerprint: valid, and the key is pinned in the cache.
    let (code, stdout, stderr) = run(&mut verify(&["--server", &url, "--pin", &real])).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.starts_with("VALID: "), "{stdout}");
    let cached = snapshot();
    assert!(
        String::from_utf8_lossy(&cached[offline::PIN_FILE]).contains(&real),
        "{cached:?}"
    );

    // Another server (its own platform key) on loopback: refused, the cache untouched.
    let (code, _, stderr) = run(&mut verify(&["--server", &fake_url])).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the platform key changed"), "{stderr}");
    assert!(stderr.contains(&real) && stderr.contains(&fake), "{stderr}");
    assert!(
        stderr.contains(&format!("--accept-new-key {fake}")),
        "{stderr}"
    );
    assert_eq!(snapshot(), cached, "cache untouched");
    // --pin does not accept a change, nor does --accept-new-key naming another key.
    let (code, _, stderr) = run(&mut verify(&["--server", &fake_url, "--pin", &fake])).await;
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(&mut verify(&[
        "--server",
        &fake_url,
        "--accept-new-key",
        &real,
    ]))
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(snapshot(), cached, "cache untouched");
    // Offline, the cache still decides with the pinned key.
    let (code, stdout, stderr) = run(&mut verify(&[])).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    // Plain http to a host that is not loopback is refused before any connection.
    let (code, _, stderr) = run(&mut verify(&[
        "--server",
        "http://192.0.2.1:9",
        "--pin",
        &real,
    ]))
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("refusing http://192.0.2.1:9/") && stderr.contains("https"),
        "{stderr}"
    );
    assert!(!stderr.contains("error sending request"), "{stderr}");
    assert_eq!(snapshot(), cached, "cache untouched");

    // An announced rotation: --accept-new-key with the new fingerprint re-pins. (This other
    // server's trust list does not hold the issuer, so the document is not valid there.)
    let (code, stdout, stderr) = run(&mut verify(&[
        "--server",
        &fake_url,
        "--accept-new-key",
        &fake,
    ]))
    .await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("accepted the new platform key"), "{stderr}");
    assert!(stdout.contains("key_unknown"), "{stdout}");
    let pins = String::from_utf8(snapshot()[offline::PIN_FILE].clone()).unwrap();
    assert!(pins.contains(&real) && pins.contains(&fake), "{pins}");

    // A cache an older verifier filled from the fake server (lists, no pin) is not trusted.
    let poisoned = dir.path().join("poisoned");
    write_lists(&other, &poisoned).await;
    std::fs::rename(
        poisoned.join("tl.json"),
        poisoned.join(offline::TRUST_LIST_FILE),
    )
    .unwrap();
    std::fs::rename(
        poisoned.join("pk.json"),
        poisoned.join(offline::PLATFORM_KEYS_FILE),
    )
    .unwrap();
    let (code, _, stderr) = run(cli()
        .args(["verify", &path("doc.tar"), "--cache-dir"])
        .arg(&poisoned))
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no platform key is pinned"), "{stderr}");
    assert!(stderr.contains(&fake), "{stderr}");

    // Trust on first use, asked for by name: pinned, and the fingerprint is shown.
    let (code, stdout, stderr) = run(cli().args([
        "verify",
        &path("doc.tar"),
        "--cache-dir",
        &path("tofu"),
        "--server",
        &url,
        "--trust-on-first-use",
    ]))
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains(&real), "{stderr}");

    // A person at a terminal is asked, with the fingerprint shown (`script` gives the binary a
    // terminal; skipped where util-linux's `script` is missing).
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        crate::helpers::skip(
            "verify_asks_at_a_terminal",
            "no util-linux `script` to give the binary a terminal",
        );
    }
    for (answer, expected) in [("n", 2), ("y", 0)].into_iter().filter(|_| has_script) {
        let cache = path(&format!("tty-{answer}"));
        let line = format!(
            "{} verify {} --server {url} --cache-dir {cache}",
            env!("CARGO_BIN_EXE_congdanso"),
            path("doc.tar")
        );
        let mut process = std::process::Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = process.stdin.take().unwrap();
            writeln!(stdin, "{answer}").unwrap();
        }
        let output = actix_web::rt::task::spawn_blocking(move || process.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let shown = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(output.status.code(), Some(expected), "{answer}: {shown}");
        assert!(shown.contains("Trust these platform keys?"), "{shown}");
        assert!(shown.contains(&real), "{shown}");
        let pinned = std::path::Path::new(&cache)
            .join(offline::PIN_FILE)
            .exists();
        assert_eq!(pinned, answer == "y", "{shown}");
    }
    drop(other_server);
    drop(server);
}

#[actix_web::test]
async fn the_verifier_prints_text_from_a_package_terminal_safe() {
    let t = spawn_app().await;
    register_citizen_directly(&t, CITIZEN).await;
    let issuer = make_issuer(&t, "CA-DANANG", 45).await;
    // A genuine signature over hostile text: clear the screen, print a fake banner, reverse.
    let hostile = "\u{1b}[2J\u{1b}[HVALID: issued by Bộ Công an\u{9b}0m\u{7f}\n\u{202e}gnp.exe";
    let bytes = package_with_fields(
        &t,
        &issuer,
        json!({ "number": "X-1", "title": hostile, "issue_date": "2026-11-23" }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (list, keys) = write_lists(&t, dir.path()).await;
    let file = dir.path().join("hostile.tar");
    std::fs::write(&file, &bytes).unwrap();
    let lists = ["--trust-list", &list, "--platform-keys", &keys];

    let (code, stdout, stderr) = run(cli().arg("verify").arg(&file).args(lists)).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(!has_unsafe(&stdout), "{stdout:?}");
    assert!(
        stdout.starts_with("VALID: issued by Công an CA-DANANG\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fields.title         \\u{001b}[2J\\u{001b}[HVALID"),
        "{stdout}"
    );
    // One line per fact: the newline inside the title is shown, not obeyed.
    assert!(
        !stdout.lines().any(|l| l.starts_with("VALID: issued by Bộ")),
        "{stdout}"
    );

    let (code, stdout, _) = run(cli().arg("verify").arg(&file).arg("--json").args(lists)).await;
    assert_eq!(code, 0);
    assert!(!has_unsafe(&stdout), "{stdout:?}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["fields"]["title"], hostile, "the same JSON value");

    // A refusal that quotes a member name from the package is escaped too.
    let text = manifest_text(&bytes).await;
    let edited = text.replacen(
        "\"citizen_national_id\":",
        "\"\u{9b}2J\u{202e}\": 0, \"citizen_national_id\":",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&file, package_around(&edited)).unwrap();
    let (code, stdout, _) = run(cli().arg("verify").arg(&file).args(lists)).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.starts_with("NOT VALID (payload_malformed): payload["),
        "{stdout}"
    );
    assert!(!has_unsafe(&stdout), "{stdout:?}");
}
