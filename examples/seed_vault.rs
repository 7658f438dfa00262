//! Seeds one citizen's vault for the benchmarks (`bench/list_page.sh`, `bench/access_log.sh`)
//! through the library — real encryption, real blobs, real rows, much faster than uploads over
//! HTTP — optionally with access-log entries, and prints a logged-in session token for that
//! citizen.
//!
//! ```text
//! seed_vault <national id> <documents> [--log N] [--batch B] [--concurrency C] [--citizens K] [--grant FILE] [--qr N FILE]
//! ```
//! (settings from the environment, like `serve`)
//!
//! - `--log N`: N access-log entries for the citizen, appended with `audit::append` inside
//!   transactions of B entries (default 500), C transactions at a time (default 1): a mix of the
//!   citizen's own reads and changes, two counter clerks of one agency (certification with a
//!   request) and another agency's system (reads under a grant), some denied, spread over the
//!   last weeks, about the citizen's seeded documents.
//! - `--citizens K` (with `--log`): the N entries go round-robin to K citizens (this one and K-1
//!   more, registered here), so that concurrent appends contend on the one global tree head
//!   and not on a citizen's chain head.
//!
//! - `--grant FILE`: the documents are FILE's bytes, of type `household_registration`, and an
//!   agency (`BENCH-ASK`, API credential, purpose `bench-grant` covering that type's file) asks
//!   for all of them with `GRANT_MAX_USES` reads each; the citizen approves. Prints
//!   `agency_token=…`, `grant=…` and `documents=<id>,<id>,…` (bench/grant_read_vs_css.sh).
//!
//! - `--qr N FILE`: N fresh QR identity tokens of this citizen (`qr::service::issue`, valid
//!   `CONGDANSO_QR_TTL_SECONDS`), one per line in FILE, and a counter clerk's session: prints
//!   `staff_token=…` (bench/qr_verify_http.sh).
//!
//! Prints `token=<session token>` on the last line, and on stderr how long the appends took
//! (entries per second), which is the append throughput at that batch size and concurrency.

#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use congdanso::accounts::service::RegistrationInput;
use congdanso::audit::{Action, Actor, Authorization, Entry, Object, Outcome, Purpose};
use congdanso::auth::Role;
use congdanso::auth::session::{self, ClientInfo, Stage};
use congdanso::config::Config;
use congdanso::state::AppState;
use congdanso::vault::model::DocumentType;
use congdanso::vault::service::{self, NewDocument};
use entity::account;
use futures_util::StreamExt;
use sea_orm::TransactionTrait;
use uuid::Uuid;
use zeroize::Zeroizing;

const PASSWORD: &str = "Hoa-sen-no-giua-ho-2026";

struct Args {
    national_id: String,
    documents: usize,
    log: usize,
    batch: usize,
    concurrency: usize,
    citizens: usize,
    grant_file: Option<std::path::PathBuf>,
    qr: Option<(usize, std::path::PathBuf)>,
}

