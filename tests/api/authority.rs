//! Issuing authority: an agency issues only the types an operator registered for it, within
//! their dates; superseding stays within an agency and its registered successors; the signed
//! trust list publishes authorities so verifiers refuse a document its issuer was not
//! authorised for; the operator page that manages them, and who may not reach it.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::issuers::service as issuers;
use congdanso::startup::app;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, spawn_app, spawn_app_with};
use crate::issuing::{
    CITIZEN, Issuer, blob_count, cccd_fields, check_package, citizen, id_of, make_issuer_for,
    package_bytes, pdf, post_json, post_multipart, register_citizen_directly,
};
use crate::staff::first_staff_login;

fn birth_fields(number: &str) -> Value {
    json!({
        "number": number, "full_name": "Nguyễn Văn Thử", "date_of_birth": "1990-01-15",
        "sex": "Nam", "place_of_birth": "Đà Nẵng", "nationality": "Việt Nam",
        "registration_date": "2026-11-23", "registration_office": "UBND phường Hải Châu"
    })
}

async fn issue(t: &TestApp, issuer: &Issuer, payload: &Value) -> (StatusCode, Value) {
    post_json(
        t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(payload),
    )
    .await
}

async fn document_rows(t: &TestApp) -> (u64, u64) {
    let owner = citizen(t).await;
    let documents = entity::document::Entity::find()
        .filter(entity::document::Column::OwnerId.eq(owner.id))
        .count(&t.state.db)
        .await
        .unwrap();
    let signatures = entity::document_signature::Entity::find()
        .filter(entity::document_signature::Column::OwnerId.eq(owner.id))
        .count(&t.state.db)
        .await
        .unwrap();
    (documents, signatures)
}

async fn is_current(t: &TestApp, id: uuid::Uuid) -> bool {
    congdanso::vault::repo::find_signature(&t.state.db, id)
        .await
        .unwrap()
        .unwrap()
        .superseded_by
        .is_none()
}

#[actix_web::test]
async fn a_type_the_agency_is_not_authorised_for_is_refused_before_the_file_is_read() {
    // A small upload limit: had the file been read, the answer would be 413.
    let t = spawn_app_with(&[("MAX_UPLOAD_BYTES", "1000")]).await;
    register_citizen_directly(&t, CITIZEN).await;
    // The district registers births; it has no authority for CCCDs.
    let district = make_issuer_for(&t, "UBND-HAICHAU", 61, &["birth_certificate"]).await;

    let mut forged = cccd_fields(CITIZEN);
    forged["full_name"] = Value::from("Trần Văn Giả");
    let file = pdf("CCCD giả");
    let payload = district.payload(&t, "cccd", forged.clone(), Some(&file));
    let document = district.signed(&payload).to_string();
    let (status, body) = post_multipart(
        &t,
        &district.token,
        &[
            ("document", None, document.as_bytes()),
            ("file", Some("cccd.pdf"), &file),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "type_not_authorized");
    // Without a file too.
    let payload = district.payload(&t, "cccd", forged, None);
    let (status, body) = issue(&t, &district, &payload).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "type_not_authorized");
    // Nothing stored: no document, no signature record, no blob.
    assert_eq!(document_rows(&t).await, (0, 0));
    assert_eq!(blob_count(&t).await, 0);

    // What it is authorised for goes through.
    let payload = district.payload(&t, "birth_certificate", birth_fields("125/2026"), None);
    let (status, body) = issue(&t, &district, &payload).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(document_rows(&t).await, (1, 1));
}

