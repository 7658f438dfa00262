//! Consent-scoped grants: an agency asks, the citizen decides, every read is checked (in the
//! documented order) and logged. The authorization matrix, each rule with a test that fails
//! without it.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::clock::Clock;
use congdanso::crypto::sign;
use congdanso::startup::app;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Client, TestApp, spawn_app, spawn_app_with};
use crate::issuing::{CITIZEN, Issuer, cccd_fields, citizen, id_of, make_issuer, post_json};
use crate::staff::step_up;

/// A second agency that asks for documents (not the issuer), with its API token.
pub struct Asker {
    pub agency: entity::agency::Model,
    pub credential: entity::api_credential::Model,
    pub token: String,
}

pub async fn make_asker(t: &TestApp, code: &str) -> Asker {
    let agency = congdanso::agencies::service::create_agency(
        &t.state,
        code,
        &format!("UBND {code}"),
        "commune",
    )
    .await
    .unwrap();
    let (credential, token) =
        congdanso::issuers::service::create_credential(&t.state, agency.id, "Một cửa")
            .await
            .unwrap();
    Asker {
        agency,
        credential,
        token: token.to_string(),
    }
}

/// Registers purpose `code` for the agency: CCCD (file and the given fields) and the
/// household-residence types, as an operator would.
pub async fn register_purpose(
    t: &TestApp,
    agency: &entity::agency::Model,
    code: &str,
    cccd_fields: &[&str],
) {
    let scope = json!({
        "cccd": { "file": false, "fields": cccd_fields },
        "household_registration": { "file": true, "fields": [] },
    });
    let input = congdanso::purposes::service::NewPurpose {
        code: code.to_owned(),
        description_vi: "Đăng ký cư trú".to_owned(),
        description_en: "Residence registration".to_owned(),
        legal_basis: "Luật Cư trú 2020, Điều 22".to_owned(),
        retention_days: 90,
        scope: serde_json::from_value(scope).unwrap(),
    };
    congdanso::purposes::service::register(&t.state, agency.id, &input)
        .await
        .unwrap();
}

pub async fn over_asking_count(t: &TestApp) -> usize {
    congdanso::purposes::repo::recent_over_asking(&t.state.db, 100)
        .await
        .unwrap()
        .len()
}

/// A citizen with a CCCD issued to them, logged in; returns the browser and the document id.
pub async fn citizen_with_cccd<S, B>(t: &TestApp, me: &mut Client<S>) -> (Issuer, Uuid)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    crate::accounts::register_citizen(me, t, CITIZEN).await;
    let issuer = make_issuer(t, "CA-DANANG", 31).await;
    let payload = issuer.payload(t, "cccd", cccd_fields(CITIZEN), None);
    let (status, body) = post_json(
        t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&payload),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (issuer, id_of(&body))
}

pub fn ask_cccd(fields: Value, max_uses: u32) -> Value {
    json!({
        "citizen_national_id": CITIZEN,
        "purpose": "cu-tru",
        "explanation": "Xác minh nhân thân để đăng ký thường trú",
        "documents": [{ "type": "cccd", "fields": fields }],
        "duration_days": 30,
        "max_uses": max_uses,
    })
}

pub async fn get_json(t: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let service = test::init_service(app(t.state.clone())).await;
    let request = test::TestRequest::get()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let response = test::call_service(&service, request).await;
    let status = response.status();
    let bytes = test::read_body(response).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The citizen approves request `id` picking `document` for item 0 with `optional` fields on.
pub async fn approve<S, B>(
    t: &TestApp,
    me: &mut Client<S>,
    id: &str,
    document: Uuid,
    optional: &[&str],
) -> Uuid
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    step_up(me, t, CITIZEN).await;
    let pick = format!("doc_0_{document}");
    let opts: Vec<String> = optional.iter().map(|f| format!("opt_0_{f}")).collect();
    let mut fields: Vec<(&str, &str)> = vec![(pick.as_str(), "on")];
    fields.extend(opts.iter().map(|o| (o.as_str(), "on")));
    let reply = me
        .post(&format!("/shared/requests/{id}/approve"), &fields)
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    Uuid::parse_str(reply.location().trim_start_matches("/shared/grants/")).unwrap()
}

fn platform_key(t: &TestApp) -> ed25519_dalek::VerifyingKey {
    t.state.keys.signing.verifying_key()
}

