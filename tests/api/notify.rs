//! Notifications: each event queued in its own transaction, fanned out by the outbox into the
//! inbox and the channels the person chose; grant uses batched per window; the SMS gateway's
//! signed call on a real loopback listener; a failing channel retried then dead without
//! touching the others; several deliverers fanning out each message exactly once.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::notify::model::Kind;
use congdanso::outbox::{Deliverer, webhook};
use congdanso::startup::app;
use entity::{notification, outbox_message};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::grants::{approve, ask_cccd, citizen_with_cccd, get_json, make_asker, register_purpose};
use crate::helpers::{Client, TestApp, spawn_app, spawn_app_with};
use crate::issuing::{CITIZEN, citizen, post_json};
use crate::outbox::{header, receiver, receiver_answering};

const SMS_KEY: &str = "sms-gateway-test-key-0123456789abcdef";

/// Runs one deliverer until nothing is due; returns how many rows it claimed.
async fn deliver(t: &TestApp) -> usize {
    let deliverer = Deliverer::new(&t.state.config.outbox).unwrap();
    let mut total = 0;
    loop {
        let n = deliverer.deliver_due(&t.state).await.unwrap();
        if n == 0 {
            return total;
        }
        total += n;
    }
}

async fn inbox_kinds(t: &TestApp, account: Uuid) -> Vec<String> {
    let mut rows = notification::Entity::find()
        .filter(notification::Column::AccountId.eq(account))
        .all(&t.state.db)
        .await
        .unwrap();
    rows.sort_by_key(|r| (r.created_at, r.id));
    rows.into_iter().map(|r| r.kind).collect()
}

async fn outbox_count(t: &TestApp, kind: &str) -> u64 {
    outbox_message::Entity::find()
        .filter(outbox_message::Column::Kind.eq(kind))
        .count(&t.state.db)
        .await
        .unwrap()
}

async fn sms_app(url: &str) -> TestApp {
    spawn_app_with(&[
        ("CONGDANSO_SMS_URL", url),
        ("CONGDANSO_SMS_KEY", SMS_KEY),
        ("CONGDANSO_OUTBOX_MAX_ATTEMPTS", "2"),
        ("CONGDANSO_OUTBOX_BACKOFF_BASE_SECS", "1"),
        ("CONGDANSO_OUTBOX_BACKOFF_CAP_SECS", "2"),
    ])
    .await
}

