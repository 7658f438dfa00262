//! The citizen's view of the access log (`/access-log`, `/access-log/export.json`,
//! `/access-log/print`) and misuse reports (`/access-log/entries/{id}/report`,
//! `/access-log/reports`, `/admin/reports…`).

use actix_web::http::StatusCode;
use actix_web::test::init_service;
use chrono::{DateTime, Utc};
use congdanso::accounts::service as accounts;
use congdanso::audit::service::{self as audit, EntryRef};
use congdanso::audit::{Action, Actor, Authorization, Entry, Object, Outcome, Purpose};
use congdanso::auth::Role;
use congdanso::clock::Clock;
use congdanso::reports::service as reports;
use congdanso::startup::app;
use congdanso::vault::model::DocumentType;
use sea_orm::{EntityTrait, TransactionTrait};
use uuid::Uuid;

use crate::accounts::register_citizen;
use crate::helpers::{Client, TestApp, spawn_app};
use crate::staff::{first_staff_login, step_up};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

async fn append_at(t: &TestApp, at: DateTime<Utc>, entry: &Entry) -> EntryRef {
    let txn = t.state.db.begin().await.unwrap();
    let id = audit::append(&txn, at, entry).await.unwrap();
    txn.commit().await.unwrap();
    congdanso::audit::service::integrate(&t.state.db, at)
        .await
        .unwrap();
    congdanso::audit::service::entry_ref(&t.state.db, id)
        .await
        .unwrap()
        .unwrap()
}

async fn account_by_login(t: &TestApp, login: &str) -> entity::account::Model {
    congdanso::accounts::repo::find_by_login(&t.state.db, login)
        .await
        .unwrap()
        .unwrap()
}

/// A commune police office with a clerk, Nguyễn Văn A.
async fn clerk_of_hai_chau(t: &TestApp) -> (Uuid, Uuid) {
    let agency = congdanso::agencies::service::create_agency(
        &t.state,
        "CA-HAICHAU",
        "Công an phường Hải Châu",
        "commune",
    )
    .await
    .unwrap();
    let (clerk, _) = accounts::create_staff_account(
        &t.state,
        Role::CounterStaff,
        "can.bo.a",
        "Nguyễn Văn A",
        Some(agency.id),
    )
    .await
    .unwrap();
    (agency.id, clerk.id)
}

fn clerk_views_cccd(account: Uuid, clerk: Uuid, agency: Uuid, document: Uuid) -> Entry {
    Entry {
        account,
        actor: Actor::Staff {
            account: clerk,
            agency,
        },
        action: Action::DocumentView,
        object: Object::Document {
            id: document,
            doc_type: DocumentType::Cccd,
        },
        purpose: None,
        authorization: Authorization::Request(Uuid::now_v7()),
        outcome: Outcome::Allowed,
    }
}

// ------------------------------------------------------------------ plain language

