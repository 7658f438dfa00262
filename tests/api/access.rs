//! The one door: every read path writes its access-log entry in the same transaction, a read
//! whose entry cannot be written is refused, and refused attempts on an existing document are
//! entries in its owner's chain.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::accounts::service as accounts;
use congdanso::auth::Role;
use congdanso::startup::app;
use entity::access_log_entry;
use sea_orm::{ConnectionTrait, DbBackend};
use uuid::Uuid;

use crate::helpers::{Client, TestApp, spawn_app};
use crate::issuing::{CITIZEN, cccd_fields, citizen, id_of, make_issuer, pdf, post_json};
use crate::staff::{first_staff_login, step_up};

/// (actor kind, action, object type, object id, authorization kind, outcome) of each entry.
type Line = (String, String, String, String, String, String);

async fn chain(t: &TestApp, account: Uuid) -> Vec<Line> {
    sequence(t).await;
    congdanso::audit::repo::entries_of(&t.state.db, account)
        .await
        .unwrap()
        .into_iter()
        .map(|r: access_log_entry::Model| {
            let auth = r.authorization.unwrap_or_default();
            (
                r.actor_kind.unwrap_or_default(),
                r.action.unwrap_or_default(),
                r.object_type.unwrap_or_default(),
                r.object_id.unwrap_or_default(),
                auth.split(':').next().unwrap_or_default().to_owned(),
                r.outcome.unwrap_or_default(),
            )
        })
        .collect()
}

/// Runs the sequencer as the background task would.
async fn sequence(t: &TestApp) {
    congdanso::audit::service::integrate(&t.state.db, t.state.clock.now())
        .await
        .unwrap();
}

fn actions(lines: &[Line]) -> Vec<&str> {
    lines.iter().map(|l| l.1.as_str()).collect()
}

/// Makes every access-log write fail (entries are written to `access_log_pending` with their
/// action), as a full disk or a broken log table would.
pub async fn break_the_log(t: &TestApp) {
    let db = &t.state.db;
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.execute_unprepared(
                "CREATE TRIGGER break_log BEFORE INSERT ON access_log_pending \
                 BEGIN SELECT RAISE(ABORT, 'log down'); END;",
            )
            .await
            .unwrap();
        }
        _ => {
            db.execute_unprepared(
                "CREATE FUNCTION break_log() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'log down'; END; $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER break_log BEFORE INSERT ON access_log_pending \
                 FOR EACH ROW EXECUTE FUNCTION break_log();",
            )
            .await
            .unwrap();
        }
    }
}

