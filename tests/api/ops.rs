//! Production guards: the master keys an instance starts with and what `/readyz` says about
//! them.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::keys::{Keyring, PlatformSigningKey, master_key_from_bytes, random_key};
use congdanso::startup::{StartupError, app, build_state_with_keys};
use congdanso::state::AppState;
use serde_json::Value;

use crate::accounts::register_citizen;
use crate::helpers::{Client, TestApp, spawn_app};

/// Another instance on the same database and blob store, with its own keys.
async fn instance(
    t: &TestApp,
    master: [u8; 32],
    previous: &[[u8; 32]],
) -> Result<AppState, StartupError> {
    let signing = *t.state.keys.signing.signing_key().as_bytes();
    build_state_with_keys(
        (*t.state.config).clone(),
        std::sync::Arc::new(t.clock.clone()),
        Keyring {
            master: master_key_from_bytes(master).unwrap(),
            previous: previous
                .iter()
                .map(|b| master_key_from_bytes(*b).unwrap())
                .collect(),
            signing: PlatformSigningKey::from_bytes(signing),
        },
    )
    .await
}

async fn readyz(state: &AppState) -> (StatusCode, Value) {
    let service = test::init_service(app(state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/readyz").to_request(),
    )
    .await;
    let status = response.status();
    (status, test::read_body_json(response).await)
}

#[actix_web::test]
async fn a_retired_master_key_cannot_start_and_a_missing_one_fails_readiness() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let (status, body) = readyz(&t.state).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["master_keys"]["status"], "ok");

    // Rotate from the first master key to a second one, then retire the first.
    let first = *t.state.keys.master.expose_secret();
    let first_id = t.state.keys.master.id().as_str().to_owned();
    let second = *random_key().unwrap();
    let rotated = instance(&t, second, &[first]).await.unwrap();
    let second_id = rotated.keys.master.id().as_str().to_owned();
    congdanso::keys::rotation::rotate_master(&rotated)
        .await
        .unwrap();
    congdanso::keys::rotation::retire_master(&rotated, &first_id)
        .await
        .unwrap();

    // Started again with the retired key: refused, naming the key and the variable.
    for previous in [vec![], vec![second]] {
        let error = instance(&t, first, &previous)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(&first_id), "{error}");
        assert!(error.contains("MASTER_KEY"), "{error}");
        assert!(error.contains("retired"), "{error}");
    }

    // Started with a key that wraps nothing: it starts, but is not ready, and says which key
    // it lacks.
    let stray = instance(&t, *random_key().unwrap(), &[]).await.unwrap();
    let (status, body) = readyz(&stray).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["master_keys"]["status"], "missing");
    assert_eq!(
        body["checks"]["master_keys"]["missing"],
        serde_json::json!([second_id])
    );
    assert_eq!(body["checks"]["database"]["status"], "ok");

    // The instance holding the current key is ready (the retired and the stray keys wrap
    // nothing).
    let (status, body) = readyz(&rotated).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["checks"]["master_keys"].get("missing").is_none());
}

// A plain test (`test` here is actix's macro): it runs the real binary.
#[::core::prelude::v1::test]
fn production_refuses_to_start_with_public_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let output = crate::verify::cli()
        .current_dir(dir.path())
        .arg("serve")
        .env("DATA_DIR", dir.path())
        .env("APP_ENV", "production")
        .env("PUBLIC_URL", "https://congdanso.example")
        .env("MASTER_KEY", key)
        .env("SIGNING_KEY", key)
        .stdout(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("METRICS_TOKEN"), "{stderr}");
}
