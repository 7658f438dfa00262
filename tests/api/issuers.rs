//! Issuer keys, API credentials and the signed trust list.

use actix_web::http::StatusCode;
use actix_web::test;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use congdanso::accounts::service;
use congdanso::auth::Role;
use congdanso::crypto::sign;
use congdanso::startup::app;
use ed25519_dalek::SigningKey;
use serde_json::Value;

use crate::helpers::{Client, spawn_app};
use crate::staff::first_staff_login;

fn public_key(seed: u8) -> String {
    B64.encode(
        SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .as_bytes(),
    )
}

#[actix_web::test]
async fn operators_register_keys_and_the_signed_trust_list_shows_them() {
    let t = spawn_app().await;
    let (_, initial) =
        service::create_staff_account(&t.state, Role::Operator, "van.hanh", "Trần Văn Hành", None)
            .await
            .unwrap();
    let mut operator = Client::new(test::init_service(app(t.state.clone())).await);
    operator.lang = Some("en");
    first_staff_login(&mut operator, &t, "van.hanh", &initial).await;
    crate::staff::step_up(&mut operator, &t, "van.hanh").await;
    let reply = operator
        .post(
            "/admin/agencies",
            &[
                ("code", "CA-DANANG"),
                ("name", "Công an TP Đà Nẵng"),
                ("kind", "department"),
            ],
        )
        .await;
    let agency = reply.location().to_owned();

    // Bad keys are refused with a clear message.
    for (bad, message) in [
        ("not-a-key", "not a valid Ed25519"),
        ("AAAA", "not a valid Ed25519"),
    ] {
        let reply = operator
            .post(
                &format!("{agency}/keys"),
                &[("public_key", bad), ("purpose", "issuing")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains(message), "{}", reply.body);
    }
    let key = public_key(1);
    let reply = operator
        .post(
            &format!("{agency}/keys"),
            &[
                ("public_key", &key),
                ("purpose", "issuing"),
                ("valid_until", "2030-12-31"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let again = operator
        .post(
            &format!("{agency}/keys"),
            &[("public_key", &key), ("purpose", "issuing")],
        )
        .await;
    assert!(again.body.contains("already registered"));
    operator
        .post(
            &format!("{agency}/keys"),
            &[("public_key", &public_key(2)), ("purpose", "certifying")],
        )
        .await;
    let page = operator.get(&format!("{agency}/keys")).await;
    let key_id = sign::key_id_for("ik", &sign::parse_public_key(&key).unwrap());
    assert!(page.body.contains(&key_id));

    // The trust list lists both keys and is signed by the platform key published beside it.
    let list: Value = serde_json::from_str(
        &operator
            .get("/.well-known/congdanso/trust-list.json")
            .await
            .body,
    )
    .unwrap();
    let platform: Value = serde_json::from_str(
        &operator
            .get("/.well-known/congdanso/platform-keys.json")
            .await
            .body,
    )
    .unwrap();
    let current = platform["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["current"] == true)
        .unwrap();
    assert_eq!(current["key_id"], list["platform_key_id"]);
    let verifying = sign::parse_public_key(current["public_key"].as_str().unwrap()).unwrap();
    sign::verify_json(
        &verifying,
        &list["trust_list"],
        list["signature"].as_str().unwrap(),
    )
    .unwrap();
    let issuers = list["trust_list"]["issuers"].as_array().unwrap();
    assert_eq!(issuers.len(), 1);
    assert_eq!(issuers[0]["code"], "CA-DANANG");
    assert_eq!(issuers[0]["keys"].as_array().unwrap().len(), 2);
    assert_eq!(list["trust_list"]["format"], "congdanso-trust-list/v2");

    // A tampered list no longer verifies.
    let mut tampered = list["trust_list"].clone();
    tampered["issuers"][0]["keys"][0]["status"] = Value::from("active-forever");
    assert!(sign::verify_json(&verifying, &tampered, list["signature"].as_str().unwrap()).is_err());

    // Retire, then revoke: the trust list says so, with the time.
    operator
        .post(&format!("{agency}/keys/{key_id}/retire"), &[])
        .await;
    let list: Value = serde_json::from_str(
        &operator
            .get("/.well-known/congdanso/trust-list.json")
            .await
            .body,
    )
    .unwrap();
    let entry = list["trust_list"]["issuers"][0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["status"], "retired");
    assert!(entry["status_changed_at"].is_string());
    operator
        .post(&format!("{agency}/keys/{key_id}/revoke"), &[])
        .await;
    let list: Value = serde_json::from_str(
        &operator
            .get("/.well-known/congdanso/trust-list.json")
            .await
            .body,
    )
    .unwrap();
    let entry = list["trust_list"]["issuers"][0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["status"], "revoked");
}

#[actix_web::test]
async fn api_credentials_authenticate_an_agency_until_revoked() {
    let t = spawn_app().await;
    congdanso::demo::seed(&t.state).await.unwrap();
    let mut admin = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut admin, &t, "demo.admin", congdanso::demo::DEMO_PASSWORD).await;
    crate::staff::step_up(&mut admin, &t, "demo.admin").await;
    let reply = admin
        .post("/agency/credentials", &[("name", "Hệ thống một cửa")])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let token = reply
        .body
        .split(r#"<code id="new-token">"#)
        .nth(1)
        .and_then(|r| r.split("</code>").next())
        .unwrap()
        .to_owned();
    assert!(token.starts_with("cds_"));
    // Shown once: the list page does not contain it.
    assert!(!admin.get("/agency/credentials").await.body.contains(&token));
    // Stored only as a hash.
    let rows = congdanso::issuers::repo::credentials_for_agency(
        &t.state.db,
        congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
            .await
            .unwrap()
            .unwrap()
            .id,
    )
    .await
    .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.token_hash != token && !r.token_hash.contains(&token))
    );

    let service = test::init_service(app(t.state.clone())).await;
    let call = |auth: Option<String>| {
        let mut request = test::TestRequest::get().uri("/api/v1/agency");
        if let Some(auth) = auth {
            request = request.insert_header(("authorization", auth));
        }
        request.to_request()
    };
    let response = test::call_service(&service, call(Some(format!("Bearer {token}")))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["agency"]["code"], "DEMO-HAICHAU");
    let types: Vec<&str> = body["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["birth_certificate", "household_registration"]);

    for auth in [
        None,
        Some("Bearer cds_wrong".to_owned()),
        Some(format!("Basic {token}")),
    ] {
        let response = test::call_service(&service, call(auth.clone())).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(response.headers().get("www-authenticate").is_some());
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["error"]["code"], "unauthenticated");
    }

    // Last use is shown; revoking takes effect on the next request.
    let page = admin.get("/agency/credentials").await;
    assert!(!page.body.contains("never"), "last use recorded");
    // The demo's own counter credential is there too: revoke the one made here.
    let id = rows
        .iter()
        .find(|r| r.name == "Hệ thống một cửa")
        .unwrap()
        .id;
    let reply = admin
        .post(&format!("/agency/credentials/{id}/revoke"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let response = test::call_service(&service, call(Some(format!("Bearer {token}")))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Agency admins cannot reach the operator's key pages; clerks cannot reach credentials.
    let agency_id = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        admin
            .get(&format!("/admin/agencies/{agency_id}/keys"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut clerk, &t, "demo.clerk", congdanso::demo::DEMO_PASSWORD).await;
    assert_eq!(
        clerk.get("/agency/credentials").await.status,
        StatusCode::NOT_FOUND
    );
}

/// The text of `<code id="{id}">…</code>` on a page.
fn code_in(html: &str, id: &str) -> Option<String> {
    html.split(&format!(r#"<code id="{id}">"#))
        .nth(1)
        .and_then(|r| r.split("</code>").next())
        .map(str::to_owned)
}

/// Enqueues a webhook for `credential` to `url` and delivers it; returns what the receiver got.
async fn deliver_one(
    t: &crate::helpers::TestApp,
    credential: uuid::Uuid,
    url: &str,
    got: &std::sync::Arc<std::sync::Mutex<Vec<crate::outbox::Got>>>,
) -> (uuid::Uuid, crate::outbox::Got) {
    use crate::helpers::NowUtc;
    let before = got.lock().unwrap().len();
    let id = congdanso::outbox::enqueue(
        &t.state.db,
        t.clock.now_utc(),
        congdanso::outbox::Message::Webhook {
            credential,
            url: congdanso::outbox::parse_callback(url, &t.state.config.outbox).unwrap(),
            event: "grant.withdrawn".into(),
            body: serde_json::json!({ "grant_id": "g" }),
        },
    )
    .await
    .unwrap();
    let deliverer = congdanso::outbox::Deliverer::new(&t.state.config.outbox).unwrap();
    assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 1);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), before + 1);
    (id, got[before].clone())
}

fn signed_by(secret: &str, id: uuid::Uuid, one: &crate::outbox::Got) -> bool {
    use congdanso::outbox::webhook;
    webhook::verify(
        secret.as_bytes(),
        &id.to_string(),
        crate::outbox::header(one, webhook::HEADER_TIMESTAMP),
        &one.1,
        crate::outbox::header(one, webhook::HEADER_SIGNATURE),
    )
}

#[actix_web::test]
async fn credential_pages_show_the_webhook_key_once_and_rotate_it_for_the_own_agency_only() {
    let t =
        crate::helpers::spawn_app_with(&[("CONGDANSO_OUTBOX_ALLOW_HTTP_LOOPBACK", "true")]).await;
    let mine = congdanso::agencies::service::create_agency(
        &t.state,
        "CA-DANANG",
        "Công an TP Đà Nẵng",
        "department",
    )
    .await
    .unwrap();
    let theirs = congdanso::agencies::service::create_agency(
        &t.state,
        "UBND-HAICHAU",
        "UBND quận Hải Châu",
        "district",
    )
    .await
    .unwrap();
    let (their_credential, _) =
        congdanso::issuers::service::create_credential(&t.state, theirs.id, "Một cửa")
            .await
            .unwrap();
    let (_, admin_password) = service::create_staff_account(
        &t.state,
        Role::AgencyAdmin,
        "admin.danang",
        "Lê Thị Quản",
        Some(mine.id),
    )
    .await
    .unwrap();
    let (_, operator_password) =
        service::create_staff_account(&t.state, Role::Operator, "van.hanh", "Trần Văn Hành", None)
            .await
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = crate::outbox::receiver(listener).await;
    let wrapped_of = |id: uuid::Uuid| {
        let db = t.state.db.clone();
        async move {
            congdanso::issuers::repo::find_credential(&db, id)
                .await
                .unwrap()
                .unwrap()
                .webhook_key_wrapped
        }
    };

    let mut admin = Client::new(test::init_service(app(t.state.clone())).await);
    admin.lang = Some("en");
    first_staff_login(&mut admin, &t, "admin.danang", &admin_password).await;
    crate::staff::step_up(&mut admin, &t, "admin.danang").await;

    // Created: the token and the webhook key, each shown once.
    let reply = admin
        .post("/agency/credentials", &[("name", "Hệ thống một cửa")])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let token = code_in(&reply.body, "new-token").unwrap();
    let secret = code_in(&reply.body, "new-webhook-secret").unwrap();
    assert!(token.starts_with("cds_"));
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert!(reply.body.contains("Congdanso-Webhook-Signature"));
    let page = admin.get("/agency/credentials").await;
    assert!(!page.body.contains(&secret), "shown once");
    assert!(page.body.contains("New webhook signing key"));
    let credential = congdanso::issuers::repo::credentials_for_agency(&t.state.db, mine.id)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == "Hệ thống một cửa")
        .unwrap();

    // The key shown is the one a delivered webhook is signed with.
    let (id, one) = deliver_one(&t, credential.id, &url, &got).await;
    assert!(signed_by(&secret, id, &one));

    // Rotated: a new key, shown once; the next webhook is signed with it, not the old one.
    let rotate = format!("/agency/credentials/{}/rotate-webhook-key", credential.id);
    let reply = admin.post(&rotate, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rotated = code_in(&reply.body, "new-webhook-secret").unwrap();
    assert!(code_in(&reply.body, "new-token").is_none(), "no token");
    assert!(reply.body.contains("Hệ thống một cửa"));
    assert!(rotated.starts_with("whsec_"));
    assert_ne!(rotated, secret);
    assert!(
        !admin
            .get("/agency/credentials")
            .await
            .body
            .contains(&rotated)
    );
    let (id, one) = deliver_one(&t, credential.id, &url, &got).await;
    assert!(signed_by(&rotated, id, &one));
    assert!(!signed_by(&secret, id, &one), "the old key no longer signs");
    // The API token is unchanged by a webhook rotation.
    let service = test::init_service(app(t.state.clone())).await;
    let whoami = test::TestRequest::get()
        .uri("/api/v1/agency")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    assert_eq!(
        test::call_service(&service, whoami).await.status(),
        StatusCode::OK
    );

    // Another agency's credential: not found, through either route, and unchanged.
    let before = wrapped_of(their_credential.id).await;
    let reply = admin
        .post(
            &format!(
                "/agency/credentials/{}/rotate-webhook-key",
                their_credential.id
            ),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(code_in(&reply.body, "new-webhook-secret").is_none());
    assert_eq!(wrapped_of(their_credential.id).await, before);

    // Revoked: no new key.
    admin
        .post(
            &format!("/agency/credentials/{}/revoke", credential.id),
            &[],
        )
        .await;
    assert_eq!(admin.post(&rotate, &[]).await.status, StatusCode::NOT_FOUND);

    // Without a fresh step-up: sent to step up, nothing changed.
    let mut operator = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut operator, &t, "van.hanh", &operator_password).await;
    let theirs_base = format!("/admin/agencies/{}/credentials", theirs.id);
    let operator_rotate = format!("{theirs_base}/{}/rotate-webhook-key", their_credential.id);
    let reply = operator.post(&operator_rotate, &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        reply.location().starts_with("/step-up?next="),
        "{}",
        reply.location()
    );
    assert_eq!(wrapped_of(their_credential.id).await, before);
    t.clock.advance(chrono::Duration::minutes(6));
    let another = congdanso::issuers::service::create_credential(&t.state, mine.id, "Cổng")
        .await
        .unwrap()
        .0;
    let reply = admin
        .post(
            &format!("/agency/credentials/{}/rotate-webhook-key", another.id),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "step-up expired");
    assert!(reply.location().starts_with("/step-up?next="));
    assert_eq!(
        wrapped_of(another.id).await,
        another.webhook_key_wrapped,
        "unchanged"
    );

    // Operators rotate any agency's key on that agency's page, not through another agency's.
    crate::staff::step_up(&mut operator, &t, "van.hanh").await;
    let wrong = format!(
        "/admin/agencies/{}/credentials/{}/rotate-webhook-key",
        mine.id, their_credential.id
    );
    assert_eq!(
        operator.post(&wrong, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(wrapped_of(their_credential.id).await, before);
    let reply = operator.post(&operator_rotate, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let theirs_secret = code_in(&reply.body, "new-webhook-secret").unwrap();
    assert_ne!(wrapped_of(their_credential.id).await, before);
    let (id, one) = deliver_one(&t, their_credential.id, &url, &got).await;
    assert!(signed_by(&theirs_secret, id, &one));
}
