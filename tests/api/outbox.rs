//! The outbox and signed webhooks, against a real HTTP receiver on loopback.

use std::sync::{Arc, Mutex};

use congdanso::issuers::service as issuers;
use congdanso::outbox::{self, Deliverer, Message, webhook};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{TestApp, spawn_app_with};

/// One request the receiver got: (headers lower-cased, body).
pub type Got = (Vec<(String, String)>, Vec<u8>);

/// A minimal HTTP/1.1 server that records every request and answers 200.
pub async fn receiver(listener: TcpListener) -> Arc<Mutex<Vec<Got>>> {
    receiver_answering(
        listener,
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await
}

/// The same server, answering every request with `answer` (a whole HTTP response).
pub async fn receiver_answering(
    listener: TcpListener,
    answer: &'static [u8],
) -> Arc<Mutex<Vec<Got>>> {
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let sink = got.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let headers: Vec<(String, String)> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let len: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let body = buf[end + 4..end + 4 + len].to_vec();
                    sink.lock().unwrap().push((headers, body));
                    let _ = socket.write_all(answer).await;
                    return;
                }
            });
        }
    });
    got
}

pub fn header<'a>(got: &'a Got, name: &str) -> &'a str {
    got.0
        .iter()
        .find(|(k, _)| k == &name.to_ascii_lowercase())
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

async fn app() -> TestApp {
    spawn_app_with(&[
        ("CONGDANSO_OUTBOX_ALLOW_HTTP_LOOPBACK", "true"),
        ("CONGDANSO_OUTBOX_BACKOFF_BASE_SECS", "10"),
        ("CONGDANSO_OUTBOX_BACKOFF_CAP_SECS", "3600"),
    ])
    .await
}

/// An agency with one credential; returns (agency id, credential id, webhook secret).
async fn credential(t: &TestApp, code: &str) -> (uuid::Uuid, uuid::Uuid, String) {
    let agency = congdanso::agencies::service::create_agency(
        &t.state,
        code,
        &format!("Sở {code}"),
        "department",
    )
    .await
    .unwrap();
    let (row, _token) = issuers::create_credential(&t.state, agency.id, "Hệ thống nhận")
        .await
        .unwrap();
    let secret = issuers::webhook_secret(&t.state, &row).unwrap().unwrap();
    (agency.id, row.id, secret.to_string())
}

async fn enqueue(t: &TestApp, credential: uuid::Uuid, url: &str, n: u64) -> uuid::Uuid {
    use crate::helpers::NowUtc;
    let url = outbox::parse_callback(url, &t.state.config.outbox).unwrap();
    outbox::enqueue(
        &t.state.db,
        t.clock.now_utc(),
        Message::Webhook {
            credential,
            url,
            event: "grant.withdrawn".into(),
            body: serde_json::json!({ "grant": n }),
        },
    )
    .await
    .unwrap()
}

async fn status(t: &TestApp, id: uuid::Uuid) -> entity::outbox_message::Model {
    outbox::repo::find(&t.state.db, id).await.unwrap().unwrap()
}

#[actix_web::test]
async fn webhook_arrives_signed_with_the_credentials_key() {
    let t = app().await;
    let (_, cred, secret) = credential(&t, "SOTP").await;
    let (_, _, other_secret) = credential(&t, "SOYT").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = receiver(listener).await;
    let id = enqueue(&t, cred, &url, 1).await;
    let deliverer = Deliverer::new(&t.state.config.outbox).unwrap();
    assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 1);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let one = &got[0];
    assert_eq!(header(one, webhook::HEADER_ID), id.to_string());
    let ts = header(one, webhook::HEADER_TIMESTAMP);
    let sig = header(one, webhook::HEADER_SIGNATURE);
    assert!(webhook::verify(
        secret.as_bytes(),
        &id.to_string(),
        ts,
        &one.1,
        sig
    ));
    assert!(!webhook::verify(
        other_secret.as_bytes(),
        &id.to_string(),
        ts,
        &one.1,
        sig
    ));
    let body: serde_json::Value = serde_json::from_slice(&one.1).unwrap();
    assert_eq!(body["type"], "grant.withdrawn");
    assert_eq!(body["data"]["grant"], 1);
    assert_eq!(status(&t, id).await.status, "delivered");
    // Delivered once: a second round sends nothing.
    assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 0);
}