#[actix_web::test]
async fn every_read_and_change_by_the_owner_or_an_agency_is_an_entry() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let owner = citizen(&t).await;
    let issuer = make_issuer(&t, "CA-DANANG", 21).await;

    // An agency issues a CCCD: an entry naming the agency's credential.
    let payload = issuer.payload(&t, "cccd", cccd_fields(CITIZEN), None);
    let (status, body) = post_json(
        &t,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&payload),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let issued = id_of(&body);
    let (_, credential) = congdanso::issuers::service::authenticate(&t.state, &issuer.token)
        .await
        .unwrap();
    let lines = chain(&t, owner.id).await;
    assert_eq!(actions(&lines), ["document.issue"]);
    sequence(&t).await;
    let entry = &congdanso::audit::repo::entries_of(&t.state.db, owner.id)
        .await
        .unwrap()[0];
    assert_eq!(entry.actor_kind.as_deref(), Some("agency"));
    assert_eq!(
        entry.actor_id.as_deref(),
        Some(credential.to_string().as_str())
    );
    assert_eq!(
        entry.actor_agency_id.as_deref(),
        Some(issuer.agency.id.to_string().as_str())
    );
    assert_eq!(
        entry.object_id.as_deref(),
        Some(issued.to_string().as_str())
    );
    assert_eq!(entry.authorization.as_deref(), Some("issuing_authority"));

    // The owner uploads, lists, views, downloads (whole and a range), packages, renames,
    // asks for a certification code and deletes.
    let scan = pdf("giấy khen bí mật");
    let reply = me
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Giấy khen bí mật")],
            Some(("khen.pdf", &scan)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let uploaded = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.source == "self")
        .unwrap()
        .id;
    assert_eq!(me.get("/documents").await.status, StatusCode::OK);
    assert_eq!(
        me.get(&format!("/documents/{uploaded}")).await.status,
        StatusCode::OK
    );
    let (whole, bytes) = me
        .get_with(&format!("/documents/{uploaded}/download"), &[])
        .await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(bytes == scan);
    let (part, bytes) = me
        .get_with(
            &format!("/documents/{uploaded}/download"),
            &[("range", "bytes=0-9")],
        )
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(bytes.len(), 10);
    let (package, _) = me
        .get_with(&format!("/documents/{issued}/package"), &[])
        .await;
    assert_eq!(package.status, StatusCode::OK);
    let reply = me
        .post(
            &format!("/documents/{uploaded}/rename"),
            &[("title", "Giấy khen")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let reply = me
        .post(&format!("/documents/{uploaded}/certification"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    step_up(&mut me, &t, CITIZEN).await;
    let reply = me.post(&format!("/documents/{uploaded}/delete"), &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);

    let lines = chain(&t, owner.id).await;
    assert_eq!(
        actions(&lines),
        [
            "document.issue",
            "document.upload",
            "documents.list",
            "document.view",
            "document.open",
            "document.open",
            "document.package",
            "document.rename",
            "certification.code_create",
            "document.delete",
        ],
        "{lines:#?}"
    );
    for line in &lines[1..] {
        assert_eq!(line.0, "citizen", "{line:?}");
        assert_eq!(line.4, "owner", "{line:?}");
        assert_eq!(line.5, "allowed", "{line:?}");
    }
    assert_eq!(
        lines[2].2, "vault",
        "a list page names the vault, not a document"
    );
    assert_eq!(lines[4].3, uploaded.to_string());
    assert_eq!(lines[6].3, issued.to_string());

    // Entries name documents, never describe them.
    sequence(&t).await;
    let rows = congdanso::audit::repo::entries_of(&t.state.db, owner.id)
        .await
        .unwrap();
    let text = format!("{rows:?}");
    assert!(!text.contains("khen") && !text.contains("Giấy"), "{text}");
    let report = congdanso::audit::service::verify_database(&t.state.db)
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
}

#[actix_web::test]
async fn a_read_whose_entry_cannot_be_written_is_refused_and_a_change_is_not_made() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let owner = citizen(&t).await;
    let scan = pdf("học bạ");
    let reply = me
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Học bạ")],
            Some(("hoc-ba.pdf", &scan)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let id = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap()[0]
        .id;
    let before = chain(&t, owner.id).await.len();

    break_the_log(&t).await;
    let (download, bytes) = me.get_with(&format!("/documents/{id}/download"), &[]).await;
    assert_eq!(download.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !bytes.windows(8).any(|w| w == b"%PDF-1.7"),
        "no byte of the file went out"
    );
    assert_eq!(
        me.get(&format!("/documents/{id}")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        me.get("/documents").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let reply = me
        .post(&format!("/documents/{id}/rename"), &[("title", "Đổi tên")])
        .await;
    assert_ne!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let upload = me
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Thêm")],
            Some(("them.pdf", &pdf("thêm"))),
        )
        .await;
    assert_ne!(upload.status, StatusCode::SEE_OTHER);

    // Nothing changed: the title is the old one, no new document, no entry.
    let rows = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the refused upload left no document");
    assert_eq!(rows[0].updated_at, rows[0].created_at, "not renamed");
    assert_eq!(chain(&t, owner.id).await.len(), before);
}

#[actix_web::test]
async fn refused_attempts_on_an_existing_document_are_entries_in_the_owners_chain() {
    let t = spawn_app().await;
    congdanso::demo::seed(&t.state).await.unwrap();
    let district = congdanso::agencies::repo::find_by_code(&t.state.db, "DEMO-HAICHAU")
        .await
        .unwrap()
        .unwrap();
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let owner = citizen(&t).await;
    let reply = me
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Bằng tốt nghiệp")],
            Some(("bang.pdf", &pdf("bằng"))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let doc = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap()[0]
        .clone();

    // Another citizen guessing the id: 404, and my log says someone tried.
    let mut other = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut other, &t, "079090001234").await;
    let other_id = congdanso::accounts::repo::find_by_login(&t.state.db, "079090001234")
        .await
        .unwrap()
        .unwrap()
        .id;
    for path in ["", "/download", "/package"] {
        let reply = other.get(&format!("/documents/{}{path}", doc.id)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
    let lines = chain(&t, owner.id).await;
    let denied: Vec<&Line> = lines.iter().filter(|l| l.5 == "denied").collect();
    assert_eq!(denied.len(), 3, "{lines:#?}");
    assert!(
        denied
            .iter()
            .all(|l| l.0 == "citizen" && l.3 == doc.id.to_string())
    );
    sequence(&t).await;
    let who = congdanso::audit::repo::entries_of(&t.state.db, owner.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.outcome.as_deref() == Some("denied"))
        .map(|r| r.actor_id.unwrap_or_default())
        .collect::<Vec<_>>();
    assert!(who.iter().all(|id| *id == other_id.to_string()));
    assert!(
        chain(&t, other_id)
            .await
            .iter()
            .all(|l| l.1 != "document.view"),
        "the attempt is not in the guesser's chain"
    );

    // Two clerks: the first enters the code, the second tries the code and the request id.
    let code = congdanso::counter::certify::request(&t.state, &owner, doc.id)
        .await
        .unwrap();
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut clerk, &t, "demo.clerk", congdanso::demo::DEMO_PASSWORD).await;
    let (_, password) = accounts::create_staff_account(
        &t.state,
        Role::CounterStaff,
        "dong.nghiep",
        "Lê Đồng Nghiệp",
        Some(district.id),
    )
    .await
    .unwrap();
    let mut colleague = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut colleague, &t, "dong.nghiep", &password).await;
    let reply = clerk
        .post("/staff/certify", &[("code", code.as_str())])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let review = reply.location().to_owned();
    let reply = colleague
        .post("/staff/certify", &[("code", code.as_str())])
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(colleague.get(&review).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        colleague.get(&format!("{review}/file")).await.status,
        StatusCode::NOT_FOUND
    );
    // The holder reviews (document and name), opens the scan and certifies.
    let page = clerk.get(&review).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Nguyễn"), "the citizen's name is shown");
    let (file, _) = clerk.get_with(&format!("{review}/file"), &[]).await;
    assert_eq!(file.status, StatusCode::OK);
    let reply = clerk.post(&review, &[("seen_original", "yes")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    // After it is used, the request opens nothing, even for its holder.
    assert_eq!(clerk.get(&review).await.status, StatusCode::NOT_FOUND);

    let lines = chain(&t, owner.id).await;
    let staff: Vec<(&str, &str, &str)> = lines
        .iter()
        .filter(|l| l.0 == "staff")
        .map(|l| (l.1.as_str(), l.4.as_str(), l.5.as_str()))
        .collect();
    assert_eq!(
        staff,
        [
            ("certification.code_use", "request", "allowed"),
            ("certification.code_use", "request", "denied"),
            ("document.view", "request", "denied"),
            ("document.open", "request", "denied"),
            ("document.view", "request", "allowed"),
            ("profile.read", "request", "allowed"),
            ("document.open", "request", "allowed"),
            ("document.certify", "request", "allowed"),
            ("document.view", "request", "denied"),
        ],
        "{lines:#?}"
    );

    // An expired code reaches the document too: the attempt is an entry.
    let reply = me
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Hợp đồng")],
            Some(("hop-dong.pdf", &pdf("hợp đồng"))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let second = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.source == "self")
        .unwrap();
    let code = congdanso::counter::certify::request(&t.state, &owner, second.id)
        .await
        .unwrap();
    t.clock.advance(chrono::Duration::minutes(
        congdanso::counter::certify::CODE_MINUTES + 1,
    ));
    let reply = clerk
        .post("/staff/certify", &[("code", code.as_str())])
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let last = chain(&t, owner.id).await.pop().unwrap();
    assert_eq!(
        (last.1.as_str(), last.3.as_str(), last.5.as_str()),
        (
            "certification.code_use",
            second.id.to_string().as_str(),
            "denied"
        )
    );
    let report = congdanso::audit::service::verify_database(&t.state.db)
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
}

#[actix_web::test]
async fn concurrent_reads_of_one_citizen_keep_one_linear_chain() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let owner = citizen(&t).await;
    let reply = me
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Sổ đỏ")],
            Some(("so-do.pdf", &pdf("sổ đỏ"))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let id = congdanso::vault::repo::list_for_owner(&t.state.db, owner.id)
        .await
        .unwrap()[0]
        .id;
    let before = chain(&t, owner.id).await.len();
    let reads = (0..30).map(|_| {
        let state = t.state.clone();
        let owner = owner.clone();
        tokio::spawn(async move {
            congdanso::access::open(
                &state,
                &congdanso::access::Reader::Owner(&owner),
                congdanso::access::DocumentId(id),
                congdanso::access::Purpose::Open,
            )
            .await
            .map(|_| ())
        })
    });
    let outcomes = futures_util::future::join_all(reads).await;
    // Waiting for the sequencer, and the operators can see it.
    let metrics = me.get("/metrics").await.body;
    assert!(
        metrics.contains("congdanso_access_log_pending 30"),
        "{metrics}"
    );
    sequence(&t).await;
    let metrics = me.get("/metrics").await.body;
    assert!(
        metrics.contains("congdanso_access_log_pending 0"),
        "{metrics}"
    );
    let ok = outcomes
        .into_iter()
        .filter(|o| matches!(o, Ok(Ok(()))))
        .count();
    assert_eq!(ok, 30, "every read went through");
    let rows = congdanso::audit::repo::entries_of(&t.state.db, owner.id)
        .await
        .unwrap();
    assert_eq!(rows.len(), before + 30);
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, n as i64 + 1, "no gap, no fork");
        if n > 0 {
            assert_eq!(row.prev_hash, rows[n - 1].leaf_hash);
        }
    }
    let report = congdanso::audit::service::verify_database(&t.state.db)
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
}