#[actix_web::test]
async fn an_agency_asks_the_citizen_approves_and_the_agency_reads_exactly_the_granted_fields() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (issuer, cccd) = citizen_with_cccd(&t, &mut me).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(
        &t,
        &asker.agency,
        "cu-tru",
        &["full_name", "date_of_birth", "place_of_residence"],
    )
    .await;

    let body = ask_cccd(
        json!({ "full_name": "required", "date_of_birth": "optional", "place_of_residence": "optional" }),
        2,
    );
    let (status, request) = post_json(&t, &asker.token, "/api/v1/requests", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["status"], "pending");
    let id = request["id"].as_str().unwrap().to_owned();

    // The citizen sees it in the inbox, nothing pre-selected, approve and refuse both there.
    let home = me.get("/").await;
    assert!(home.body.contains("1"), "count on the home page");
    let page = me.get(&format!("/shared/requests/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("UBND UBND-HAICHAU"));
    assert!(!page.body.contains("checked"), "nothing pre-selected");
    assert!(page.body.contains(&format!("/shared/requests/{id}/refuse")));

    // Approval without a fresh second factor is sent to the step-up, and nothing is granted.
    let reply = me
        .post(
            &format!("/shared/requests/{id}/approve"),
            &[(format!("doc_0_{cccd}").as_str(), "on")],
        )
        .await;
    assert!(
        reply.location().starts_with("/step-up"),
        "{}",
        reply.location()
    );
    let grant = approve(&t, &mut me, &id, cccd, &["date_of_birth"]).await;

    // The agency sees the grant and its consent record, which verifies with the platform key.
    let (status, shown) = get_json(&t, &asker.token, &format!("/api/v1/grants/{grant}")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["status"], "active");
    let record = &shown["consent_record"];
    sign::verify_json(
        &platform_key(&t),
        &record["record"],
        record["signature"].as_str().unwrap(),
    )
    .expect("consent record verifies");
    assert_eq!(record["record"]["record_id"], grant.to_string());
    assert_eq!(
        record["record"]["data"][0]["fields"],
        json!(["date_of_birth", "full_name"])
    );
    assert_eq!(
        record["record"]["data"][0]["optional_fields_declined"],
        json!(["place_of_residence"])
    );
    assert_eq!(record["record"]["events"][0]["event"], "given");
    let mut tampered = record["record"].clone();
    tampered["data"][0]["fields"] = json!(["date_of_birth", "full_name", "place_of_residence"]);
    assert!(
        sign::verify_json(
            &platform_key(&t),
            &tampered,
            record["signature"].as_str().unwrap()
        )
        .is_err()
    );

    // The read: exactly the granted fields, with a receipt signed by the platform.
    let (status, read) = get_json(
        &t,
        &asker.token,
        &format!("/api/v1/grants/{grant}/documents/{cccd}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    let fields = read["fields"].as_object().unwrap();
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(names, ["date_of_birth", "full_name"]);
    assert_eq!(fields["full_name"], cccd_fields(CITIZEN)["full_name"]);
    let receipt = &read["receipt"];
    sign::verify_json(
        &platform_key(&t),
        &receipt["receipt"],
        receipt["signature"].as_str().unwrap(),
    )
    .expect("receipt verifies");
    assert_eq!(receipt["receipt"]["grant_id"], grant.to_string());
    // The platform-signed cut holds the same fields and names the issuer-signed payload it was
    // cut from: its digest matches the payload the issuer signed, and that signature verifies.
    let cut = &read["cut"];
    sign::verify_json(
        &platform_key(&t),
        &cut["body"],
        cut["signature"].as_str().unwrap(),
    )
    .expect("cut verifies");
    assert_eq!(&cut["body"]["fields"], &read["fields"]);
    let mut extra = cut["body"].clone();
    extra["fields"]["place_of_residence"] = json!("Đà Nẵng");
    assert!(
        sign::verify_json(
            &platform_key(&t),
            &extra,
            cut["signature"].as_str().unwrap()
        )
        .is_err()
    );
    let record = congdanso::vault::repo::find_signature(&t.state.db, cccd)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cut["body"]["source"]["signature"],
        record.signature.as_str()
    );
    let owner = citizen(&t).await;
    let opened = congdanso::access::open(
        &t.state,
        &congdanso::access::Reader::Owner(&owner),
        congdanso::access::DocumentId(cccd),
        congdanso::access::Purpose::View,
    )
    .await
    .unwrap();
    let signed = opened.payload(&record).unwrap();
    let canonical = sign::canonical_json(&signed).unwrap();
    assert_eq!(
        cut["body"]["source"]["payload_sha256"],
        crate::issuing::sha_hex(&canonical)
    );
    let issuer_key = issuer.key.verifying_key();
    sign::verify_json(&issuer_key, &signed, &record.signature)
        .expect("the issuer signed the source");

    // The file was not asked for: outside the grant, like a missing document.
    let (status, body) = get_json(
        &t,
        &asker.token,
        &format!("/api/v1/grants/{grant}/documents/{cccd}/file"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("out_of_scope")),
        "{body}"
    );

    // The citizen's log: the approval, the agency's read under the grant, the refused file.
    congdanso::audit::service::integrate(&t.state.db, t.state.clock.now())
        .await
        .unwrap();
    let owner = citizen(&t).await;
    let entries = congdanso::audit::repo::entries_of(&t.state.db, owner.id)
        .await
        .unwrap();
    let grant_auth = format!("grant:{grant}");
    let under_grant: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e.authorization.as_deref() == Some(grant_auth.as_str()))
        .map(|e| {
            (
                e.action.clone().unwrap_or_default(),
                e.outcome.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        under_grant,
        [
            ("document.fields".to_owned(), "allowed".to_owned()),
            ("document.open".to_owned(), "denied".to_owned())
        ]
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action.as_deref() == Some("grant.approve"))
    );

    // The citizen's Shared page lists it; the consent record downloads as signed JSON.
    assert!(me.get("/shared").await.body.contains(&grant.to_string()));
    let (reply, bytes) = me
        .get_with(&format!("/shared/grants/{grant}/consent.json"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let downloaded: Value = serde_json::from_slice(&bytes).unwrap();

    // `congdanso verify` checks the consent record and the cut offline against the platform
    // keys; a tampered copy fails.
    let dir = tempfile::tempdir().unwrap();
    let (list, keys) = crate::verify::write_lists(&t, dir.path()).await;
    let lists = [
        "--trust-list",
        list.as_str(),
        "--platform-keys",
        keys.as_str(),
    ];
    let file = dir.path().join("consent.json");
    std::fs::write(&file, &bytes).unwrap();
    let (code, stdout, stderr) =
        crate::verify::run(crate::verify::cli().arg("verify").arg(&file).args(lists)).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("VALID: congdanso.consent_record"),
        "{stdout}"
    );
    let mut forged = downloaded.clone();
    forged["record"]["valid_until"] = json!("2099-01-01T00:00:00Z");
    std::fs::write(&file, forged.to_string()).unwrap();
    let (code, stdout, _) =
        crate::verify::run(crate::verify::cli().arg("verify").arg(&file).args(lists)).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.starts_with("INVALID"), "{stdout}");
    let cut_file = dir.path().join("cut.json");
    std::fs::write(&cut_file, read["cut"].to_string()).unwrap();
    let (code, stdout, _) = crate::verify::run(
        crate::verify::cli()
            .arg("verify")
            .arg(&cut_file)
            .args(lists),
    )
    .await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("VALID: congdanso.field_cut"), "{stdout}");
    sign::verify_json(
        &platform_key(&t),
        &downloaded["record"],
        downloaded["signature"].as_str().unwrap(),
    )
    .unwrap();
}

/// A grant over the citizen's CCCD with `max_uses`, the full name required.
async fn granted<S, B>(t: &TestApp, me: &mut Client<S>, max_uses: u32) -> (Asker, Uuid, Uuid)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let (_issuer, cccd) = citizen_with_cccd(t, me).await;
    let asker = make_asker(t, "UBND-HAICHAU").await;
    register_purpose(t, &asker.agency, "cu-tru", &["full_name", "date_of_birth"]).await;
    let (status, request) = post_json(
        t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), max_uses),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let grant = approve(t, me, request["id"].as_str().unwrap(), cccd, &[]).await;
    (asker, grant, cccd)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[actix_web::test]
