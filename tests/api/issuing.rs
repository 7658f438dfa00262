//! Issuing signed documents through the agency API, seeing them verified in the vault,
//! superseding, key rotation and revocation timelines, verification packages (server and
//! offline) and every rejection path.

use actix_web::http::StatusCode;
use actix_web::test;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use congdanso::clock::Clock;
use congdanso::crypto::sign;
use congdanso::issuers::service as issuers;
use congdanso::startup::app;
use congdanso::verify::{self, Evidence, PlatformKeys, TrustList, package, payload};
use ed25519_dalek::SigningKey;
use entity::agency;
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};
use crate::verify::{cli, run};

pub const CITIZEN: &str = "001099000123";

/// An agency with an issuing key and an API token, and a registered citizen.
pub struct Issuer {
    pub agency: agency::Model,
    pub key: SigningKey,
    pub key_id: String,
    pub token: String,
}

pub async fn register_citizen_directly(t: &TestApp, id: &str) {
    congdanso::accounts::service::register(
        &t.state,
        congdanso::accounts::service::RegistrationInput {
            national_id: id.into(),
            full_name: "Nguyễn Văn Thử".into(),
            birth_date: crate::accounts::birth_date_for(id).into(),
            phone: "0905000123".into(),
            email: String::new(),
            password: zeroize::Zeroizing::new(crate::accounts::PASSWORD.into()),
            password_confirm: zeroize::Zeroizing::new(crate::accounts::PASSWORD.into()),
        },
    )
    .await
    .unwrap();
}

/// An issuer authorised for every catalogue type (since 2000, so back-dated test payloads are
/// judged by the rule they test, not by authority).
pub async fn make_issuer(t: &TestApp, code: &str, seed: u8) -> Issuer {
    let all: Vec<&str> = congdanso::vault::model::DocumentType::ALL
        .iter()
        .map(|d| d.as_str())
        .collect();
    make_issuer_for(t, code, seed, &all).await
}

/// Registers the issuing authority of an agency for `types`, from 2000-01-01, open-ended.
pub async fn authorise(t: &TestApp, agency: &agency::Model, types: &[&str]) {
    for doc_type in types {
        issuers::register_authority(
            &t.state,
            agency.id,
            doc_type,
            chrono::NaiveDate::from_ymd_opt(2000, 1, 1),
            None,
            None,
        )
        .await
        .unwrap();
    }
}

/// An issuer authorised for `types` only.
pub async fn make_issuer_for(t: &TestApp, code: &str, seed: u8, types: &[&str]) -> Issuer {
    let agency = congdanso::agencies::service::create_agency(
        &t.state,
        code,
        &format!("Công an {code}"),
        "department",
    )
    .await
    .unwrap();
    authorise(t, &agency, types).await;
    let key = SigningKey::from_bytes(&[seed; 32]);
    let row = add_key(t, &agency, &key, "issuing").await;
    let (_, token) = issuers::create_credential(&t.state, agency.id, "Hệ thống cấp")
        .await
        .unwrap();
    Issuer {
        agency,
        key,
        key_id: row.key_id,
        token: token.to_string(),
    }
}

pub async fn add_key(
    t: &TestApp,
    agency: &agency::Model,
    key: &SigningKey,
    purpose: &str,
) -> entity::issuer_key::Model {
    issuers::register_key(
        &t.state,
        agency.id,
        &B64.encode(key.verifying_key().as_bytes()),
        purpose,
        None,
        None,
    )
    .await
    .unwrap()
}

pub fn cccd_fields(number: &str) -> Value {
    json!({
        "number": number,
        "full_name": "Nguyễn Văn Thử",
        "date_of_birth": "1990-01-15",
        "sex": "Nam",
        "nationality": "Việt Nam",
        "place_of_origin": "Hải Châu, Đà Nẵng",
        "place_of_residence": "12 Bạch Đằng, Hải Châu, Đà Nẵng",
        "issue_date": "2026-11-23",
        "expiry": "2041-01-15"
    })
}

pub fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Issuer {
    pub fn payload(
        &self,
        t: &TestApp,
        doc_type: &str,
        fields: Value,
        file: Option<&[u8]>,
    ) -> Value {
        json!({
            "version": 1,
            "kind": "issued",
            "type": doc_type,
            "fields": fields,
            "citizen_national_id": CITIZEN,
            "file_sha256": file.map(sha_hex),
            "issued_at": payload::format_time(t.clock.now()),
            "valid_until": "2041-01-15T00:00:00Z",
            "issuer_id": self.agency.code,
            "key_id": self.key_id,
        })
    }

    pub fn signed(&self, payload: &Value) -> Value {
        json!({ "payload": payload, "signature": sign::sign_json(&self.key, payload).unwrap() })
    }
}

/// Calls the API with a JSON body.
pub async fn post_json(t: &TestApp, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let service = test::init_service(app(t.state.clone())).await;
    let request = test::TestRequest::post()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_string())
        .to_request();
    let response = test::call_service(&service, request).await;
    let status = response.status();
    let bytes = test::read_body(response).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Calls the issuing API with `document` and an optional file, as multipart.