#[actix_web::test]
async fn revoked_credentials_message_is_not_sent() {
    let t = app().await;
    let (agency, cred, _) = credential(&t, "SOTP").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = receiver(listener).await;
    let id = enqueue(&t, cred, &url, 1).await;
    issuers::revoke_credential(&t.state, agency, cred)
        .await
        .unwrap();
    let deliverer = Deliverer::new(&t.state.config.outbox).unwrap();
    deliverer.deliver_due(&t.state).await.unwrap();
    assert!(got.lock().unwrap().is_empty());
    let row = status(&t, id).await;
    assert_eq!(row.status, "dead");
    assert!(row.last_error.unwrap().contains("revoked"));
}

#[actix_web::test]
async fn down_receiver_is_retried_with_growing_delays_then_gets_it() {
    let t = app().await;
    let (_, cred, _) = credential(&t, "SOTP").await;
    // A port with nothing listening: bind, note, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let id = enqueue(&t, cred, &url, 1).await;
    let deliverer = Deliverer::new(&t.state.config.outbox).unwrap();
    let mut delays = Vec::new();
    for attempt in 1..=3 {
        assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 1);
        let row = status(&t, id).await;
        assert_eq!(row.status, "pending");
        assert_eq!(row.attempts, attempt);
        use crate::helpers::NowUtc;
        let delay = row.next_attempt_at - t.clock.now_utc();
        delays.push(delay.num_seconds());
        // Not due before its time.
        assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 0);
        t.clock.advance(delay);
    }
    // base 10 s doubling, with jitter keeping half to all of it.
    assert!((5..=10).contains(&delays[0]), "{delays:?}");
    assert!((10..=20).contains(&delays[1]), "{delays:?}");
    assert!((20..=40).contains(&delays[2]), "{delays:?}");
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let got = receiver(listener).await;
    assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 1);
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_eq!(status(&t, id).await.status, "delivered");
}