async fn withdrawal_expiry_and_max_uses_each_stop_the_very_next_read() {
    // max uses
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (asker, grant, cccd) = granted(&t, &mut me, 2).await;
    let path = format!("/api/v1/grants/{grant}/documents/{cccd}");
    assert_eq!(get_json(&t, &asker.token, &path).await.0, StatusCode::OK);
    assert_eq!(get_json(&t, &asker.token, &path).await.0, StatusCode::OK);
    let (status, body) = get_json(&t, &asker.token, &path).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "grant_exhausted")
    );

    // withdrawal
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (asker, grant, cccd) = granted(&t, &mut me, 5).await;
    let path = format!("/api/v1/grants/{grant}/documents/{cccd}");
    assert_eq!(get_json(&t, &asker.token, &path).await.0, StatusCode::OK);
    let page = me.get(&format!("/shared/grants/{grant}")).await;
    assert!(page.body.contains("/withdraw"), "a withdraw form");
    let reply = me
        .post(&format!("/shared/grants/{grant}/withdraw"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let (status, body) = get_json(&t, &asker.token, &path).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "grant_withdrawn")
    );
    let (_, shown) = get_json(&t, &asker.token, &format!("/api/v1/grants/{grant}")).await;
    assert_eq!(shown["status"], "withdrawn");
    let events: Vec<&str> = shown["consent_record"]["record"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["given", "withdrawn"]);

    // expiry, enforced at read time (no job has run)
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (asker, grant, cccd) = granted(&t, &mut me, 5).await;
    let path = format!("/api/v1/grants/{grant}/documents/{cccd}");
    t.clock
        .advance(chrono::Duration::days(30) + chrono::Duration::seconds(1));
    let (status, body) = get_json(&t, &asker.token, &path).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "grant_expired")
    );
}