pub async fn post_multipart(
    t: &TestApp,
    token: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> (StatusCode, Value) {
    let boundary = "cdsIssueBoundary";
    let mut body = Vec::new();
    for (name, file_name, bytes) in parts {
        let disposition = match file_name {
            Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let service = test::init_service(app(t.state.clone())).await;
    let request = test::TestRequest::post()
        .uri("/api/v1/documents")
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header((
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        ))
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

pub fn pdf(text: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend((0..70_000).map(|i| (i % 251) as u8));
    out
}

pub async fn citizen(t: &TestApp) -> entity::account::Model {
    congdanso::accounts::repo::find_by_login(&t.state.db, CITIZEN)
        .await
        .unwrap()
        .unwrap()
}

/// The package of a document, built as the download route builds it.
pub async fn package_bytes(t: &TestApp, id: Uuid) -> Vec<u8> {
    let owner = citizen(t).await;
    let doc = congdanso::access::open(
        &t.state,
        &congdanso::access::Reader::Owner(&owner),
        congdanso::access::DocumentId(id),
        congdanso::access::Purpose::Open,
    )
    .await
    .unwrap();
    let (len, _, stream) = congdanso::issuers::verification::package(&t.state, doc)
        .await
        .unwrap();
    let parts: Vec<bytes::Bytes> = stream.map(|r| r.unwrap()).collect().await;
    let bytes = parts.concat();
    assert_eq!(bytes.len() as u64, len);
    bytes
}

/// The published trust list and platform keys, checked as an outside verifier would.
pub async fn published(t: &TestApp) -> (TrustList, PlatformKeys) {
    let keys = issuers::platform_keys(&t.state).await.unwrap();
    let platform = PlatformKeys::from_json(&keys).unwrap();
    let list = issuers::trust_list(&t.state).await.unwrap();
    (TrustList::from_signed(&list, &platform).unwrap(), platform)
}

/// Checks package bytes against the published lists.
pub async fn check_package(t: &TestApp, bytes: &[u8]) -> Result<verify::Verified, verify::Problem> {
    let (trust, platform) = published(t).await;
    let stream = futures_util::stream::iter(
        bytes
            .chunks(1000)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let read = package::read(stream, u64::MAX).await?;
    verify::check(&read.evidence(), &trust, Some(&platform))
}

pub async fn blob_count(t: &TestApp) -> usize {
    let prefix = congdanso::storage::BlobKey::parse("documents".to_owned()).unwrap();
    t.state.blobs.list(&prefix).collect::<Vec<_>>().await.len()
}

pub fn id_of(body: &Value) -> Uuid {
    body["document"]["id"].as_str().unwrap().parse().unwrap()
}

#[actix_web::test]
async fn an_issued_cccd_lands_in_the_vault_verified_and_its_package_verifies() {
    let t = spawn_app().await;
    let mut page = crate::helpers::Client::new(test::init_service(app(t.state.clone())).await);
    page.lang = Some("en");
    crate::accounts::register_citizen(&mut page, &t, CITIZEN).await;
    let issuer = make_issuer(&t, "CA-DANANG", 11).await;

    let payload = issuer.payload(&t, "cccd", cccd_fields(CITIZEN), None);
    let (status, body) = post_json(
        &t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&payload),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["document"]["type"], "cccd");
    assert_eq!(body["document"]["source"], "issued");
    assert_eq!(body["superseded"], json!([]));
    let id = id_of(&body);

    // The citizen sees it in the list and on its page, verified, with readable fields.
    let list = page.get("/documents").await;
    assert!(
        list.body.contains("Căn cước công dân 001099000123"),
        "{}",
        list.body
    );
    let detail = page.get(&format!("/documents/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(
        detail
            .body
            .contains("Verified</strong> — issued by Công an CA-DANANG on 23/11/2026"),
        "{}",
        detail.body
    );
    assert!(detail.body.contains("12 Bạch Đằng, Hải Châu, Đà Nẵng"));
    assert!(detail.body.contains("15/01/1990"), "dates shown readably");
    assert!(detail.body.contains(&format!("/documents/{id}/package")));

    // The package, downloaded over HTTP, verifies against the published trust list…
    let (reply, bytes) = page
        .get_with(&format!("/documents/{id}/package"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers.get("content-type").unwrap(),
        "application/x-tar"
    );
    let verified = check_package(&t, &bytes).await.unwrap();
    assert_eq!(verified.issuer_code, "CA-DANANG");
    assert!(
        verified.accepted_at.is_some(),
        "the platform's receipt counts"
    );
    assert_eq!(
        verified.parsed.payload.fields["full_name"],
        "Nguyễn Văn Thử"
    );

    // …and through POST /api/v1/verify, which anyone may call.
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::post()
            .uri("/api/v1/verify")
            .insert_header(("content-type", "application/x-tar"))
            .set_payload(bytes.clone())
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = test::read_body_json(response).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["code"], "ok");
    assert_eq!(report["issuer"]["code"], "CA-DANANG");
    assert_eq!(report["fields"]["number"], CITIZEN);

    // A package whose signed data was edited does not verify.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let forged = text
        .replacen("Nguyễn Văn Thử", "Nguyễn Văn Giả", 1)
        .into_bytes();
    assert_eq!(
        forged.len(),
        bytes.len(),
        "same length, so the tar stays valid"
    );
    let response = test::call_service(
        &service,
        test::TestRequest::post()
            .uri("/api/v1/verify")
            .set_payload(forged)
            .to_request(),
    )
    .await;
    let report: Value = test::read_body_json(response).await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["code"], "signature_invalid");

    // A package stripped of the platform's receipt (which bounds when the signature existed,
    // so a stolen key cannot back-date) does not verify either.
    let read = package::read(
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes.clone()))]),
        u64::MAX,
    )
    .await
    .unwrap();
    let mut manifest = read.manifest.clone();
    manifest.receipt = None;
    let writer = package::PackageWriter::new(&manifest, 0).unwrap();
    let stripped: Vec<bytes::Bytes> = writer
        .into_stream(None::<futures_util::stream::Empty<Result<bytes::Bytes, std::io::Error>>>)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(
        check_package(&t, &stripped.concat()).await.unwrap_err(),
        verify::Problem::ReceiptMissing
    );

    // Something that is not a package is a clear 422.
    let response = test::call_service(
        &service,
        test::TestRequest::post()
            .uri("/api/v1/verify")
            .set_payload("hello")
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["error"]["code"], "package_malformed");

    // A self-uploaded document says it is unverified and has no package.
    let reply = page
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Ảnh chụp")],
            Some(("scan.pdf", &pdf("scan"))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let owner = citizen(&t).await;
    let own = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.source == "self")
        .unwrap();
    let detail = page.get(&format!("/documents/{}", own.id)).await;
    assert!(
        detail.body.contains("Unverified (self-uploaded)"),
        "{}",
        detail.body
    );
    assert_eq!(
        page.get(&format!("/documents/{}/package", own.id))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn an_issued_file_is_hash_checked_stored_and_packaged() {
    let t = spawn_app().await;
    // Real clocks have fractions of a second; signed times do not. A key registered at .5 s
    // signs (with issued_at truncated to the second) at once.
    t.clock.advance(chrono::Duration::milliseconds(500));
    register_citizen_directly(&t, CITIZEN).await;
    let issuer = make_issuer(&t, "TP-DANANG", 12).await;
    let file = pdf("Quyết định số 123/QĐ-UBND");
    let fields = json!({ "number": "123/QĐ-UBND", "title": "Quyết định cấp phép xây dựng", "issue_date": "2026-11-20" });
    let payload = issuer.payload(&t, "other", fields, Some(&file));
    let document = issuer.signed(&payload).to_string();
    let (status, body) = post_multipart(
        &t,
        &issuer.token,
        &[
            ("document", None, document.as_bytes()),
            ("file", Some("qd-123.pdf"), &file),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["document"]["sha256"], sha_hex(&file));
    assert_eq!(body["document"]["content_type"], "application/pdf");
    let id = id_of(&body);
    let bytes = package_bytes(&t, id).await;
    let verified = check_package(&t, &bytes).await.unwrap();
    assert_eq!(verified.parsed.payload.file_sha256, Some(sha_hex(&file)));
    // The file inside the package is the issued file, byte for byte.
    let read = package::read(
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes.clone()))]),
        u64::MAX,
    )
    .await
    .unwrap();
    assert_eq!(read.file, Some((sha_hex(&file), file.len() as u64)));
    // Changing one byte of the file inside the package is detected.
    let mut tampered = bytes.clone();
    let at = tampered.len() - 1024 - 2000;
    tampered[at] ^= 0x55;
    assert_eq!(
        check_package(&t, &tampered).await.unwrap_err(),
        verify::Problem::FileHashMismatch
    );

    // A file that is not the signed one is refused, and nothing is left behind.
    let owner = citizen(&t).await;
    let before = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap()
        .len();
    let blobs_before = blob_count(&t).await;
    let other = pdf("a different decision");
    let (status, body) = post_multipart(
        &t,
        &issuer.token,
        &[
            ("document", None, document.as_bytes()),
            ("file", Some("qd-123.pdf"), &other),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "file_hash_mismatch");
    assert_eq!(
        congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
            .await
            .unwrap()
            .len(),
        before
    );
    assert_eq!(blob_count(&t).await, blobs_before);
    assert!(
        congdanso::vault::repo::stale_uploads(&t.state.db, t.clock_now_plus_hours(1))
            .await
            .unwrap()
            .is_empty(),
        "no upload left in flight"
    );
}