#[actix_web::test]
async fn several_deliverers_send_each_message_exactly_once() {
    let t = app().await;
    let (_, cred, _) = credential(&t, "SOTP").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = receiver(listener).await;
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(enqueue(&t, cred, &url, n).await.to_string());
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let state = t.state.clone();
        tasks.push(tokio::spawn(async move {
            let d = Deliverer::new(&state.config.outbox).unwrap();
            for _ in 0..10 {
                d.deliver_due(&state).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let got = got.lock().unwrap().clone();
    let mut seen: Vec<String> = got
        .iter()
        .map(|g| header(g, webhook::HEADER_ID).to_owned())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "every message exactly once");
}

#[actix_web::test]
async fn message_pending_at_stop_is_delivered_by_a_new_instance() {
    use congdanso::keys::{Keyring, PlatformSigningKey, master_key_from_bytes};
    let t = spawn_app_with(&[
        ("CONGDANSO_OUTBOX_ALLOW_HTTP_LOOPBACK", "true"),
        ("CONGDANSO_OUTBOX_INTERVAL_MS", "20"),
        ("BIND_ADDR", "127.0.0.1:0"),
    ])
    .await;
    let (_, cred, secret) = credential(&t, "SOTP").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = receiver(listener).await;
    // Written while no deliverer runs (the first instance "stopped" before sending it).
    let id = enqueue(&t, cred, &url, 7).await;
    let keys = Keyring {
        master: master_key_from_bytes(*t.state.keys.master.expose_secret()).unwrap(),
        previous: Vec::new(),
        signing: PlatformSigningKey::from_bytes(t.state.keys.signing.signing_key().to_bytes()),
    };
    let state = congdanso::startup::build_state_with_keys(
        (*t.state.config).clone(),
        Arc::new(t.clock.clone()),
        keys,
    )
    .await
    .unwrap();
    let second = congdanso::startup::Application::from_state(state).unwrap();
    let handle = second.handle();
    let running = tokio::spawn(second.run_until_stopped());
    for _ in 0..200 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    handle.stop(true).await;
    running.await.unwrap().unwrap();
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let one = &got[0];
    assert_eq!(header(one, webhook::HEADER_ID), id.to_string());
    assert!(webhook::verify(
        secret.as_bytes(),
        &id.to_string(),
        header(one, webhook::HEADER_TIMESTAMP),
        &one.1,
        header(one, webhook::HEADER_SIGNATURE)
    ));
    assert_eq!(status(&t, id).await.status, "delivered");
}

/// Enqueues a webhook to `url` as given, without `parse_callback` (as a row written before the
/// host rule, or a name that resolved elsewhere when it was checked).
async fn enqueue_unchecked(t: &TestApp, credential: uuid::Uuid, url: &str) -> uuid::Uuid {
    use crate::helpers::NowUtc;
    outbox::enqueue(
        &t.state.db,
        t.clock.now_utc(),
        Message::Webhook {
            credential,
            url: url::Url::parse(url).unwrap(),
            event: "grant.withdrawn".into(),
            body: serde_json::json!({ "grant": 1 }),
        },
    )
    .await
    .unwrap()
}

/// An app without the loopback exception (as in production).
async fn strict_app() -> TestApp {
    spawn_app_with(&[
        ("CONGDANSO_OUTBOX_BACKOFF_BASE_SECS", "10"),
        ("CONGDANSO_OUTBOX_BACKOFF_CAP_SECS", "3600"),
    ])
    .await
}

#[actix_web::test]
async fn a_name_that_resolves_to_a_private_address_is_refused_at_every_attempt() {
    use crate::helpers::NowUtc;
    let t = strict_app().await;
    let (_, cred, _) = credential(&t, "SOTP").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = receiver(listener).await;
    // `localhost` stands for any name that resolved to a public address when it was given and
    // resolves inside the network when it is delivered (DNS rebinding).
    let id = enqueue_unchecked(&t, cred, &format!("http://localhost:{port}/hook")).await;
    let deliverer = Deliverer::new(&t.state.config.outbox).unwrap();
    for attempt in 1..=2 {
        assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 1);
        let row = status(&t, id).await;
        assert_eq!(row.status, "pending", "a failed attempt, retried later");
        assert_eq!(row.attempts, attempt);
        let error = row.last_error.unwrap();
        assert!(
            error.contains("refused") && error.contains("not a public internet address"),
            "{error}"
        );
        assert!(!error.contains("localhost"), "no name in the log: {error}");
        t.clock.advance(row.next_attempt_at - t.clock.now_utc());
    }
    assert!(got.lock().unwrap().is_empty(), "nothing reached loopback");
}

#[actix_web::test]
async fn a_private_address_is_refused_at_delivery_for_good() {
    let t = strict_app().await;
    let (_, cred, _) = credential(&t, "SOTP").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = receiver(listener).await;
    let id = enqueue_unchecked(&t, cred, &url).await;
    let deliverer = Deliverer::new(&t.state.config.outbox).unwrap();
    assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 1);
    let row = status(&t, id).await;
    assert_eq!(
        row.status, "dead",
        "an address does not change: not retried"
    );
    assert!(row.last_error.unwrap().contains("public internet address"));
    assert!(got.lock().unwrap().is_empty());
}

#[actix_web::test]
async fn localhost_is_delivered_with_the_loopback_exception() {
    let t = app().await;
    let (_, cred, secret) = credential(&t, "SOTP").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = receiver(listener).await;
    let id = enqueue(&t, cred, &format!("http://localhost:{port}/hook"), 1).await;
    let deliverer = Deliverer::new(&t.state.config.outbox).unwrap();
    assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 1);
    assert_eq!(status(&t, id).await.status, "delivered");
    let one = got.lock().unwrap()[0].clone();
    assert!(webhook::verify(
        secret.as_bytes(),
        &id.to_string(),
        header(&one, webhook::HEADER_TIMESTAMP),
        &one.1,
        header(&one, webhook::HEADER_SIGNATURE)
    ));
}

#[actix_web::test]
async fn a_redirect_is_not_followed() {
    let t = app().await;
    let (_, cred, _) = credential(&t, "SOTP").await;
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_url = format!("http://{}/internal", elsewhere.local_addr().unwrap());
    let reached = receiver(elsewhere).await;
    let answer: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: {elsewhere_url}\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n"
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let redirecting = receiver_answering(listener, answer).await;
    let id = enqueue(&t, cred, &url, 1).await;
    let deliverer = Deliverer::new(&t.state.config.outbox).unwrap();
    assert_eq!(deliverer.deliver_due(&t.state).await.unwrap(), 1);
    assert_eq!(redirecting.lock().unwrap().len(), 1);
    assert!(
        reached.lock().unwrap().is_empty(),
        "the redirect was not followed"
    );
    let row = status(&t, id).await;
    assert_eq!(row.status, "pending");
    assert_eq!(row.last_error.as_deref(), Some("receiver answered 307"));
}

