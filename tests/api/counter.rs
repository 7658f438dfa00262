//! The one-stop counter: a clerk who entered a citizen's code opens a session for a procedure;
//! the citizen gets the request in their inbox, approves with the step-up; the clerk sees the
//! granted documents through the door (each read an entry naming the clerk); only that clerk
//! and agency see the session; ending it or its expiry refuses the next read.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::accounts::service as accounts;
use congdanso::auth::Role;
use congdanso::startup::app;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use crate::grants::citizen_with_cccd;
use crate::helpers::{Client, TestApp, spawn_app};
use crate::issuing::{CITIZEN, citizen, pdf};
use crate::staff::{first_staff_login, step_up};

/// A procedure requiring a CCCD and another document (the scan), with an optional household
/// registration: all inside the demo agency's `mot-cua` purpose.
pub const PROCEDURE: &str = "dang-ky-thuong-tru";

/// The demo data, a citizen with an issued CCCD and an uploaded scan whose certification code
/// the demo clerk has entered. Returns the citizen's CCCD and scan ids and the claimed
/// certification request.
pub struct Desk {
    pub cccd: Uuid,
    pub scan: Uuid,
    pub scan_bytes: Vec<u8>,
    pub certification: Uuid,
}

pub async fn desk<S, B, C, D>(t: &TestApp, me: &mut Client<S>, clerk: &mut Client<C>) -> Desk
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
    C: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<D>,
            Error = actix_web::Error,
        >,
    D: actix_web::body::MessageBody,
{
    congdanso::demo::seed(&t.state).await.unwrap();
    let (_, cccd) = citizen_with_cccd(t, me).await;
    let scan_bytes = pdf("hợp đồng thuê nhà");
    let reply = me
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Hợp đồng thuê nhà")],
            Some(("thue-nha.pdf", &scan_bytes)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let scan = Uuid::parse_str(
        reply
            .location()
            .trim_start_matches("/documents/")
            .split('?')
            .next()
            .unwrap(),
    )
    .unwrap();
    let holder = citizen(t).await;
    let code = congdanso::counter::certify::request(&t.state, &holder, scan)
        .await
        .unwrap();
    first_staff_login(clerk, t, "demo.clerk", congdanso::demo::DEMO_PASSWORD).await;
    let reply = clerk
        .post("/staff/certify", &[("code", code.as_str())])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let certification =
        Uuid::parse_str(reply.location().trim_start_matches("/staff/certify/")).unwrap();
    Desk {
        cccd,
        scan,
        scan_bytes,
        certification,
    }
}

/// The clerk opens a session from the certification request; returns its page's path.
pub async fn open<S, B>(clerk: &mut Client<S>, certification: Uuid) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let id = certification.to_string();
    let reply = clerk
        .post(
            "/staff/counter/sessions",
            &[
                ("certification_request", id.as_str()),
                ("procedure", PROCEDURE),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(reply.location().starts_with("/staff/counter/sessions/"));
    reply.location().to_owned()
}

/// The citizen's pending request from the counter (the one whose explanation names the
/// procedure), by id.
pub async fn counter_request(t: &TestApp) -> entity::access_request::Model {
    let holder = citizen(t).await;
    congdanso::grants::repo::pending_for_citizen(&t.state.db, holder.id, t.state.clock.now())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.procedure_code.as_deref() == Some(PROCEDURE))
        .expect("the counter's request is in the citizen's inbox")
}

/// The citizen approves the counter's request: the CCCD (item 0) and the scan (item 1).
pub async fn approve<S, B>(t: &TestApp, me: &mut Client<S>, desk: &Desk) -> Uuid
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let request = counter_request(t).await;
    step_up(me, t, CITIZEN).await;
    let cccd = format!("doc_0_{}", desk.cccd);
    let scan = format!("doc_1_{}", desk.scan);
    let reply = me
        .post(
            &format!("/shared/requests/{}/approve", request.id),
            &[(cccd.as_str(), "on"), (scan.as_str(), "on")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    Uuid::parse_str(reply.location().trim_start_matches("/shared/grants/")).unwrap()
}

async fn entries_under(t: &TestApp, grant: Uuid) -> Vec<entity::access_log_entry::Model> {
    congdanso::audit::service::integrate(&t.state.db, t.state.clock.now())
        .await
        .unwrap();
    let owner = citizen(t).await;
    let auth = format!("grant:{grant}");
    congdanso::audit::repo::entries_of(&t.state.db, owner.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.authorization.as_deref() == Some(auth.as_str()))
        .collect()
}

async fn demo_clerk(t: &TestApp) -> entity::account::Model {
    congdanso::accounts::repo::find_by_login(&t.state.db, "demo.clerk")
        .await
        .unwrap()
        .unwrap()
}

#[actix_web::test]
async fn a_counter_session_asks_the_citizen_and_shows_the_granted_documents_through_the_door() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = desk(&t, &mut me, &mut clerk).await;

    // The review page after the code offers the counter session.
    let review = clerk
        .get(&format!("/staff/certify/{}", desk.certification))
        .await;
    assert_eq!(review.status, StatusCode::OK);
    assert!(review.body.contains("Mở phiên quầy"), "{}", review.body);
    assert!(review.body.contains(PROCEDURE));

    let page = open(&mut clerk, desk.certification).await;
    let waiting = clerk.get(&page).await;
    assert_eq!(waiting.status, StatusCode::OK);
    assert!(waiting.body.contains("data-counter-status=\"waiting\""));
    assert!(
        !waiting.body.contains(CITIZEN),
        "nothing of the citizen is read before they agree"
    );
    let status = clerk.get(&format!("{page}/status")).await;
    assert_eq!(status.body, r#"{"status":"waiting"}"#);
    // Listed on the clerk's home page.
    let session_id = page.trim_start_matches("/staff/counter/sessions/");
    assert!(clerk.get("/staff").await.body.contains(session_id));

    // The citizen sees it at once: in the inbox, asked by the clerk's agency for minutes.
    let request = counter_request(&t).await;
    let district = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.agency_id, district.id);
    assert_eq!(request.purpose_code, "mot-cua");
    assert_eq!(request.grant_minutes, Some(60));
    assert!(
        me.get("/shared")
            .await
            .body
            .contains(&request.id.to_string())
    );
    let asked = me.get(&format!("/shared/requests/{}", request.id)).await;
    assert!(asked.body.contains("60 phút"), "{}", asked.body);

    let grant = approve(&t, &mut me, &desk).await;
    let row = congdanso::grants::repo::find_grant(&t.state.db, grant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.expires_at - row.created_at,
        chrono::Duration::minutes(60)
    );
    assert_eq!(
        clerk.get(&format!("{page}/status")).await.body,
        r#"{"status":"active"}"#
    );

    // The clerk's page: the citizen and both documents, the CCCD with its badge and fields.
    let active = clerk.get(&page).await;
    assert_eq!(active.status, StatusCode::OK);
    assert!(active.body.contains(CITIZEN), "{}", active.body);
    assert!(active.body.contains("Hợp đồng thuê nhà"));
    assert!(
        active.body.contains("signature-verified"),
        "{}",
        active.body
    );
    let file = format!("{page}/documents/{}/file", desk.scan);
    assert!(active.body.contains(&file));
    assert!(
        !active
            .body
            .contains(&format!("{page}/documents/{}/file", desk.cccd)),
        "the CCCD's file is not granted"
    );
    let (reply, bytes) = clerk.get_with(&file, &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(bytes, desk.scan_bytes);
    let cccd_file = clerk
        .get(&format!("{page}/documents/{}/file", desk.cccd))
        .await;
    assert_eq!(cccd_file.status, StatusCode::NOT_FOUND);

    // Every read is an entry in the citizen's log naming the clerk, under the grant.
    let clerk_id = demo_clerk(&t).await.id.to_string();
    let entries = entries_under(&t, grant).await;
    let by_clerk: Vec<(String, String, String)> = entries
        .iter()
        .filter(|e| e.actor_id.as_deref() == Some(clerk_id.as_str()))
        .map(|e| {
            (
                e.action.clone().unwrap_or_default(),
                e.object_id.clone().unwrap_or_default(),
                e.outcome.clone().unwrap_or_default(),
            )
        })
        .collect();
    for (action, object) in [
        ("profile.read", String::new()),
        ("document.view", desk.cccd.to_string()),
        ("document.view", desk.scan.to_string()),
        ("document.open", desk.scan.to_string()),
    ] {
        assert!(
            by_clerk.iter().any(|(a, o, out)| a == action
                && (object.is_empty() || *o == object)
                && out == "allowed"),
            "{action} {object} in {by_clerk:?}"
        );
    }
    assert!(
        by_clerk.iter().any(|(a, o, out)| a == "document.open"
            && *o == desk.cccd.to_string()
            && out == "denied"),
        "the refused file read is an entry too: {by_clerk:?}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e.actor_kind.as_deref() == Some("staff"))
    );
    // The citizen reads it in plain language on their log page.
    let log = me.get("/access-log").await;
    assert!(log.body.contains("Phạm Văn Một Cửa"), "{}", log.body);
}

#[actix_web::test]
async fn only_the_clerk_and_agency_that_opened_a_session_see_it() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = desk(&t, &mut me, &mut clerk).await;
    let page = open(&mut clerk, desk.certification).await;
    approve(&t, &mut me, &desk).await;

    let district = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    let police = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-CA-DANANG")
        .await
        .unwrap()
        .unwrap();
    let mut colleague = Client::new(test::init_service(app(t.state.clone())).await);
    let (_, password) = accounts::create_staff_account(
        &t.state,
        Role::CounterStaff,
        "dong.nghiep",
        "Lê Đồng Nghiệp",
        Some(district.id),
    )
    .await
    .unwrap();
    first_staff_login(&mut colleague, &t, "dong.nghiep", &password).await;
    let mut stranger = Client::new(test::init_service(app(t.state.clone())).await);
    let (_, password) = accounts::create_staff_account(
        &t.state,
        Role::CounterStaff,
        "can.bo.cong.an",
        "Võ Cán Bộ",
        Some(police.id),
    )
    .await
    .unwrap();
    first_staff_login(&mut stranger, &t, "can.bo.cong.an", &password).await;

    let certification = desk.certification.to_string();
    for other in [&mut colleague, &mut stranger] {
        for path in [
            page.clone(),
            format!("{page}/status"),
            format!("{page}/documents/{}/file", desk.scan),
        ] {
            assert_eq!(
                other.get(&path).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let reply = other.post(&format!("{page}/end"), &[]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        // The certification request is no pass either.
        let reply = other
            .post(
                "/staff/counter/sessions",
                &[
                    ("certification_request", certification.as_str()),
                    ("procedure", PROCEDURE),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
        assert!(!other.get("/staff").await.body.contains(&page));
    }
    // The citizen, or anyone not staff, is answered like a missing page.
    assert_eq!(me.get(&page).await.status, StatusCode::NOT_FOUND);
    // Still live for its clerk.
    assert!(
        clerk
            .get(&page)
            .await
            .body
            .contains("data-counter-status=\"active\"")
    );
}

#[actix_web::test]
async fn ending_a_session_withdraws_its_grant_and_the_next_read_is_refused() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = desk(&t, &mut me, &mut clerk).await;
    let page = open(&mut clerk, desk.certification).await;
    let grant = approve(&t, &mut me, &desk).await;
    let file = format!("{page}/documents/{}/file", desk.scan);
    assert_eq!(clerk.get(&file).await.status, StatusCode::OK);

    let reply = clerk.post(&format!("{page}/end"), &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(clerk.get(&file).await.status, StatusCode::NOT_FOUND);
    let ended = clerk.get(&page).await;
    assert!(ended.body.contains("data-counter-status=\"ended\""));
    assert!(!ended.body.contains(CITIZEN), "nothing read once ended");
    let row = congdanso::grants::repo::find_grant(&t.state.db, grant)
        .await
        .unwrap()
        .unwrap();
    assert!(row.withdrawn_at.is_some(), "the grant is withdrawn");
    // Not on the home page any more.
    let session_id = page.trim_start_matches("/staff/counter/sessions/");
    assert!(!clerk.get("/staff").await.body.contains(session_id));
    let entries = entries_under(&t, grant).await;
    assert!(
        entries
            .iter()
            .any(|e| e.action.as_deref() == Some("grant.withdraw")
                && e.actor_kind.as_deref() == Some("staff")),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action.as_deref() == Some("document.open")
                && e.outcome.as_deref() == Some("denied")),
        "the refused read is an entry"
    );
    // The citizen's Shared page shows it ended.
    let shared = me.get(&format!("/shared/grants/{grant}")).await;
    assert_eq!(shared.status, StatusCode::OK);
}

#[actix_web::test]
async fn ending_a_waiting_session_closes_its_request() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = desk(&t, &mut me, &mut clerk).await;
    let page = open(&mut clerk, desk.certification).await;
    let request = counter_request(&t).await;
    assert_eq!(
        clerk.post(&format!("{page}/end"), &[]).await.status,
        StatusCode::SEE_OTHER
    );
    step_up(&mut me, &t, CITIZEN).await;
    let pick = format!("doc_0_{}", desk.cccd);
    let reply = me
        .post(
            &format!("/shared/requests/{}/approve", request.id),
            &[(pick.as_str(), "on")],
        )
        .await;
    assert_ne!(
        reply.status,
        StatusCode::SEE_OTHER,
        "no approval after the end"
    );
    let row = congdanso::grants::repo::find_request(&t.state.db, request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "expired");
    assert!(row.grant_id.is_none());
}

#[actix_web::test]
async fn a_counter_grant_expires_and_the_next_read_is_refused() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = desk(&t, &mut me, &mut clerk).await;
    let page = open(&mut clerk, desk.certification).await;
    approve(&t, &mut me, &desk).await;
    let file = format!("{page}/documents/{}/file", desk.scan);
    // In steps the clerk's own login outlives (its idle timeout is 30 minutes).
    for _ in 0..3 {
        t.clock.advance(chrono::Duration::minutes(19));
        assert_eq!(
            clerk.get(&format!("{page}/status")).await.status,
            StatusCode::OK
        );
    }
    t.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(clerk.get(&file).await.status, StatusCode::OK);
    t.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(clerk.get(&file).await.status, StatusCode::NOT_FOUND);
    let expired = clerk.get(&page).await;
    assert!(expired.body.contains("data-counter-status=\"expired\""));
    assert!(!expired.body.contains(CITIZEN));
}

#[actix_web::test]
async fn an_agency_without_a_counter_purpose_is_told_so() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = desk(&t, &mut me, &mut clerk).await;
    let district = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    let purpose = congdanso::purposes::repo::find_purpose(&t.state.db, district.id, "mot-cua")
        .await
        .unwrap()
        .unwrap();
    congdanso::purposes::service::retire(&t.state, district.id, purpose.id)
        .await
        .unwrap();
    let review = clerk
        .get(&format!("/staff/certify/{}", desk.certification))
        .await;
    assert!(
        review.body.contains("chưa đăng ký mục đích"),
        "{}",
        review.body
    );
    let id = desk.certification.to_string();
    let reply = clerk
        .post(
            "/staff/counter/sessions",
            &[
                ("certification_request", id.as_str()),
                ("procedure", PROCEDURE),
            ],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("chưa đăng ký mục đích"));
    let holder = citizen(&t).await;
    let pending =
        congdanso::grants::repo::pending_for_citizen(&t.state.db, holder.id, t.state.clock.now())
            .await
            .unwrap();
    assert!(
        pending
            .iter()
            .all(|r| r.procedure_code.as_deref() != Some(PROCEDURE))
    );
    // An unknown procedure is a field error.
    congdanso::demo::seed(&t.state).await.unwrap();
    let reply = clerk
        .post(
            "/staff/counter/sessions",
            &[
                ("certification_request", id.as_str()),
                ("procedure", "khong-co"),
            ],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
}

#[actix_web::test]
async fn many_opens_at_once_make_one_session_and_many_ends_one_withdrawal() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = desk(&t, &mut me, &mut clerk).await;

    // Eight tabs of the same clerk click "open" at once.
    let mut tabs = Vec::new();
    for _ in 0..8 {
        let mut tab = Client::new(test::init_service(app(t.state.clone())).await);
        tab.cookies = clerk.cookies.clone();
        tabs.push(tab);
    }
    let id = desk.certification.to_string();
    let opens = tabs.iter_mut().map(|tab| {
        let id = id.clone();
        async move {
            tab.post(
                "/staff/counter/sessions",
                &[
                    ("certification_request", id.as_str()),
                    ("procedure", PROCEDURE),
                ],
            )
            .await
        }
    });
    let replies = futures_util::future::join_all(opens).await;
    let places: std::collections::BTreeSet<String> =
        replies.iter().map(|r| r.location().to_owned()).collect();
    assert!(
        replies.iter().all(|r| r.status == StatusCode::SEE_OTHER),
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status, r.body.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(places.len(), 1, "one session: {places:?}");
    let holder = citizen(&t).await;
    let requests =
        congdanso::grants::repo::pending_for_citizen(&t.state.db, holder.id, t.state.clock.now())
            .await
            .unwrap();
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.procedure_code.as_deref() == Some(PROCEDURE))
            .count(),
        1,
        "one request in the inbox"
    );
    let page = places.into_iter().next().unwrap();
    let grant = approve(&t, &mut me, &desk).await;

    // And "end" at once from every tab: one withdrawal, every answer the same.
    let ends = tabs.iter_mut().map(|tab| {
        let path = format!("{page}/end");
        async move { tab.post(&path, &[]).await }
    });
    let replies = futures_util::future::join_all(ends).await;
    assert!(
        replies.iter().all(|r| r.status == StatusCode::SEE_OTHER),
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status, r.body.clone()))
            .collect::<Vec<_>>()
    );
    let withdrawals = entries_under(&t, grant)
        .await
        .into_iter()
        .filter(|e| e.action.as_deref() == Some("grant.withdraw"))
        .count();
    assert_eq!(withdrawals, 1);
}