#[actix_web::test]
async fn every_rejection_has_its_own_code() {
    let t = spawn_app().await;
    register_citizen_directly(&t, CITIZEN).await;
    let issuer = make_issuer(&t, "CA-DANANG", 21).await;
    let other = make_issuer(&t, "CA-HUE", 22).await;
    let certifying = SigningKey::from_bytes(&[23; 32]);
    let certifying_row = add_key(&t, &issuer.agency, &certifying, "certifying").await;
    let good = issuer.payload(&t, "cccd", cccd_fields(CITIZEN), None);

    let signed_with = |key: &SigningKey, payload: &Value| json!({ "payload": payload, "signature": sign::sign_json(key, payload).unwrap() });
    let with = |member: &str, value: Value| {
        let mut p = good.clone();
        p[member] = value;
        p
    };
    let with_field = |name: &str, value: Option<&str>| {
        let mut p = good.clone();
        match value {
            Some(v) => p["fields"][name] = json!(v),
            None => {
                p["fields"].as_object_mut().unwrap().remove(name);
            }
        }
        p
    };
    let mut tampered = issuer.signed(&good);
    tampered["payload"]["fields"]["full_name"] = json!("Người Khác");
    let future = payload::format_time(t.clock.now() + chrono::Duration::minutes(10));

    let cases: Vec<(&str, Value, &str)> = vec![
        ("tampered after signing", tampered, "signature_invalid"),
        (
            "signed by another key than named",
            signed_with(&other.key, &good),
            "signature_invalid",
        ),
        (
            "unknown key",
            issuer.signed(&with("key_id", json!("ik_00000000deadbeef"))),
            "key_unknown",
        ),
        (
            "another agency's key",
            signed_with(&other.key, &with("key_id", json!(other.key_id))),
            "issuer_mismatch",
        ),
        (
            "another agency's code",
            issuer.signed(&with("issuer_id", json!("CA-HUE"))),
            "issuer_mismatch",
        ),
        (
            "a certifying key",
            signed_with(&certifying, &with("key_id", json!(certifying_row.key_id))),
            "key_purpose",
        ),
        (
            "unknown citizen",
            issuer.signed(&{
                let mut p = with("citizen_national_id", json!("079200000001"));
                p["fields"]["number"] = json!("079200000001");
                p
            }),
            "citizen_unknown",
        ),
        (
            "unknown type",
            issuer.signed(&with("type", json!("fishing_licence"))),
            "document_type_unknown",
        ),
        (
            "missing field",
            issuer.signed(&with_field("place_of_origin", None)),
            "field_missing",
        ),
        (
            "unknown field",
            issuer.signed(&with_field("blood_type", Some("O"))),
            "field_unknown",
        ),
        (
            "badly formed field",
            issuer.signed(&with_field("date_of_birth", Some("15/01/1990"))),
            "field_format",
        ),
        (
            "CCCD of someone else",
            issuer.signed(&with_field("number", Some("079200000001"))),
            "citizen_mismatch",
        ),
        (
            "a file hash but no file",
            issuer.signed(&with("file_sha256", json!(sha_hex(b"x")))),
            "file_missing",
        ),
        (
            "missing member",
            issuer.signed(&{
                let mut p = good.clone();
                p.as_object_mut().unwrap().remove("valid_until");
                p
            }),
            "payload_malformed",
        ),
        (
            "unknown version",
            issuer.signed(&with("version", json!(2))),
            "payload_version",
        ),
        (
            "certified copy through the API",
            issuer.signed(&with("kind", json!("certified_copy"))),
            "kind_not_allowed",
        ),
        (
            "issued in the future",
            issuer.signed(&with("issued_at", json!(future))),
            "issued_at_future",
        ),
        (
            "valid until before issued",
            issuer.signed(&with("valid_until", json!("2020-01-01T00:00:00Z"))),
            "valid_until_order",
        ),
        (
            "signature not base64",
            json!({ "payload": good, "signature": "???" }),
            "signature_invalid",
        ),
    ];
    for (what, body, code) in &cases {
        let (status, answer) = post_json(&t, &issuer.token, "/api/v1/documents", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], *code, "{what}: {answer}");
    }
    // Field problems name the field.
    let (_, answer) = post_json(
        &t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&with_field("place_of_origin", None)),
    )
    .await;
    assert_eq!(answer["error"]["fields"][0]["field"], "place_of_origin");

    // A file the payload does not name.
    let document = issuer.signed(&good).to_string();
    let (status, answer) = post_multipart(
        &t,
        &issuer.token,
        &[
            ("document", None, document.as_bytes()),
            ("file", Some("x.pdf"), &pdf("x")),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["code"], "file_unexpected");
    // The file before the signed document.
    let (_, answer) = post_multipart(
        &t,
        &issuer.token,
        &[
            ("file", Some("x.pdf"), &pdf("x")),
            ("document", None, document.as_bytes()),
        ],
    )
    .await;
    assert_eq!(answer["error"]["code"], "part_order");
    // Not JSON at all.
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::post()
            .uri("/api/v1/documents")
            .insert_header(("authorization", format!("Bearer {}", issuer.token)))
            .insert_header(("content-type", "application/json"))
            .set_payload("{not json")
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let answer: Value = test::read_body_json(response).await;
    assert_eq!(answer["error"]["code"], "request_malformed");
    // Another media type.
    let response = test::call_service(
        &service,
        test::TestRequest::post()
            .uri("/api/v1/documents")
            .insert_header(("authorization", format!("Bearer {}", issuer.token)))
            .insert_header(("content-type", "text/plain"))
            .set_payload("x")
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // No credential: 401, nothing checked.
    let (status, answer) =
        post_json(&t, "cds_wrong", "/api/v1/documents", &issuer.signed(&good)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"]["code"], "unauthenticated");

    // Nothing of all that reached the vault.
    let owner = citizen(&t).await;
    assert!(
        congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
            .await
            .unwrap()
            .is_empty()
    );
    // And the good one is accepted.
    let (status, _) = post_json(
        &t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&good),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[actix_web::test]
async fn reissuing_the_same_type_and_number_supersedes_and_keeps_history() {
    let t = spawn_app().await;
    let mut page = crate::helpers::Client::new(test::init_service(app(t.state.clone())).await);
    page.lang = Some("en");
    crate::accounts::register_citizen(&mut page, &t, CITIZEN).await;
    let issuer = make_issuer(&t, "SGTVT-DANANG", 31).await;
    let licence = |number: &str, class: &str| {
        json!({
            "number": number, "full_name": "Nguyễn Văn Thử", "date_of_birth": "1990-01-15",
            "nationality": "Việt Nam", "place_of_residence": "Đà Nẵng", "class": class,
            "issue_date": "2026-11-23"
        })
    };
    let first = issuer.payload(&t, "driving_licence", licence("480123456789", "B1"), None);
    let (_, body) = post_json(
        &t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&first),
    )
    .await;
    let old = id_of(&body);
    let other = issuer.payload(&t, "driving_licence", licence("480999999999", "A1"), None);
    let (_, body) = post_json(
        &t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&other),
    )
    .await;
    let unrelated = id_of(&body);
    assert_eq!(body["superseded"], json!([]));

    t.clock.advance(chrono::Duration::minutes(5));
    let renewed = issuer.payload(&t, "driving_licence", licence("480123456789", "B"), None);
    let (status, body) = post_json(
        &t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&renewed),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let new = id_of(&body);
    assert_eq!(body["superseded"], json!([old.to_string()]));

    // The list shows the new one and the unrelated one; the old one is in the new one's history.
    let list = page.get("/documents").await;
    assert!(list.body.contains(&format!("/documents/{new}")));
    assert!(list.body.contains(&format!("/documents/{unrelated}")));
    assert!(
        !list.body.contains(&format!("/documents/{old}\"")),
        "{}",
        list.body
    );
    let detail = page.get(&format!("/documents/{new}")).await;
    assert!(
        detail.body.contains(&format!("/documents/{old}")),
        "history links the old one"
    );
    // The old one is kept, still genuine, and says it was replaced.
    let old_page = page.get(&format!("/documents/{old}")).await;
    assert_eq!(old_page.status, StatusCode::OK);
    assert!(
        old_page.body.contains("replaced by a newly issued one"),
        "{}",
        old_page.body
    );
    assert!(old_page.body.contains(&format!("/documents/{new}")));
    assert!(old_page.body.contains("Verified"));
    assert!(
        check_package(&t, &package_bytes(&t, old).await)
            .await
            .is_ok()
    );
}

#[actix_web::test]
async fn rotation_and_revocation_follow_the_key_timeline() {
    let t = spawn_app().await;
    register_citizen_directly(&t, CITIZEN).await;
    let issuer = make_issuer(&t, "CA-DANANG", 41).await;
    let other_type =
        |n: &str| json!({ "number": n, "title": "Kết quả", "issue_date": "2026-11-23" });

    // Key A issues document 1.
    let p1 = issuer.payload(&t, "other", other_type("1"), None);
    let (_, body) = post_json(&t, &issuer.token, "/api/v1/documents", &issuer.signed(&p1)).await;
    let doc1 = id_of(&body);

    // Rotation: key B registered, key A retired a day later.
    t.clock.advance(chrono::Duration::days(1));
    let key_b = SigningKey::from_bytes(&[42; 32]);
    let row_b = add_key(&t, &issuer.agency, &key_b, "issuing").await;
    issuers::retire_key(&t.state, issuer.agency.id, &issuer.key_id)
        .await
        .unwrap();
    t.clock.advance(chrono::Duration::hours(1));

    // Revoking a retired key later keeps the retirement as the limit: nothing A "signed" after
    // its retirement becomes valid.
    let retired_at = congdanso::issuers::repo::find_key(&t.state.db, &issuer.key_id)
        .await
        .unwrap()
        .unwrap()
        .status_changed_at
        .unwrap();
    issuers::revoke_key(&t.state, issuer.agency.id, &issuer.key_id, None)
        .await
        .unwrap();
    let row_a = congdanso::issuers::repo::find_key(&t.state.db, &issuer.key_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row_a.status, "revoked");
    assert_eq!(row_a.status_changed_at, Some(retired_at));

    // What A signed while active still verifies.
    assert!(
        check_package(&t, &package_bytes(&t, doc1).await)
            .await
            .is_ok()
    );
    // A cannot bring in anything new, even backdated to before its retirement.
    let mut backdated = issuer.payload(&t, "other", other_type("2"), None);
    backdated["issued_at"] = json!("2026-11-23T09:00:00Z");
    let (status, body) = post_json(
        &t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&backdated),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "key_revoked");
    // B can.
    let mut p3 = issuer.payload(&t, "other", other_type("3"), None);
    p3["key_id"] = json!(row_b.key_id);
    let signed = json!({ "payload": p3, "signature": sign::sign_json(&key_b, &p3).unwrap() });
    let (status, body) = post_json(&t, &issuer.token, "/api/v1/documents", &signed).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let doc3 = id_of(&body);
    let accepted3 = t.clock.now();

    // A revocation scheduled for later already stops new documents, with the right code.
    let key_c = SigningKey::from_bytes(&[43; 32]);
    let row_c = add_key(&t, &issuer.agency, &key_c, "issuing").await;
    issuers::revoke_key(
        &t.state,
        issuer.agency.id,
        &row_c.key_id,
        Some(t.clock.now() + chrono::Duration::days(7)),
    )
    .await
    .unwrap();
    let mut p5 = issuer.payload(&t, "other", other_type("5"), None);
    p5["key_id"] = json!(row_c.key_id);
    let signed = json!({ "payload": p5, "signature": sign::sign_json(&key_c, &p5).unwrap() });
    let (_, body) = post_json(&t, &issuer.token, "/api/v1/documents", &signed).await;
    assert_eq!(body["error"]["code"], "key_revoked");

    // B is compromised: revoked from an hour after doc3 was accepted. doc3 stays valid.
    t.clock.advance(chrono::Duration::hours(3));
    issuers::revoke_key(
        &t.state,
        issuer.agency.id,
        &row_b.key_id,
        Some(accepted3 + chrono::Duration::hours(1)),
    )
    .await
    .unwrap();
    assert!(
        check_package(&t, &package_bytes(&t, doc3).await)
            .await
            .is_ok()
    );
    // Revoked from before doc3 was accepted (the compromise started earlier): doc3 no longer
    // verifies, and the citizen's page says why.
    let row_b = congdanso::issuers::repo::find_key(&t.state.db, &row_b.key_id)
        .await
        .unwrap()
        .unwrap();
    congdanso::issuers::repo::set_key_status(
        &t.state.db,
        row_b.id,
        &["revoked"],
        "revoked",
        accepted3 - chrono::Duration::minutes(1),
    )
    .await
    .unwrap();
    assert_eq!(
        check_package(&t, &package_bytes(&t, doc3).await)
            .await
            .unwrap_err(),
        verify::Problem::Key(congdanso::issuers::model::KeyProblem::Revoked)
    );
    // A signature made (and accepted) before that revocation time is still fine, and a
    // backdated claim cannot get around the receipt: the payload says it was signed before the
    // revocation, but the platform accepted it after.
    let owner = citizen(&t).await;
    let doc = congdanso::access::open(
        &t.state,
        &congdanso::access::Reader::Owner(&owner),
        congdanso::access::DocumentId(doc3),
        congdanso::access::Purpose::View,
    )
    .await
    .unwrap();
    let status = congdanso::issuers::verification::status(&t.state, &doc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.outcome.unwrap_err().code(), "key_revoked");
    // doc1 (key A, retired, never revoked) is untouched by all this.
    assert!(
        check_package(&t, &package_bytes(&t, doc1).await)
            .await
            .is_ok()
    );
    // B cannot issue any more.
    let mut p4 = issuer.payload(&t, "other", other_type("4"), None);
    p4["key_id"] = json!(row_b.key_id);
    let signed = json!({ "payload": p4, "signature": sign::sign_json(&key_b, &p4).unwrap() });
    let (_, body) = post_json(&t, &issuer.token, "/api/v1/documents", &signed).await;
    assert_eq!(body["error"]["code"], "key_revoked");
}

