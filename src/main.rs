//! The `congdanso` command: parse the command line, load configuration, start logging, run the
//! chosen subcommand.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use congdanso::config::Config;
use congdanso::startup::Application;

#[derive(Parser)]
#[command(
    name = "congdanso",
    version,
    about = "Công dân số — personal data vault"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (migrates the database first).
    Serve {
        /// Development only: create demo accounts (printed at start) if they do not exist.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The procedure catalogue agencies can ask "for procedure X" by.
    Catalogue {
        #[command(subcommand)]
        command: CatalogueCommand,
    },
    /// Agencies' purposes: what each may ask citizens for (operators).
    Purposes {
        #[command(subcommand)]
        command: PurposesCommand,
    },
    /// Maintenance tasks (the server also runs them hourly).
    Maintenance {
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
    /// Tools an agency runs on its own machine (no server or database needed).
    Agency {
        #[command(subcommand)]
        command: AgencyCommand,
    },
    /// Check a verification package (from a citizen's document page) against the trust list.
    /// Works offline from the cached trust list; exit status 0 = valid, 1 = not valid, 2 = could
    /// not check. The platform key is pinned by fingerprint on first use (see docs/api.md).
    Verify {
        /// The package file (`….congdanso.tar`), or a signed consent record, access receipt or
        /// field cut (JSON).
        package: std::path::PathBuf,
        /// Fetch the trust list and platform keys from this server first (https, or http to a
        /// loopback address); they are cached once they check out against the pinned key.
        #[arg(long)]
        server: Option<String>,
        /// Fingerprint of a platform key to trust (SHA-256 of the key, 64 hex digits, as the
        /// platform publishes it); repeat for older keys. The trust list must be signed by one.
        #[arg(long = "pin", env = "CONGDANSO_PLATFORM_PIN", value_delimiter = ',')]
        pin: Vec<String>,
        /// Accept a platform key that replaces the pinned one (after a rotation the platform
        /// announced with this fingerprint).
        #[arg(long)]
        accept_new_key: Vec<String>,
        /// With no key pinned yet, trust the key the lists are signed with, unchecked (its
        /// fingerprint is printed). Without it, a terminal asks; anything else is refused.
        #[arg(long)]
        trust_on_first_use: bool,
        /// A trust list file to use instead of the cached one.
        #[arg(long)]
        trust_list: Option<std::path::PathBuf>,
        /// A platform keys file to use instead of the pinned keys: the trust anchor of this
        /// run, given by hand (nothing is pinned).
        #[arg(long)]
        platform_keys: Option<std::path::PathBuf>,
        /// Where fetched lists and the pinned key are kept (default: $XDG_CACHE_HOME/congdanso
        /// or ~/.cache/congdanso).
        #[arg(long)]
        cache_dir: Option<std::path::PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Platform administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The tamper-evident access log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// QR identity tokens (no server or database needed).
    Qr {
        #[command(subcommand)]
        command: QrCommand,
    },
    /// Print the OpenAPI 3.1 document of the agency API (what `GET /api/v1/openapi.json`
    /// serves), e.g. to generate a client; no server or database needed.
    Openapi,
}

#[derive(Subcommand)]
enum QrCommand {
    /// Check a QR identity token (`CDS1:…`) offline with only published platform keys: format,
    /// signature, validity time (±30 s). Whether it was already used is known only to the
    /// server. Exit status 0 = valid, 1 = not valid, 2 = could not check, 3 = status unknown
    /// (a printed card, v2, without a good and fresh `--status-list`).
    Verify {
        /// The token's text, as a scanner reads it.
        token: String,
        /// The platform's Ed25519 public key (base64); may be repeated.
        #[arg(long)]
        platform_key: Vec<String>,
        /// A platform keys file (`/.well-known/congdanso/platform-keys.json`) instead of the
        /// keys `congdanso verify` pinned.
        #[arg(long)]
        platform_keys: Option<std::path::PathBuf>,
        /// Where `congdanso verify` keeps the pinned platform keys.
        #[arg(long)]
        cache_dir: Option<std::path::PathBuf>,
        /// For a printed card: the signed status list a verifier cached
        /// (`/.well-known/congdanso/qr/status`). Checked with the same platform keys; a list
        /// older than its `max_age_seconds` (or not valid) leaves the status unknown.
        #[arg(long)]
        status_list: Option<std::path::PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Without --export: check the whole stored log (every chain, the tree, the stored
    /// checkpoints) and name the first bad entry. With --export: check a citizen's export
    /// offline, with only the platform's public key. Exit status 0 = valid, 1 = not valid,
    /// 2 = could not check.
    Verify {
        /// A citizen's export file (no server, no database needed).
        #[arg(long)]
        export: Option<std::path::PathBuf>,
        /// The platform's Ed25519 public key (base64); may be repeated.
        #[arg(long)]
        platform_key: Vec<String>,
        /// A platform keys file (`/.well-known/congdanso/platform-keys.json`) instead of the
        /// keys `congdanso verify` pinned.
        #[arg(long)]
        platform_keys: Option<std::path::PathBuf>,
        /// Where `congdanso verify` keeps the pinned platform keys.
        #[arg(long)]
        cache_dir: Option<std::path::PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a citizen's access log with its proofs to a file (publishes a checkpoint first).
    Export {
        /// The citizen's account id.
        #[arg(long)]
        account: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Publish a checkpoint of the log now, if it grew (the server does so every minute).
    Checkpoint,
}

#[derive(Subcommand)]
enum AgencyCommand {
    /// Make an Ed25519 key pair: the private key goes to a new file readable only by its owner,
    /// the public key and its id are printed for the operator to register. The platform never
    /// sees the private key.
    Keygen {
        /// File to create (refuses to overwrite).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Sign a document with the agency's key file and push it into a citizen's vault. The API
    /// token is read from the environment variable CONGDANSO_TOKEN (never from the command
    /// line, where other users could see it).
    Issue {
        /// Base URL of the platform, e.g. https://congdanso.example.
        #[arg(long, env = "CONGDANSO_SERVER")]
        server: Option<String>,
        /// The agency's key file (from `agency keygen`).
        #[arg(long)]
        key: std::path::PathBuf,
        /// The citizen's 12-digit national ID number.
        #[arg(long)]
        citizen: String,
        /// Catalogue type: cccd, passport, driving_licence, birth_certificate,
        /// health_insurance, household_registration, other.
        #[arg(long = "type")]
        doc_type: String,
        /// JSON object with the type's fields (see docs/api.md).
        #[arg(long)]
        fields: std::path::PathBuf,
        /// The file to attach (PDF, JPEG, PNG, WebP or HEIC).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// End of the document's validity: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.
        #[arg(long)]
        valid_until: Option<String>,
        /// Title shown in the citizen's vault (default: type and number).
        #[arg(long)]
        title: Option<String>,
        /// The agency's code (default: asked from the server with the token).
        #[arg(long)]
        issuer: Option<String>,
        /// Print the payload, its canonical bytes and the signature; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum CatalogueCommand {
    /// Import procedures from a JSON file (an array; see catalogue/procedures.json), all or
    /// nothing, upserting by `code`.
    Import {
        /// The JSON file.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum PurposesCommand {
    /// Register (or replace) a purpose of an agency from a JSON file: `code`,
    /// `description_vi`, `description_en`, `legal_basis`, `retention_days`, `scope`
    /// (document type → `{"file": bool, "fields": [...]}`).
    Register {
        /// The agency's code.
        #[arg(long)]
        agency: String,
        /// The JSON file.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum MaintenanceCommand {
    /// Remove orphan blobs of interrupted uploads, finished sessions and stale throttles.
    Sweep,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a platform operator and print a one-time initial password. The operator logs in at
    /// /staff/login and must set up TOTP before anything else.
    CreateOperator {
        /// User name (lowercase letters, digits, `.`, `_`, `-`; 3-32 characters).
        #[arg(long)]
        login: String,
        /// Full name shown in the interface.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a fresh MASTER_KEY and SIGNING_KEY for a production deployment.
    Generate,
    /// Rewrap every citizen's data key under the current MASTER_KEY (old keys in
    /// MASTER_KEY_PREVIOUS). Touches no blob; safe to interrupt and run again.
    RotateMaster,
    /// Mark an old master key retired; refused while any data key still uses it.
    RetireMaster {
        #[arg(long)]
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Agency {
        command: AgencyCommand::Keygen { out },
    } = &cli.command
    {
        return agency_keygen(out);
    }
    if let Command::Audit {
        command:
            AuditCommand::Verify {
                export: Some(export),
                platform_key,
                platform_keys,
                cache_dir,
                json,
            },
    } = &cli.command
    {
        return audit_verify_export(
            export,
            platform_key,
            platform_keys.as_deref(),
            cache_dir.as_deref(),
            *json,
        );
    }
    if let Command::Qr {
        command:
            QrCommand::Verify {
                token,
                platform_key,
                platform_keys,
                cache_dir,
                status_list,
                json,
            },
    } = &cli.command
    {
        return qr_verify(
            token,
            platform_key,
            platform_keys.as_deref(),
            cache_dir.as_deref(),
            status_list.as_deref(),
            *json,
        );
    }
    if let Command::Agency {
        command: AgencyCommand::Issue { .. },
    }
    | Command::Verify { .. } = &cli.command
    {
        // Client tools: no configuration, no database.
        let command = cli.command;
        return match actix_web::rt::System::new().block_on(client_tool(command)) {
            Ok(code) => code,
            Err(message) => {
                // Messages may quote a server or a package: printed terminal-safe.
                eprintln!(
                    "congdanso: {}",
                    congdanso::verify::offline::terminal_safe_lines(&message)
                );
                ExitCode::from(2)
            }
        };
    }
    if let Command::Openapi = cli.command {
        use std::io::Write;
        // A closed pipe (`| head`) is not a crash.
        let mut out = std::io::stdout().lock();
        return match writeln!(out, "{}", congdanso::openapi::DOCUMENT.as_str()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    if let Command::Keys {
        command: KeysCommand::Generate,
    } = cli.command
    {
        return generate_keys();
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("congdanso: {error}");
            eprintln!("See .env.example for every setting.");
            return ExitCode::from(2);
        }
    };
    congdanso::telemetry::init(config.log_format, &config.log_filter);
    let result = actix_web::rt::System::new().block_on(async move {
        match cli.command {
            Command::Serve { demo } => serve(config, demo).await,
            Command::Migrate => migrate(config).await,
            Command::Maintenance {
                command: MaintenanceCommand::Sweep,
            } => sweep(config).await,
            Command::Admin {
                command: AdminCommand::CreateOperator { login, name },
            } => create_operator(config, &login, &name).await,
            Command::Keys {
                command: KeysCommand::RotateMaster,
            } => rotate_master(config).await,
            Command::Keys {
                command: KeysCommand::RetireMaster { id },
            } => retire_master(config, &id).await,
            Command::Audit { command } => audit(config, command).await,
            Command::Catalogue {
                command: CatalogueCommand::Import { file },
            } => import_catalogue(config, &file).await,
            Command::Purposes {
                command: PurposesCommand::Register { agency, file },
            } => register_purpose(config, &agency, &file).await,
            Command::Keys {
                command: KeysCommand::Generate,
            }
            | Command::Agency { .. }
            | Command::Openapi
            | Command::Qr { .. }
            | Command::Verify { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("congdanso: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, demo: bool) -> Result<(), String> {
    let state = state_for_tools(config).await?;
    if demo {
        let accounts = congdanso::demo::seed(&state)
            .await
            .map_err(|e| format!("demo data: {e} (demo data is for APP_ENV=development only)"))?;
        eprintln!(
            "congdanso: demo accounts (password `{}`; each sets up TOTP at first login):",
            congdanso::demo::DEMO_PASSWORD
        );
        for account in accounts {
            eprintln!(
                "  {:<14} {:<14} log in at {}",
                account.login,
                account.role.as_str(),
                account.login_page
            );
        }
    }
    // What verifiers pin (`congdanso verify --pin`): publish it where citizens and agencies
    // can compare it.
    eprintln!(
        "congdanso: platform key {} fingerprint {}",
        state.keys.signing.id(),
        congdanso::verify::offline::fingerprint(&state.keys.signing.verifying_key())
    );
    let app = Application::from_state(state).map_err(|e| e.to_string())?;
    eprintln!("congdanso: listening on http://{}", app.local_addr());
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn migrate(config: Config) -> Result<(), String> {
    let db = congdanso::db::connect(&config.database_url, 1)
        .await
        .map_err(|e| format!("database: {e}"))?;
    congdanso::db::migrate(&db)
        .await
        .map_err(|e| format!("migration: {e}"))?;
    let applied = congdanso::db::applied_migrations(&db)
        .await
        .map_err(|e| format!("database: {e}"))?;
    println!(
        "{} migrations applied; latest: {}",
        applied.len(),
        applied.last().map_or("none", |s| s)
    );
    Ok(())
}

/// The application state on the real clock (for the server and the command-line tools).
async fn state_for_tools(config: Config) -> Result<congdanso::state::AppState, String> {
    let clock: congdanso::clock::SharedClock = std::sync::Arc::new(congdanso::clock::SystemClock);
    congdanso::startup::build_state(config, clock)
        .await
        .map_err(|e| e.to_string())
}

async fn rotate_master(config: Config) -> Result<(), String> {
    let state = state_for_tools(config).await?;
    let report = congdanso::keys::rotation::rotate_master(&state)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "rewrapped {} data keys under {}",
        report.rewrapped,
        state.keys.master.id().as_str()
    );
    if !report.unknown_key.is_empty() {
        return Err(format!(
            "some data keys are wrapped by master keys not configured in MASTER_KEY_PREVIOUS: {}",
            report.unknown_key.join(", ")
        ));
    }
    Ok(())
}

async fn retire_master(config: Config, id: &str) -> Result<(), String> {
    let state = state_for_tools(config).await?;
    congdanso::keys::rotation::retire_master(&state, id)
        .await
        .map_err(|e| match e {
            congdanso::error::AppError::InvalidInput { message, .. } => message,
            congdanso::error::AppError::NotFound => format!("no active master key {id}"),
            other => other.to_string(),
        })?;
    println!("master key {id} retired");
    Ok(())
}

/// `audit verify` (server side), `audit export`, `audit checkpoint`.
async fn audit(config: Config, command: AuditCommand) -> Result<(), String> {
    use congdanso::audit::service;
    let state = state_for_tools(config).await?;
    match command {
        AuditCommand::Verify { json, .. } => {
            let report = service::verify_database(&state.db)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                );
            } else {
                println!(
                    "{} entries, {} chains, tree of {} leaves, {} checkpoints",
                    report.entries, report.chains, report.tree_size, report.checkpoints
                );
                if report.pending > 0 {
                    println!(
                        "{} entries wait to be sequenced (oldest {}); the server sequences them within seconds",
                        report.pending,
                        report
                            .oldest_pending
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default()
                    );
                }
                for problem in &report.problems {
                    println!("BAD {problem}");
                }
            }
            match report.problems.first() {
                None => {
                    println!("access log valid");
                    Ok(())
                }
                Some(first) => Err(format!("access log NOT valid: first problem: {first}")),
            }
        }
        AuditCommand::Export { account, out } => {
            let account = uuid::Uuid::parse_str(&account)
                .map_err(|_| format!("--account: not an account id: {account}"))?;
            service::publish_checkpoint(&state)
                .await
                .map_err(|e| e.to_string())?;
            let export = service::export_for_citizen(&state.db, account)
                .await
                .map_err(|e| e.to_string())?;
            let bytes = export.to_bytes().map_err(|e| e.to_string())?;
            std::fs::write(&out, bytes).map_err(|e| format!("{}: {e}", out.display()))?;
            println!(
                "{} entries written to {}",
                export.entries.len(),
                out.display()
            );
            Ok(())
        }
        AuditCommand::Checkpoint => {
            match service::publish_checkpoint(&state)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(c) => println!("checkpoint of {} leaves published", c.tree_size),
                None => println!("the log did not grow; no new checkpoint"),
            }
            Ok(())
        }
    }
}

/// `audit verify --export`: offline, with only the platform's public key(s).
fn audit_verify_export(
    export: &std::path::Path,
    platform_key: &[String],
    platform_keys: Option<&std::path::Path>,
    cache_dir: Option<&std::path::Path>,
    json: bool,
) -> ExitCode {
    use congdanso::audit::export;
    let keys = match audit_keys(platform_key, platform_keys, cache_dir) {
        Ok(keys) => keys,
        Err(message) => {
            eprintln!("congdanso: {message}");
            return ExitCode::from(2);
        }
    };
    let bytes = match std::fs::read(export) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("congdanso: {}: {e}", export.display());
            return ExitCode::from(2);
        }
    };
    match export::verify(&bytes, &keys) {
        Ok(verified) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "valid": true, "result": verified })
                );
            } else {
                println!(
                    "access log export valid: {} entries ({} erased) of citizen {}, {} in the checkpoint of {} leaves, {} newer; consistent with the checkpoint of {} leaves",
                    verified.entries,
                    verified.erased,
                    verified.account,
                    verified.included,
                    verified.latest_checkpoint,
                    verified.pending,
                    verified.first_checkpoint
                );
            }
            ExitCode::SUCCESS
        }
        Err(problem) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "valid": false, "seq": problem.seq, "problem": problem.what })
                );
            } else {
                println!("access log export NOT valid: {problem}");
            }
            ExitCode::from(1)
        }
    }
}

/// `qr verify`: a QR identity token checked offline with only the platform's public key(s).
fn qr_verify(
    text: &str,
    platform_key: &[String],
    platform_keys: Option<&std::path::Path>,
    cache_dir: Option<&std::path::Path>,
    status_list: Option<&std::path::Path>,
    json: bool,
) -> ExitCode {
    use congdanso::clock::Clock;
    use congdanso::qr::{service, token};
    let keys = match audit_keys(platform_key, platform_keys, cache_dir) {
        Ok(keys) => keys,
        Err(message) => {
            eprintln!("congdanso: {message}");
            return ExitCode::from(2);
        }
    };
    let by_id: Vec<([u8; token::KEY_ID_LEN], ed25519_dalek::VerifyingKey)> = keys
        .into_iter()
        .filter_map(|key| {
            token::key_id_bytes(&congdanso::keys::signing_key_id(&key)).map(|id| (id, key))
        })
        .collect();
    let now = congdanso::clock::SystemClock.now();
    let outcome = service::check_offline(
        text,
        |id| by_id.iter().find(|(k, _)| k == id).map(|(_, key)| *key),
        now,
    );
    match outcome {
        Ok(parsed) if parsed.claims.version == token::VERSION_CARD => {
            // A printed card can be revoked; without a good, fresh signed status list its
            // status is not known here, and is never reported as valid.
            let claims = parsed.claims;
            let keys: Vec<ed25519_dalek::VerifyingKey> = by_id.iter().map(|(_, k)| *k).collect();
            let status =
                status_list.map(|path| card_status(path, &keys, claims.status_index(), now));
            match status {
                Some(Ok(revoked)) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({
                                "valid": !revoked,
                                "code": if revoked { Some(service::Failure::Revoked.code()) } else { None },
                                "version": claims.version,
                                "key_id": token::key_id_string(&claims.key_id),
                                "status_index": claims.status_index(),
                            })
                        );
                    } else if revoked {
                        println!(
                            "QR card NOT valid: {} (status index {} is set in the signed status list)",
                            service::Failure::Revoked.code(),
                            claims.status_index()
                        );
                    } else {
                        println!(
                            "QR card valid: signed by platform key {}, not revoked in the signed status list (status index {}); the person must still say the card's one-time code at the counter",
                            token::key_id_string(&claims.key_id),
                            claims.status_index()
                        );
                    }
                    return if revoked {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    };
                }
                Some(Err(why)) if !json => println!("status list not usable: {why}"),
                Some(Err(_)) | None => {}
            }
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "valid": null,
                        "code": service::Failure::StatusUnknown.code(),
                        "version": claims.version,
                        "key_id": token::key_id_string(&claims.key_id),
                        "status_index": claims.status_index(),
                    })
                );
            } else {
                println!(
                    "QR card status UNKNOWN: signature by platform key {} is good, but whether card (status index {}) was revoked is not known without a status list; neither valid nor revoked",
                    token::key_id_string(&claims.key_id),
                    claims.status_index()
                );
            }
            ExitCode::from(3)
        }
        Ok(parsed) => {
            let claims = parsed.claims;
            let at = |t: i64| {
                chrono::DateTime::from_timestamp(t, 0)
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default()
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "valid": true,
                        "version": claims.version,
                        "key_id": token::key_id_string(&claims.key_id),
                        "handle": hex::encode(claims.handle),
                        "issued_at": at(claims.issued_at),
                        "expires_at": at(claims.expires_at),
                        "single_use": "not checked offline",
                    })
                );
            } else {
                println!(
                    "QR token valid: signed by platform key {}, handle {}, issued {}, expires {} (whether it was already used is known only to the server)",
                    token::key_id_string(&claims.key_id),
                    hex::encode(claims.handle),
                    at(claims.issued_at),
                    at(claims.expires_at)
                );
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "valid": false, "code": failure.code() })
                );
            } else {
                println!("QR token NOT valid: {}", failure.code());
            }
            ExitCode::from(1)
        }
    }
}

