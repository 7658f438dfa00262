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
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
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