fn parse_args() -> Option<Args> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut parsed = Args {
        national_id: args.first()?.clone(),
        documents: args.get(1)?.parse().ok()?,
        log: 0,
        batch: 500,
        concurrency: 1,
        citizens: 1,
        grant_file: None,
        qr: None,
    };
    let mut rest = args.get(2..)?.iter();
    while let Some(flag) = rest.next() {
        if flag == "--grant" {
            parsed.grant_file = Some(rest.next()?.into());
            continue;
        }
        if flag == "--qr" {
            let n: usize = rest.next()?.parse().ok()?;
            parsed.qr = Some((n, rest.next()?.into()));
            continue;
        }
        let value: usize = rest.next()?.parse().ok()?;
        match flag.as_str() {
            "--log" => parsed.log = value,
            "--batch" => parsed.batch = value.max(1),
            "--concurrency" => parsed.concurrency = value.max(1),
            "--citizens" => parsed.citizens = value.clamp(1, 999),
            _ => return None,
        }
    }
    Some(parsed)
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        eprintln!(
            "usage: seed_vault <national id> <documents> [--log N] [--batch B] [--concurrency C] [--citizens K] [--grant FILE] [--qr N FILE]"
        );
        return ExitCode::from(2);
    };
    match actix_web::rt::System::new().block_on(seed(args)) {
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

async fn register(state: &AppState, national_id: String) -> Result<account::Model, String> {
    congdanso::accounts::service::register(
        state,
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
    .map_err(|e| format!("register: {e}"))
}

async fn seed(args: Args) -> Result<String, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let clock: congdanso::clock::SharedClock = Arc::new(congdanso::clock::SystemClock);
    let state = congdanso::startup::build_state(config, clock)
        .await
        .map_err(|e| e.to_string())?;
    let owner = register(&state, args.national_id.clone()).await?;
    let types = DocumentType::ALL;
    let grant_bytes = match &args.grant_file {
        Some(path) => Some(Bytes::from(
            std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => None,
    };
    let started = std::time::Instant::now();
    // Four at a time: the database and the disk stay busy without contention.
    let results: Vec<Result<(Uuid, DocumentType), String>> =
        futures_util::stream::iter(0..args.documents)
            .map(|i| {
                let state = state.clone();
                let owner = owner.clone();
                let grant_bytes = grant_bytes.clone();
                async move {
                    let (scan, doc_type) = match grant_bytes {
                        Some(bytes) => (bytes, DocumentType::HouseholdRegistration),
                        None => {
                            let mut scan = b"%PDF-1.7\n".to_vec();
                            scan.extend(std::iter::repeat_n(b'x', 200 + i % 300));
                            (Bytes::from(scan), types[i % types.len()])
                        }
                    };
                    service::store_document(
                        &state,
                        &owner,
                        NewDocument {
                            doc_type,
                            title: format!("Giấy tờ số {i} — bản chụp"),
                            file_name: format!("giay-to-{i}.pdf"),
                        },
                        None,
                        futures_util::stream::iter([Ok::<_, std::io::Error>(scan)]),
                    )
                    .await
                    .map(|doc| (doc.id, doc_type))
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
    let documents: Vec<(Uuid, DocumentType)> = results.into_iter().flatten().collect();
    eprintln!(
        "seed_vault: {} documents in {:.1} s",
        args.documents,
        started.elapsed().as_secs_f64()
    );
    if args.log > 0 {
        let mut citizens = vec![owner.id];
        for k in 1..args.citizens {
            // Same province, birth year and sex digits; the last three tell them apart.
            let prefix: String = args.national_id.chars().take(9).collect();
            citizens.push(register(&state, format!("{prefix}{k:03}")).await?.id);
        }
        let actors = Actors::new(&state).await?;
        seed_log(&state, &citizens, &documents, &actors, &args).await?;
    }
    if grant_bytes.is_some() {
        let ids: Vec<Uuid> = documents.iter().map(|(id, _)| *id).collect();
        seed_grant(&state, &owner, &args.national_id, &ids).await?;
    }
    if let Some((n, path)) = &args.qr {
        seed_qr(&state, &owner, *n, path).await?;
    }
    let new = session::start(&state, owner.id, Stage::Full, &ClientInfo::default())
        .await
        .map_err(|e| e.to_string())?;
    analyze(&state).await?;
    Ok(new.token)
}

/// Table statistics as PostgreSQL's autovacuum has them within a minute of a bulk load: a
/// benchmark that starts at once would otherwise measure plans made for empty tables (the log
/// page then sorts all 10,000 entries: 10 ms instead of 0.1). SQLite keeps no statistics here
/// (nothing runs ANALYZE in the product), so nothing is done there.
async fn analyze(state: &AppState) -> Result<(), String> {
    use sea_orm::ConnectionTrait;
    if state.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        state
            .db
            .execute_unprepared("ANALYZE")
            .await
            .map_err(|e| format!("ANALYZE: {e}"))?;
    }
    Ok(())
}

/// The agencies and people who appear in the log (made once per database, found again after).
struct Actors {
    counter_agency: Uuid,
    clerks: [Uuid; 2],
    requesting_agency: Uuid,
    credential: Uuid,
}

async fn agency(state: &AppState, code: &str, name: &str, kind: &str) -> Result<Uuid, String> {
    let found = congdanso::agencies::repo::find_by_code(&state.db, code)
        .await
        .map_err(|e| e.to_string())?;
    match found {
        Some(agency) => Ok(agency.id),
        None => congdanso::agencies::service::create_agency(state, code, name, kind)
            .await
            .map(|a| a.id)
            .map_err(|e| format!("agency {code}: {e}")),
    }
}

async fn clerk(state: &AppState, login: &str, name: &str, agency: Uuid) -> Result<Uuid, String> {
    let found = congdanso::accounts::repo::find_by_login(&state.db, login)
        .await
        .map_err(|e| e.to_string())?;
    match found {
        Some(account) => Ok(account.id),
        None => congdanso::accounts::service::create_staff_account(
            state,
            Role::CounterStaff,
            login,
            name,
            Some(agency),
        )
        .await
        .map(|(a, _)| a.id)
        .map_err(|e| format!("clerk {login}: {e}")),
    }
}

impl Actors {
    async fn new(state: &AppState) -> Result<Self, String> {
        let counter_agency = agency(
            state,
            "BENCH-MOTCUA-HC",
            "Bộ phận một cửa UBND quận Hải Châu",
            "district",
        )
        .await?;
        let requesting_agency = agency(
            state,
            "BENCH-SO-KHDT",
            "Sở Kế hoạch và Đầu tư TP Đà Nẵng",
            "department",
        )
        .await?;
        let clerks = [
            clerk(state, "bench.clerk1", "Phạm Văn Một Cửa", counter_agency).await?,
            clerk(state, "bench.clerk2", "Võ Thị Tiếp Nhận", counter_agency).await?,
        ];
        let (credential, _) =
            congdanso::issuers::service::create_credential(state, requesting_agency, "Cổng DVC")
                .await
                .map_err(|e| format!("credential: {e}"))?;
        Ok(Self {
            counter_agency,
            clerks,
            requesting_agency,
            credential: credential.id,
        })
    }

    /// The i-th entry of the mix, for `account`: about 60 % the citizen's own reads and
    /// changes, 25 % counter clerks (code entered, copies certified), 15 % an agency's system
    /// reading under a grant; one in 25 of the others' attempts denied.
    fn entry(&self, i: usize, account: Uuid, documents: &[(Uuid, DocumentType)]) -> Entry {
        let document =
            documents
                .get(i % documents.len().max(1))
                .map_or(Object::Vault, |&(id, doc_type)| Object::Document {
                    id,
                    doc_type,
                });
        let request = Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0000 + (i / 7) as u128);
        let grant = Uuid::from_u128(0x6a47_0000_0000_0000_0000_0000_0000_0000 + (i / 50) as u128);
        let outcome = if i % 25 == 13 {
            Outcome::Denied
        } else {
            Outcome::Allowed
        };
        let own = |action, object| Entry {
            account,
            actor: Actor::Citizen { account },
            action,
            object,
            purpose: None,
            authorization: Authorization::Owner,
            outcome: Outcome::Allowed,
        };
        match i % 20 {
            0..=4 => own(Action::DocumentOpen, document),
            5..=7 => own(Action::DocumentView, document),
            8..=9 => own(Action::DocumentsList, Object::Vault),
            10 => own(Action::ProfileRead, Object::Profile),
            11 => own(
                [
                    Action::CertificationCodeCreate,
                    Action::DocumentRename,
                    Action::LoginNewDevice,
                ][i / 20 % 3],
                if i / 20 % 3 == 2 {
                    Object::Account
                } else {
                    document
                },
            ),
            12..=16 => Entry {
                account,
                actor: Actor::Staff {
                    account: self.clerks[i % 2],
                    agency: self.counter_agency,
                },
                action: [
                    Action::CertificationCodeUse,
                    Action::DocumentView,
                    Action::DocumentOpen,
                    Action::DocumentCertify,
                    Action::DocumentFields,
                ][i % 20 - 12],
                object: document,
                purpose: Purpose::parse("Chứng thực bản sao từ bản chính tại bộ phận một cửa"),
                authorization: Authorization::Request(request),
                outcome,
            },
            _ => Entry {
                account,
                actor: Actor::Agency {
                    credential: self.credential,
                    agency: self.requesting_agency,
                },
                action: [
                    Action::DocumentFields,
                    Action::DocumentPackage,
                    Action::ProfileRead,
                ][i % 20 - 17],
                object: if i % 20 == 19 {
                    Object::Profile
                } else {
                    document
                },
                purpose: Purpose::parse("Xác minh hồ sơ đăng ký hộ kinh doanh số HKD-2026-00417"),
                authorization: Authorization::Grant(grant),
                outcome,
            },
        }
    }
}

async fn seed_log(
    state: &AppState,
    citizens: &[Uuid],
    documents: &[(Uuid, DocumentType)],
    actors: &Actors,
    args: &Args,
) -> Result<(), String> {
    let now = state.clock.now();
    let total = args.log;
    let batches: Vec<std::ops::Range<usize>> = (0..total)
        .step_by(args.batch)
        .map(|start| start..(start + args.batch).min(total))
        .collect();
    let started = std::time::Instant::now();
    let results: Vec<Result<(), String>> = futures_util::stream::iter(batches)
        .map(|range| async move {
            let txn = state.db.begin().await.map_err(|e| e.to_string())?;
            for i in range {
                let account = citizens[i % citizens.len()];
                // Oldest first, three minutes apart, ending now.
                let minutes = i64::try_from(total - i).unwrap_or(i64::MAX) * 3;
                let at = now - chrono::Duration::minutes(minutes);
                let entry = actors.entry(i / citizens.len(), account, documents);
                congdanso::audit::append(&txn, at, &entry)
                    .await
                    .map_err(|e| format!("append {i}: {e}"))?;
            }
            txn.commit().await.map_err(|e| e.to_string())
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "seed_vault: appended {} entries for {} citizen(s) in {seconds:.2} s ({:.0} entries/s; \
         {} per transaction, {} transactions at a time; {failed} transactions failed)",
        total - failed * args.batch.min(total),
        citizens.len(),
        total as f64 / seconds,
        args.batch,
        args.concurrency,
    );
    if let Some(Err(error)) = results.iter().find(|r| r.is_err()) {
        return Err(format!("{failed} log transactions failed, first: {error}"));
    }
    Ok(())
}

/// An agency's request for all `documents` (their files), approved by the citizen; prints what
/// the agency needs to read them.
async fn seed_grant(
    state: &AppState,
    owner: &account::Model,
    national_id: &str,
    documents: &[Uuid],
) -> Result<(), String> {
    let agency_id = agency(state, "BENCH-ASK", "UBND phường Đo Tốc Độ", "commune").await?;
    let agency = congdanso::agencies::service::get(state, agency_id)
        .await
        .map_err(|e| e.to_string())?;
    let (credential, token) =
        congdanso::issuers::service::create_credential(state, agency_id, "Bench")
            .await
            .map_err(|e| format!("credential: {e}"))?;
    let purpose: congdanso::purposes::service::NewPurpose =
        serde_json::from_value(serde_json::json!({
            "code": "bench-grant",
            "description_vi": "Đo tốc độ đọc theo sự đồng ý",
            "description_en": "Benchmark of consented reads",
            "legal_basis": "Luật Bảo vệ dữ liệu cá nhân 2025, Điều 9",
            "retention_days": 1,
            "scope": { "household_registration": { "file": true, "fields": [] } },
        }))
        .map_err(|e| e.to_string())?;
    congdanso::purposes::service::register(state, agency_id, &purpose)
        .await
        .map_err(|e| format!("purpose: {e}"))?;
    let body = serde_json::json!({
        "citizen_national_id": national_id,
        "purpose": "bench-grant",
        "explanation": "Đo tốc độ",
        "documents": [{ "type": "household_registration", "file": true }],
        "duration_days": 1,
        "max_uses": state.config.grants.max_uses,
    });
    let client = congdanso::issuers::api::AgencyClient {
        agency,
        credential: credential.id,
    };
    let (request, _) = congdanso::grants::service::create_request(
        state,
        &client,
        body.to_string().as_bytes(),
        None,
    )
    .await
    .map_err(|e| format!("request: {e}"))?;
    let choice = congdanso::grants::service::Choice {
        documents: [(0, documents.iter().copied().collect())].into(),
        optional_fields: Default::default(),
    };
    let grant = congdanso::grants::service::approve(state, owner, request.id, &choice)
        .await
        .map_err(|e| format!("approve: {e}"))?;
    println!("agency_token={}", token.as_str());
    println!("grant={}", grant.id);
    let ids: Vec<String> = documents.iter().map(Uuid::to_string).collect();
    println!("documents={}", ids.join(","));
    Ok(())
}

/// `n` fresh tokens of `owner` into `path`, and a clerk's session (printed).
async fn seed_qr(
    state: &AppState,
    owner: &account::Model,
    n: usize,
    path: &std::path::Path,
) -> Result<(), String> {
    let actors = Actors::new(state).await?;
    // The counter accepts tokens of active accounts only: enrol the authenticator as the app
    // would, with the code it shows now.
    let secret =
        congdanso::accounts::service::totp_secret(state, owner).map_err(|e| e.to_string())?;
    let code = congdanso::accounts::totp::code_at(&secret, state.clock.now().timestamp() / 30);
    congdanso::accounts::service::confirm_enrolment(state, owner, &code, None)
        .await
        .map_err(|e| format!("enrolment: {e}"))?;
    let started = std::time::Instant::now();
    let mut lines = String::with_capacity(n * 180);
    for _ in 0..n {
        let issued = congdanso::qr::service::issue(state, owner)
            .await
            .map_err(|e| format!("qr token: {e}"))?;
        lines.push_str(&issued.text);
        lines.push('\n');
    }
    std::fs::write(path, lines).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "seed_vault: {n} QR tokens in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let clerk = session::start(state, actors.clerks[0], Stage::Full, &ClientInfo::default())
        .await
        .map_err(|e| e.to_string())?;
    println!("staff_token={}", clerk.token);
    Ok(())
}