#[actix_web::test]
async fn the_trust_list_signature_is_checked_by_verifiers() {
    let t = spawn_app().await;
    let issuer = make_issuer(&t, "CA-DANANG", 51).await;
    let keys = issuers::platform_keys(&t.state).await.unwrap();
    let platform = PlatformKeys::from_json(&keys).unwrap();
    let list = issuers::trust_list(&t.state).await.unwrap();
    assert!(TrustList::from_signed(&list, &platform).is_ok());
    // A key slipped into the list breaks its signature.
    let mut forged = list.clone();
    forged["trust_list"]["issuers"][0]["keys"][0]["status"] = json!("active");
    forged["trust_list"]["issuers"][0]["keys"][0]["public_key"] =
        json!(B64.encode(SigningKey::from_bytes(&[99; 32]).verifying_key().as_bytes()));
    assert_eq!(
        TrustList::from_signed(&forged, &platform).unwrap_err(),
        verify::Problem::TrustListSignatureInvalid
    );
    // A list signed by a key that is not the platform's is refused.
    let mut foreign = list.clone();
    let impostor = SigningKey::from_bytes(&[98; 32]);
    foreign["signature"] = json!(sign::sign_json(&impostor, &list["trust_list"]).unwrap());
    assert!(TrustList::from_signed(&foreign, &platform).is_err());
    let _ = issuer;
}