#[actix_web::test]
async fn a_new_document_and_an_agency_request_reach_the_inbox_with_links_and_the_header_count() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (_issuer, cccd) = citizen_with_cccd(&t, &mut me).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let (status, request) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 2),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let id = request["id"].as_str().unwrap().to_owned();
    // Queued with the events, not yet delivered: nothing in the inbox.
    let account = citizen(&t).await.id;
    assert!(inbox_kinds(&t, account).await.is_empty());
    assert_eq!(outbox_count(&t, "notify").await, 2);

    deliver(&t).await;
    assert_eq!(
        inbox_kinds(&t, account).await,
        ["document.issued", "request.new"]
    );
    let page = me.get("/notifications").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("UBND UBND-HAICHAU đề nghị bạn chia sẻ dữ liệu"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("href=\"/shared/requests/{id}\""))
    );
    assert!(page.body.contains(&format!("href=\"/documents/{cccd}\"")));
    assert!(page.body.contains("class=\"badge\">2<"), "header count");
    // The message never carries the document's content.
    assert!(!page.body.contains("NGUYỄN"), "no field values");

    // Marked read: the count goes down; another's message id changes nothing.
    let message = notification::Entity::find()
        .filter(notification::Column::Kind.eq("request.new"))
        .one(&t.state.db)
        .await
        .unwrap()
        .unwrap();
    let reply = me
        .post(&format!("/notifications/{}/read", Uuid::now_v7()), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let page = me.get("/notifications").await;
    assert!(page.body.contains("class=\"badge\">2<"));
    me.post(&format!("/notifications/{}/read", message.id), &[])
        .await;
    let page = me.get("/notifications").await;
    assert!(page.body.contains("class=\"badge\">1<"), "{}", page.body);
    me.post("/notifications/read", &[]).await;
    let page = me.get("/notifications").await;
    assert!(!page.body.contains("class=\"badge\""));

    // A request for a national ID with no account: the same answer, no notification.
    let mut body = ask_cccd(json!({ "full_name": "required" }), 2);
    body["citizen_national_id"] = json!("001099000999");
    let (status, other) = post_json(&t, &asker.token, "/api/v1/requests", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_eq!(other["status"], request["status"]);
    assert_eq!(outbox_count(&t, "notify").await, 2);
}

#[actix_web::test]
async fn an_agencys_reads_within_a_minute_make_one_alert_with_the_count() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (_issuer, cccd) = citizen_with_cccd(&t, &mut me).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let (_, request) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 10),
    )
    .await;
    let id = request["id"].as_str().unwrap().to_owned();
    let grant = approve(&t, &mut me, &id, cccd, &[]).await;
    let account = citizen(&t).await.id;
    deliver(&t).await;
    // Start at a window's beginning, then read three times within it (and at once).
    let now = t.state.clock.now();
    let start = now + chrono::Duration::seconds(60 - i64::from(now.timestamp() as i32 % 60));
    t.clock.set(start);
    let path = format!("/api/v1/grants/{grant}/documents/{cccd}");
    let reads = (0..3).map(|_| get_json(&t, &asker.token, &path));
    for (status, body) in futures_util::future::join_all(reads).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    t.clock.advance(chrono::Duration::seconds(50));
    let (status, _) = get_json(&t, &asker.token, &path).await;
    assert_eq!(status, StatusCode::OK);
    // The window is still open: nothing delivered yet.
    deliver(&t).await;
    assert!(
        !inbox_kinds(&t, account)
            .await
            .contains(&"grant.used".to_owned())
    );
    assert_eq!(
        outbox_message::Entity::find()
            .filter(outbox_message::Column::BatchKey.is_not_null())
            .count(&t.state.db)
            .await
            .unwrap(),
        1,
        "one batched row for four reads"
    );
    // Closed: one message, counting four reads.
    t.clock.advance(chrono::Duration::seconds(15));
    let (status, _) = get_json(&t, &asker.token, &path).await;
    assert_eq!(status, StatusCode::OK, "a read in the next window");
    deliver(&t).await;
    let used: Vec<notification::Model> = notification::Entity::find()
        .filter(notification::Column::Kind.eq(Kind::GrantUsed.code()))
        .all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(used.len(), 1);
    let params: serde_json::Value = serde_json::from_str(&used[0].params).unwrap();
    assert_eq!(params["n"], 4);
    assert_eq!(params["agency"], "UBND UBND-HAICHAU");
    assert_eq!(params["link"], format!("/shared/grants/{grant}"));
    let page = me.get("/notifications").await;
    assert!(
        page.body.contains("đã đọc dữ liệu bạn chia sẻ 4 lần"),
        "{}",
        page.body
    );
    // The read in the next window is its own message once that window closes.
    t.clock.advance(chrono::Duration::seconds(60));
    deliver(&t).await;
    let used = notification::Entity::find()
        .filter(notification::Column::Kind.eq(Kind::GrantUsed.code()))
        .count(&t.state.db)
        .await
        .unwrap();
    assert_eq!(used, 2);
}

/// Saves the contact form: `prefs` are the `kind:channel` boxes left on.
pub(crate) async fn save_contact<S, B>(
    me: &mut Client<S>,
    email: &str,
    phone: &str,
    prefs: &[&str],
) -> u16
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    me.get("/settings/notifications").await;
    let names: Vec<String> = prefs.iter().map(|p| format!("pref.{p}")).collect();
    let mut fields: Vec<(&str, &str)> = vec![("email", email), ("phone", phone)];
    fields.extend(names.iter().map(|n| (n.as_str(), "on")));
    me.post("/settings/notifications", &fields)
        .await
        .status
        .as_u16()
}

#[actix_web::test]
async fn the_contact_form_is_validated_and_choices_are_kept() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    assert_eq!(save_contact(&mut me, "not an email", "12", &[]).await, 422);
    let page = me.get("/settings/notifications").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("not an email"), "nothing saved");
    assert_eq!(
        save_contact(
            &mut me,
            "an@example.vn",
            "0912 345 678",
            &["grant.used:sms"]
        )
        .await,
        303
    );
    let page = me.get("/settings/notifications?saved=1").await;
    assert!(page.body.contains("an@example.vn"));
    assert!(page.body.contains("0912345678"), "{}", page.body);
    assert!(
        page.body
            .contains("name=\"pref.grant.used:sms\" value=\"on\" checked")
    );
    assert!(
        !page
            .body
            .contains("name=\"pref.grant.used:email\" value=\"on\" checked")
    );
    // Security alerts: shown on and not changeable.
    assert!(
        page.body
            .contains("name=\"pref.password.changed:email\" value=\"on\" checked disabled")
    );
}