#[actix_web::test]
async fn an_authority_counts_only_within_its_dates() {
    let t = spawn_app().await;
    register_citizen_directly(&t, CITIZEN).await;
    // Test clock: 2026-11-23 08:00 UTC.
    let police = make_issuer_for(&t, "CA-DANANG", 62, &[]).await;
    let date = |s: &str| Some(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
    // Ended in June; the next one starts tomorrow.
    issuers::register_authority(
        &t.state,
        police.agency.id,
        "cccd",
        date("2026-01-01"),
        date("2026-06-30"),
        None,
    )
    .await
    .unwrap();
    let next = issuers::register_authority(
        &t.state,
        police.agency.id,
        "cccd",
        date("2026-11-24"),
        None,
        None,
    )
    .await
    .unwrap();
    let payload = police.payload(&t, "cccd", cccd_fields(CITIZEN), None);
    let (status, body) = issue(&t, &police, &payload).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "type_not_authorized");
    // Back-dating into the old span does not help: the authority must hold now as well.
    let mut backdated = payload.clone();
    backdated["issued_at"] = Value::from("2026-06-01T08:00:00Z");
    let (status, body) = issue(&t, &police, &backdated).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "type_not_authorized");
    assert_eq!(document_rows(&t).await, (0, 0));

    // From tomorrow it may.
    t.clock.advance(chrono::Duration::days(1));
    let payload = police.payload(&t, "cccd", cccd_fields(CITIZEN), None);
    let (status, body) = issue(&t, &police, &payload).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let issued = id_of(&body);

    // Ended (by the operator) it may not any more; what it issued before still verifies.
    t.clock.advance(chrono::Duration::hours(1));
    issuers::end_authority(&t.state, police.agency.id, next.id)
        .await
        .unwrap();
    t.clock.advance(chrono::Duration::seconds(1));
    let payload = police.payload(&t, "cccd", cccd_fields(CITIZEN), None);
    let (status, body) = issue(&t, &police, &payload).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "type_not_authorized");
    let verified = check_package(&t, &package_bytes(&t, issued).await).await;
    assert!(verified.is_ok(), "{verified:?}");
    // Ending twice is refused; one not yet begun is deleted outright.
    assert_eq!(
        issuers::end_authority(&t.state, police.agency.id, next.id)
            .await
            .unwrap_err()
            .code(),
        "authority_already_ended"
    );
    let future = issuers::register_authority(
        &t.state,
        police.agency.id,
        "passport",
        date("2027-01-01"),
        None,
        None,
    )
    .await
    .unwrap();
    issuers::end_authority(&t.state, police.agency.id, future.id)
        .await
        .unwrap();
    assert!(
        congdanso::issuers::repo::authorities_for(&t.state.db, police.agency.id, "passport")
            .await
            .unwrap()
            .is_empty()
    );
}