/// A grant read looks its credential up in its own query (`grants::repo::find_agency_read`):
/// the same rule as every other agency call — a revoked or unknown token reads nothing, in
/// either form (this grant covers fields only: the file path would be `out_of_scope` to the
/// agency), and a read records the credential's use.
#[actix_web::test]
async fn a_revoked_or_unknown_credential_reads_nothing_under_a_grant() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (asker, grant, cccd) = granted(&t, &mut me, 5).await;
    let fields = format!("/api/v1/grants/{grant}/documents/{cccd}");
    let file = format!("{fields}/file");
    let used_before = congdanso::issuers::repo::find_credential(&t.state.db, asker.credential.id)
        .await
        .unwrap()
        .unwrap()
        .last_used_at;
    t.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(get_json(&t, &asker.token, &fields).await.0, StatusCode::OK);
    let used_after = congdanso::issuers::repo::find_credential(&t.state.db, asker.credential.id)
        .await
        .unwrap()
        .unwrap()
        .last_used_at;
    assert_eq!(used_after, Some(t.clock.now()), "was {used_before:?}");
    let unknown = format!("cds_{}", "A".repeat(43));
    for token in [unknown.as_str(), "not-a-token"] {
        for path in [&fields, &file] {
            let (status, body) = get_json(&t, token, path).await;
            assert_eq!(
                (status, code(&body)),
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
                "{path}: {body}"
            );
        }
    }
    congdanso::issuers::service::revoke_credential(&t.state, asker.agency.id, asker.credential.id)
        .await
        .unwrap();
    for path in [&fields, &file] {
        let (status, body) = get_json(&t, &asker.token, path).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{path}: {body}"
        );
    }
}

#[actix_web::test]
async fn an_agency_only_ever_sees_its_own_requests_and_grants_and_only_the_granted_documents() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (asker, grant, cccd) = granted(&t, &mut me, 5).await;
    let other = make_asker(&t, "UBND-THACHTHANG").await;
    let request = congdanso::grants::repo::find_grant(&t.state.db, grant)
        .await
        .unwrap()
        .unwrap()
        .request_id;

    for path in [
        format!("/api/v1/grants/{grant}"),
        format!("/api/v1/requests/{request}"),
        format!("/api/v1/grants/{grant}/documents/{cccd}"),
    ] {
        let (status, body) = get_json(&t, &other.token, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, list) = get_json(&t, &other.token, "/api/v1/grants").await;
    assert_eq!(list["grants"].as_array().unwrap().len(), 0);
    let (_, list) = get_json(&t, &asker.token, "/api/v1/grants").await;
    assert_eq!(list["grants"].as_array().unwrap().len(), 1);

    // Another document of the same citizen, another citizen's, and none at all: alike.
    let owner = citizen(&t).await;
    let scan = crate::issuing::pdf("không chia sẻ");
    let reply = me
        .post_multipart(
            "/documents",
            &[("doc_type", "cccd"), ("title", "Bản chụp")],
            Some(("cccd.pdf", &scan)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let unshared = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.id != cccd)
        .unwrap()
        .id;
    for document in [unshared, Uuid::now_v7()] {
        let (status, body) = get_json(
            &t,
            &asker.token,
            &format!("/api/v1/grants/{grant}/documents/{document}"),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "out_of_scope"),
            "{body}"
        );
    }

    // The citizen deletes the granted document (the approval's step-up still holds): gone,
    // like one outside the grant.
    let reply = me.post(&format!("/documents/{cccd}/delete"), &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let (status, body) = get_json(
        &t,
        &asker.token,
        &format!("/api/v1/grants/{grant}/documents/{cccd}"),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "out_of_scope"),
        "{body}"
    );
}