#[actix_web::test]
async fn the_log_page_says_who_did_what_why_and_when_in_plain_language() {
    let t = spawn_app().await;
    let mut client = Client::new(init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let citizen = account_by_login(&t, "079090001234").await;
    let (agency, clerk) = clerk_of_hai_chau(&t).await;
    let document = Uuid::now_v7();
    // The test clock is 2026-11-23 08:00 UTC, 15:00 in Vietnam.
    append_at(
        &t,
        utc("2026-11-22T03:30:00Z"),
        &Entry {
            account: citizen.id,
            actor: Actor::Citizen {
                account: citizen.id,
            },
            action: Action::DocumentOpen,
            object: Object::Document {
                id: document,
                doc_type: DocumentType::Cccd,
            },
            purpose: None,
            authorization: Authorization::Owner,
            outcome: Outcome::Allowed,
        },
    )
    .await;
    append_at(
        &t,
        utc("2026-11-23T07:02:00Z"),
        &clerk_views_cccd(citizen.id, clerk, agency, document),
    )
    .await;
    append_at(
        &t,
        utc("2026-11-23T07:30:00Z"),
        &Entry {
            account: citizen.id,
            actor: Actor::Agency {
                credential: Uuid::now_v7(),
                agency,
            },
            action: Action::DocumentFields,
            object: Object::Document {
                id: document,
                doc_type: DocumentType::Cccd,
            },
            purpose: Purpose::parse("Đăng ký thường trú"),
            authorization: Authorization::Grant(Uuid::now_v7()),
            outcome: Outcome::Denied,
        },
    )
    .await;

    let page = client.get("/access-log").await;
    assert_eq!(page.status, StatusCode::OK);
    let staff = "Công an phường Hải Châu, cán bộ Nguyễn Văn A, xem căn cước công dân để chứng thực bản sao, 14:02 hôm nay";
    let owner = "Bạn mở căn cước công dân, 10:30 hôm qua";
    let agency_read = "Hệ thống của Công an phường Hải Châu, đọc thông tin trong căn cước công dân theo sự đồng ý bạn đã cấp (mục đích: Đăng ký thường trú) — bị từ chối, 14:30 hôm nay";
    for sentence in [staff, owner, agency_read] {
        assert!(page.body.contains(sentence), "{sentence} in {}", page.body);
    }
    assert!(
        page.body.find(agency_read) < page.body.find(staff)
            && page.body.find(staff) < page.body.find(owner),
        "newest first"
    );
    assert!(
        page.body
            .contains(r#"datetime="2026-11-23T14:02:00+07:00""#)
    );
    assert!(page.body.contains(r#"href="/access-log/export.json""#));
    assert!(page.body.contains(r#"href="/access-log/print""#));

    // The actor-kind filter.
    let only_staff = client.get("/access-log?who=staff").await;
    assert!(only_staff.body.contains(staff));
    assert!(!only_staff.body.contains(owner) && !only_staff.body.contains(agency_read));
    let only_me = client.get("/access-log?who=citizen").await;
    assert!(only_me.body.contains(owner) && !only_me.body.contains(staff));
    assert_eq!(
        client.get("/access-log?who=everyone").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Days are Vietnamese days: 03:30 UTC on the 22nd is the 22nd, 07:02 UTC on the 23rd is
    // the 23rd.
    let the_22nd = client
        .get("/access-log?from=2026-11-22&until=2026-11-22")
        .await;
    assert!(the_22nd.body.contains(owner) && !the_22nd.body.contains(staff));

    client.lang = Some("en");
    let english = client.get("/access-log").await;
    assert!(english.body.contains(
        "Công an phường Hải Châu, staff member Nguyễn Văn A, viewed the national ID card to certify a copy, 14:02 today"
    ));
    assert!(
        english
            .body
            .contains("You opened the national ID card, 10:30 yesterday")
    );
}

// ------------------------------------------------------------------ export and print

async fn platform_keys<S, B>(client: &mut Client<S>) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let reply = client
        .get("/.well-known/congdanso/platform-keys.json")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.body
}

#[actix_web::test]
async fn the_downloaded_export_verifies_with_the_command_line_and_the_print_page_shows_the_heads() {
    let t = spawn_app().await;
    let mut client = Client::new(init_service(app(t.state.clone())).await);
    assert_ne!(
        client.get("/access-log/export.json").await.status,
        StatusCode::OK,
        "no export without a session"
    );
    register_citizen(&mut client, &t, "079090001234").await;
    let citizen = account_by_login(&t, "079090001234").await;
    let (agency, clerk) = clerk_of_hai_chau(&t).await;
    let now = t.state.clock.now();
    for n in 0..4 {
        append_at(
            &t,
            now,
            &clerk_views_cccd(citizen.id, clerk, agency, Uuid::now_v7()),
        )
        .await;
        // Someone else's entries share the tree, not the export.
        append_at(
            &t,
            now,
            &clerk_views_cccd(Uuid::now_v7(), clerk, agency, Uuid::now_v7()),
        )
        .await;
        if n == 1 {
            audit::publish_checkpoint(&t.state).await.unwrap().unwrap();
        }
    }
    let latest = audit::publish_checkpoint(&t.state).await.unwrap().unwrap();

    let reply = client.get("/access-log/export.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let disposition = reply
        .headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains(".json"),
        "{disposition}"
    );
    let export: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(export["account"], citizen.id.to_string());
    assert_eq!(export["entries"].as_array().unwrap().len(), 4);

    let dir = tempfile::tempdir().unwrap();
    let export_path = dir.path().join("access-log.json");
    let keys_path = dir.path().join("platform-keys.json");
    std::fs::write(&export_path, reply.body.as_bytes()).unwrap();
    std::fs::write(&keys_path, platform_keys(&mut client).await).unwrap();
    let run = || {
        crate::verify::cli()
            .args(["audit", "verify", "--export"])
            .arg(&export_path)
            .arg("--platform-keys")
            .arg(&keys_path)
            .output()
            .unwrap()
    };
    let ok = run();
    let stdout = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("valid: 4 entries"), "{stdout}");
    // The downloaded file is the evidence: one changed byte and it no longer verifies.
    let mut changed = reply.body.into_bytes();
    let at = changed.len() / 3;
    changed[at] ^= 0x01;
    std::fs::write(&export_path, &changed).unwrap();
    assert_eq!(run().status.code(), Some(1));

    let print = client.get("/access-log/print").await;
    assert_eq!(print.status, StatusCode::OK);
    let head = congdanso::audit::repo::chain_head(&t.state.db, citizen.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        print.body.contains(&hex::encode(&head.head_hash)),
        "chain head shown"
    );
    let first_line = latest.note.lines().next().unwrap().to_owned();
    assert!(print.body.contains(&first_line), "latest checkpoint shown");
    assert!(print.body.contains("congdanso audit verify --export"));
    assert_eq!(
        print
            .body
            .matches("Công an phường Hải Châu, cán bộ Nguyễn Văn A, xem")
            .count(),
        4,
        "every entry"
    );
    assert!(print.body.contains("Các mục (4)"));
}

// ------------------------------------------------------------------ misuse reports

fn report_link(body: &str) -> String {
    body.split(r#"href="/access-log/entries/"#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|rest| format!("/access-log/entries/{rest}"))
        .expect("a report link on the entry")
}

async fn report_rows(t: &TestApp) -> Vec<entity::misuse_report::Model> {
    entity::misuse_report::Entity::find()
        .all(&t.state.db)
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_citizen_reports_misuse_and_an_operator_investigates_and_answers() {
    let t = spawn_app().await;
    let mut citizen = Client::new(init_service(app(t.state.clone())).await);
    register_citizen(&mut citizen, &t, "079090001234").await;
    let account = account_by_login(&t, "079090001234").await;
    let (agency, clerk) = clerk_of_hai_chau(&t).await;
    let entry = append_at(
        &t,
        t.state.clock.now(),
        &clerk_views_cccd(account.id, clerk, agency, Uuid::now_v7()),
    )
    .await;
    let page = citizen.get("/access-log").await;
    let link = report_link(&page.body);
    assert_eq!(link, format!("/access-log/entries/{}/report", entry.id));
    let form = citizen.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("cán bộ Nguyễn Văn A"),
        "the entry is shown"
    );

    // No CSRF token, a wrong one: refused, nothing stored.
    let forged = citizen
        .post_raw(&link, &[("comment", "Tôi không đến phường hôm đó.")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let forged = citizen
        .post_raw(
            &link,
            &[
                ("csrf_token", "x"),
                ("comment", "Tôi không đến phường hôm đó."),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Empty and too long: refused with the reason next to the field.
    let empty = citizen.post(&link, &[("comment", "   ")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("Hãy viết vài dòng."), "{}", empty.body);
    let long = "ư".repeat(2001);
    let too_long = citizen.post(&link, &[("comment", &long)]).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.body.contains("Tối đa 2000 ký tự."));
    assert!(report_rows(&t).await.is_empty());

    // Another citizen's entry is not there to report.
    let stranger = append_at(
        &t,
        t.state.clock.now(),
        &clerk_views_cccd(Uuid::now_v7(), clerk, agency, Uuid::now_v7()),
    )
    .await;
    let theirs = format!("/access-log/entries/{}/report", stranger.id);
    assert_eq!(citizen.get(&theirs).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        citizen
            .post(&theirs, &[("comment", "Không phải của tôi")])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(report_rows(&t).await.is_empty());

    let comment = "Tôi không đến phường hôm đó, sao cán bộ lại xem CCCD của tôi?";
    let filed = citizen.post(&link, &[("comment", comment)]).await;
    assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
    assert_eq!(filed.location(), "/access-log/reports");
    let rows = report_rows(&t).await;
    assert_eq!(rows.len(), 1);
    let report = rows[0].clone();
    assert_eq!((report.status.as_str(), report.entry_id), ("new", entry.id));
    assert!(
        !String::from_utf8_lossy(&report.comment).contains("phường"),
        "the comment is sealed at rest"
    );
    let mine = citizen.get("/access-log/reports").await;
    assert!(mine.body.contains(comment) && mine.body.contains("Mới"));
    assert!(mine.body.contains("Chưa có trả lời."));

    // The citizen is not an operator.
    assert_eq!(
        citizen.get("/admin/reports").await.status,
        StatusCode::NOT_FOUND
    );
    let report_page = format!("/admin/reports/{}", report.id);
    assert_eq!(
        citizen.get(&report_page).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        citizen
            .post(
                &format!("{report_page}/answer"),
                &[("answer", "tự trả lời")]
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The operator's inbox.
    let (_, initial) =
        accounts::create_staff_account(&t.state, Role::Operator, "van.hanh", "Trần Văn Hành", None)
            .await
            .unwrap();
    let mut operator = Client::new(init_service(app(t.state.clone())).await);
    first_staff_login(&mut operator, &t, "van.hanh", &initial).await;
    let inbox = operator.get("/admin/reports").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains(&report_page));
    assert!(
        !inbox.body.contains(comment),
        "the list does not open comments"
    );
    // Opening the comment needs a fresh second factor.
    let gated = operator.get(&report_page).await;
    assert_eq!(gated.status, StatusCode::SEE_OTHER);
    assert!(
        gated.location().starts_with("/step-up"),
        "{}",
        gated.location()
    );
    step_up(&mut operator, &t, "van.hanh").await;
    let opened = operator.get(&report_page).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert!(opened.body.contains(comment));
    assert!(
        opened
            .body
            .contains("Công an phường Hải Châu, cán bộ Nguyễn Văn A, xem")
    );

    let moved = operator
        .post(&format!("{report_page}/investigate"), &[])
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    assert!(
        operator
            .get("/admin/reports?status=investigating")
            .await
            .body
            .contains(&report_page)
    );
    assert!(
        !operator
            .get("/admin/reports")
            .await
            .body
            .contains(&report_page)
    );
    // Not twice, and never back.
    let again = operator
        .post(&format!("{report_page}/investigate"), &[])
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    let blank = operator
        .post(&format!("{report_page}/answer"), &[("answer", "")])
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank.body.contains("Hãy viết vài dòng."));
    let answer =
        "Cán bộ đã xem để đối chiếu hồ sơ chứng thực bạn nộp ngày 20/11; chúng tôi đã nhắc nhở.";
    let answered = operator
        .post(&format!("{report_page}/answer"), &[("answer", answer)])
        .await;
    assert_eq!(answered.status, StatusCode::SEE_OTHER, "{}", answered.body);
    let final_answer = operator
        .post(&format!("{report_page}/answer"), &[("answer", "Sửa lại")])
        .await;
    assert_eq!(
        final_answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "answered is final"
    );
    let row = report_rows(&t).await.pop().unwrap();
    let operator_account = account_by_login(&t, "van.hanh").await;
    assert_eq!(row.status, "answered");
    assert_eq!(row.answered_by, Some(operator_account.id));
    assert!(!String::from_utf8_lossy(row.answer.as_deref().unwrap()).contains("hồ sơ"));

    // The citizen is told once (the answer, not the move to investigating), without its text.
    let told: Vec<entity::notification::Model> = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let deliverer = congdanso::outbox::Deliverer::new(&t.state.config.outbox).unwrap();
        while deliverer.deliver_due(&t.state).await.unwrap() > 0 {}
        entity::notification::Entity::find()
            .filter(entity::notification::Column::AccountId.eq(account.id))
            .filter(entity::notification::Column::Kind.like("report.%"))
            .all(&t.state.db)
            .await
            .unwrap()
    };
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].kind, "report.answered");
    assert!(!told[0].params.contains("hồ sơ"), "never the answer's text");

    // The citizen sees the answer, and the log has the filing and both moves.
    let mine = citizen.get("/access-log/reports").await;
    assert!(mine.body.contains(answer) && mine.body.contains("Đã trả lời"));
    congdanso::audit::service::integrate(&t.state.db, t.state.clock.now())
        .await
        .unwrap();
    let log = congdanso::audit::repo::entries_of(&t.state.db, account.id)
        .await
        .unwrap();
    let actions: Vec<(Option<String>, Option<String>, Option<String>)> = log
        .iter()
        .map(|e| (e.action.clone(), e.actor_kind.clone(), e.object_id.clone()))
        .collect();
    let report_id = Some(report.id.to_string());
    assert_eq!(
        actions[1..].to_vec(),
        vec![
            (
                Some("report.file".into()),
                Some("citizen".into()),
                report_id.clone()
            ),
            (
                Some("report.answer".into()),
                Some("operator".into()),
                report_id.clone()
            ),
            (
                Some("report.answer".into()),
                Some("operator".into()),
                report_id
            ),
        ]
    );
    let page = citizen.get("/access-log").await;
    assert!(page.body.contains("Bạn gửi báo cáo sử dụng sai"));
    assert!(
        page.body
            .contains("Quản trị viên Trần Văn Hành, xử lý báo cáo sử dụng sai của bạn")
    );
    let report = audit::verify_database(&t.state.db).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// Twenty operators answer one report at once: exactly one answer lands, with one log entry.
async fn one_answer_wins(t: TestApp) {
    crate::issuing::register_citizen_directly(&t, crate::issuing::CITIZEN).await;
    let citizen = crate::issuing::citizen(&t).await;
    let entry = append_at(
        &t,
        t.state.clock.now(),
        &Entry {
            account: citizen.id,
            actor: Actor::Citizen {
                account: citizen.id,
            },
            action: Action::DocumentsList,
            object: Object::Vault,
            purpose: None,
            authorization: Authorization::Owner,
            outcome: Outcome::Allowed,
        },
    )
    .await;
    let id = reports::file(&t.state, &citizen, entry.id, "Không phải tôi")
        .await
        .unwrap();
    let mut operators = Vec::new();
    for n in 0..20 {
        let (row, _) = accounts::create_staff_account(
            &t.state,
            Role::Operator,
            &format!("van.hanh.{n}"),
            "Trần Văn Hành",
            None,
        )
        .await
        .unwrap();
        operators.push(row);
    }
    let tasks = operators.iter().enumerate().map(|(n, op)| {
        let state = t.state.clone();
        async move {
            if n % 2 == 0 {
                reports::answer(&state, op, id, &format!("Trả lời số {n}")).await
            } else {
                reports::investigate(&state, op, id).await
            }
        }
    });
    let results = futures_util::future::join_all(tasks).await;
    for r in &results {
        if let Err(e) = r {
            assert_eq!(e.code(), "report_status", "{e:?}");
        }
    }
    let row = report_rows(&t).await.pop().unwrap();
    let answers: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(n, r)| n % 2 == 0 && r.is_ok())
        .map(|(n, _)| n)
        .collect();
    let moves = results.iter().filter(|r| r.is_ok()).count();
    assert!(moves <= 2, "at most new→investigating→answered: {moves}");
    congdanso::audit::service::integrate(&t.state.db, t.state.clock.now())
        .await
        .unwrap();
    let log = congdanso::audit::repo::entries_of(&t.state.db, citizen.id)
        .await
        .unwrap();
    let logged = log
        .iter()
        .filter(|e| e.action.as_deref() == Some("report.answer"))
        .count();
    assert_eq!(logged, moves, "one log entry per move that happened");
    if row.status == "answered" {
        assert_eq!(answers.len(), 1, "one answer wins");
        let (view, _) = reports::open_for_operator(&t.state, id).await.unwrap();
        assert_eq!(view.answer, Some(format!("Trả lời số {}", answers[0])));
    } else {
        assert!(answers.is_empty());
    }
    let report = audit::verify_database(&t.state.db).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[actix_web::test]
async fn concurrent_operators_move_a_report_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let t = crate::helpers::concurrent_sqlite_app(&dir).await;
    one_answer_wins(t).await;
}

#[actix_web::test]
async fn concurrent_operators_move_a_report_once_on_postgres() {
    let Some(t) = crate::helpers::concurrent_postgres_app(
        "concurrent_operators_move_a_report_once_on_postgres",
    )
    .await
    else {
        return;
    };
    one_answer_wins(t).await;
}

#[actix_web::test]
async fn deleting_an_account_deletes_its_reports() {
    let t = spawn_app().await;
    crate::issuing::register_citizen_directly(&t, crate::issuing::CITIZEN).await;
    let citizen = crate::issuing::citizen(&t).await;
    let entry = append_at(
        &t,
        t.state.clock.now(),
        &clerk_views_cccd(citizen.id, Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()),
    )
    .await;
    reports::file(&t.state, &citizen, entry.id, "Không phải tôi")
        .await
        .unwrap();
    assert_eq!(report_rows(&t).await.len(), 1);
    congdanso::vault::service::delete_account(&t.state, &citizen)
        .await
        .unwrap();
    assert!(
        report_rows(&t).await.is_empty(),
        "reports went with the account"
    );
}

// ------------------------------------------------------------------ accessibility

#[actix_web::test]
async fn the_report_print_and_inbox_pages_pass_wcag_and_fit_a_phone() {
    let Some(b) = crate::browser::Browser::start(
        "the_report_print_and_inbox_pages_pass_wcag_and_fit_a_phone",
        "vi",
    )
    .await
    else {
        return;
    };
    congdanso::demo::seed(&b.app.state).await.unwrap();
    let login = congdanso::demo::DEMO_CITIZEN_ID;
    b.goto("/login").await;
    b.fill("login", login).await;
    b.fill("password", congdanso::demo::DEMO_PASSWORD).await;
    b.submit().await;
    assert_eq!(b.path().await, "/enroll");
    let account = account_by_login(&b.app, login).await;
    let secret = accounts::totp_secret(&b.app.state, &account).unwrap();
    let code = congdanso::accounts::totp::code_at(&secret, b.app.clock.now().timestamp() / 30);
    b.fill("code", &code).await;
    b.submit().await;
    let (agency, clerk) = clerk_of_hai_chau(&b.app).await;
    let mut last = None;
    for _ in 0..3 {
        last = Some(
            append_at(
                &b.app,
                b.app.clock.now(),
                &clerk_views_cccd(account.id, clerk, agency, Uuid::now_v7()),
            )
            .await,
        );
    }
    audit::publish_checkpoint(&b.app.state).await.unwrap();
    b.goto("/access-log").await;
    b.assert_accessible("access-log-sentences-vi").await;
    b.goto("/access-log/print").await;
    b.assert_accessible("access-log-print-vi").await;
    let entry = last.unwrap();
    b.goto(&format!("/access-log/entries/{}/report", entry.id))
        .await;
    b.assert_accessible("report-form-vi").await;
    b.submit().await;
    b.assert_accessible("report-form-refused-vi").await;
    b.fill("comment", "Tôi không đến phường hôm đó.").await;
    b.submit().await;
    assert_eq!(b.path().await, "/access-log/reports");
    b.assert_accessible("my-reports-vi").await;

    // The operator's side: the inbox, one report (after a step-up), a refused answer.
    b.click_and_wait("form[action='/logout'] button[type=submit]")
        .await;
    let (_, initial) = accounts::create_staff_account(
        &b.app.state,
        Role::Operator,
        "van.hanh",
        "Trần Văn Hành",
        None,
    )
    .await
    .unwrap();
    let code_now = |b: &crate::browser::Browser| {
        let state = b.app.state.clone();
        let step = b.app.clock.now().timestamp() / 30;
        async move {
            let operator = congdanso::accounts::repo::find_by_login(&state.db, "van.hanh")
                .await
                .unwrap()
                .unwrap();
            let secret = accounts::totp_secret(&state, &operator).unwrap();
            congdanso::accounts::totp::code_at(&secret, step)
        }
    };
    b.goto("/staff/login").await;
    b.fill("login", "van.hanh").await;
    b.fill("password", &initial).await;
    b.submit().await;
    assert_eq!(b.path().await, "/enroll");
    b.fill("code", &code_now(&b).await).await;
    b.submit().await;
    b.goto("/admin/reports").await;
    b.assert_accessible("report-inbox-vi").await;
    let report = report_rows(&b.app).await.pop().unwrap();
    let report_page = format!("/admin/reports/{}", report.id);
    b.app.clock.advance(chrono::Duration::seconds(30));
    b.goto(&report_page).await;
    assert_eq!(b.path().await, "/step-up");
    b.fill("code", &code_now(&b).await).await;
    b.submit().await;
    assert_eq!(b.path().await, report_page);
    b.assert_accessible("report-operator-vi").await;
    b.click_and_wait("form[action$='/answer'] button[type=submit]")
        .await;
    b.assert_accessible("report-answer-refused-vi").await;
    b.finish().await;
}