#[actix_web::test]
async fn another_agency_cannot_supersede_and_the_genuine_document_stays_current() {
    let t = spawn_app().await;
    let mut page = Client::new(test::init_service(app(t.state.clone())).await);
    page.lang = Some("en");
    crate::accounts::register_citizen(&mut page, &t, CITIZEN).await;
    let police = make_issuer_for(&t, "CA-DANANG", 63, &["cccd"]).await;
    let (status, body) = issue(
        &t,
        &police,
        &police.payload(&t, "cccd", cccd_fields(CITIZEN), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let genuine = id_of(&body);

    // The district (not authorised) posts a CCCD with another name: refused, nothing changes.
    let district = make_issuer_for(&t, "UBND-HAICHAU", 64, &["birth_certificate"]).await;
    let mut forged = cccd_fields(CITIZEN);
    forged["full_name"] = Value::from("Trần Văn Giả");
    t.clock.advance(chrono::Duration::minutes(5));
    let (status, body) = issue(
        &t,
        &district,
        &district.payload(&t, "cccd", forged.clone(), None),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "type_not_authorized");
    assert!(is_current(&t, genuine).await);

    // Another police department, authorised for CCCDs, issues one of the same number: it does
    // not replace the first department's; both stay current, each under its own issuer.
    let other = make_issuer_for(&t, "CA-HUE", 65, &["cccd"]).await;
    let (status, body) = issue(&t, &other, &other.payload(&t, "cccd", forged, None)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["superseded"], json!([]));
    let second = id_of(&body);
    assert!(is_current(&t, genuine).await);
    assert!(is_current(&t, second).await);
    let detail = page.get(&format!("/documents/{genuine}")).await;
    assert!(
        detail
            .body
            .contains("Verified</strong> — issued by Công an CA-DANANG"),
        "{}",
        detail.body
    );
    assert!(!detail.body.contains("replaced by a newly issued one"));
    let list = page.get("/documents").await;
    assert!(list.body.contains(&format!("/documents/{genuine}")));
    assert!(
        check_package(&t, &package_bytes(&t, genuine).await)
            .await
            .is_ok()
    );

    // The first department itself still replaces its own.
    t.clock.advance(chrono::Duration::minutes(5));
    let (status, body) = issue(
        &t,
        &police,
        &police.payload(&t, "cccd", cccd_fields(CITIZEN), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["superseded"], json!([genuine.to_string()]));
    assert!(is_current(&t, second).await);
}

#[actix_web::test]
async fn a_registered_successor_may_supersede_its_predecessors_documents() {
    let t = spawn_app().await;
    register_citizen_directly(&t, CITIZEN).await;
    let old = make_issuer_for(&t, "CA-QUANGNAM", 66, &["cccd"]).await;
    let new = make_issuer_for(&t, "CA-DANANG", 67, &["cccd"]).await;
    let (_, body) = issue(
        &t,
        &old,
        &old.payload(&t, "cccd", cccd_fields(CITIZEN), None),
    )
    .await;
    let first = id_of(&body);

    // Before the succession is registered, the new department cannot replace it.
    t.clock.advance(chrono::Duration::minutes(5));
    let (_, body) = issue(
        &t,
        &new,
        &new.payload(&t, "cccd", cccd_fields(CITIZEN), None),
    )
    .await;
    assert_eq!(body["superseded"], json!([]));
    let parallel = id_of(&body);

    // Registered as successor (through the operator's service), it can: both older ones go.
    issuers::register_successor(&t.state, old.agency.id, "CA-DANANG", None)
        .await
        .unwrap();
    t.clock.advance(chrono::Duration::minutes(5));
    let (status, body) = issue(
        &t,
        &new,
        &new.payload(&t, "cccd", cccd_fields(CITIZEN), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut superseded: Vec<String> = serde_json::from_value(body["superseded"].clone()).unwrap();
    superseded.sort();
    let mut expected = vec![first.to_string(), parallel.to_string()];
    expected.sort();
    assert_eq!(superseded, expected);
    assert!(!is_current(&t, first).await);

    // The succession goes one way: the predecessor cannot replace its successor's documents,
    // and a loop is refused.
    let latest = id_of(&body);
    t.clock.advance(chrono::Duration::minutes(5));
    let (_, body) = issue(
        &t,
        &old,
        &old.payload(&t, "cccd", cccd_fields(CITIZEN), None),
    )
    .await;
    assert_eq!(body["superseded"], json!([]));
    assert!(is_current(&t, latest).await);
    assert_eq!(
        issuers::register_successor(&t.state, new.agency.id, "CA-QUANGNAM", None)
            .await
            .unwrap_err()
            .code(),
        "successor_cycle"
    );
}

#[actix_web::test]
async fn verifiers_refuse_a_document_its_issuer_was_not_authorised_for() {
    let t = spawn_app().await;
    let mut page = Client::new(test::init_service(app(t.state.clone())).await);
    page.lang = Some("en");
    crate::accounts::register_citizen(&mut page, &t, CITIZEN).await;
    let police = make_issuer_for(&t, "CA-DANANG", 68, &["cccd"]).await;
    let (status, body) = issue(
        &t,
        &police,
        &police.payload(&t, "cccd", cccd_fields(CITIZEN), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = id_of(&body);
    let bytes = package_bytes(&t, id).await;
    let verify = |bytes: Vec<u8>| {
        let state = t.state.clone();
        async move {
            let service = test::init_service(app(state)).await;
            let response = test::call_service(
                &service,
                test::TestRequest::post()
                    .uri("/api/v1/verify")
                    .insert_header(("content-type", "application/x-tar"))
                    .set_payload(bytes)
                    .to_request(),
            )
            .await;
            assert_eq!(response.status(), StatusCode::OK);
            test::read_body_json::<Value, _>(response).await
        }
    };
    assert_eq!(verify(bytes.clone()).await["valid"], true);

    // The trust list publishes the authority.
    let list = issuers::trust_list(&t.state).await.unwrap();
    let published = &list["trust_list"]["issuers"][0]["authorities"];
    assert_eq!(published[0]["type"], "cccd");
    assert_eq!(published[0]["valid_until"], Value::Null);

    // A document whose issuer holds no authority for its type (what an upgraded deployment
    // would show for one issued before authority existed, had the migration not covered it):
    // the same package, the same signatures, no longer valid anywhere.
    entity::issuing_authority::Entity::delete_many()
        .filter(entity::issuing_authority::Column::AgencyId.eq(police.agency.id))
        .exec(&t.state.db)
        .await
        .unwrap();
    let report = verify(bytes.clone()).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["code"], "type_not_authorized");
    assert_eq!(
        check_package(&t, &bytes).await.unwrap_err(),
        congdanso::verify::Problem::TypeNotAuthorized
    );
    let detail = page.get(&format!("/documents/{id}")).await;
    assert!(
        detail
            .body
            .contains("The issuer was not authorised to issue this type of document"),
        "{}",
        detail.body
    );
}

#[actix_web::test]
async fn operators_manage_authority_and_successors_and_no_one_else_can() {
    let t = spawn_app().await;
    congdanso::demo::seed(&t.state).await.unwrap();
    let district = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    let base = format!("/admin/agencies/{}", district.id);
    let mut operator = Client::new(test::init_service(app(t.state.clone())).await);
    operator.lang = Some("en");
    first_staff_login(
        &mut operator,
        &t,
        "demo.operator",
        congdanso::demo::DEMO_PASSWORD,
    )
    .await;

    // Without a fresh step-up, every change is sent to the step-up page and nothing changes.
    let reply = operator
        .post(&format!("{base}/authorities"), &[("doc_type", "cccd")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(
        reply.location().starts_with("/step-up?next="),
        "{}",
        reply.location()
    );
    let reply = operator
        .post(
            &format!("{base}/successors"),
            &[("successor", "DEMO-CA-DANANG")],
        )
        .await;
    assert!(
        reply.location().starts_with("/step-up?next="),
        "{}",
        reply.location()
    );
    assert!(
        congdanso::issuers::repo::authorities_for(&t.state.db, district.id, "cccd")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        congdanso::issuers::repo::all_successions(&t.state.db)
            .await
            .unwrap()
            .is_empty()
    );
    crate::staff::step_up(&mut operator, &t, "demo.operator").await;

    // The demo district holds birth certificates and residence records.
    let page = operator.get(&format!("{base}/authorities")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Birth certificate"), "{}", page.body);
    assert!(
        !page.body.contains("<strong>National ID card"),
        "{}",
        page.body
    );

    // A bad type and a reversed span are refused with messages.
    let reply = operator
        .post(&format!("{base}/authorities"), &[("doc_type", "tax_card")])
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply
            .body
            .contains("Choose a document type from the catalogue"),
        "{}",
        reply.body
    );
    let reply = operator
        .post(
            &format!("{base}/authorities"),
            &[
                ("doc_type", "other"),
                ("valid_from", "2027-01-01"),
                ("valid_until", "2026-01-01"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains("must be after the start date"));

    // Added, it is in the signed trust list (with who registered it kept in the database).
    let reply = operator
        .post(
            &format!("{base}/authorities"),
            &[("doc_type", "other"), ("valid_until", "2030-12-31")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let rows = congdanso::issuers::repo::authorities_for(&t.state.db, district.id, "other")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].registered_by.is_some());
    let authority = rows[0].id;
    let trust = |t: &TestApp| {
        let state = t.state.clone();
        async move {
            let list = issuers::trust_list(&state).await.unwrap();
            list["trust_list"]["issuers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["code"] == "DEMO-HAICHAU")
                .unwrap()["authorities"]
                .clone()
        }
    };
    let listed = trust(&t).await;
    let other = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "other")
        .unwrap();
    assert_eq!(other["valid_until"], "2030-12-31T23:59:59+00:00");

    // Ended from now on: the list keeps the span, ending now.
    let reply = operator
        .post(&format!("{base}/authorities/{authority}/end"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let listed = trust(&t).await;
    let other = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "other")
        .unwrap();
    assert_eq!(other["valid_until"], "2026-11-23T08:00:00+00:00");

    // A successor by code; an unknown code and the agency itself are refused.
    for (code, message) in [
        ("NO-SUCH", "No agency has this code"),
        ("DEMO-HAICHAU", "cannot succeed itself"),
    ] {
        let reply = operator
            .post(&format!("{base}/successors"), &[("successor", code)])
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains(message), "{}", reply.body);
    }
    let reply = operator
        .post(
            &format!("{base}/successors"),
            &[("successor", "DEMO-CA-DANANG")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let page = operator.get(&format!("{base}/authorities")).await;
    assert!(
        page.body
            .contains("Công an TP Đà Nẵng (demo) (DEMO-CA-DANANG)"),
        "{}",
        page.body
    );
    let succession = congdanso::issuers::repo::all_successions(&t.state.db)
        .await
        .unwrap()[0]
        .id;

    // An agency admin and a citizen reach none of it: pages and forms answer 404.
    let mut admin = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut admin, &t, "demo.admin", congdanso::demo::DEMO_PASSWORD).await;
    let mut citizen = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut citizen, &t, CITIZEN).await;
    for who in [&mut admin, &mut citizen] {
        assert_eq!(
            who.get(&format!("{base}/authorities")).await.status,
            StatusCode::NOT_FOUND
        );
        for (path, fields) in [
            (format!("{base}/authorities"), vec![("doc_type", "cccd")]),
            (format!("{base}/authorities/{authority}/end"), vec![]),
            (
                format!("{base}/successors"),
                vec![("successor", "DEMO-CA-DANANG")],
            ),
            (format!("{base}/successors/{succession}/remove"), vec![]),
        ] {
            assert_eq!(
                who.post(&path, &fields).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }
    assert_eq!(
        congdanso::issuers::repo::authorities_for(&t.state.db, district.id, "cccd")
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        congdanso::issuers::repo::all_successions(&t.state.db)
            .await
            .unwrap()
            .len(),
        1
    );

    // The operator removes the succession.
    let reply = operator
        .post(&format!("{base}/successors/{succession}/remove"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        congdanso::issuers::repo::all_successions(&t.state.db)
            .await
            .unwrap()
            .is_empty()
    );
}

#[actix_web::test]
async fn the_demo_agencies_hold_realistic_authorities_and_the_demo_cccd_verifies() {
    let t = spawn_app().await;
    congdanso::demo::seed(&t.state).await.unwrap();
    // Seeding again adds nothing.
    congdanso::demo::seed(&t.state).await.unwrap();
    let types = |code: &'static str| {
        let db = t.state.db.clone();
        async move {
            let agency = congdanso::agencies::repo::find_by_code(&db, code)
                .await
                .unwrap()
                .unwrap();
            let mut types: Vec<String> =
                congdanso::issuers::repo::authorities_for_agency(&db, agency.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|a| a.doc_type)
                    .collect();
            types.sort();
            types
        }
    };
    assert_eq!(types("DEMO-CA-DANANG").await, ["cccd", "passport"]);
    assert_eq!(
        types("DEMO-HAICHAU").await,
        ["birth_certificate", "household_registration"]
    );
    let owner =
        congdanso::accounts::repo::find_by_login(&t.state.db, congdanso::demo::DEMO_CITIZEN_ID)
            .await
            .unwrap()
            .unwrap();
    let docs = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap();
    assert_eq!(docs.len(), 1);
    let doc = congdanso::access::open(
        &t.state,
        &congdanso::access::Reader::Owner(&owner),
        congdanso::access::DocumentId(docs[0].id),
        congdanso::access::Purpose::Open,
    )
    .await
    .unwrap();
    let status = congdanso::issuers::verification::status(&t.state, &doc)
        .await
        .unwrap()
        .unwrap();
    assert!(status.outcome.is_ok(), "{:?}", status.outcome);
}

#[actix_web::test]
async fn upgrading_keeps_existing_documents_verifying_and_new_ones_need_authority() {
    use migration::{Migrator, MigratorTrait};
    let t = spawn_app().await;
    register_citizen_directly(&t, CITIZEN).await;
    let police = make_issuer_for(&t, "CA-DANANG", 70, &["cccd"]).await;
    let district = make_issuer_for(&t, "UBND-HAICHAU", 71, &["birth_certificate"]).await;
    let start = congdanso::clock::Clock::now(&t.clock);
    let (_, body) = issue(
        &t,
        &police,
        &police.payload(&t, "cccd", cccd_fields(CITIZEN), None),
    )
    .await;
    let first = id_of(&body);
    t.clock.advance(chrono::Duration::minutes(10));
    let (_, body) = issue(
        &t,
        &police,
        &police.payload(&t, "cccd", cccd_fields(CITIZEN), None),
    )
    .await;
    let second = id_of(&body);
    t.clock.advance(chrono::Duration::minutes(10));
    let payload = district.payload(&t, "birth_certificate", birth_fields("125/2026"), None);
    let (_, body) = issue(&t, &district, &payload).await;
    let birth = id_of(&body);

    // As if these had been issued before this migration: roll it back and apply it again.
    // (Later migrations are rolled back with it and applied again too.)
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let at = names
        .iter()
        .position(|n| n == "m20261202_000001_issuing_authority")
        .unwrap();
    let steps = u32::try_from(names.len() - at).unwrap();
    Migrator::down(&t.state.db, Some(steps)).await.unwrap();
    Migrator::up(&t.state.db, None).await.unwrap();

    let spans = |agency: uuid::Uuid, doc_type: &'static str| {
        let db = t.state.db.clone();
        async move {
            congdanso::issuers::repo::authorities_for(&db, agency, doc_type)
                .await
                .unwrap()
                .into_iter()
                .map(|a| (a.valid_from, a.valid_until))
                .collect::<Vec<_>>()
        }
    };
    let minutes = |m| start + chrono::Duration::minutes(m);
    assert_eq!(
        spans(police.agency.id, "cccd").await,
        [(minutes(0), Some(minutes(10)))]
    );
    assert_eq!(
        spans(district.agency.id, "birth_certificate").await,
        [(minutes(20), Some(minutes(20)))]
    );
    assert!(spans(police.agency.id, "passport").await.is_empty());
    // Everything already in the vault still verifies, the replaced one too…
    for id in [first, second, birth] {
        let outcome = check_package(&t, &package_bytes(&t, id).await).await;
        assert!(outcome.is_ok(), "{id}: {outcome:?}");
    }
    // …and nothing new is accepted until an operator registers the authority.
    t.clock.advance(chrono::Duration::minutes(1));
    let (status, body) = issue(
        &t,
        &police,
        &police.payload(&t, "cccd", cccd_fields(CITIZEN), None),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "type_not_authorized");
}

#[actix_web::test]
async fn an_authority_that_ends_while_the_file_streams_in_leaves_nothing() {
    use congdanso::issuers::issuing;
    let t = spawn_app().await;
    register_citizen_directly(&t, CITIZEN).await;
    let police = make_issuer_for(&t, "CA-DANANG", 72, &[]).await;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23);
    issuers::register_authority(&t.state, police.agency.id, "cccd", None, today, None)
        .await
        .unwrap();
    let file = pdf("CCCD");
    let payload = police.payload(&t, "cccd", cccd_fields(CITIZEN), Some(&file));
    let request: issuing::IssueRequest = serde_json::from_value(police.signed(&payload)).unwrap();
    // Checked at 08:00 (the authority holds until 23:59:59 today)…
    let checked = issuing::check_request(&t.state, &police.agency, &request)
        .await
        .unwrap();
    // …and the upload finishes after midnight.
    t.clock.advance(chrono::Duration::hours(16));
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(file))]);
    let (_, credential) = congdanso::issuers::service::authenticate(&t.state, &police.token)
        .await
        .unwrap();
    let error = issuing::issue(
        &t.state,
        checked,
        credential,
        Some((body, "cccd.pdf".to_owned())),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), "type_not_authorized");
    assert_eq!(document_rows(&t).await, (0, 0));
    assert_eq!(blob_count(&t).await, 0);
}