#[actix_web::test]
async fn bad_requests_get_precise_errors_and_over_asking_is_refused_and_recorded() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let base = ask_cccd(json!({ "full_name": "required" }), 1);
    let with = |path: &str, value: Value| {
        let mut body = base.clone();
        body[path] = value;
        body
    };
    let cases = [
        (with("purpose", json!(" ")), "empty_purpose"),
        (
            with("documents", json!([{ "type": "tau_bay", "file": true }])),
            "unknown_type",
        ),
        (
            with(
                "documents",
                json!([{ "type": "cccd", "fields": { "blood_type": "required" } }]),
            ),
            "unknown_field",
        ),
        (with("duration_days", json!(100_000)), "duration_too_long"),
        (
            with("procedure", json!("khong-co-thu-tuc-nay")),
            "unknown_procedure",
        ),
        (
            with(
                "documents",
                json!([{ "type": "cccd", "fields": { "date_of_birth": "required" } }]),
            ),
            "over_asking",
        ),
        (
            with("documents", json!([{ "type": "cccd", "file": true }])),
            "over_asking",
        ),
        (with("purpose", json!("khong-dang-ky")), "over_asking"),
        (
            with("citizen_national_id", json!("12345")),
            "invalid_national_id",
        ),
    ];
    for (body, expected) in cases {
        let (status, reply) = post_json(&t, &asker.token, "/api/v1/requests", &body).await;
        assert_eq!(
            (status, code(&reply)),
            (StatusCode::UNPROCESSABLE_ENTITY, expected),
            "{body}: {reply}"
        );
    }
    assert_eq!(over_asking_count(&t).await, 3);
    let (_, list) = get_json(&t, &asker.token, "/api/v1/requests").await;
    assert_eq!(
        list["requests"].as_array().unwrap().len(),
        0,
        "nothing half-written"
    );
}

#[actix_web::test]
async fn a_national_id_without_an_account_is_answered_like_any_other_and_unanswered_requests_expire()
 {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let known = ask_cccd(json!({ "full_name": "required" }), 1);
    let mut unknown = known.clone();
    unknown["citizen_national_id"] = json!("079203000999");
    let (s1, a) = post_json(&t, &asker.token, "/api/v1/requests", &known).await;
    let (s2, b) = post_json(&t, &asker.token, "/api/v1/requests", &unknown).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    let shape = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        (keys, v["status"].clone(), v["answer_by"].clone())
    };
    assert_eq!(
        shape(&a),
        shape(&b),
        "same answer whether or not an account exists"
    );

    t.clock.advance(chrono::Duration::days(15));
    for id in [&a["id"], &b["id"]] {
        let (_, shown) = get_json(
            &t,
            &asker.token,
            &format!("/api/v1/requests/{}", id.as_str().unwrap()),
        )
        .await;
        assert_eq!(shown["status"], "expired");
    }
    assert!(
        !me.get("/shared")
            .await
            .body
            .contains(a["id"].as_str().unwrap()),
        "gone from the inbox"
    );
    let reply = me
        .get(&format!("/shared/requests/{}", a["id"].as_str().unwrap()))
        .await;
    assert!(
        !reply.body.contains("/approve"),
        "an expired request cannot be approved"
    );
}

async fn post_keyed(t: &TestApp, token: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    let service = test::init_service(app(t.state.clone())).await;
    let request = test::TestRequest::post()
        .uri("/api/v1/requests")
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("content-type", "application/json"))
        .insert_header(("idempotency-key", key))
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

