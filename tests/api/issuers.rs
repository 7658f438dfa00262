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