#[actix_web::test]
async fn the_sms_gateway_gets_a_signed_call_for_a_security_alert_even_with_sms_turned_off() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    let got = receiver(listener).await;
    let t = sms_app(&url).await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    // Everything off, phone given.
    assert_eq!(save_contact(&mut me, "", "0912345678", &[]).await, 303);

    let new_password = "Song-Han-chay-qua-cau-Rong";
    change_password(&t, &mut me, new_password).await;
    deliver(&t).await;
    let calls = got.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one SMS");
    let one = &calls[0];
    let id = header(one, "Congdanso-Sms-Id");
    let ts = header(one, "Congdanso-Sms-Timestamp");
    let sig = header(one, "Congdanso-Sms-Signature");
    assert!(
        webhook::verify(SMS_KEY.as_bytes(), id, ts, &one.1, sig),
        "signed with the key"
    );
    assert!(!webhook::verify(b"another key", id, ts, &one.1, sig));
    let body: serde_json::Value = serde_json::from_slice(&one.1).unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["to"], "0912345678");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("Mật khẩu tài khoản của bạn vừa được đổi"),
        "{text}"
    );
    assert!(text.contains("/access-log"), "{text}");
    assert!(!text.contains(new_password));
    // The id is the outbox row's: the gateway can dedupe by it.
    let row = outbox_message::Entity::find_by_id(Uuid::parse_str(id).unwrap())
        .one(&t.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.kind, "sms");
    assert_eq!(row.status, "delivered");

    // A kind the citizen turned off for SMS: in the inbox, no SMS.
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let (status, _) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 2),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    deliver(&t).await;
    assert_eq!(got.lock().unwrap().len(), 1);
    let account = citizen(&t).await.id;
    assert!(
        inbox_kinds(&t, account)
            .await
            .contains(&"request.new".to_owned())
    );
}