async fn idempotency_and_parallel_uses(t: TestApp) {
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let issuer = make_issuer(&t, "CA-DANANG", 31).await;
    let payload = issuer.payload(&t, "cccd", cccd_fields(CITIZEN), None);
    let (_, body) = post_json(
        &t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&payload),
    )
    .await;
    let cccd = id_of(&body);
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let body = ask_cccd(json!({ "full_name": "required" }), 3);

    // Twelve POSTs with one key at once: one request.
    let posts = (0..12).map(|_| post_keyed(&t, &asker.token, "ho-so-42", &body));
    let replies = futures_util::future::join_all(posts).await;
    let ids: std::collections::BTreeSet<String> = replies
        .iter()
        .map(|(s, v)| {
            assert!(s.is_success(), "{s} {v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let mut other = body.clone();
    other["duration_days"] = json!(7);
    let (status, reply) = post_keyed(&t, &asker.token, "ho-so-42", &other).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::CONFLICT, "idempotency_key_reused")
    );

    let id = ids.into_iter().next().unwrap();
    let grant = approve(&t, &mut me, &id, cccd, &[]).await;
    // Twenty reads at once of a grant allowing three, spread over two instances on the same
    // stores (each groups its reads' uses into shared commits): exactly three get through,
    // and the log holds exactly three allowed reads and seventeen refusals.
    let second = TestApp {
        state: t.second_instance().await,
        clock: t.clock.clone(),
        _dir: tempfile::tempdir().unwrap(),
    };
    let path = format!("/api/v1/grants/{grant}/documents/{cccd}");
    let reads = (0..20).map(|i| {
        let instance = if i % 2 == 0 { &t } else { &second };
        get_json(instance, &asker.token, &path)
    });
    let replies = futures_util::future::join_all(reads).await;
    let ok = replies.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let exhausted = replies
        .iter()
        .filter(|(_, v)| code(v) == "grant_exhausted")
        .count();
    assert_eq!((ok, exhausted), (3, 17), "{replies:?}");
    congdanso::audit::service::integrate(&t.state.db, t.state.clock.now())
        .await
        .unwrap();
    let citizen = crate::issuing::citizen(&t).await;
    let under_grant: Vec<String> = congdanso::audit::repo::entries_of(&t.state.db, citizen.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.authorization.as_deref() == Some(format!("grant:{grant}").as_str()))
        .filter_map(|e| e.outcome)
        .collect();
    let allowed = under_grant.iter().filter(|o| *o == "allowed").count();
    let denied = under_grant.iter().filter(|o| *o == "denied").count();
    assert_eq!((allowed, denied), (3, 17), "{under_grant:?}");
}

#[actix_web::test]
async fn idempotency_keys_and_max_uses_hold_under_parallel_requests_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let t = crate::helpers::concurrent_sqlite_app(&dir).await;
    idempotency_and_parallel_uses(t).await;
}

#[actix_web::test]
async fn idempotency_keys_and_max_uses_hold_under_parallel_requests_on_postgres() {
    let Some(t) = crate::helpers::concurrent_postgres_app(
        "idempotency_keys_and_max_uses_hold_under_parallel_requests_on_postgres",
    )
    .await
    else {
        return;
    };
    idempotency_and_parallel_uses(t).await;
}