fn code_in(html: &str) -> String {
    html.split(r#"class="code-display""#)
        .nth(1)
        .and_then(|r| r.split("<strong>").nth(1))
        .and_then(|r| r.split("</strong>").next())
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn counter_staff_certify_a_copy_with_the_citizens_code() {
    let t = spawn_app().await;
    congdanso::demo::seed(&t.state).await.unwrap();
    let agency = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    let mut citizen = crate::helpers::Client::new(test::init_service(app(t.state.clone())).await);
    citizen.lang = Some("en");
    crate::accounts::register_citizen(&mut citizen, &t, CITIZEN).await;
    let mut clerk = crate::helpers::Client::new(test::init_service(app(t.state.clone())).await);
    clerk.lang = Some("en");
    crate::staff::first_staff_login(&mut clerk, &t, "demo.clerk", congdanso::demo::DEMO_PASSWORD)
        .await;
    let mut operator = crate::helpers::Client::new(test::init_service(app(t.state.clone())).await);
    crate::staff::first_staff_login(
        &mut operator,
        &t,
        "demo.operator",
        congdanso::demo::DEMO_PASSWORD,
    )
    .await;

    // The citizen uploads a scan and asks for a code.
    let scan = pdf("bằng tốt nghiệp");
    let reply = citizen
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Bằng tốt nghiệp THPT")],
            Some(("bang.pdf", &scan)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let owner = super::issuing::citizen(&t).await;
    let doc = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap()[0]
        .clone();
    let reply = citizen
        .post(&format!("/documents/{}/certification", doc.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let code = code_in(&reply.body);
    assert_eq!(code.len(), 9, "{code}");

    // A wrong code shows nothing.
    let reply = clerk.post("/staff/certify", &[("code", "ABCD-EFGH")]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains("wrong, used or expired"),
        "{}",
        reply.body
    );
    // The right one (typed in lower case, without the dash) opens the review with the scan.
    let typed = code.replace('-', "").to_lowercase();
    let reply = clerk.post("/staff/certify", &[("code", &typed)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let review_path = reply.location().to_owned();
    let review = clerk.get(&review_path).await;
    assert_eq!(review.status, StatusCode::OK);
    assert!(
        review.body.contains("Nguyễn Thị Minh Khai"),
        "the citizen's name is shown"
    );
    assert!(review.body.contains("Bằng tốt nghiệp THPT"));
    let (file, bytes) = clerk.get_with(&format!("{review_path}/file"), &[]).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(bytes, scan);

    // Without a usable counter key the agency cannot certify (the demo one is retired here).
    for k in congdanso::issuers::repo::keys_for_agency(&t.state.db, agency.id)
        .await
        .unwrap()
    {
        issuers::retire_key(&t.state, agency.id, &k.key_id)
            .await
            .unwrap();
    }
    let reply = clerk.post(&review_path, &[("seen_original", "yes")]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains("no counter key"), "{}", reply.body);
    // The operator creates one (after a fresh code); the trust list publishes only its public
    // half.
    crate::staff::step_up(&mut operator, &t, "demo.operator").await;
    let reply = operator
        .post(&format!("/admin/agencies/{}/keys/counter", agency.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let keys = congdanso::issuers::repo::keys_for_agency(&t.state.db, agency.id)
        .await
        .unwrap();
    let counter = keys
        .iter()
        .find(|k| k.purpose == "certifying" && k.status == "active")
        .unwrap();
    assert!(counter.wrapped_private_key.is_some());
    assert_eq!(
        counter.master_key_id.as_deref(),
        Some(t.state.keys.master.id().as_str())
    );
    let list = issuers::trust_list(&t.state).await.unwrap().to_string();
    assert!(list.contains(&counter.key_id));
    assert!(!list.contains("wrapped") && !list.contains("private"));

    // The clerk must confirm having seen the original.
    let reply = clerk.post(&review_path, &[]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains("Confirm that you compared it"));
    let reply = clerk.post(&review_path, &[("seen_original", "yes")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/staff/certify?done=1");

    // The citizen's document is now a certified copy, and its package verifies as one.
    let detail = citizen.get(&format!("/documents/{}", doc.id)).await;
    assert!(
        detail.body.contains(
            "Certified copy</strong> — certified by UBND quận Hải Châu (demo) on 23/11/2026"
        ),
        "{}",
        detail.body
    );
    assert!(
        detail.body.contains("Phạm Văn Một Cửa"),
        "the certifier is named"
    );
    let verified = check_package(&t, &package_bytes(&t, doc.id).await)
        .await
        .unwrap();
    assert_eq!(verified.parsed.kind, verify::Kind::CertifiedCopy);
    assert_eq!(verified.parsed.payload.file_sha256, Some(sha_hex(&scan)));

    // The code and the review are used up.
    assert_eq!(clerk.get(&review_path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        clerk.get(&format!("{review_path}/file")).await.status,
        StatusCode::NOT_FOUND
    );
    let reply = clerk.post("/staff/certify", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A certified document cannot be sent for certification again.
    let reply = citizen
        .post(&format!("/documents/{}/certification", doc.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A certifying key can only certify copies: an "issued" payload signed with one does not
    // verify (so a leak of the platform-held counter key cannot forge issued documents).
    let certifying = SigningKey::from_bytes(&[61; 32]);
    let row = add_key(&t, &agency, &certifying, "certifying").await;
    let forged = json!({
        "version": 1, "kind": "issued", "type": "other",
        "fields": { "number": "1", "title": "Giả", "issue_date": "2026-11-23" },
        "citizen_national_id": CITIZEN, "file_sha256": null,
        "issued_at": payload::format_time(t.clock.now()), "valid_until": null,
        "issuer_id": "DEMO-HAICHAU", "key_id": row.key_id,
    });
    let (trust, platform) = published(&t).await;
    let signature = sign::sign_json(&certifying, &forged).unwrap();
    let evidence = Evidence {
        payload: &forged,
        signature: &signature,
        receipt: None,
        file_sha256: None,
    };
    assert_eq!(
        verify::check(&evidence, &trust, Some(&platform)).unwrap_err(),
        verify::Problem::KeyPurpose
    );

    // Codes expire.
    let other = congdanso::vault::service::store_document(
        &t.state,
        &owner,
        congdanso::vault::service::NewDocument {
            doc_type: congdanso::vault::model::DocumentType::Other,
            title: "Học bạ".into(),
            file_name: "hoc-ba.pdf".into(),
        },
        None,
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(pdf("học bạ")))]),
    )
    .await
    .unwrap();
    let reply = citizen
        .post(&format!("/documents/{}/certification", other.id), &[])
        .await;
    let late = code_in(&reply.body);
    t.clock.advance(chrono::Duration::minutes(16));
    let reply = clerk.post("/staff/certify", &[("code", &late)]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Citizens have no counter pages.
    assert_eq!(
        citizen.get("/staff/certify").await.status,
        StatusCode::NOT_FOUND
    );
    // Expired codes are cleaned up a day later.
    t.clock.advance(chrono::Duration::days(2));
    let report = congdanso::housekeeping::run_once(&t.state).await.unwrap();
    assert_eq!(report.certification_codes, 2, "{report:?}");
}

/// A Python that can run examples/python: `CDS_PYTHON`, else `python3`, if it has `cryptography`.
fn python_with_cryptography() -> Option<String> {
    let python = std::env::var("CDS_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let ok = std::process::Command::new(&python)
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

/// The whole exchange with the real binaries: `agency keygen`, `agency issue` against a
/// running server, `verify --server` (caches the trust list), then the server is stopped and
/// its database deleted, and `verify` still decides from the cache alone.
#[actix_web::test]
async fn the_reference_client_issues_and_a_package_verifies_offline_after_the_server_stops() {
    let (server, t) = crate::browser::AppServer::start(&[]);
    let url = server.base_url();
    // The command-line client signs with the real time; the server's clock follows it.
    t.clock
        .set(chrono::Utc::now() - chrono::Duration::seconds(1));
    register_citizen_directly(&t, CITIZEN).await;
    let agency = congdanso::agencies::service::create_agency(
        &t.state,
        "STP-DANANG",
        "Sở Tư pháp Đà Nẵng",
        "department",
    )
    .await
    .unwrap();
    authorise(&t, &agency, &["birth_certificate", "other"]).await;
    let (_, token) = issuers::create_credential(&t.state, agency.id, "Phần mềm hộ tịch")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

    let (code, stdout, stderr) =
        run(cli().args(["agency", "keygen", "--out", &path("key.json")])).await;
    assert_eq!(code, 0, "{stderr}");
    let public_key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("public_key: "))
        .unwrap()
        .trim()
        .to_owned();
    issuers::register_key(&t.state, agency.id, &public_key, "issuing", None, None)
        .await
        .unwrap();

    let fields = json!({
        "number": "125/2026", "full_name": "Nguyễn Văn Thử", "date_of_birth": "1990-01-15",
        "sex": "Nam", "place_of_birth": "Đà Nẵng", "nationality": "Việt Nam",
        "registration_date": "2026-11-23", "registration_office": "UBND phường Hải Châu"
    });
    std::fs::write(path("fields.json"), fields.to_string()).unwrap();
    let file = pdf("Trích lục khai sinh");
    std::fs::write(path("trich-luc.pdf"), &file).unwrap();
    let issue_args = [
        "agency",
        "issue",
        "--server",
        &url,
        "--key",
        &path("key.json"),
        "--citizen",
        CITIZEN,
        "--type",
        "birth_certificate",
        "--fields",
        &path("fields.json"),
        "--file",
        &path("trich-luc.pdf"),
    ];
    // Without a token the client says what is missing.
    let (code, _, stderr) = run(cli().args(issue_args)).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("CONGDANSO_TOKEN"), "{stderr}");
    let (code, stdout, stderr) = run(cli()
        .env("CONGDANSO_TOKEN", token.as_str())
        .args(issue_args))
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["document"]["sha256"], sha_hex(&file));
    let id = id_of(&answer);
    // A refusal is reported with its code and exit status 1.
    std::fs::write(path("bad.json"), json!({ "number": "1" }).to_string()).unwrap();
    let (code, _, stderr) = run(cli().env("CONGDANSO_TOKEN", token.as_str()).args([
        "agency",
        "issue",
        "--server",
        &url,
        "--key",
        &path("key.json"),
        "--citizen",
        CITIZEN,
        "--type",
        "birth_certificate",
        "--fields",
        &path("bad.json"),
    ]))
    .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("field_missing"), "{stderr}");

    // The same exchange from Python (examples/python), when Python has `cryptography`.
    match python_with_cryptography() {
        None => crate::helpers::skip(
            "python_example_issues_a_document",
            "no python3 with the cryptography package (set CDS_PYTHON)",
        ),
        Some(python) => {
            let root = env!("CARGO_MANIFEST_DIR");
            // Off the test's runtime (`run`): the live server's requests need the pool's tasks
            // and connections this runtime serves; a blocking wait here stalled them (503 / 504
            // answers to issue.py, now and then).
            let (code, stdout, stderr) = run(std::process::Command::new(&python)
                .arg(format!("{root}/examples/python/verify_golden.py")))
            .await;
            assert_eq!(code, 0, "{stdout}\n{stderr}");
            std::fs::write(
                path("other.json"),
                json!({ "number": "PY-1", "title": "Kết quả từ Python", "issue_date": "2026-11-23" })
                    .to_string(),
            )
            .unwrap();
            let (code, stdout, stderr) = run(std::process::Command::new(&python)
                .arg(format!("{root}/examples/python/issue.py"))
                .args([
                    "--server",
                    &url,
                    "--key",
                    &path("key.json"),
                    "--citizen",
                    CITIZEN,
                ])
                .args([
                    "--type",
                    "other",
                    "--fields",
                    &path("other.json"),
                    "--file",
                    &path("trich-luc.pdf"),
                ])
                .env("CONGDANSO_TOKEN", token.as_str()))
            .await;
            assert_eq!(code, 0, "{stdout}\n{stderr}");
            let answer: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(answer["document"]["source"], "issued");
            assert_eq!(answer["document"]["sha256"], sha_hex(&file));
        }
    }

    let package = package_bytes(&t, id).await;
    std::fs::write(path("doc.congdanso.tar"), &package).unwrap();
    let cache = path("cache");
    // The platform key is pinned by the fingerprint the platform publishes.
    let pin = congdanso::verify::offline::fingerprint(&t.state.keys.signing.verifying_key());
    let (code, stdout, stderr) = run(cli().args([
        "verify",
        &path("doc.congdanso.tar"),
        "--server",
        &url,
        "--pin",
        &pin,
        "--cache-dir",
        &cache,
    ]))
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("VALID: issued by Sở Tư pháp Đà Nẵng"),
        "{stdout}"
    );

    // The server goes away, with its database and blob store.
    drop(server);
    drop(t);
    let (code, stdout, stderr) = run(cli().args([
        "verify",
        &path("doc.congdanso.tar"),
        "--cache-dir",
        &cache,
        "--json",
    ]))
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["issuer"]["code"], "STP-DANANG");
    assert_eq!(
        report["fields"]["registration_office"],
        "UBND phường Hải Châu"
    );
    assert!(report["accepted_at"].is_string());

    // One byte of the file changed: not valid, exit status 1.
    let mut tampered = package.clone();
    let at = tampered.len() - 1024 - 5000;
    tampered[at] ^= 1;
    std::fs::write(path("tampered.tar"), &tampered).unwrap();
    let (code, stdout, _) =
        run(cli().args(["verify", &path("tampered.tar"), "--cache-dir", &cache])).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("file_hash_mismatch"), "{stdout}");
    // No trust list at all: exit status 2 and a hint.
    let (code, _, stderr) = run(cli().args([
        "verify",
        &path("doc.congdanso.tar"),
        "--cache-dir",
        &path("empty"),
    ]))
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("--server"), "{stderr}");
}