/// Whether a card's status index is set in the status list at `path`: `Err` (status unknown)
/// if the list is unreadable, signed by none of `keys`, or older than its own max age (or
/// dated in the future beyond the clock-skew allowance).
fn card_status(
    path: &std::path::Path,
    keys: &[ed25519_dalek::VerifyingKey],
    index: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, String> {
    use std::io::Read;
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .take(congdanso::qr::status::MAX_LIST_BYTES)
        .read_to_end(&mut raw)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let document: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|_| "the status list is not JSON".to_owned())?;
    let checked = keys
        .iter()
        .find_map(|key| congdanso::qr::status::check(&document, key).ok())
        .ok_or("the status list is not signed by a platform key")?;
    let age = now - checked.issued_at;
    if age > chrono::Duration::seconds(checked.max_age_seconds) {
        return Err(format!(
            "the status list is {} minutes old, more than its {} allowed",
            age.num_minutes(),
            checked.max_age_seconds / 60
        ));
    }
    if age < -chrono::Duration::seconds(30) {
        return Err("the status list is dated in the future".into());
    }
    Ok(congdanso::qr::status::is_set(&checked.bits, index))
}

/// The platform keys an export is checked with: `--platform-key`, else a platform keys file,
/// else the one cached by `congdanso verify --server`.
fn audit_keys(
    platform_key: &[String],
    platform_keys: Option<&std::path::Path>,
    cache_dir: Option<&std::path::Path>,
) -> Result<Vec<ed25519_dalek::VerifyingKey>, String> {
    use congdanso::verify::offline;
    if !platform_key.is_empty() {
        return platform_key
            .iter()
            .map(|k| {
                congdanso::crypto::sign::parse_public_key(k)
                    .map_err(|_| format!("--platform-key: not a base64 Ed25519 key: {k}"))
            })
            .collect();
    }
    let path = match platform_keys {
        Some(path) => path.to_owned(),
        None => {
            // The keys `congdanso verify` pinned, never its unpinned download cache.
            let cache = cache_dir
                .map(std::path::Path::to_owned)
                .or_else(offline::default_cache_dir)
                .ok_or("no cache folder: pass --platform-key or --platform-keys")?;
            let pinned = offline::pinned_keys(&cache)?;
            if pinned.is_empty() {
                return Err(format!(
                    "no platform key pinned in {} (pass --platform-key, or pin one with `congdanso verify --server URL --pin FINGERPRINT`)",
                    cache.display()
                ));
            }
            return Ok(pinned);
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (pass --platform-key, or fetch the keys once with `congdanso verify --server URL`)",
            path.display()
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON ({e})", path.display()))?;
    let keys = congdanso::verify::PlatformKeys::from_json(&value)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let keys: Vec<_> = keys
        .keys
        .iter()
        .filter_map(|k| keys.key(&k.key_id))
        .collect();
    if keys.is_empty() {
        return Err(format!("{}: no usable platform key", path.display()));
    }
    Ok(keys)
}

async fn import_catalogue(config: Config, file: &std::path::Path) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let state = state_for_tools(config).await?;
    let n = congdanso::purposes::service::import_procedures(&state, &bytes)
        .await
        .map_err(|e| format!("{}: {}", file.display(), e.api_message()))?;
    println!("imported {n} procedures");
    Ok(())
}

async fn register_purpose(
    config: Config,
    agency: &str,
    file: &std::path::Path,
) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let input: congdanso::purposes::service::NewPurpose =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let state = state_for_tools(config).await?;
    let agency = congdanso::agencies::repo::find_by_code(&state.db, agency)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no agency with code {agency}"))?;
    congdanso::purposes::service::register(&state, agency.id, &input)
        .await
        .map_err(|e| format!("{}: {}", file.display(), e.api_message()))?;
    println!("registered purpose {} for {}", input.code, agency.code);
    Ok(())
}