#[actix_web::test]
async fn refusing_tells_the_agency_and_a_second_answer_loses() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (_issuer, cccd) = citizen_with_cccd(&t, &mut me).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let (_, request) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 1),
    )
    .await;
    let id = request["id"].as_str().unwrap();
    let reply = me.post(&format!("/shared/requests/{id}/refuse"), &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let (_, shown) = get_json(&t, &asker.token, &format!("/api/v1/requests/{id}")).await;
    assert_eq!(shown["status"], "refused");
    step_up(&mut me, &t, CITIZEN).await;
    let reply = me
        .post(
            &format!("/shared/requests/{id}/approve"),
            &[(format!("doc_0_{cccd}").as_str(), "on")],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(
        congdanso::grants::repo::grants_of_citizen(&t.state.db, citizen(&t).await.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[actix_web::test]
async fn the_sharing_pages_pass_wcag_and_fit_a_phone() {
    let Some(b) =
        crate::browser::Browser::start("the_sharing_pages_pass_wcag_and_fit_a_phone", "vi").await
    else {
        return;
    };
    congdanso::demo::seed(&b.app.state).await.unwrap();
    let login = congdanso::demo::DEMO_CITIZEN_ID;
    b.goto("/login").await;
    b.fill("login", login).await;
    b.fill("password", congdanso::demo::DEMO_PASSWORD).await;
    b.submit().await;
    let account = congdanso::accounts::repo::find_by_login(&b.app.state.db, login)
        .await
        .unwrap()
        .unwrap();
    let secret = congdanso::accounts::service::totp_secret(&b.app.state, &account).unwrap();
    let code = congdanso::accounts::totp::code_at(&secret, b.app.clock.now().timestamp() / 30);
    b.fill("code", &code).await;
    b.submit().await;
    b.goto("/shared").await;
    assert_eq!(b.path().await, "/shared");
    b.assert_accessible("shared-vi").await;
    let pending = congdanso::grants::repo::pending_for_citizen(
        &b.app.state.db,
        account.id,
        b.app.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(pending.len(), 1, "the demo request waits in the inbox");
    b.goto(&format!("/shared/requests/{}", pending[0].id)).await;
    b.assert_accessible("shared-request-vi").await;
    let cccd = congdanso::vault::repo::list_for_owner(&b.app.state.db, account.id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.doc_type == "cccd")
        .unwrap();
    let mut choice = congdanso::grants::service::Choice::default();
    choice.documents.insert(0, [cccd.id].into_iter().collect());
    let grant = congdanso::grants::service::approve(&b.app.state, &account, pending[0].id, &choice)
        .await
        .unwrap();
    b.goto(&format!("/shared/grants/{}", grant.id)).await;
    b.assert_accessible("shared-grant-vi").await;
    b.finish().await;
}

#[actix_web::test]
async fn withdrawal_reaches_the_agency_as_a_signed_webhook_from_the_outbox() {
    let t = spawn_app_with(&[("CONGDANSO_OUTBOX_ALLOW_HTTP_LOOPBACK", "true")]).await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (_issuer, cccd) = citizen_with_cccd(&t, &mut me).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = crate::outbox::receiver(listener).await;
    let mut body = ask_cccd(json!({ "full_name": "required" }), 1);
    body["callback_url"] = json!(url);
    let (status, request) = post_json(&t, &asker.token, "/api/v1/requests", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let grant = approve(&t, &mut me, request["id"].as_str().unwrap(), cccd, &[]).await;
    let reply = me
        .post(&format!("/shared/grants/{grant}/withdraw"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    // A second withdrawal changes nothing and sends nothing more.
    me.post(&format!("/shared/grants/{grant}/withdraw"), &[])
        .await;

    let deliverer = congdanso::outbox::Deliverer::new(&t.state.config.outbox).unwrap();
    // Two webhooks, and the citizen's notifications (document issued, new request) from the
    // same outbox.
    assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 4);
    let got = got.lock().unwrap().clone();
    let secret = congdanso::issuers::service::webhook_secret(&t.state, &asker.credential)
        .unwrap()
        .unwrap();
    let events: Vec<String> = got
        .iter()
        .map(|one| {
            use congdanso::outbox::webhook;
            let id = crate::outbox::header(one, webhook::HEADER_ID);
            let ts = crate::outbox::header(one, webhook::HEADER_TIMESTAMP);
            let sig = crate::outbox::header(one, webhook::HEADER_SIGNATURE);
            assert!(webhook::verify(secret.as_bytes(), id, ts, &one.1, sig));
            let body: Value = serde_json::from_slice(&one.1).unwrap();
            body["type"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(events, ["request.approved", "grant.withdrawn"]);
    let withdrawn: Value = serde_json::from_slice(&got[1].1).unwrap();
    assert_eq!(withdrawn["data"]["grant_id"], grant.to_string());
    let record = &withdrawn["data"]["consent_record"];
    sign::verify_json(
        &platform_key(&t),
        &record["record"],
        record["signature"].as_str().unwrap(),
    )
    .unwrap();
}

#[actix_web::test]
async fn the_shipped_catalogue_imports_idempotently_a_bad_row_leaves_nothing_and_requests_can_name_a_procedure()
 {
    let t = spawn_app().await;
    let shipped = congdanso::demo::SHIPPED_PROCEDURES;
    let n = congdanso::purposes::service::import_procedures(&t.state, shipped)
        .await
        .unwrap();
    assert!(n >= 10, "at least ten procedures of a ward counter");
    assert_eq!(
        congdanso::purposes::service::import_procedures(&t.state, shipped)
            .await
            .unwrap(),
        n
    );
    let all = congdanso::purposes::repo::all_procedures(&t.state.db)
        .await
        .unwrap();
    assert_eq!(all.len(), n, "upserted by code, not duplicated");
    assert!(
        all.iter().all(|p| !p.source.is_empty()),
        "every procedure cites its source"
    );

    // One bad row: refused naming it, nothing of the file imported.
    let bad = json!([
        { "code": "moi-mot", "name_vi": "Một", "name_en": "One", "required_types": ["cccd"], "source": "x" },
        { "code": "moi-hai", "name_vi": "Hai", "name_en": "Two", "required_types": ["tau_bay"], "source": "x" }
    ]);
    let error =
        congdanso::purposes::service::import_procedures(&t.state, bad.to_string().as_bytes())
            .await
            .unwrap_err();
    assert!(
        error.api_message().contains("row 2"),
        "{}",
        error.api_message()
    );
    assert!(
        congdanso::purposes::repo::find_procedure(&t.state.db, "moi-mot")
            .await
            .unwrap()
            .is_none()
    );

    // "For procedure X": its types, as far as the purpose covers them.
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let mut body = ask_cccd(json!({}), 1);
    body["documents"] = json!([]);
    body["procedure"] = json!("xac-nhan-thong-tin-cu-tru");
    let (status, request) = post_json(&t, &asker.token, "/api/v1/requests", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["documents"][0]["type"], "cccd");
    assert_eq!(
        request["documents"][0]["fields"],
        json!({ "full_name": "required" })
    );
    // A procedure needing a type the purpose does not cover is over-asking.
    body["procedure"] = json!("chung-thuc-chu-ky");
    let (status, reply) = post_json(&t, &asker.token, "/api/v1/requests", &body).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::UNPROCESSABLE_ENTITY, "over_asking"),
        "{reply}"
    );
}

#[actix_web::test]
async fn a_scan_the_citizen_uploaded_cannot_stand_in_for_signed_fields() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let scan = crate::issuing::pdf("bản chụp CCCD");
    let reply = me
        .post_multipart(
            "/documents",
            &[("doc_type", "cccd"), ("title", "Bản chụp")],
            Some(("cccd.pdf", &scan)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let owner = citizen(&t).await;
    let uploaded = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap()[0]
        .id;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let (_, request) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 1),
    )
    .await;
    let id = request["id"].as_str().unwrap();
    let page = me.get(&format!("/shared/requests/{id}")).await;
    assert!(
        !page.body.contains(&uploaded.to_string()),
        "not offered for signed details"
    );
    step_up(&mut me, &t, CITIZEN).await;
    let reply = me
        .post(
            &format!("/shared/requests/{id}/approve"),
            &[(format!("doc_0_{uploaded}").as_str(), "on")],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(
        congdanso::grants::repo::grants_of_citizen(&t.state.db, owner.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[actix_web::test]
async fn agency_admins_see_their_own_agencys_sharing_and_operators_see_over_asking() {
    let t = spawn_app().await;
    congdanso::demo::seed(&t.state).await.unwrap();
    let demo = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    let ours = congdanso::grants::repo::requests_of_agency(&t.state.db, demo.id)
        .await
        .unwrap();
    assert_eq!(ours.len(), 1);
    // Another agency's request, and its refused over-asking.
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let other = make_asker(&t, "UBND-THACHTHANG").await;
    register_purpose(&t, &other.agency, "cu-tru", &["full_name"]).await;
    let (_, theirs) = post_json(
        &t,
        &other.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 1),
    )
    .await;
    let (status, _) = post_json(
        &t,
        &other.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "date_of_birth": "required" }), 1),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut admin = Client::new(test::init_service(app(t.state.clone())).await);
    crate::staff::first_staff_login(&mut admin, &t, "demo.admin", congdanso::demo::DEMO_PASSWORD)
        .await;
    let page = admin.get("/agency/sharing").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&ours[0].id.to_string()));
    assert!(
        !page.body.contains(theirs["id"].as_str().unwrap()),
        "another agency's request"
    );
    assert_eq!(
        admin.get("/admin/over-asking").await.status,
        StatusCode::NOT_FOUND
    );

    let mut operator = Client::new(test::init_service(app(t.state.clone())).await);
    crate::staff::first_staff_login(
        &mut operator,
        &t,
        "demo.operator",
        congdanso::demo::DEMO_PASSWORD,
    )
    .await;
    let page = operator.get("/admin/over-asking").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("UBND-THACHTHANG") && page.body.contains("date_of_birth"));
    assert!(!page.body.contains(CITIZEN), "never which citizen");

    assert_eq!(
        me.get("/agency/sharing").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        me.get("/admin/over-asking").await.status,
        StatusCode::NOT_FOUND
    );
}