#[actix_web::test]
async fn certifying_a_granted_scan_is_a_step_of_the_session() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = desk(&t, &mut me, &mut clerk).await;
    let page = open(&mut clerk, desk.certification).await;
    let grant = approve(&t, &mut me, &desk).await;

    // The session page offers it for the self-uploaded scan, not for the issued CCCD.
    let active = clerk.get(&page).await;
    let certify = format!("{page}/documents/{}/certify", desk.scan);
    assert!(active.body.contains(&certify), "{}", active.body);
    assert!(
        !active
            .body
            .contains(&format!("{page}/documents/{}/certify", desk.cccd))
    );
    assert_eq!(
        clerk
            .get(&format!("{page}/documents/{}/certify", desk.cccd))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "the CCCD's file is not granted and it is issued already"
    );
    // The door refuses certifying a document whose file is not granted (before anything else
    // is looked at): missing, like any document outside the grant.
    assert_eq!(
        clerk
            .post(
                &format!("{page}/documents/{}/certify", desk.cccd),
                &[("seen_original", "yes")],
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let form = clerk.get(&certify).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("Hợp đồng thuê nhà"));
    assert!(form.body.contains(CITIZEN));

    // Not without the comparison.
    let unconfirmed = clerk.post(&certify, &[]).await;
    assert_ne!(unconfirmed.status, StatusCode::SEE_OTHER);
    assert!(
        unconfirmed.body.contains("f-seen_original-error"),
        "{}",
        unconfirmed.body
    );
    let row = congdanso::vault::repo::find(&t.state.db, desk.scan)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.source, "self");

    let done = clerk.post(&certify, &[("seen_original", "yes")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), page);
    let row = congdanso::vault::repo::find(&t.state.db, desk.scan)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.source, "certified");
    let signature = congdanso::vault::repo::find_signature(&t.state.db, desk.scan)
        .await
        .unwrap()
        .expect("the certified copy's signature");
    let district = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(signature.agency_id, district.id);
    assert_eq!(signature.kind, "certified_copy");

    // The session page shows it certified; the citizen's log names the clerk, under the grant.
    let after = clerk.get(&page).await;
    assert!(after.body.contains("signature-certified"), "{}", after.body);
    assert!(!after.body.contains(&certify));
    let clerk_id = demo_clerk(&t).await.id.to_string();
    let (certified, refused): (Vec<_>, Vec<_>) = entries_under(&t, grant)
        .await
        .into_iter()
        .filter(|e| e.action.as_deref() == Some("document.certify"))
        .partition(|e| e.outcome.as_deref() == Some("allowed"));
    assert_eq!(certified.len(), 1, "{certified:?}");
    assert_eq!(certified[0].actor_id.as_deref(), Some(clerk_id.as_str()));
    assert_eq!(
        certified[0].object_id.as_deref(),
        Some(desk.scan.to_string().as_str())
    );
    // The refused attempt on the CCCD is an entry too.
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        refused[0].object_id.as_deref(),
        Some(desk.cccd.to_string().as_str())
    );

    // The code the citizen read out cannot certify it a second time.
    let again = clerk
        .post(
            &format!("/staff/certify/{}", desk.certification),
            &[("seen_original", "yes")],
        )
        .await;
    assert_ne!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(
        congdanso::vault::repo::find_signature(&t.state.db, desk.scan)
            .await
            .unwrap()
            .unwrap()
            .issued_at,
        signature.issued_at
    );

    // Once the session ends, the step is gone.
    clerk.post(&format!("{page}/end"), &[]).await;
    assert_eq!(clerk.get(&certify).await.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn many_certifications_of_one_scan_at_once_sign_it_once() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = desk(&t, &mut me, &mut clerk).await;
    let page = open(&mut clerk, desk.certification).await;
    let grant = approve(&t, &mut me, &desk).await;

    // Eight tabs confirm at once, and the certification-code page too.
    let mut tabs = Vec::new();
    for _ in 0..8 {
        let mut tab = Client::new(test::init_service(app(t.state.clone())).await);
        tab.cookies = clerk.cookies.clone();
        tabs.push(tab);
    }
    let by_session = format!("{page}/documents/{}/certify", desk.scan);
    let by_code = format!("/staff/certify/{}", desk.certification);
    let posts = tabs.iter_mut().enumerate().map(|(i, tab)| {
        let path = if i % 4 == 3 {
            by_code.clone()
        } else {
            by_session.clone()
        };
        async move { tab.post(&path, &[("seen_original", "yes")]).await }
    });
    let replies = futures_util::future::join_all(posts).await;
    let signed = replies
        .iter()
        .filter(|r| r.status == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(
        signed,
        1,
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status, r.body.len()))
            .collect::<Vec<_>>()
    );
    assert!(
        replies
            .iter()
            .all(|r| r.status == StatusCode::SEE_OTHER || r.status.is_client_error()),
        "the others are told, not failed: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let signatures = entity::document_signature::Entity::find()
        .filter(entity::document_signature::Column::DocumentId.eq(desk.scan))
        .count(&t.state.db)
        .await
        .unwrap();
    assert_eq!(signatures, 1);
    // At most one certify entry allowed, whichever door was used (the code's is not under
    // the grant).
    let under_grant = entries_under(&t, grant)
        .await
        .into_iter()
        .filter(|e| {
            e.action.as_deref() == Some("document.certify")
                && e.outcome.as_deref() == Some("allowed")
        })
        .count();
    assert!(under_grant <= 1, "{under_grant}");
}