async fn sweep(config: Config) -> Result<(), String> {
    let state = state_for_tools(config).await?;
    let report = congdanso::housekeeping::run_once(&state)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "removed {} orphan blobs, {} finished sessions, {} stale throttle counters, {} expired certification codes",
        report.orphan_blobs, report.sessions, report.throttles, report.certification_codes
    );
    Ok(())
}

async fn create_operator(config: Config, login: &str, name: &str) -> Result<(), String> {
    let state = state_for_tools(config).await?;
    let (account, initial) = congdanso::accounts::service::create_staff_account(
        &state,
        congdanso::auth::Role::Operator,
        login,
        name,
        None,
    )
    .await
    .map_err(|e| match e {
        congdanso::error::AppError::InvalidInput { fields, .. } => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.code))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    })?;
    println!("Operator `{}` created.", account.login);
    println!("Initial password (shown once): {}", initial.as_str());
    println!("Log in at /staff/login and set up the authenticator app.");
    Ok(())
}

fn agency_keygen(out: &std::path::Path) -> ExitCode {
    match congdanso::issuers::keyfile::generate(out) {
        Ok(key) => {
            println!("Private key written to {} (keep it secret).", out.display());
            println!("key_id:     {}", key.key_id);
            println!("public_key: {}", key.public_key);
            println!("Give the public key to the platform operator to register.");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("congdanso: {error}");
            ExitCode::FAILURE
        }
    }
}