#[actix_web::test]
async fn callbacks_to_private_addresses_are_refused_when_a_request_is_made() {
    use crate::issuing::{CITIZEN, post_json};
    use actix_web::http::StatusCode;
    // Even with the loopback exception on: it covers plain loopback only.
    let t = app().await;
    let mut me = crate::helpers::Client::new(
        actix_web::test::init_service(congdanso::startup::app(t.state.clone())).await,
    );
    crate::accounts::register_citizen(&mut me, &t, CITIZEN).await;
    let asker = crate::grants::make_asker(&t, "UBND-HAICHAU").await;
    crate::grants::register_purpose(&t, &asker.agency, "cu-tru", &["full_name"]).await;
    let body = |callback: &str| {
        serde_json::json!({
            "citizen_national_id": CITIZEN,
            "purpose": "cu-tru",
            "explanation": "Xác minh nhân thân để đăng ký thường trú",
            "documents": [{ "type": "cccd", "fields": { "full_name": "required" } }],
            "duration_days": 30,
            "max_uses": 1,
            "callback_url": callback,
        })
    };
    for bad in [
        "https://10.0.0.5/x",
        "https://[::ffff:127.0.0.1]/",
        "https://169.254.169.254/",
        "https://169.254.169.254/latest/meta-data/iam/",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://db.localhost/",
    ] {
        let (status, reply) = post_json(&t, &asker.token, "/api/v1/requests", &body(bad)).await;
        // 422 like every invalid input of this API (docs/api.md).
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {reply}");
        assert_eq!(reply["error"]["code"], "invalid_callback", "{bad}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains("public"), "{bad}: {message}");
    }
    let (status, reply) = post_json(
        &t,
        &asker.token,
        "/api/v1/requests",
        &body("https://motcua.example.vn/congdanso/webhook"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "a public callback: {reply}");
}

#[actix_web::test]
async fn webhooks_stay_signed_after_master_key_rotation_and_the_old_key_is_dropped() {
    use congdanso::keys::{Keyring, PlatformSigningKey, master_key_from_bytes, random_key};
    let t = app().await;
    let (agency, cred, secret) = credential(&t, "SOTP").await;
    // A revoked credential's key is not live data: it neither blocks nor counts.
    let (revoked, _) = issuers::create_credential(&t.state, agency, "Cũ")
        .await
        .unwrap();
    issuers::revoke_credential(&t.state, agency, revoked.id)
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = receiver(listener).await;
    let id = enqueue(&t, cred, &url, 3).await;
    let old = *t.state.keys.master.expose_secret();
    let old_id = t.state.keys.master.id().as_str().to_owned();
    let new = *random_key().unwrap();
    let signing = t.state.keys.signing.signing_key().to_bytes();
    let instance = |master: [u8; 32], previous: Vec<[u8; 32]>| {
        let config = (*t.state.config).clone();
        let clock = Arc::new(t.clock.clone());
        async move {
            let keys = Keyring {
                master: master_key_from_bytes(master).unwrap(),
                previous: previous
                    .into_iter()
                    .map(|k| master_key_from_bytes(k).unwrap())
                    .collect(),
                signing: PlatformSigningKey::from_bytes(signing),
            };
            congdanso::startup::build_state_with_keys(config, clock, keys)
                .await
                .unwrap()
        }
    };
    // Before rotation, an instance without the old key is not ready: the webhook key needs it.
    let only_new = instance(new, vec![]).await;
    assert_eq!(
        congdanso::keys::repo::unheld_master_keys_in_use(&only_new.db, &only_new.keys)
            .await
            .unwrap(),
        vec![old_id.clone()]
    );
    let rotated = instance(new, vec![old]).await;
    assert!(
        congdanso::keys::rotation::retire_master(&rotated, &old_id)
            .await
            .is_err(),
        "the webhook key still uses the old master key"
    );
    let report = congdanso::keys::rotation::rotate_master(&rotated)
        .await
        .unwrap();
    assert_eq!(report.rewrapped, 1, "the live credential's webhook key");
    assert!(report.unknown_key.is_empty());
    let row = congdanso::issuers::repo::find_credential(&t.state.db, cred)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.webhook_key_master_id.as_deref(),
        Some(rotated.keys.master.id().as_str())
    );
    congdanso::keys::rotation::retire_master(&rotated, &old_id)
        .await
        .unwrap();

    // Without the old key: ready, and the webhook is delivered signed with the same secret.
    let only_new = instance(new, vec![]).await;
    assert!(
        congdanso::keys::repo::unheld_master_keys_in_use(&only_new.db, &only_new.keys)
            .await
            .unwrap()
            .is_empty()
    );
    let deliverer = Deliverer::new(&only_new.config.outbox).unwrap();
    assert_eq!(deliverer.deliver_due(&only_new).await.unwrap(), 1);
    assert_eq!(status(&t, id).await.status, "delivered");
    let one = got.lock().unwrap()[0].clone();
    assert!(webhook::verify(
        secret.as_bytes(),
        &id.to_string(),
        header(&one, webhook::HEADER_TIMESTAMP),
        &one.1,
        header(&one, webhook::HEADER_SIGNATURE)
    ));
}
