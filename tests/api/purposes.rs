//! Operators' pages for an agency's purposes and contact: registering a purpose on the page is
//! what lets the agency ask; retiring it stops new requests and approvals but not the grants
//! already given; only operators get there; the consent record names the agency's contact.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::auth::Role;
use congdanso::startup::app;
use serde_json::json;

use crate::grants::{
    approve, ask_cccd, citizen_with_cccd, get_json, make_asker, over_asking_count, register_purpose,
};
use crate::helpers::{Client, TestApp, spawn_app};
use crate::issuing::{CITIZEN, post_json};
use crate::staff::{first_staff_login, step_up};

const OPERATOR: &str = "van.hanh";

/// Makes an operator and logs `client` in as them, TOTP set up (no step-up yet).
async fn operator_login<S, B>(client: &mut Client<S>, t: &TestApp)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let (_, initial) = congdanso::accounts::service::create_staff_account(
        &t.state,
        Role::Operator,
        OPERATOR,
        "Trần Văn Hành",
        None,
    )
    .await
    .unwrap();
    first_staff_login(client, t, OPERATOR, &initial).await;
}

/// The form an operator fills for `cu-tru`: the full name of a CCCD and the file of a
/// household registration.
fn cu_tru_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("code", "cu-tru"),
        ("description_vi", "Đăng ký thường trú"),
        ("description_en", "Permanent residence registration"),
        ("legal_basis", "Luật Cư trú 2020, Điều 22"),
        ("retention_days", "90"),
        ("field_cccd_full_name", "on"),
        ("file_household_registration", "on"),
    ]
}

fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[actix_web::test]
async fn a_purpose_registered_on_the_page_lets_the_agency_ask_within_it_and_retiring_it_stops_new_requests()
 {
    let t = spawn_app().await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    let base = format!("/admin/agencies/{}", asker.agency.id);
    let mut op = Client::new(test::init_service(app(t.state.clone())).await);
    operator_login(&mut op, &t).await;

    // Before: the agency may ask for nothing.
    let (status, body) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 1),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "over_asking")
    );

    // The agency page links to the purposes; a fresh form has nothing ticked.
    assert!(
        op.get(&base)
            .await
            .body
            .contains(&format!("{base}/purposes"))
    );
    let page = op.get(&format!("{base}/purposes")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"name="field_cccd_full_name""#));
    assert!(page.body.contains(r#"name="file_passport""#));
    assert!(!page.body.contains("checked"), "nothing pre-ticked");

    // Registering needs a fresh second factor; without it nothing is stored.
    let reply = op.post(&format!("{base}/purposes"), &cu_tru_form()).await;
    assert!(
        reply.location().starts_with("/step-up"),
        "{}",
        reply.location()
    );
    assert!(
        congdanso::purposes::repo::purposes_of(&t.state.db, asker.agency.id)
            .await
            .unwrap()
            .is_empty()
    );
    step_up(&mut op, &t, OPERATOR).await;
    let reply = op.post(&format!("{base}/purposes"), &cu_tru_form()).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), format!("{base}/purposes"));
    let page = op.get(&format!("{base}/purposes")).await;
    assert!(page.body.contains("cu-tru") && page.body.contains("Luật Cư trú 2020, Điều 22"));
    let purpose = congdanso::purposes::repo::find_purpose(&t.state.db, asker.agency.id, "cu-tru")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(purpose.retention_days, 90);
    assert_eq!(
        serde_json::to_value(&purpose.scope).unwrap(),
        json!({
            "cccd": { "file": false, "fields": ["full_name"] },
            "household_registration": { "file": true, "fields": [] },
        })
    );

    // Now the agency may ask for exactly that, and nothing more.
    let (status, pending) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 1),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pending}");
    let before = over_asking_count(&t).await;
    let (status, body) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "date_of_birth": "required" }), 1),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "over_asking"),
        "{body}"
    );
    assert_eq!(over_asking_count(&t).await, before + 1);

    // Retired: marked on the page, no retire button for it, and new requests are refused
    // (and recorded) with the same stable code.
    let reply = op
        .post(&format!("{base}/purposes/{}/retire", purpose.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let page = op.get(&format!("{base}/purposes")).await;
    assert!(page.body.contains("đã ngừng"), "marked retired");
    assert!(!page.body.contains(&format!("{}/retire", purpose.id)));
    let (status, body) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 1),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "over_asking"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retired")
    );
    assert_eq!(over_asking_count(&t).await, before + 2);
    // Retiring again is harmless; another agency's purpose id is missing.
    let reply = op
        .post(&format!("{base}/purposes/{}/retire", purpose.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let other = make_asker(&t, "UBND-THACHTHANG").await;
    let reply = op
        .post(
            &format!(
                "/admin/agencies/{}/purposes/{}/retire",
                other.agency.id, purpose.id
            ),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    // Registering the code again brings it back.
    let reply = op.post(&format!("{base}/purposes"), &cu_tru_form()).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let (status, body) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 1),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[actix_web::test]
async fn a_retired_purpose_takes_no_new_consent_but_grants_already_given_keep_working() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (_issuer, cccd) = citizen_with_cccd(&t, &mut me).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let ask = ask_cccd(json!({ "full_name": "required" }), 5);
    let (_, first) = post_json(&t, &asker.token, "/api/v1/requests", &ask).await;
    let (_, second) = post_json(&t, &asker.token, "/api/v1/requests", &ask).await;
    let grant = approve(&t, &mut me, first["id"].as_str().unwrap(), cccd, &[]).await;

    let purpose = congdanso::purposes::repo::find_purpose(&t.state.db, asker.agency.id, "cu-tru")
        .await
        .unwrap()
        .unwrap();
    congdanso::purposes::service::retire(&t.state, asker.agency.id, purpose.id)
        .await
        .unwrap();

    // The pending request can no longer be approved: the citizen is told why.
    let pending = second["id"].as_str().unwrap();
    let reply = me
        .post(
            &format!("/shared/requests/{pending}/approve"),
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
        reply.body.contains("không còn được yêu cầu"),
        "{}",
        reply.body
    );
    let row = congdanso::grants::repo::find_request(&t.state.db, pending.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "pending");
    assert!(row.grant_id.is_none());

    // The grant given before keeps working until it ends.
    let (status, read) = get_json(
        &t,
        &asker.token,
        &format!("/api/v1/grants/{grant}/documents/{cccd}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert!(read["fields"]["full_name"].is_string());
}

#[actix_web::test]
async fn only_operators_reach_an_agencys_purposes_and_contact() {
    let t = spawn_app().await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let purpose = congdanso::purposes::repo::find_purpose(&t.state.db, asker.agency.id, "cu-tru")
        .await
        .unwrap()
        .unwrap();
    let base = format!("/admin/agencies/{}", asker.agency.id);

    // The agency's own admin, stepped up, and a citizen: answered like a missing page.
    let (_, initial) = congdanso::accounts::service::create_staff_account(
        &t.state,
        Role::AgencyAdmin,
        "le.thi",
        "Lê Thị Cơ Quan",
        Some(asker.agency.id),
    )
    .await
    .unwrap();
    let mut admin = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut admin, &t, "le.thi", &initial).await;
    step_up(&mut admin, &t, "le.thi").await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    step_up(&mut me, &t, CITIZEN).await;
    for who in [&mut admin, &mut me] {
        assert_eq!(
            who.get(&format!("{base}/purposes")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            who.post(&format!("{base}/purposes"), &cu_tru_form())
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            who.post(&format!("{base}/purposes/{}/retire", purpose.id), &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            who.post(
                &format!("{base}/contact"),
                &[("contact_email", "x@evil.example")]
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
    }
    // Nobody else's action changed anything.
    let after = congdanso::purposes::repo::find_purpose(&t.state.db, asker.agency.id, "cu-tru")
        .await
        .unwrap()
        .unwrap();
    assert!(!after.retired);
    assert_eq!(
        serde_json::to_value(&after.scope).unwrap(),
        serde_json::to_value(&purpose.scope).unwrap()
    );
    let agency = congdanso::agencies::service::get(&t.state, asker.agency.id)
        .await
        .unwrap();
    assert!(agency.contact_email.is_none());

    // An operator's form without its CSRF token is refused, even after a step-up.
    let mut op = Client::new(test::init_service(app(t.state.clone())).await);
    operator_login(&mut op, &t).await;
    step_up(&mut op, &t, OPERATOR).await;
    let mut fields = cu_tru_form();
    fields[0] = ("code", "khac");
    let reply = op.post_raw(&format!("{base}/purposes"), &fields).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let reply = op
        .post_raw(&format!("{base}/purposes/{}/retire", purpose.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let still = congdanso::purposes::service::list(&t.state, asker.agency.id)
        .await
        .unwrap();
    assert_eq!(still.len(), 1);
    assert!(!still[0].retired);
}

#[actix_web::test]
async fn a_refused_purpose_form_comes_back_with_what_was_typed_and_ticked_and_each_message() {
    let t = spawn_app().await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    let base = format!("/admin/agencies/{}", asker.agency.id);
    let mut op = Client::new(test::init_service(app(t.state.clone())).await);
    operator_login(&mut op, &t).await;
    step_up(&mut op, &t, OPERATOR).await;

    let reply = op
        .post(
            &format!("{base}/purposes"),
            &[
                ("code", "Cư Trú"),
                ("description_vi", "Đăng ký thường trú"),
                ("description_en", "   "),
                ("legal_basis", "Luật Cư trú 2020"),
                ("retention_days", "ninety"),
                ("field_cccd_date_of_birth", "on"),
                ("file_passport", "on"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = &reply.body;
    for id in [
        "f-code-error",
        "f-description_en-error",
        "f-retention_days-error",
    ] {
        assert!(body.contains(&format!(r#"id="{id}""#)), "{id}");
    }
    assert!(!body.contains(r#"id="f-legal_basis-error""#));
    assert!(body.contains(r#"value="Cư Trú""#));
    assert!(body.contains(r#"value="Đăng ký thường trú""#));
    assert!(body.contains(r#"value="ninety""#));
    assert!(body.contains(r#"name="field_cccd_date_of_birth" checked"#));
    assert!(body.contains(r#"name="file_passport" checked"#));
    assert!(!body.contains(r#"name="field_cccd_full_name" checked"#));
    assert!(body.contains("0 đến 3650"), "the retention message");

    // Nothing ticked: the scope says so.
    let mut fields = cu_tru_form();
    fields.retain(|(name, _)| !name.starts_with("field_") && !name.starts_with("file_"));
    let reply = op.post(&format!("{base}/purposes"), &fields).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains(r##"href="#f-scope""##));
    assert!(reply.body.contains("Đánh dấu ít nhất một"));
    assert!(
        congdanso::purposes::service::list(&t.state, asker.agency.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[actix_web::test]
async fn the_consent_record_names_the_agencys_contact_and_the_citizen_sees_it_on_the_request() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (_issuer, cccd) = citizen_with_cccd(&t, &mut me).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let ask = ask_cccd(json!({ "full_name": "required" }), 1);
    let record_of = |shown: &serde_json::Value| shown["consent_record"]["record"].clone();

    // No contact yet: the record names the platform, and says that is what it is.
    let (_, request) = post_json(&t, &asker.token, "/api/v1/requests", &ask).await;
    let page = me
        .get(&format!(
            "/shared/requests/{}",
            request["id"].as_str().unwrap()
        ))
        .await;
    assert!(page.body.contains("chưa đăng ký thông tin liên hệ"));
    let grant = approve(&t, &mut me, request["id"].as_str().unwrap(), cccd, &[]).await;
    let (_, shown) = get_json(&t, &asker.token, &format!("/api/v1/grants/{grant}")).await;
    let contact = &record_of(&shown)["controller"]["contact"];
    assert_eq!(contact["of"], "platform", "{contact}");
    assert_eq!(contact["url"], t.state.config.public_url.to_string());

    // The operator gives the agency a contact (a typo first: shown again with the message).
    let base = format!("/admin/agencies/{}", asker.agency.id);
    let mut op = Client::new(test::init_service(app(t.state.clone())).await);
    operator_login(&mut op, &t).await;
    let page = op.get(&base).await;
    assert!(page.body.contains(r#"name="contact_email""#));
    let contact_form = [
        ("contact_email", "motcua@haichau.danang.gov.vn"),
        ("contact_phone", "0236 3822 123"),
        ("contact_address", "24 Trần Phú, Hải Châu, Đà Nẵng"),
    ];
    let reply = op.post(&format!("{base}/contact"), &contact_form).await;
    assert!(reply.location().starts_with("/step-up"));
    step_up(&mut op, &t, OPERATOR).await;
    let reply = op
        .post(
            &format!("{base}/contact"),
            &[
                ("contact_email", "motcua-at-haichau"),
                ("contact_phone", "0236 3822 123"),
                ("contact_address", ""),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains(r#"id="f-contact_email-error""#));
    assert!(reply.body.contains(r#"value="motcua-at-haichau""#));
    assert!(reply.body.contains(r#"value="0236 3822 123""#));
    let reply = op.post(&format!("{base}/contact"), &contact_form).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(
        op.get(&base)
            .await
            .body
            .contains(r#"value="motcua@haichau.danang.gov.vn""#)
    );

    // The citizen sees whom to contact; the consent record names the agency's contact.
    let (_, request) = post_json(&t, &asker.token, "/api/v1/requests", &ask).await;
    let id = request["id"].as_str().unwrap();
    let page = me.get(&format!("/shared/requests/{id}")).await;
    assert!(
        page.body
            .contains(r#"href="mailto:motcua@haichau.danang.gov.vn""#)
    );
    assert!(page.body.contains(r#"href="tel:02363822123""#));
    assert!(page.body.contains("24 Trần Phú, Hải Châu, Đà Nẵng"));
    // A minute on, so the citizen's second approval has a fresh authenticator code.
    t.clock.advance(chrono::Duration::seconds(60));
    let grant = approve(&t, &mut me, id, cccd, &[]).await;
    let (_, shown) = get_json(&t, &asker.token, &format!("/api/v1/grants/{grant}")).await;
    let record = record_of(&shown);
    assert_eq!(
        record["controller"]["contact"],
        json!({
            "of": "agency",
            "email": "motcua@haichau.danang.gov.vn",
            "phone": "0236 3822 123",
            "address": "24 Trần Phú, Hải Châu, Đà Nẵng",
        })
    );
    congdanso::crypto::sign::verify_json(
        &t.state.keys.signing.verifying_key(),
        &record,
        shown["consent_record"]["signature"].as_str().unwrap(),
    )
    .expect("signed with the contact in it");

    // Clearing every part leaves no contact (the next record would name the platform again).
    let reply = op
        .post(
            &format!("{base}/contact"),
            &[
                ("contact_email", ""),
                ("contact_phone", " "),
                ("contact_address", ""),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let agency = congdanso::agencies::service::get(&t.state, asker.agency.id)
        .await
        .unwrap();
    assert!(congdanso::agencies::Contact::of(&agency).is_empty());
}

#[actix_web::test]
async fn the_purposes_page_passes_wcag_and_fits_a_phone() {
    let Some(b) =
        crate::browser::Browser::start("the_purposes_page_passes_wcag_and_fits_a_phone", "vi")
            .await
    else {
        return;
    };
    congdanso::demo::seed(&b.app.state).await.unwrap();
    let demo = congdanso::agencies::repo::find_by_code(&b.app.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    let login = "demo.operator";
    b.goto("/staff/login").await;
    b.fill("login", login).await;
    b.fill("password", congdanso::demo::DEMO_PASSWORD).await;
    b.submit().await;
    assert_eq!(b.path().await, "/enroll");
    b.fill("code", &crate::accounts::code_for(&b.app, login, 0).await)
        .await;
    b.submit().await;
    let base = format!("/admin/agencies/{}", demo.id);
    // The agency page with its contact form, and the purposes page with the demo's purpose.
    b.goto(&base).await;
    b.assert_accessible("agency-operator-vi").await;
    b.goto(&format!("{base}/purposes")).await;
    assert_eq!(b.path().await, format!("{base}/purposes"));
    b.assert_accessible("purposes-vi").await;
    // Shown again with problems (after the step-up it asks for).
    b.goto(&format!("/step-up?next={base}/purposes")).await;
    b.fill("code", &crate::accounts::code_for(&b.app, login, 1).await)
        .await;
    b.submit().await;
    assert_eq!(b.path().await, format!("{base}/purposes"));
    b.fill("code", "X").await;
    b.click_and_wait("form[action$='/purposes'] button[type=submit]")
        .await;
    assert!(b.text_of("#f-code-error").await.contains("a-z"));
    b.assert_accessible("purposes-error-vi").await;
    b.finish().await;
}