fn generate_keys() -> ExitCode {
    match (congdanso::keys::random_key(), congdanso::keys::random_key()) {
        (Ok(master), Ok(signing)) => {
            println!("# Store these as secrets; anyone holding MASTER_KEY can read every vault.");
            println!(
                "MASTER_KEY={}",
                congdanso::keys::encode_key(&master).as_str()
            );
            println!(
                "SIGNING_KEY={}",
                congdanso::keys::encode_key(&signing).as_str()
            );
            let platform = congdanso::keys::PlatformSigningKey::from_bytes(*signing);
            println!(
                "# Publish this fingerprint of the signing key: verifiers pin it with `congdanso verify --pin`."
            );
            println!(
                "# {} fingerprint {}",
                platform.id(),
                congdanso::verify::offline::fingerprint(&platform.verifying_key())
            );
            ExitCode::SUCCESS
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("congdanso: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `agency issue` and `verify`: tools that run on other machines than the server.
async fn client_tool(command: Command) -> Result<ExitCode, String> {
    use congdanso::verify::offline;
    let now = chrono::Utc::now();
    match command {
        Command::Verify {
            package,
            server,
            pin,
            accept_new_key,
            trust_on_first_use,
            trust_list,
            platform_keys,
            cache_dir,
            json,
        } => {
            let cache = cache_dir.or_else(offline::default_cache_dir);
            let fingerprints = |values: Vec<String>| {
                values
                    .iter()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| offline::parse_fingerprint(v))
                    .collect::<Result<Vec<_>, _>>()
            };
            let options = offline::TrustOptions {
                pins: fingerprints(pin)?,
                accept_new: fingerprints(accept_new_key)?,
                trust_on_first_use,
            };
            let sources = offline::Sources {
                server: server.as_deref(),
                trust_list: trust_list.as_deref(),
                platform_keys: platform_keys.as_deref(),
                cache: cache.as_deref(),
            };
            // A person at a terminal may confirm a first-use key; nobody else is asked.
            let mut ask = |text: &str| {
                use std::io::Write;
                eprint!("{}", offline::terminal_safe_lines(text));
                eprint!("Trust these platform keys? [y/N] ");
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer).is_ok()
                    && matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
            };
            let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
            let confirm: Option<offline::Confirm<'_>> =
                if interactive { Some(&mut ask) } else { None };
            let anchors = offline::load_trusted(sources, &options, now, confirm).await?;
            if offline::is_stale(&anchors.trust, now) {
                eprintln!(
                    "congdanso: warning: the trust list is older than {} days; fetch a fresh one with --server to see recent revocations",
                    offline::STALE_AFTER_DAYS
                );
            }
            if offline::is_json_file(&package) {
                let report = offline::verify_statement(&package, &anchors.platform)?;
                if json {
                    println!("{}", offline::json_terminal_safe(&report)?);
                } else {
                    print!("{}", offline::describe_statement(&report)?);
                }
                return Ok(if report.valid {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                });
            }
            let report = offline::verify_package(&package, &anchors, now).await?;
            if json {
                println!("{}", offline::json_terminal_safe(&report)?);
            } else {
                print!("{}", offline::describe(&report));
            }
            Ok(if report.valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Agency {
            command:
                AgencyCommand::Issue {
                    server,
                    key,
                    citizen,
                    doc_type,
                    fields,
                    file,
                    valid_until,
                    title,
                    issuer,
                    dry_run,
                },
        } => {
            use congdanso::issuers::client;
            let args = client::IssueArgs {
                key,
                citizen,
                doc_type,
                fields,
                file,
                valid_until,
                title,
                issuer,
            };
            let token = std::env::var("CONGDANSO_TOKEN")
                .ok()
                .filter(|t| !t.is_empty());
            if dry_run {
                let issuer = args
                    .issuer
                    .clone()
                    .ok_or("--dry-run needs --issuer (the agency code)")?;
                let prepared = client::prepare(&args, &issuer, now).await?;
                let out = serde_json::json!({
                    "payload": prepared.payload,
                    "canonical": prepared.canonical,
                    "signature": prepared.signature,
                });
                println!("{}", offline::json_terminal_safe(&out)?);
                return Ok(ExitCode::SUCCESS);
            }
            let server = server.ok_or("--server (or CONGDANSO_SERVER) is required")?;
            let token = token.ok_or("set CONGDANSO_TOKEN to the agency's API token")?;
            let issuer = match &args.issuer {
                Some(code) => code.clone(),
                None => client::agency_code(&server, &token).await?,
            };
            let prepared = client::prepare(&args, &issuer, now).await?;
            let (status, body) = client::send(&server, &token, &prepared, &args).await?;
            // The server's answer is printed terminal-safe, like everything from outside.
            println!("{}", offline::json_terminal_safe(&body)?);
            if status == 201 {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "congdanso: refused (HTTP {status}): {}",
                    offline::terminal_safe(
                        body.pointer("/error/code")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or("unknown")
                    )
                );
                Ok(ExitCode::from(1))
            }
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