#[actix_web::test]
async fn a_failing_channel_is_retried_then_dead_while_the_inbox_and_email_get_the_message() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    let got = receiver_answering(
        listener,
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    let t = sms_app(&url).await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    assert_eq!(
        save_contact(
            &mut me,
            "an@example.vn",
            "0912345678",
            &["request.new:sms", "request.new:email"]
        )
        .await,
        303
    );
    let account = citizen(&t).await.id;
    congdanso::notify::service::notify(
        &t.state.db,
        t.state.clock.now(),
        account,
        Kind::RequestNew,
        json!({ "link": "/shared" }),
    )
    .await
    .unwrap();
    deliver(&t).await;
    assert_eq!(inbox_kinds(&t, account).await, ["request.new"]);
    let sms = |t: &TestApp| {
        let db = t.state.db.clone();
        async move {
            outbox_message::Entity::find()
                .filter(outbox_message::Column::Kind.eq("sms"))
                .one(&db)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let email = outbox_message::Entity::find()
        .filter(outbox_message::Column::Kind.eq("email"))
        .one(&t.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(email.status, "delivered", "the log channel took the email");
    let first = sms(&t).await;
    assert_eq!((first.status.as_str(), first.attempts), ("pending", 1));
    assert!(first.last_error.unwrap().contains("503"));
    t.clock.advance(chrono::Duration::seconds(5));
    deliver(&t).await;
    let last = sms(&t).await;
    assert_eq!((last.status.as_str(), last.attempts), ("dead", 2));
    assert_eq!(
        got.lock().unwrap().len(),
        2,
        "two attempts reached the gateway"
    );
    // The metrics tell operators.
    let metrics = t.state.metrics.render().unwrap();
    assert!(
        metrics.contains("congdanso_outbox_attempts_total{channel=\"sms\",status=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("congdanso_outbox_attempts_total{channel=\"sms\",status=\"retried\"} 1")
    );
    // The operators' page shows the same, by channel; nobody else sees it.
    let (_, initial) = congdanso::accounts::service::create_staff_account(
        &t.state,
        congdanso::auth::Role::Operator,
        "van.hanh",
        "Trần Văn Hành",
        None,
    )
    .await
    .unwrap();
    let mut operator = Client::new(test::init_service(app(t.state.clone())).await);
    crate::staff::first_staff_login(&mut operator, &t, "van.hanh", &initial).await;
    let page = operator.get("/admin/notifications").await;
    assert_eq!(page.status, StatusCode::OK);
    let row = |channel: &str, pending: u32, delivered: u32, dead: u32| {
        format!(
            "<th scope=\"row\"><code>{channel}</code></th><td>{pending}</td><td>{delivered}</td><td>{dead}</td>"
        )
    };
    assert!(page.body.contains(&row("sms", 0, 0, 1)), "{}", page.body);
    assert!(page.body.contains(&row("email", 0, 1, 0)));
    assert_eq!(
        me.get("/admin/notifications").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn concurrent_fan_out(t: &TestApp, messages: usize, deliverers: usize) {
    let account = {
        let mut me = Client::new(test::init_service(app(t.state.clone())).await);
        crate::accounts::register_citizen(&mut me, t, CITIZEN).await;
        citizen(t).await.id
    };
    for i in 0..messages {
        congdanso::notify::service::notify(
            &t.state.db,
            t.state.clock.now(),
            account,
            Kind::DocumentIssued,
            json!({ "link": format!("/documents/{i}") }),
        )
        .await
        .unwrap();
    }
    let runs = (0..deliverers).map(|_| {
        let state = t.state.clone();
        tokio::spawn(async move {
            let d = Deliverer::new(&state.config.outbox).unwrap();
            let mut claimed = 0;
            loop {
                match d.deliver_due(&state).await {
                    Ok(0) => return claimed,
                    Ok(n) => claimed += n,
                    // SQLite: a busy writer is retried like the real loop does.
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                }
            }
        })
    });
    let claimed: usize = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert_eq!(claimed, messages, "each message claimed once");
    let inbox = notification::Entity::find()
        .filter(notification::Column::AccountId.eq(account))
        .count(&t.state.db)
        .await
        .unwrap();
    assert_eq!(inbox as usize, messages);
    let pending = outbox_message::Entity::find()
        .filter(outbox_message::Column::Status.ne("delivered"))
        .count(&t.state.db)
        .await
        .unwrap();
    assert_eq!(pending, 0);
}

#[actix_web::test]
async fn four_deliverers_fan_out_each_notification_exactly_once() {
    let t = spawn_app_with(&[("CONGDANSO_OUTBOX_BATCH", "10")]).await;
    concurrent_fan_out(&t, 200, 4).await;
}

#[actix_web::test]
async fn expiry_warnings_are_queued_once_per_request() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (_issuer, _cccd) = citizen_with_cccd(&t, &mut me).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let (status, _) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 2),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // Not yet within a day of its answer-by time: nothing.
    assert_eq!(
        congdanso::notify::service::expiry_warnings(&t.state)
            .await
            .unwrap(),
        0
    );
    let days = i64::from(t.state.config.grants.answer_days);
    t.clock
        .advance(chrono::Duration::days(days) - chrono::Duration::hours(3));
    let runs = (0..3).map(|_| congdanso::notify::service::expiry_warnings(&t.state));
    for n in futures_util::future::join_all(runs).await {
        assert_eq!(n.unwrap(), 1);
    }
    let warnings = outbox_message::Entity::find()
        .filter(outbox_message::Column::BatchKey.like("once:request.expiring:%"))
        .count(&t.state.db)
        .await
        .unwrap();
    assert_eq!(warnings, 1, "three sweeps, one warning");
    deliver(&t).await;
    let account = citizen(&t).await.id;
    assert!(
        inbox_kinds(&t, account)
            .await
            .contains(&"request.expiring".to_owned())
    );
}

#[actix_web::test]
async fn two_instances_on_one_postgres_database_deliver_1000_messages_exactly_once() {
    if crate::helpers::postgres_url().is_none() {
        crate::helpers::skip(
            "two_instances_on_one_postgres_database_deliver_1000_messages_exactly_once",
            "TEST_DATABASE_URL not set",
        );
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    let got = receiver(listener).await;
    let t = spawn_app_with(&[
        ("CONGDANSO_SMS_URL", url.as_str()),
        ("CONGDANSO_SMS_KEY", SMS_KEY),
        ("CONGDANSO_OUTBOX_BATCH", "50"),
    ])
    .await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    assert_eq!(
        save_contact(&mut me, "", "0912345678", &["document.issued:sms"]).await,
        303
    );
    let account = citizen(&t).await.id;
    for i in 0..1000 {
        congdanso::notify::service::notify(
            &t.state.db,
            t.state.clock.now(),
            account,
            Kind::DocumentIssued,
            json!({ "link": format!("/documents/{i}") }),
        )
        .await
        .unwrap();
    }
    // The second instance: its own connection pool and its own deliverer id, same database.
    let mut other = t.state.clone();
    other.db = congdanso::db::connect(&t.state.config.database_url, 4)
        .await
        .unwrap();
    let runs = [t.state.clone(), other].map(|state| {
        tokio::spawn(async move {
            let d = Deliverer::new(&state.config.outbox).unwrap();
            let mut claimed = 0;
            loop {
                match d.deliver_due(&state).await.unwrap() {
                    0 => return claimed,
                    n => claimed += n,
                }
            }
        })
    });
    let claimed: Vec<usize> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // 1000 fan-outs and 1000 SMS rows, split between the instances.
    assert_eq!(claimed.iter().sum::<usize>(), 2000, "{claimed:?}");
    let calls = got.lock().unwrap().clone();
    let ids: std::collections::HashSet<String> = calls
        .iter()
        .map(|c| header(c, "Congdanso-Sms-Id").to_owned())
        .collect();
    assert_eq!(calls.len(), 1000, "every SMS sent once");
    assert_eq!(ids.len(), 1000, "1000 distinct message ids");
}

/// Measurement, not a check (`--ignored`): the cost a notification adds to its event's
/// transaction, and fan-out throughput. Numbers in docs/benchmarks.md.
#[actix_web::test]
#[ignore]
async fn measure_notification_cost_and_fan_out_throughput() {
    use sea_orm::TransactionTrait;
    // With aiosmtpd at hand, each notification also goes out as an email through it.
    let sink = SmtpSink::start().await;
    let port = sink
        .as_ref()
        .map(|s| s.port.to_string())
        .unwrap_or_default();
    let mut vars = vec![("CONGDANSO_OUTBOX_BATCH", "100")];
    if sink.is_some() {
        vars.extend([
            ("CONGDANSO_SMTP_HOST", "127.0.0.1"),
            ("CONGDANSO_SMTP_PORT", port.as_str()),
            ("CONGDANSO_SMTP_TLS", "none"),
            ("CONGDANSO_SMTP_FROM", "thongbao@congdanso.example"),
        ]);
    }
    let t = spawn_app_with(&vars).await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    if sink.is_some() {
        assert_eq!(save_contact(&mut me, "an@example.vn", "", &[]).await, 303);
    }
    let account = citizen(&t).await.id;
    let entry = congdanso::audit::Entry::by_owner(
        account,
        congdanso::audit::Action::PasswordChange,
        congdanso::audit::Object::Account,
    );
    const N: u32 = 400;
    let mut timings = [std::time::Duration::ZERO; 2];
    // Alternate so both see the same load.
    for i in 0..2 * N {
        let with = i % 2 == 1;
        let started = std::time::Instant::now();
        let txn = t.state.db.begin().await.unwrap();
        congdanso::audit::append(&txn, t.state.clock.now(), &entry)
            .await
            .unwrap();
        if with {
            congdanso::notify::service::notify(
                &txn,
                t.state.clock.now(),
                account,
                Kind::PasswordChanged,
                json!({ "link": "/access-log" }),
            )
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        timings[usize::from(with)] += started.elapsed();
    }
    let per = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / f64::from(N);
    // Fan-out first (the `notify` rows are due now; the email rows they queue are due too, so
    // one deliverer pass handles both kinds: fan-out is timed on `notify` rows alone below).
    let deliverer = Deliverer::new(&t.state.config.outbox).unwrap();
    let started = std::time::Instant::now();
    let mut claimed = 0;
    loop {
        let n = deliverer.deliver_due(&t.state).await.unwrap();
        claimed += n;
        if n == 0 {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(sink) = &sink {
        let received = sink.messages().len();
        eprintln!(
            "BENCH smtp: {N} notifications fanned out and {received} emails delivered through \
             aiosmtpd in {elapsed:.2}s = {:.0} notifications/s end to end ({claimed} rows claimed)",
            f64::from(N) / elapsed
        );
    }
    eprintln!(
        "BENCH backend={} event_txn_ms={:.3} event_plus_notification_ms={:.3} extra_ms={:.3} \
         fan_out={} in {:.2}s = {:.0}/s",
        if crate::helpers::postgres_url().is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        per(timings[0]),
        per(timings[1]),
        per(timings[1]) - per(timings[0]),
        claimed,
        elapsed,
        claimed as f64 / elapsed
    );
}

#[actix_web::test]
async fn a_certified_copy_and_a_login_from_a_new_browser_are_told_to_the_citizen() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = crate::counter::desk(&t, &mut me, &mut clerk).await;
    let review = format!("/staff/certify/{}", desk.certification);
    let reply = clerk.post(&review, &[("seen_original", "yes")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    deliver(&t).await;
    let account = citizen(&t).await.id;
    assert!(
        inbox_kinds(&t, account)
            .await
            .contains(&"copy.certified".to_owned())
    );
    assert!(
        !inbox_kinds(&t, account)
            .await
            .contains(&"login.new_browser".to_owned())
    );

    let mut laptop = Client::new(test::init_service(app(t.state.clone())).await);
    t.clock.advance(chrono::Duration::seconds(30));
    laptop.get("/login").await;
    let reply = laptop
        .post(
            "/login",
            &[("login", CITIZEN), ("password", crate::accounts::PASSWORD)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let code = crate::accounts::code_for(&t, CITIZEN, 0).await;
    let reply = laptop.post("/login/verify", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    deliver(&t).await;
    assert!(
        inbox_kinds(&t, account)
            .await
            .contains(&"login.new_browser".to_owned())
    );
    let page = laptop.get("/notifications").await;
    assert!(
        page.body.contains("đăng nhập từ một trình duyệt mới"),
        "{}",
        page.body
    );
}

#[actix_web::test]
async fn a_counter_request_is_told_to_the_citizen_and_their_answer_to_the_clerk() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    let desk = crate::counter::desk(&t, &mut me, &mut clerk).await;
    let session = crate::counter::open(&mut clerk, desk.certification).await;
    deliver(&t).await;
    let account = citizen(&t).await.id;
    let request = crate::counter::counter_request(&t).await;
    let new: Vec<notification::Model> = notification::Entity::find()
        .filter(notification::Column::AccountId.eq(account))
        .filter(notification::Column::Kind.eq("request.new"))
        .all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(new.len(), 1);
    assert!(
        new[0]
            .params
            .contains(&format!("/shared/requests/{}", request.id))
    );
    let clerk_id = congdanso::accounts::repo::find_by_login(&t.state.db, "demo.clerk")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(
        !inbox_kinds(&t, clerk_id)
            .await
            .contains(&"counter.answered".to_owned())
    );

    crate::counter::approve(&t, &mut me, &desk).await;
    deliver(&t).await;
    assert!(
        inbox_kinds(&t, clerk_id)
            .await
            .contains(&"counter.answered".to_owned())
    );
    let page = clerk.get("/notifications").await;
    assert!(page.body.contains("Công dân đã trả lời"), "{}", page.body);
    assert!(
        page.body.contains(&format!("href=\"{session}\"")),
        "links to the session"
    );
}

#[actix_web::test]
async fn a_notification_to_a_deleted_account_is_dropped_not_retried_forever() {
    let t = spawn_app().await;
    let gone = Uuid::now_v7();
    let id = congdanso::notify::service::notify(
        &t.state.db,
        t.state.clock.now(),
        gone,
        Kind::DocumentIssued,
        json!({ "link": "/documents" }),
    )
    .await
    .unwrap();
    assert_eq!(deliver(&t).await, 1);
    let row = outbox_message::Entity::find_by_id(id)
        .one(&t.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "delivered");
    assert!(inbox_kinds(&t, gone).await.is_empty());
}

/// A real SMTP server on loopback: aiosmtpd (Python), started here, storing what it receives
/// in a Maildir. `None` (the test skips) without a Python that has it: `.ci/run` installs it
/// into `CDS_PYTHON`'s environment.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
    python: String,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    async fn start() -> Option<Self> {
        let python = std::env::var("CDS_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let has = std::process::Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("box"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Owned at once, so that it is killed and waited for on every path (Drop).
        let sink = Self {
            child,
            port,
            maildir,
            python,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(sink);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("aiosmtpd did not start on port {port}");
    }

    /// Every message received, parsed by Python's `email` package (an independent parser):
    /// headers decoded, and each part's type and decoded text.
    fn messages(&self) -> Vec<serde_json::Value> {
        let script = r#"
import email, email.header, email.policy, json, mailbox, sys
out = []
for key, msg in sorted(mailbox.Maildir(sys.argv[1], create=False).items()):
    m = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    parts = [{"type": p.get_content_type(), "text": p.get_content()}
             for p in m.walk() if not p.is_multipart()]
    out.append({"from": str(m["From"]), "to": str(m["To"]), "subject": str(m["Subject"]),
                "message_id": str(m["Message-ID"]), "language": str(m["Content-Language"]),
                "type": m.get_content_type(), "parts": parts})
print(json.dumps(out))
"#;
        let output = std::process::Command::new(&self.python)
            .args(["-c", script])
            .arg(self.maildir.path().join("box"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

async fn smtp_app(port: u16) -> TestApp {
    let port = port.to_string();
    spawn_app_with(&[
        ("CONGDANSO_SMTP_HOST", "127.0.0.1"),
        ("CONGDANSO_SMTP_PORT", port.as_str()),
        ("CONGDANSO_SMTP_TLS", "none"),
        (
            "CONGDANSO_SMTP_FROM",
            "Công dân số <thongbao@congdanso.example>",
        ),
        ("CONGDANSO_OUTBOX_MAX_ATTEMPTS", "2"),
        ("CONGDANSO_OUTBOX_BACKOFF_BASE_SECS", "1"),
        ("CONGDANSO_OUTBOX_BACKOFF_CAP_SECS", "2"),
    ])
    .await
}

/// Changes the citizen's password (a security alert: sent whatever the choices).
async fn change_password<S, B>(t: &TestApp, me: &mut Client<S>, new_password: &str)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    t.clock.advance(chrono::Duration::seconds(30));
    let code = crate::accounts::code_for(t, CITIZEN, 0).await;
    let reply = me
        .post(
            "/account/password",
            &[
                ("password", new_password),
                ("password_confirm", new_password),
                ("code", &code),
            ],
        )
        .await;
    assert!(
        reply.status.is_redirection() || reply.status.is_success(),
        "{}",
        reply.body
    );
}

#[actix_web::test]
async fn an_email_reaches_a_real_smtp_server_in_the_citizens_language_without_secrets() {
    let Some(sink) = SmtpSink::start().await else {
        crate::helpers::skip(
            "an_email_reaches_a_real_smtp_server_in_the_citizens_language_without_secrets",
            "no Python with aiosmtpd (set CDS_PYTHON; .ci/run installs it)",
        );
        return;
    };
    let t = smtp_app(sink.port).await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    // Vietnamese first: every kind turned off for email, the address given.
    assert_eq!(save_contact(&mut me, "an@example.vn", "", &[]).await, 303);
    let first = "Song-Han-chay-qua-cau-Rong";
    change_password(&t, &mut me, first).await;
    deliver(&t).await;

    let got = sink.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    let vi = &got[0];
    assert_eq!(vi["to"], "an@example.vn");
    assert_eq!(vi["from"], "Công dân số <thongbao@congdanso.example>");
    assert_eq!(vi["language"], "vi");
    assert_eq!(vi["type"], "multipart/alternative");
    let subject = vi["subject"].as_str().unwrap();
    assert!(
        subject.contains("Mật khẩu tài khoản của bạn vừa được đổi"),
        "{subject}"
    );
    let parts = vi["parts"].as_array().unwrap();
    let types: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    for part in parts {
        let text = part["text"].as_str().unwrap();
        assert!(
            text.contains("Mật khẩu tài khoản của bạn vừa được đổi"),
            "{text}"
        );
        assert!(text.contains("/access-log"), "a link: {text}");
        assert!(!text.contains(first), "never the secret");
        assert!(!text.contains(CITIZEN), "never the national ID number");
    }
    // The Message-ID is the outbox row's id: a re-send carries the same.
    let row = outbox_message::Entity::find()
        .filter(outbox_message::Column::Kind.eq("email"))
        .one(&t.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "delivered");
    assert_eq!(vi["message_id"], format!("<{}@congdanso.example>", row.id));

    // The same person in English.
    me.cookies.insert("lang".to_owned(), "en".to_owned());
    assert_eq!(save_contact(&mut me, "an@example.vn", "", &[]).await, 303);
    change_password(&t, &mut me, "Bridge-over-the-Han-river-2026").await;
    deliver(&t).await;
    let got = sink.messages();
    assert_eq!(got.len(), 2, "{got:?}");
    let en = got
        .iter()
        .find(|m| m["language"] == "en")
        .expect("an English message");
    let subject = en["subject"].as_str().unwrap();
    assert!(subject.contains("password"), "{subject}");
    assert!(!subject.contains("Mật khẩu"), "{subject}");
}

#[actix_web::test]
async fn an_unreachable_smtp_server_is_retried_then_failed_and_the_inbox_still_has_it() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = smtp_app(port).await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    assert_eq!(save_contact(&mut me, "an@example.vn", "", &[]).await, 303);
    change_password(&t, &mut me, "Song-Han-chay-qua-cau-Rong").await;
    deliver(&t).await;
    let email = || async {
        outbox_message::Entity::find()
            .filter(outbox_message::Column::Kind.eq("email"))
            .one(&t.state.db)
            .await
            .unwrap()
            .unwrap()
    };
    let row = email().await;
    assert_eq!(row.status, "pending", "retried later");
    assert_eq!(row.attempts, 1);
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.contains("SMTP")),
        "{:?}",
        row.last_error
    );
    let account = citizen(&t).await.id;
    assert!(
        inbox_kinds(&t, account)
            .await
            .contains(&"password.changed".to_owned()),
        "the inbox has it whatever email does"
    );
    // Past the back-off, the second and last attempt fails too: failed, not lost silently.
    t.clock.advance(chrono::Duration::seconds(5));
    deliver(&t).await;
    let row = email().await;
    assert_eq!(row.attempts, 2);
    assert_eq!(row.status, "dead");
}

/// Reads fired at once share group-commit batches: each batch adds its uses to the window's one
/// alert in one statement, so the count is every read, whatever the batching.
async fn reads_at_once_are_all_counted(t: TestApp) {
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (_issuer, cccd) = citizen_with_cccd(&t, &mut me).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let (_, request) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &ask_cccd(json!({ "full_name": "required" }), 30),
    )
    .await;
    let id = request["id"].as_str().unwrap().to_owned();
    let grant = approve(&t, &mut me, &id, cccd, &[]).await;
    deliver(&t).await;
    let now = t.state.clock.now();
    let start = now + chrono::Duration::seconds(60 - i64::from(now.timestamp() as i32 % 60));
    t.clock.set(start);
    let path = format!("/api/v1/grants/{grant}/documents/{cccd}");
    let reads = (0..24).map(|_| get_json(&t, &asker.token, &path));
    for (status, body) in futures_util::future::join_all(reads).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    t.clock.advance(chrono::Duration::seconds(65));
    deliver(&t).await;
    let used: Vec<notification::Model> = notification::Entity::find()
        .filter(notification::Column::Kind.eq(Kind::GrantUsed.code()))
        .all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(used.len(), 1);
    let params: serde_json::Value = serde_json::from_str(&used[0].params).unwrap();
    assert_eq!(params["n"], 24, "{params}");
}

#[actix_web::test]
async fn twenty_four_reads_at_once_make_one_alert_counting_24_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    reads_at_once_are_all_counted(crate::helpers::concurrent_sqlite_app(&dir).await).await;
}

#[actix_web::test]
async fn twenty_four_reads_at_once_make_one_alert_counting_24_on_postgres() {
    let Some(t) = crate::helpers::concurrent_postgres_app(
        "twenty_four_reads_at_once_make_one_alert_counting_24_on_postgres",
    )
    .await
    else {
        return;
    };
    reads_at_once_are_all_counted(t).await;
}
