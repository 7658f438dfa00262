//! Certification requests: the citizen's code is a pass for the one clerk (and agency) who
//! entered it first; another clerk, of the same agency or another, cannot use the code or the
//! request id to see the scan or certify it.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::accounts::service as accounts;
use congdanso::auth::Role;
use congdanso::startup::app;

use crate::helpers::{Client, spawn_app};
use crate::issuing::{CITIZEN, citizen, pdf};
use crate::staff::first_staff_login;

#[actix_web::test]
async fn a_certification_request_belongs_to_the_clerk_who_entered_the_code() {
    let t = spawn_app().await;
    congdanso::demo::seed(&t.state).await.unwrap();
    let district = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    let police = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-CA-DANANG")
        .await
        .unwrap()
        .unwrap();
    let owner_app = test::init_service(app(t.state.clone())).await;
    let mut owner = Client::new(owner_app);
    crate::accounts::register_citizen(&mut owner, &t, CITIZEN).await;
    let scan = pdf("giấy khen");
    let reply = owner
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Giấy khen")],
            Some(("khen.pdf", &scan)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let holder = citizen(&t).await;
    let doc = congdanso::vault::repo::list_for_owner(&t.state.db, holder.id)
        .await
        .unwrap()[0]
        .clone();
    let code = congdanso::counter::certify::request(&t.state, &holder, doc.id)
        .await
        .unwrap();

    // Three counter desks: the demo clerk, a colleague at the same agency, a police clerk.
    let mut first = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut first, &t, "demo.clerk", congdanso::demo::DEMO_PASSWORD).await;
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

    let reply = first
        .post("/staff/certify", &[("code", code.as_str())])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let review = reply.location().to_owned();
    assert!(review.starts_with("/staff/certify/"), "{review}");
    // Entering one's own code again still works.
    let again = first
        .post("/staff/certify", &[("code", code.as_str())])
        .await;
    assert_eq!(again.location(), review);

    for other in [&mut colleague, &mut stranger] {
        // The same code, typed at another desk, answers like a wrong code.
        let reply = other
            .post("/staff/certify", &[("code", code.as_str())])
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
        // The request id is no pass: review, scan and signature all answer 404.
        assert_eq!(other.get(&review).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            other.get(&format!("{review}/file")).await.status,
            StatusCode::NOT_FOUND
        );
        let reply = other.post(&review, &[("seen_original", "yes")]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    }
    let unchanged = congdanso::vault::repo::find(&t.state.db, doc.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.source, "self", "nobody else certified it");

    // The clerk who holds it sees the scan and certifies.
    let (file, bytes) = first.get_with(&format!("{review}/file"), &[]).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(bytes, scan);
    let reply = first.post(&review, &[("seen_original", "yes")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let certified = congdanso::vault::repo::find(&t.state.db, doc.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(certified.source, "certified");
}

#[actix_web::test]
async fn two_clerks_entering_one_code_at_once_leave_one_holder() {
    let t = spawn_app().await;
    congdanso::demo::seed(&t.state).await.unwrap();
    let district = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    let mut owner = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut owner, &t, CITIZEN).await;
    let reply = owner
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Bản quét")],
            Some(("scan.pdf", &pdf("scan"))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let holder = citizen(&t).await;
    let doc = congdanso::vault::repo::list_for_owner(&t.state.db, holder.id)
        .await
        .unwrap()[0]
        .clone();
    let code = congdanso::counter::certify::request(&t.state, &holder, doc.id)
        .await
        .unwrap();
    let mut desks = Vec::new();
    for n in 0..8 {
        let (clerk, _) = accounts::create_staff_account(
            &t.state,
            Role::CounterStaff,
            &format!("can.bo.{n}"),
            "Nguyễn Cán Bộ",
            Some(district.id),
        )
        .await
        .unwrap();
        desks.push(congdanso::counter::certify::Desk::of(&clerk, &district));
    }
    let attempts = desks.iter().map(|desk| {
        let state = t.state.clone();
        let code = code.clone();
        let desk = *desk;
        async move { congdanso::counter::certify::claim(&state, desk, &code).await }
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let winners = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(
        winners, 1,
        "exactly one desk holds the request: {outcomes:?}"
    );
}
