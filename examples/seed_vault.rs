//! Seeds one citizen's vault with many documents for `bench/list_page.sh`, through the library
//! (real encryption, real blobs, real rows), much faster than uploads over HTTP, and prints a
//! logged-in session token for that citizen.
//!
//! ```text
//! seed_vault <national id> <documents>     (settings from the environment, like `serve`)
//! ```
//! Prints `token=<session token>` on the last line.

#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use congdanso::accounts::service::RegistrationInput;
use congdanso::auth::session::{self, ClientInfo, Stage};
use congdanso::config::Config;
use congdanso::vault::model::DocumentType;
use congdanso::vault::service::{self, NewDocument};
use futures_util::StreamExt;
use zeroize::Zeroizing;

const PASSWORD: &str = "Hoa-sen-no-giua-ho-2026";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(national_id), Some(count)) = (
        args.get(1).cloned(),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: seed_vault <national id> <documents>");
        return ExitCode::from(2);
    };
    match actix_web::rt::System::new().block_on(seed(national_id, count)) {
        Ok(token) => {
            println!("token={token}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("seed_vault: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn seed(national_id: String, count: usize) -> Result<String, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let clock: congdanso::clock::SharedClock = Arc::new(congdanso::clock::SystemClock);
    let state = congdanso::startup::build_state(config, clock)
        .await
        .map_err(|e| e.to_string())?;
    let owner = congdanso::accounts::service::register(
        &state,
        RegistrationInput {
            national_id,
            full_name: "Nguyễn Văn Thử".into(),
            birth_date: "1990-01-15".into(),
            phone: "0905123456".into(),
            email: String::new(),
            password: Zeroizing::new(PASSWORD.into()),
            password_confirm: Zeroizing::new(PASSWORD.into()),
        },
    )
    .await
    .map_err(|e| format!("register: {e}"))?;
    let types = DocumentType::ALL;
    let started = std::time::Instant::now();
    // Four at a time: the database and the disk stay busy without contention.
    let results: Vec<Result<(), String>> = futures_util::stream::iter(0..count)
        .map(|i| {
            let state = state.clone();
            let owner = owner.clone();
            async move {
                let mut scan = b"%PDF-1.7\n".to_vec();
                scan.extend(std::iter::repeat_n(b'x', 200 + i % 300));
                service::store_document(
                    &state,
                    &owner,
                    NewDocument {
                        doc_type: types[i % types.len()],
                        title: format!("Giấy tờ số {i} — bản chụp"),
                        file_name: format!("giay-to-{i}.pdf"),
                    },
                    None,
                    futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(scan))]),
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(error)) = results.iter().find(|r| r.is_err()) {
        return Err(format!("{failed} documents failed, first: {error}"));
    }
    eprintln!(
        "seed_vault: {count} documents in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let new = session::start(&state, owner.id, Stage::Full, &ClientInfo::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(new.token)
}
